"""The images role behind a proxy, against the real Docker daemon: both builds get the proxy
(the proxy's other paths, which need no Docker, are the unit tier's tests/unit/test_proxy.py)."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess

import pytest

from tests.ansible_run import ROOT, run_playbook
from tools.docker import engine

PLAYBOOK = ROOT / "tests" / "docker" / "playbooks" / "images_proxy.yml"

pytestmark = pytest.mark.slow


def test_both_image_builds_get_the_proxy_in_both_cases(tmp_path):
    """The images role against the real Docker daemon: each build sees HTTP_PROXY and http_proxy
    (apt reads only the lowercase one). The Dockerfiles declare them as ARGs and copy them into
    labels only so that the test can read what the build got; the role needs no ARG."""
    engine.ensure_daemon()
    docker = shutil.which("docker")
    assert docker, "the docker CLI is needed"
    suffix = secrets.token_hex(4)
    images = [f"todo-proxy-{suffix}/backend", f"todo-proxy-{suffix}/frontend"]
    for index, _ in enumerate(images):
        context = tmp_path / "src" / f"app{index}"
        context.mkdir(parents=True)
        (context / "Dockerfile").write_text(
            "FROM scratch\nARG HTTP_PROXY\nARG http_proxy\nARG NO_PROXY\n"
            'LABEL upper="${HTTP_PROXY}" lower="${http_proxy}" no_proxy="${NO_PROXY}"\nCOPY f /f\n'
        )
        (context / "f").write_text(str(index))
    variables = {
        "test_image_tag": "docker-tier",
        "test_build_root": str(tmp_path / "src"),
        "test_images": [{"name": name, "context": f"app{i}"} for i, name in enumerate(images)],
        "test_proxy_env": {"HTTP_PROXY": "http://proxy.corp.example:3128", "HTTPS_PROXY": "",
                           "NO_PROXY": "localhost,192.168.49.0/24"},
    }  # fmt: skip
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(variables))
    try:
        run = run_playbook(PLAYBOOK, "-e", f"@{vars_file}")
        assert run.returncode == 0, run.output[-3000:]
        for name in images:
            labels = json.loads(subprocess.run(
                [docker, "image", "inspect", "--format", "{{json .Config.Labels}}", f"{name}:docker-tier"],
                capture_output=True, text=True, check=True).stdout)  # fmt: skip
            assert labels == {"upper": "http://proxy.corp.example:3128", "lower": "http://proxy.corp.example:3128",
                              "no_proxy": "localhost,192.168.49.0/24"}, labels  # fmt: skip
    finally:
        subprocess.run([docker, "image", "rm", "--force", *(f"{n}:docker-tier" for n in images)], capture_output=True,
                       check=False)  # fmt: skip

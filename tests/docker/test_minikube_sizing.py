"""The minikube role's sizing (tasks_from: resources) reading the real local Docker daemon end to
end; the decision for each engine's `docker info` is the unit tier's
(tests/unit/test_minikube_platforms.py)."""

from __future__ import annotations

import pytest

from tests.ansible_run import minikube_size
from tools.docker import engine as docker_engine

pytestmark = pytest.mark.slow


def test_the_real_docker_daemon_is_read_and_sized(tmp_path):
    docker_engine.ensure_daemon()
    rc, facts, output = minikube_size(tmp_path, test_read_engine=True, minikube_driver="docker")
    if rc != 0:
        # A machine with less than 3 GiB for Docker: the refusal must still name what it has.
        assert "Minikube out of resources" in output, output[-3000:]
        return
    assert facts["engine"] in {"docker", "wsl2"}
    assert 2 <= facts["cpus"] <= 4 and 3072 <= facts["memory_mb"] <= 4096
    assert facts["memory_mb"] <= facts["offers"]["memory_mb"] - 256 or facts["memory_mb"] == 4096

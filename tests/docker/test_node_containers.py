"""tools.minikube.nodes.node_containers against a real Docker engine: a profile's node
containers are `<profile>` and `<profile>-mNN` (minikube labels each with its own machine name,
so a label filter on the profile misses every node but the first)."""

from __future__ import annotations

import io
import secrets
import subprocess
import tarfile

from tools.docker import engine
from tools.minikube.nodes import node_containers


def empty_image(tag: str) -> None:
    """An image with no files (`docker import` of an empty tar): containers to name, never run."""
    archive = io.BytesIO()
    tarfile.open(fileobj=archive, mode="w").close()
    subprocess.run([engine.docker_cli(), "import", "-", tag], input=archive.getvalue(), check=True,
                   capture_output=True, timeout=60)  # fmt: skip


def test_a_profiles_node_containers_are_found_by_name_and_no_others() -> None:
    engine.ensure_daemon()
    profile = f"nodes-{secrets.token_hex(3)}"
    image = f"todo-test/{profile}:empty"
    names = [profile, f"{profile}-m02", f"{profile}-m03", f"{profile}-x", f"{profile}2"]
    empty_image(image)
    try:
        for name in names:
            engine.docker("create", "--name", name, image, "/none")
        assert sorted(node_containers(profile, stopped=True)) == sorted(names[:3])
        assert node_containers(profile) == []  # created, never started
    finally:
        engine.docker("rm", "-f", *names, check=False)
        engine.docker("rmi", image, check=False)

"""Fixtures for the images tier: a running Docker daemon and the local base images.

Typical use in an image test:
    def test_x(base_images, run_container):
        docker_env.docker_build(ctx, None, "todo-backend:test", {"PYTHON_IMAGE": base_images["python"]})
        api = run_container("todo-backend:test", ports=[8000])
        docker_env.wait_http(f"http://127.0.0.1:{api.port(8000)}/api/v1/health", container=api)
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# `tests.support` must import however pytest was started (.venv/bin/pytest does not put the repo
# root on sys.path).
REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.support import docker_env  # noqa: E402


@pytest.fixture(scope="session")
def docker_daemon() -> None:
    """A Docker daemon answers (started here if needed; it keeps running after the session)."""
    docker_env.ensure_daemon()


@pytest.fixture(scope="session")
def base_images(docker_daemon: None) -> dict[str, str]:
    """{"debian": ..., "python": ..., "node": ...} image tags, built on first use, then cached.

    Pass them as build args: PYTHON_IMAGE=base_images["python"], NODE_IMAGE=base_images["node"].
    """
    return docker_env.build_base_images()


@pytest.fixture
def run_container(docker_daemon: None) -> Iterator[Callable[..., docker_env.Container]]:
    """docker_env.docker_run_detached, with every container removed when the test ends."""
    started: list[docker_env.Container] = []

    def run(image: str, *args: object, **kwargs: object) -> docker_env.Container:
        container = docker_env.docker_run_detached(image, *args, **kwargs)
        started.append(container)
        return container

    yield run
    for container in started:
        container.cleanup()

"""Fixtures for the images tier: a running Docker daemon and the local base images.

Typical use in an image test:
    def test_x(base_images, run_container):
        engine.docker_build(ctx, None, "todo-backend:test", {"PYTHON_IMAGE": base_images["python"]})
        api = run_container("todo-backend:test", ports=[8000])
        containers.wait_http(f"http://127.0.0.1:{api.port(8000)}/api/v1/health", container=api)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tools.docker import containers, engine
from tools.docker.base_images import build_base_images


@pytest.fixture(scope="session")
def docker_daemon() -> None:
    """A Docker daemon answers (started here if needed; it keeps running after the session)."""
    engine.ensure_daemon()


@pytest.fixture(scope="session")
def base_images(docker_daemon: None) -> dict[str, str]:
    """{"debian": ..., "python": ..., "node": ...} image tags, built on first use, then cached.

    Pass them as build args: PYTHON_IMAGE=base_images["python"], NODE_IMAGE=base_images["node"].
    """
    return build_base_images()


@pytest.fixture
def run_container(docker_daemon: None) -> Iterator[Callable[..., containers.Container]]:
    """containers.docker_run_detached, with every container removed when the test ends."""
    started: list[containers.Container] = []

    def run(image: str, *args: object, **kwargs: object) -> containers.Container:
        container = containers.docker_run_detached(image, *args, **kwargs)
        started.append(container)
        return container

    yield run
    for container in started:
        container.cleanup()

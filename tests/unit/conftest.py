"""The unit tier's promise, kept: no Docker, no root, no minikube binary (those tests are the
docker tier's, tests/docker). Before any test runs, Docker is made unusable for this session and
every process it starts: tools.docker's ensure_daemon refuses at once instead of starting dockerd
(TODO_NO_DOCKER), and the docker CLI and community.docker talk to a socket that does not exist
(DOCKER_HOST). A unit test that needs Docker fails loudly, naming the tier it belongs in."""

from __future__ import annotations

import os

NO_DOCKER = "the unit tier runs without Docker; a test that needs it belongs in tests/docker"


def pytest_configure(config) -> None:
    os.environ["TODO_NO_DOCKER"] = NO_DOCKER
    os.environ["DOCKER_HOST"] = "unix:///nonexistent/todo-unit-tier-has-no-docker.sock"
    os.environ.pop("DOCKER_CONTEXT", None)

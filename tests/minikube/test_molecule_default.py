"""`molecule test` (the default scenario) on a real Minikube: the user's own path.

The scenario's test sequence step by step (destroy, syntax, create, converge, idempotence,
verify, destroy), with one step of ours between create and converge: the Neon-like database
(TLS, SCRAM, channel binding) is started on the gateway of the profile's Docker network, which
exists only once create has started the profile; DATABASE_URL then points there, as a user's
points at Neon. Needs `make minikube-offline` first on a machine without registries (make
test-minikube does it).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import RECAP, REPO, user_env

from tools.docker import engine
from tools.minikube import database
from tools.minikube.app import leftovers

pytestmark = pytest.mark.slow

# The scenario's own profile, as molecule/default/molecule.yml (its one owner) names it.
PROFILE = yaml.safe_load((REPO / "molecule" / "default" / "molecule.yml").read_text())["provisioner"]["inventory"][
    "group_vars"
]["all"]["todo_minikube_profile"]


def molecule(step: str, env: dict[str, str], timings: dict[str, float]) -> str:
    started = time.monotonic()
    proc = subprocess.run(
        ["molecule", step, "-s", "default"], cwd=REPO, env=env, capture_output=True, text=True, timeout=1800
    )
    timings[step] = timings.get(step, 0.0) + time.monotonic() - started
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"molecule {step} failed:\n{output[-15000:]}"
    return output


@pytest.mark.timeout(5400)
def test_molecule_default_scenario_on_a_real_minikube(tmp_path: Path) -> None:
    engine.ensure_daemon()
    timings: dict[str, float] = {}
    password = secrets.token_urlsafe(18)
    env = user_env(TODO_CLUSTER_DB_PASSWORD=password)
    db_dir = tmp_path / "database"
    try:
        molecule("destroy", env, timings)
        molecule("syntax", env, timings)
        molecule("create", env, timings)
        url = database.start(PROFILE, db_dir)
        # Generated here, never from the caller's shell; the local fake-key shape only.
        env = dict(env, DATABASE_URL=url, OPENAI_API_KEY=f"sk-test-{secrets.token_urlsafe(24)}")
        converge = molecule("converge", env, timings)
        assert "Offline preparation found" in converge or os.environ.get("TODO_MINIKUBE_ONLINE")
        idempotence = molecule("idempotence", env, timings)
        recaps = RECAP.findall(idempotence)
        assert recaps and all(int(changed) == 0 for _, changed, _, _ in recaps), idempotence[-5000:]
        verify = molecule("verify", env, timings)
        assert "2 Running and Ready, 0 restarts" in verify
        assert "/api/v1/health 200" in verify
        status = subprocess.run(
            ["minikube", "-p", PROFILE, "status", "-o", "json"], env=env, capture_output=True, text=True
        )
        assert '"Host":"Running"' in status.stdout and '"APIServer":"Running"' in status.stdout, status.stdout
    finally:
        try:
            molecule("destroy", env, timings)
        finally:
            database.stop(db_dir)
            print(f"\nmolecule default on Minikube: {timings}", file=sys.stderr)
    assert leftovers(PROFILE) == {"containers": [], "networks": [], "volumes": []}

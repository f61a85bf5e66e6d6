"""`molecule test -s cluster`: the real deploy-dev.yml against the local test cluster,
twice (idempotence), then verify, a ConfigMap change that must roll the pods, teardown.

Run on its own: `pytest tests/cluster/test_molecule_cluster.py` or
`tests/cluster/run_molecule.sh` (same thing without pytest).
"""

from __future__ import annotations

import subprocess
import time

import pytest
from conftest import HERE, REPO

pytestmark = pytest.mark.slow


@pytest.mark.timeout(3600)  # a first run also compiles the cluster binaries
def test_molecule_cluster_scenario() -> None:
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(HERE / "run_molecule.sh"), "test"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=3500,
    )
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    print(f"molecule test -s cluster: {elapsed:.0f}s, exit {result.returncode}")
    assert result.returncode == 0, output[-20000:]
    # The sequence really ran each step (a skipped step would not fail molecule).
    for step in ("converge", "idempotence", "verify", "side_effect", "cleanup", "destroy"):
        assert f"{step}" in output, f"step {step} missing from the molecule output"

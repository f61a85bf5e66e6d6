"""`molecule test -s cluster`: the real deploy-dev.yml against the local test cluster,
twice (idempotence), then verify, a ConfigMap change that must roll the pods, teardown.

Run on its own: `pytest tests/cluster/test_molecule_cluster.py -s` (prints step times) or
`tests/cluster/run_molecule.sh` (the same without pytest).
"""

from __future__ import annotations

import os
import re
import subprocess
import time

import pytest
from conftest import HERE, REPO

pytestmark = pytest.mark.slow

STEP = re.compile(r"\[cluster > (\w+)\] (Executing|Executed: (.*))$")
EXPECTED_STEPS = ["destroy", "syntax", "create", "converge", "idempotence", "verify", "side_effect", "cleanup"]


def quiet_env() -> dict[str, str]:
    return dict(os.environ, NO_COLOR="1", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", PY_COLORS="0")


@pytest.mark.timeout(3600)  # a first run also compiles the cluster binaries
def test_molecule_cluster_scenario() -> None:
    started = time.monotonic()
    step_started: dict[str, float] = {}
    outcomes: list[tuple[str, str, float]] = []
    lines: list[str] = []
    with subprocess.Popen(
        ["bash", str(HERE / "run_molecule.sh"), "test"],
        cwd=REPO,
        env=quiet_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            match = STEP.search(line.rstrip())
            if not match:
                continue
            step, what, outcome = match.groups()
            if what == "Executing":
                step_started[step] = time.monotonic()
            else:
                outcomes.append((step, outcome, time.monotonic() - step_started.get(step, started)))
        returncode = proc.wait()
    output = "".join(lines)

    print(f"\nmolecule test -s cluster: {time.monotonic() - started:.0f}s, exit {returncode}")
    for step, outcome, seconds in outcomes:
        print(f"  {step:<12} {seconds:6.1f}s  {outcome}")
    assert returncode == 0, output[-20000:]
    # Every step ran and succeeded: a step with a missing playbook would not fail molecule.
    ran = [step for step, outcome, _ in outcomes if outcome.startswith("Successful")]
    for step in EXPECTED_STEPS:
        assert step in ran, f"molecule step {step} did not run successfully: {outcomes}"
    assert ran[-1] == "destroy", outcomes


def test_molecule_default_scenario_syntax() -> None:
    """The Minikube scenario cannot run here (no Minikube); its playbooks must still parse."""
    result = subprocess.run(
        ["molecule", "syntax", "-s", "default"],
        cwd=REPO,
        env=dict(quiet_env(), PATH=f"{REPO / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    assert "default > syntax" in result.stdout + result.stderr

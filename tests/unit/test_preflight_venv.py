"""`make venv` / `make deploy` on a Debian or Ubuntu without python3.X-venv, and a half-made .venv.

The interpreter without ensurepip is a real CPython: a copy of this machine's python3.X whose
standard library is this machine's, less the ensurepip package (which is exactly what Debian's
python3.X-venv package adds). `python -m venv` with it fails as on such a machine, leaving a
.venv whose python has no pip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ansible_run import ROOT

VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, **kwargs)


def base_python() -> Path:
    """A real python3.X outside any venv: the system one, else the one this venv was made from."""
    system = Path(f"/usr/bin/python{VERSION}")
    return system if system.exists() else Path(os.path.realpath(sys._base_executable))


@pytest.fixture(scope="module")
def python_without_ensurepip(tmp_path_factory) -> Path:
    base = base_python()
    stdlib = Path(run([str(base), "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"]).stdout.strip())
    root = tmp_path_factory.mktemp("python-without-venv")
    (root / "bin").mkdir()
    lib = root / "lib" / f"python{VERSION}"
    lib.mkdir(parents=True)
    shutil.copy2(base, root / "bin" / f"python{VERSION}")
    for entry in stdlib.iterdir():
        if entry.name != "ensurepip":
            (lib / entry.name).symlink_to(entry)
    python = root / "bin" / f"python{VERSION}"
    probe = run([str(python), "-c", "import sys, venv; print(sys.prefix)"])
    assert probe.returncode == 0 and probe.stdout.strip() == str(root), probe.stdout + probe.stderr
    assert run([str(python), "-c", "import ensurepip"]).returncode != 0
    return python


def os_release_ids() -> str:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return ""
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return " ".join(fields.get(k, "").strip('"') for k in ("ID", "ID_LIKE"))


def test_python_without_venv_is_named_with_the_package_before_anything_is_made(tmp_path, python_without_ensurepip):
    venv = tmp_path / "venv"
    env = {**os.environ, "PYTHON": str(python_without_ensurepip), "VENV": str(venv)}
    result = run(["bash", "scripts/preflight.sh", "python"], cwd=ROOT, env=env)
    assert result.returncode == 1
    message = result.stderr.strip()
    version = run([str(python_without_ensurepip), "--version"]).stdout.split()[1]
    assert message.startswith(f"deploy: '{python_without_ensurepip}' ({version}) cannot make a virtual environment")
    assert "its venv/ensurepip modules are missing" in message
    ids = os_release_ids().split()
    if "debian" in ids or "ubuntu" in ids:
        assert f"To fix it, run `sudo apt-get install python{VERSION}-venv`, then run make again." in message
    assert not venv.exists()


def test_make_venv_stops_at_the_same_message(tmp_path, python_without_ensurepip):
    venv = tmp_path / "venv"
    result = run(["make", "--no-print-directory", "venv", f"PYTHON={python_without_ensurepip}", f"VENV={venv}"],
                 cwd=ROOT, env=dict(os.environ))  # fmt: skip
    assert result.returncode != 0
    assert "cannot make a virtual environment" in result.stderr
    assert "No module named pip" not in result.stderr
    assert not venv.exists()


def test_a_half_made_venv_is_removed_and_made_again(tmp_path, python_without_ensurepip):
    venv = tmp_path / "venv"
    # What `python -m venv` leaves on such a machine: bin/python, no pip.
    half = run([str(python_without_ensurepip), "-m", "venv", str(venv)])
    assert half.returncode != 0 and (venv / "bin" / "python").exists()
    assert "No module named pip" in run([str(venv / "bin" / "python"), "-m", "pip", "--version"]).stderr

    # After installing python3.X-venv (here: the real interpreter), the same commands make does.
    python = str(base_python())
    env = {**os.environ, "PYTHON": python, "VENV": str(venv)}
    result = run(["bash", "scripts/preflight.sh", "python"], cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr
    assert f"deploy: {venv} is incomplete" in result.stderr and "removing it so that it is made again" in result.stderr
    assert not venv.exists()
    assert run([python, "-m", "venv", str(venv)]).returncode == 0
    assert run([str(venv / "bin" / "python"), "-m", "pip", "--version"]).returncode == 0

    # A good venv is left alone.
    again = run(["bash", "scripts/preflight.sh", "python"], cwd=ROOT, env=env)
    assert again.returncode == 0 and again.stderr == ""
    assert (venv / "bin" / "python").exists()


def test_make_venv_checks_before_it_makes_the_venv():
    dry = run(["make", "-n", "--no-print-directory", "-B", "venv", "VENV=/nonexistent/venv"], cwd=ROOT)
    lines = dry.stdout.splitlines()
    checks = next(i for i, line in enumerate(lines) if "scripts/preflight.sh python" in line)
    makes = next(i for i, line in enumerate(lines) if "-m venv" in line)
    collection = next(i for i, line in enumerate(lines) if "scripts/kubernetes_core.py install" in line)
    assert checks < makes < collection

"""Issue 20, item 8: every requirements file we install pins each package with its hashes,
and every place that pip-installs one demands them (--require-hashes): a package replaced
on the index (or a typo-squat slipped into a lock) fails the install instead of running on
the machine that holds the vault and the kubeconfig."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _tracked(pattern: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", pattern], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / line for line in out.stdout.split()]


def _requirements(text: str) -> list[str]:
    """Each requirement of a requirements file, its continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_every_requirements_file_has_a_hash_for_every_pin():
    files = _tracked("*requirements*.txt")
    assert {f.name for f in files} >= {"dev.txt", "checkov-requirements.txt", "requirements.txt"}
    for path in files:
        for requirement in _requirements(path.read_text()):
            assert "==" in requirement and "--hash=sha256:" in requirement, f"{path.name}: {requirement[:60]}"


def test_every_pip_install_of_a_requirements_file_requires_hashes():
    sources = [
        *_tracked("Makefile"),
        *_tracked("*Dockerfile*"),
        *_tracked("scripts/*"),
        *_tracked("tools/*.py"),
        *_tracked("tools/**/*.py"),
    ]
    installs = []
    for path in sources:
        if not path.is_file():
            continue
        text = re.sub(r"\\\n", " ", path.read_text(errors="replace"))
        for line in text.splitlines():
            if re.search(r"pip3?\"?\s+install\b.*\s-r\s", line) or re.search(r"pip install .*-r ", line):
                installs.append((path.name, line.strip()))
    assert len(installs) >= 3, installs  # the dev venv, checkov's venv, the backend image
    for name, line in installs:
        assert "--require-hashes" in line, f"{name}: {line}"

"""Fixtures for the chart tests (helpers live in chart_render.py)."""

import sys
from pathlib import Path

import pytest

# Works with any pytest import mode: the helpers sit next to this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from chart_render import Manifest, render


@pytest.fixture(scope="session")
def dev() -> Manifest:
    """What the Ansible role installs: values-dev.yaml + existingSecret + sha tags."""
    return render()

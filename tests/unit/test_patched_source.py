"""tools.cluster.build.patched_source: how the Go builds patch a module's source (Traefik's
TRAEFIK_PATCH, certgen's and storage-provisioner's in tools/minikube/gobuild.py)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tools.cluster.build import BuildError, patch_hash, patched_source


def read_only_module(root: Path) -> Path:
    """A module dir as GOMODCACHE leaves it: read-only files."""
    (root / "pkg").mkdir(parents=True)
    source = root / "pkg" / "a.go"
    source.write_text("package pkg\n\nfunc A() int { return 1 }\n")
    source.chmod(stat.S_IRUSR | stat.S_IRGRP)
    return root


def test_every_occurrence_is_replaced_and_the_copy_is_reused(tmp_path: Path) -> None:
    pristine = read_only_module(tmp_path / "mod")
    patch = (("pkg/a.go", "return 1", "return 2"),)
    target = patched_source(pristine, patch, tmp_path / "src")
    assert (target / "pkg" / "a.go").read_text() == "package pkg\n\nfunc A() int { return 2 }\n"
    assert (pristine / "pkg" / "a.go").read_text().endswith("return 1 }\n")
    (target / "pkg" / "a.go").write_text("touched")  # reused as it is while the patch is the same
    assert (patched_source(pristine, patch, tmp_path / "src") / "pkg" / "a.go").read_text() == "touched"
    other = (("pkg/a.go", "return 1", "return 3"),)
    assert patch_hash(other) != patch_hash(patch)
    assert (patched_source(pristine, other, tmp_path / "src") / "pkg" / "a.go").read_text().endswith("return 3 }\n")


def test_a_patch_that_no_longer_applies_is_an_error(tmp_path: Path) -> None:
    pristine = read_only_module(tmp_path / "mod")
    with pytest.raises(BuildError, match=r"'return 9' not found in pkg/a.go"):
        patched_source(pristine, (("pkg/a.go", "return 9", "return 2"),), tmp_path / "src")

#!/usr/bin/env python3
"""Secret scan of the working tree and of every blob in the git history.

detect-secrets scans one tree; a secret that was committed and later deleted lives on in
history, so we also scan each distinct blob ever committed (each version once, under its
path so filename heuristics such as lock-file filters still apply).

A finding passes only if its hashed secret is in the reviewed baseline
(.secrets.baseline, `is_secret: false`). Plugins and filters come from the baseline too,
so pre-commit's detect-secrets-hook and this scan agree.

    python3 scripts/secret_scan.py [--repo DIR] [--worktree-only | --history-only]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from detect_secrets import SecretsCollection
from detect_secrets.settings import transient_settings

HERE = Path(__file__).resolve().parent
DEFAULT_BASELINE = HERE.parent / ".secrets.baseline"


def git(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True).stdout


def load_baseline(path: Path) -> tuple[dict, set[str]]:
    baseline = json.loads(path.read_text())
    for plugin in baseline.get("plugins_used", []):
        # Paths in the baseline are relative to the repo so it works from any clone.
        if "path" in plugin and plugin["path"].startswith("file://") and not plugin["path"].startswith("file:///"):
            plugin["path"] = "file://" + str((path.parent / plugin["path"][len("file://"):]).resolve())
    reviewed = {
        finding["hashed_secret"]
        for findings in baseline.get("results", {}).values()
        for finding in findings
        if finding.get("is_secret") is False
    }
    return baseline, reviewed


def scan_files(root: Path, files: list[str], config: dict) -> SecretsCollection:
    collection = SecretsCollection(root=str(root))
    with transient_settings(config):
        for name in files:
            path = root / name
            if path.is_file() and not path.is_symlink():
                collection.scan_file(name)
    return collection


def worktree_files(repo: Path) -> list[str]:
    out = git(repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return [f for f in out.decode().split("\0") if f]


def _batch_check(repo: Path, shas: list[str]) -> dict[str, str]:
    proc = subprocess.run(
        ["git", "-C", str(repo), "cat-file", "--batch-check=%(objectname) %(objecttype)"],
        input="\n".join(shas).encode(), capture_output=True, check=True,
    )
    return dict(line.split() for line in proc.stdout.decode().splitlines() if len(line.split()) == 2)


def materialise_history(repo: Path, dest: Path) -> list[str]:
    """Writes every historical blob under dest/<sha>/<path>; returns the relative names."""
    if not git(repo, "rev-parse", "--all").strip():
        return []
    candidates: dict[str, str] = {}
    for line in git(repo, "rev-list", "--objects", "--all").decode(errors="replace").splitlines():
        sha, _, path = line.partition(" ")
        if path and sha not in candidates:
            candidates[sha] = path
    kinds = _batch_check(repo, list(candidates))
    names = []
    for sha, path in candidates.items():
        if kinds.get(sha) != "blob":
            continue
        content = git(repo, "cat-file", "blob", sha)
        if b"\0" in content[:8192]:
            continue  # binary
        target = dest / sha / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        names.append(f"{sha}/{path}")
    return names


def unreviewed(collection: SecretsCollection, reviewed: set[str]) -> list[tuple[str, int, str]]:
    found = []
    for filename, secret in collection:
        if secret.secret_hash not in reviewed:
            found.append((filename, secret.line_number or 0, secret.type))
    return sorted(found)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=Path.cwd())
    parser.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--worktree-only", action="store_true")
    group.add_argument("--history-only", action="store_true")
    args = parser.parse_args()

    config, reviewed = load_baseline(args.baseline)
    repo = args.repo.resolve()
    problems: list[str] = []

    if not args.history_only:
        files = worktree_files(repo)
        for name, line, kind in unreviewed(scan_files(repo, files, config), reviewed):
            problems.append(f"working tree: {name}:{line}: {kind}")
        print(f"secret-scan: working tree: {len(files)} files scanned")

    if not args.worktree_only:
        with tempfile.TemporaryDirectory() as tmp:
            names = materialise_history(repo, Path(tmp))
            for name, line, kind in unreviewed(scan_files(Path(tmp), names, config), reviewed):
                sha, _, path = name.partition("/")
                problems.append(f"history: blob {sha[:12]} ({path}):{line}: {kind}")
            print(f"secret-scan: history: {len(names)} distinct text blobs scanned")

    for problem in problems:
        print(f"secret-scan: FOUND {problem}", file=sys.stderr)
    if problems:
        print(
            "secret-scan: remove the secret (rewrite history if it was committed) or, if it is a "
            "false positive, audit it into .secrets.baseline with `detect-secrets audit`.",
            file=sys.stderr,
        )
        return 1
    print("secret-scan: clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())

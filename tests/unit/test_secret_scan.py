"""The secret scan over the working tree and the whole git history, and proof that it can fail.

Planted secrets are generated here at run time (random, never a real credential) and
written only into throwaway repositories under tmp_path.
"""

from __future__ import annotations

import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNER = ROOT / "scripts" / "secret_scan.py"


def run_scan(repo: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCANNER), "--repo", str(repo), "--baseline", str(ROOT / ".secrets.baseline"), *flags],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def fake_aws_key_id() -> str:
    return "AKIA" + "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(16))


def fake_openai_key() -> str:
    alphabet = string.ascii_letters + string.digits
    return "sk-" + "proj-" + "".join(secrets.choice(alphabet) for _ in range(48))


def fake_neon_url() -> str:
    user, pw = "app_" + secrets.token_hex(3), secrets.token_urlsafe(18)
    return f"postgresql://{user}:{pw}@ep-{secrets.token_hex(4)}.eu-central-1.aws.neon.tech/db?sslmode=require"


@pytest.fixture()
def scratch_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "scan-test@example.invalid")
    git(repo, "config", "user.name", "scan test")
    (repo / "README.md").write_text("nothing secret here\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "init")
    return repo


def test_project_repository_has_no_unreviewed_secret_in_tree_or_history():
    result = run_scan(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "history:" in result.stdout and "working tree:" in result.stdout


def test_planted_secret_deleted_from_tree_is_still_found_in_history(scratch_repo: Path):
    leaked = scratch_repo / "deploy.env"
    leaked.write_text(f"AWS_ACCESS_KEY_ID={fake_aws_key_id()}\n")
    git(scratch_repo, "add", "deploy.env")
    git(scratch_repo, "commit", "-q", "-m", "oops")
    git(scratch_repo, "rm", "-q", "deploy.env")
    git(scratch_repo, "commit", "-q", "-m", "remove the key again")

    tree = run_scan(scratch_repo, "--worktree-only")
    assert tree.returncode == 0, tree.stderr

    history = run_scan(scratch_repo, "--history-only")
    assert history.returncode == 1
    assert "history:" in history.stderr and "deploy.env" in history.stderr
    assert "AWS Access Key" in history.stderr


@pytest.mark.parametrize(
    "make_value, kind",
    [
        (fake_openai_key, "OpenAI API Key"),
        (fake_neon_url, "Basic Auth Credentials"),
    ],
)
def test_planted_secret_in_working_tree_is_found(scratch_repo: Path, make_value, kind):
    (scratch_repo / "settings.py").write_text(f'VALUE = "{make_value()}"\n')
    result = run_scan(scratch_repo, "--worktree-only")
    assert result.returncode == 1
    assert "settings.py:1" in result.stderr and kind in result.stderr


def test_templated_placeholders_do_not_trip_the_scan(scratch_repo: Path):
    # The shape vault.yml.example uses: angle-bracket placeholders are not secrets.
    (scratch_repo / "vault.yml.example").write_text(
        'vault_database_url: "postgresql://<user>:<password>@<host>/<db>?sslmode=require"\n'
        'vault_openai_api_key: "<your OpenAI key>"\n'
    )
    git(scratch_repo, "add", ".")
    git(scratch_repo, "commit", "-q", "-m", "example")
    assert run_scan(scratch_repo).returncode == 0

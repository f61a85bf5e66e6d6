"""The secrets role's resolution and validation, with its cluster part switched off
(secrets_manage_cluster: false; the Secret against a real kube-apiserver, AUTH_SECRET reuse
and changed=0 on a rerun belong to tests/cluster and the molecule `default` scenario).

Vault variables come from a real ansible-vault encrypted group_vars file in a throwaway
inventory; every secret is generated here, never written in the repository. The values (and
their base64) must not appear anywhere in the playbook output, at -v and at -vvv.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ansible_run import ROOT, VENV_BIN, base_env, run_playbook

PLAYBOOK = ROOT / "tests" / "unit" / "playbooks" / "secrets_resolution.yml"


def database_url() -> str:
    user, password = f"u{secrets.token_hex(4)}", secrets.token_urlsafe(18)
    host = f"ep-{secrets.token_hex(5)}.example.test"
    return f"postgresql://{user}:{password}@{host}/db{secrets.token_hex(3)}?sslmode=require&channel_binding=require"


class World:
    """A throwaway inventory with an optional encrypted vault, and a runner."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.inventory = root / "inventory"
        (self.inventory / "group_vars" / "all").mkdir(parents=True)
        shutil.copy(ROOT / "inventory" / "dev" / "hosts.yml", self.inventory / "hosts.yml")
        self.password_file = root / "vault-pass"
        self.password_file.write_text(secrets.token_urlsafe(24))
        self.password_file.chmod(0o600)
        self.runs = 0

    def vault(self, **values: str) -> None:
        path = self.inventory / "group_vars" / "all" / "vault.yml"
        path.write_text("---\n" + "".join(f"{k}: {json.dumps(v)}\n" for k, v in values.items()))
        encrypt = subprocess.run(
            [str(VENV_BIN / "ansible-vault"), "encrypt", "--vault-password-file", str(self.password_file), str(path)],
            env=base_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        assert encrypt.returncode == 0, encrypt.stderr
        assert path.read_text().startswith("$ANSIBLE_VAULT;"), "the vault file must really be encrypted"

    def run(self, *args: str, env: dict[str, str] | None = None):
        self.runs += 1
        result_file = self.root / f"result-{self.runs}.json"
        run = run_playbook(
            PLAYBOOK,
            "-i",
            str(self.inventory / "hosts.yml"),
            "--vault-password-file",
            str(self.password_file),
            "-e",
            f"test_result_file={result_file}",
            *args,
            env=base_env(**(env or {})),
        )
        resolved = json.loads(result_file.read_text()) if result_file.exists() else None
        return run, resolved


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


def assert_never_shown(output: str, *values: str) -> None:
    for value in values:
        assert value, "an empty value proves nothing"
        for form in {value, base64.b64encode(value.encode()).decode()}:
            assert form not in output, "a secret value (or its base64) appears in the playbook output"


def test_vault_wins_over_environment(world):
    vault_url, vault_auth = database_url(), secrets.token_urlsafe(40)
    env_url, env_auth, env_key = database_url(), secrets.token_urlsafe(40), f"sk-{secrets.token_urlsafe(24)}"
    world.vault(vault_database_url=vault_url, vault_auth_secret=vault_auth)
    run, resolved = world.run("-v", env={"DATABASE_URL": env_url, "AUTH_SECRET": env_auth, "OPENAI_API_KEY": env_key})
    assert run.returncode == 0, run.output[-3000:]
    assert resolved["values"] == {"DATABASE_URL": vault_url, "AUTH_SECRET": vault_auth, "OPENAI_API_KEY": env_key}
    assert resolved["origin"] == {
        "DATABASE_URL": "the vault variable vault_database_url",
        "AUTH_SECRET": "the vault variable vault_auth_secret",  # pragma: allowlist secret
        "OPENAI_API_KEY": "the environment variable OPENAI_API_KEY",  # pragma: allowlist secret
    }
    assert resolved["in_cluster_postgresql"] is False and resolved["assistant_enabled"] is True
    assert "DATABASE_URL: the vault variable vault_database_url" in run.stdout
    assert_never_shown(run.output, vault_url, vault_auth, env_url, env_auth, env_key)


def test_environment_wins_over_defaults_and_empty_vault_values_count_as_absent(world):
    env_url, env_auth = database_url(), secrets.token_urlsafe(40)
    world.vault(vault_database_url="", vault_openai_api_key="")
    run, resolved = world.run(env={"DATABASE_URL": env_url, "AUTH_SECRET": env_auth})
    assert run.returncode == 0, run.output[-3000:]
    assert resolved["values"] == {"DATABASE_URL": env_url, "AUTH_SECRET": env_auth, "OPENAI_API_KEY": ""}
    assert resolved["origin"]["DATABASE_URL"] == "the environment variable DATABASE_URL"
    assert resolved["assistant_enabled"] is False
    assert "OPENAI_API_KEY: not supplied and none live, so the assistant is off" in run.stdout
    assert_never_shown(run.output, env_url, env_auth)


def test_nothing_supplied_gives_the_embedded_defaults(world):
    run, resolved = world.run("-vvv")
    assert run.returncode == 0, run.output[-3000:]
    values = resolved["values"]
    assert values["DATABASE_URL"] == "" and resolved["in_cluster_postgresql"] is True
    assert values["OPENAI_API_KEY"] == "" and resolved["assistant_enabled"] is False
    assert len(values["AUTH_SECRET"]) == 64 and values["AUTH_SECRET"].isalnum()
    assert resolved["origin"]["AUTH_SECRET"].startswith("generated now")
    assert "DATABASE_URL: not supplied and none live, so the chart runs PostgreSQL in the cluster" in run.stdout
    assert_never_shown(run.output, values["AUTH_SECRET"])

    # A second run generates another one: only the live Secret (cluster tier) makes it stick.
    _, again = world.run()
    assert again["values"]["AUTH_SECRET"] != values["AUTH_SECRET"]


def test_checksum_follows_the_secret_content_and_only_it(world):
    """secrets_checksum becomes the chart's checksum/secret annotation: equal inputs must give
    an equal digest (a rerun does not roll), any changed, added or removed value a new one."""
    url, auth, key = database_url(), secrets.token_urlsafe(40), f"sk-{secrets.token_urlsafe(24)}"
    base = {"DATABASE_URL": url, "AUTH_SECRET": auth}
    runs = {
        "first": world.run(env=base)[1],
        "again": world.run(env=base)[1],
        "key-added": world.run(env={**base, "OPENAI_API_KEY": key})[1],
        "auth-changed": world.run(env={**base, "AUTH_SECRET": secrets.token_urlsafe(40)})[1],
    }
    digests = {name: resolved["checksum"] for name, resolved in runs.items()}
    assert all(len(d) == 64 and int(d, 16) >= 0 for d in digests.values()), digests
    assert digests["first"] == digests["again"]
    assert len({digests["first"], digests["key-added"], digests["auth-changed"]}) == 3
    # The Secret's data: only supplied keys (no empty OPENAI_API_KEY), base64 as the API returns it.
    assert runs["first"]["data"] == {k: base64.b64encode(v.encode()).decode() for k, v in base.items()}
    assert set(runs["key-added"]["data"]) == {"DATABASE_URL", "AUTH_SECRET", "OPENAI_API_KEY"}
    for value in (url, auth):
        assert value not in digests["first"]
    # The Secret is named after its content: each release points at its own Secret, so a
    # rolled-back upgrade still reads the old values (issue 14 item 7).
    names = {name: resolved["versioned_name"] for name, resolved in runs.items()}
    assert names["first"] == f"todo-secrets-{digests['first'][:10]}" == names["again"]
    assert len({names["first"], names["key-added"], names["auth-changed"]}) == 3


def test_switching_to_the_in_cluster_database_is_asked_by_name_and_said(world):
    """Issue 14 item 8: the in-cluster database is chosen by a named switch, never by omission."""
    run, resolved = world.run("-e", "secrets_database=in-cluster")
    assert run.returncode == 0, run.output[-3000:]
    assert resolved["in_cluster_postgresql"] is True and resolved["values"]["DATABASE_URL"] == ""
    assert "DATABASE_URL: in-cluster PostgreSQL, as asked (todo_database=in-cluster)" in run.stdout


def test_the_database_switch_contradicting_a_supplied_url_is_refused(world):
    url = database_url()
    run, resolved = world.run("-e", "secrets_database=in-cluster", env={"DATABASE_URL": url})
    assert run.returncode == 2 and resolved is None
    assert "'in-cluster' contradicts a DATABASE_URL from the environment variable DATABASE_URL" in run.stdout
    assert_never_shown(run.output, url)


def test_dropping_the_key_contradicting_a_supplied_key_is_refused(world):
    key = f"sk-{secrets.token_urlsafe(24)}"
    run, _ = world.run("-e", "secrets_assistant=disabled", env={"OPENAI_API_KEY": key})
    assert run.returncode == 2
    assert "'disabled' an OPENAI_API_KEY from the environment variable OPENAI_API_KEY" in run.stdout
    assert_never_shown(run.output, key)


def test_an_unknown_switch_value_is_refused_by_name(world):
    run, _ = world.run("-e", "secrets_database=incluster")
    assert run.returncode == 2
    assert "secrets_database" in run.stdout and "in-cluster" in run.stdout


@pytest.mark.parametrize(
    ("auth_secret", "accepted"),
    [("a" * 31, False), ("a" * 32, True), ("é" * 16, True), ("é" * 15 + "a", False)],
    ids=["31-ascii", "32-ascii", "16x2-byte-chars", "31-bytes-16-chars"],
)
def test_auth_secret_needs_32_bytes(world, auth_secret, accepted):
    run, _ = world.run(env={"AUTH_SECRET": auth_secret})
    message = "AUTH_SECRET (from the environment variable AUTH_SECRET) is shorter than 32 bytes"
    if accepted:
        assert run.returncode == 0, run.output[-3000:]
        assert message not in run.output
    else:
        assert run.returncode == 2
        assert message in run.stdout
    assert auth_secret not in run.output


@pytest.mark.parametrize(
    "bad_url",
    [
        "mysql://user:{pw}@db.example.test/app",
        "postgresql://user:{pw}@/app",
        "postgresql://user:{pw}@db.example.test",
        "postgresql://user:{pw}@db.example.test/app with space",
        "{pw}",
    ],
    ids=["mysql", "no-host", "no-database", "space", "not-a-url"],
)
def test_database_url_must_parse_as_postgresql(world, bad_url):
    value = bad_url.format(pw=secrets.token_urlsafe(12))
    run, _ = world.run("-v", env={"DATABASE_URL": value})
    assert run.returncode == 2
    assert "Invalid secrets (values are never shown):" in run.stdout
    assert "DATABASE_URL (from the environment variable DATABASE_URL) does not parse as a PostgreSQL URL" in run.stdout
    assert_never_shown(run.output, value)


def test_neon_url_and_postgres_scheme_are_accepted(world):
    for url in (database_url(), database_url().replace("postgresql://", "postgres://", 1)):
        run, resolved = world.run(env={"DATABASE_URL": url})
        assert run.returncode == 0, run.output[-3000:]
        assert resolved["values"]["DATABASE_URL"] == url


def test_placeholders_from_the_example_vault_are_refused_by_name(world):
    example = (ROOT / "inventory" / "dev" / "group_vars" / "all" / "vault.yml.example").read_text()
    target = world.inventory / "group_vars" / "all" / "vault.yml"
    target.write_text(example)
    run, _ = world.run("-vvv")
    assert run.returncode == 2
    for name, var in (
        ("DATABASE_URL", "vault_database_url"),
        ("AUTH_SECRET", "vault_auth_secret"),
        ("OPENAI_API_KEY", "vault_openai_api_key"),
    ):
        assert f"{name} (from the vault variable {var}) still holds the CHANGE_ME placeholder" in run.stdout
    # Only the placeholder messages: a placeholder is not also reported as too short or malformed.
    assert "does not parse" not in run.stdout and "shorter than" not in run.stdout


def test_wrong_vault_password_fails_without_showing_anything(world):
    secret = secrets.token_urlsafe(40)
    world.vault(vault_auth_secret=secret)
    world.password_file.write_text(secrets.token_urlsafe(24))
    run, resolved = world.run()
    assert run.returncode != 0 and resolved is None
    assert "Decryption failed" in run.output
    assert_never_shown(run.output, secret)

"""Running ansible-playbook the way `make deploy` does (the repo's ansible.cfg, the venv's tools
first on PATH) and reading what happened: shared by the unit tier (tests/unit) and the docker
tier (tests/docker), which import it as `tests.ansible_run`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tools.cache import tools_bin

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

SECRET_ENV_NAMES = ("DATABASE_URL", "AUTH_SECRET", "OPENAI_API_KEY")
RECAP = re.compile(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def base_env(**extra: str) -> dict[str, str]:
    """The environment of a test run: no secrets leaking in from the developer's shell."""
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV_NAMES and not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PYTHONDONTWRITEBYTECODE="1",
        PATH=os.pathsep.join([str(tools_bin()), str(VENV_BIN), env.get("PATH", "/usr/bin:/bin")]),
    )
    env.update(extra)
    return env


@dataclass
class PlaybookRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def recap(self) -> dict[str, int]:
        """ok/changed/unreachable/failed of localhost from the default callback's PLAY RECAP."""
        match = RECAP.search(self.stdout)
        assert match, f"no PLAY RECAP in output:\n{self.output[-3000:]}"
        return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups()), strict=True))

    def json(self) -> dict:
        """The ansible.posix.json callback's document (runs made with json_output=True)."""
        return json.loads(self.stdout)

    def changed_tasks(self) -> list[str]:
        return [
            task["task"]["name"]
            for play in self.json()["plays"]
            for task in play["tasks"]
            if task["hosts"].get("localhost", {}).get("changed")
        ]

    def task_result(self, name: str) -> dict:
        for play in self.json()["plays"]:
            for task in play["tasks"]:
                if task["task"]["name"] == name:
                    return task["hosts"]["localhost"]
        raise KeyError(name)


def run_playbook(
    playbook: str | Path,
    *args: str,
    env: dict[str, str] | None = None,
    json_output: bool = False,
    timeout: float = 600,
) -> PlaybookRun:
    run_env = dict(env if env is not None else base_env())
    if json_output:
        run_env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    result = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), str(playbook), *args],
        cwd=ROOT,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return PlaybookRun(result.returncode, result.stdout, result.stderr)


def minikube_size(tmp_path: Path, **variables) -> tuple[int, dict | None, str]:
    """The minikube role's sizing (tests/unit/playbooks/minikube_size.yml) with these variables:
    its exit code, the minikube_size it set (None if none) and its output."""
    facts = tmp_path / "facts.json"
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps({"test_facts_file": str(facts), **variables}))
    run = run_playbook(ROOT / "tests" / "unit" / "playbooks" / "minikube_size.yml", "-e", f"@{vars_file}")
    return run.returncode, json.loads(facts.read_text())["minikube_size"] if facts.exists() else None, run.output

"""Static checks of the Ansible side: lint (production profile), yamllint, --syntax-check of
every playbook, the inventory, and the role conventions (prefixed defaults that match
meta/argument_specs.yml, README per role, FQCN)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.ansible_run import ROOT, VENV_BIN, base_env

ROLES = ("prerequisites", "minikube", "images", "secrets", "release", "verify")
PLAYBOOKS = sorted(p.relative_to(ROOT) for p in (ROOT / "playbooks").glob("*.yml"))
# The unit and docker tiers' test playbooks: checked here, without running them.
TEST_PLAYBOOK_DIRS = ["tests/unit/playbooks", "tests/docker/playbooks"]
TEST_PLAYBOOKS = sorted(p.relative_to(ROOT) for d in TEST_PLAYBOOK_DIRS for p in (ROOT / d).glob("*.yml"))
ANSIBLE_PATHS = ["playbooks", "roles", "inventory", *TEST_PLAYBOOK_DIRS]


def run(*cmd: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, env=base_env(), capture_output=True, text=True, timeout=timeout, check=False)


def test_the_three_playbooks_exist():
    assert {p.name for p in PLAYBOOKS} >= {"deploy-dev.yml", "teardown.yml", "status.yml"}


@pytest.mark.parametrize("playbook", PLAYBOOKS + TEST_PLAYBOOKS, ids=str)
def test_syntax_check(playbook):
    result = run(str(VENV_BIN / "ansible-playbook"), "--syntax-check", str(playbook))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_ansible_lint_production_profile_has_zero_findings():
    result = run(str(VENV_BIN / "ansible-lint"), "--profile", "production", "--strict", "--nocolor", *ANSIBLE_PATHS)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
    assert "Profile 'production' was required, and it passed" in result.stderr


def test_yamllint_strict():
    result = run(
        str(VENV_BIN / "yamllint"),
        "--strict",
        "-f",
        "parsable",
        *ANSIBLE_PATHS,
        ".yamllint",
        ".ansible-lint",
        "requirements.yml",
    )
    assert result.returncode == 0, result.stdout


def test_dev_inventory_is_localhost_with_the_running_python():
    result = run(str(VENV_BIN / "ansible-inventory"), "-i", "inventory/dev/hosts.yml", "--host", "localhost")
    assert result.returncode == 0, result.stderr
    host = yaml.safe_load(result.stdout)
    assert host["ansible_connection"] == "local"
    assert host["ansible_python_interpreter"] == "{{ ansible_playbook_python }}"
    # Issue 23: each default is declared once (playbooks/tasks/switches.yml, the roles' defaults);
    # the inventory lists them commented, to be changed, and declares none again.
    assert not [name for name in host if name.startswith(("todo_", "minikube_"))], host


def test_the_switch_defaults_are_declared_once_in_switches_yml():
    switches = (ROOT / "playbooks/tasks/switches.yml").read_text()
    inventory = (ROOT / "inventory/dev/group_vars/all/main.yml").read_text()
    molecule = yaml.safe_load((ROOT / "molecule/default/molecule.yml").read_text())
    molecule_vars = molecule["provisioner"]["inventory"]["group_vars"]["all"]
    for name, default in [
        ("todo_manage_minikube", "true"),
        ("todo_build_images", "true"),
        ("todo_verify_through_ingress", "true"),
        ("todo_autoscaling", "false"),
        ("todo_namespace", "'todo'"),
        ("todo_release", "'todo'"),
        ("todo_minikube_profile", "'todo'"),
    ]:
        assert f"{name} | default({default})" in switches, name
        # Documented in the inventory with the same default, commented out.
        assert re.search(rf"^# {name}: ", inventory, re.M), name
        assert not re.search(rf"^{name}:", inventory, re.M), name
    # molecule sets only what it changes: its own profile and kubeconfig.
    assert set(molecule_vars) == {"todo_minikube_profile", "todo_kubeconfig"}, molecule_vars


def test_vault_file_is_git_ignored_and_the_example_holds_only_placeholders():
    ignored = run("git", "check-ignore", "-q", "inventory/dev/group_vars/all/vault.yml")
    assert ignored.returncode == 0, "inventory/dev/group_vars/all/vault.yml must be git-ignored"
    example = yaml.safe_load((ROOT / "inventory/dev/group_vars/all/vault.yml.example").read_text())
    assert set(example) == {"vault_database_url", "vault_auth_secret", "vault_openai_api_key"}
    assert set(example.values()) == {"CHANGE_ME"}


def test_requirements_pin_the_collection_versions_ansible_loads():
    """requirements.yml names what the playbooks run with: the first copy of each collection on
    ansible.cfg's collections_path (kubernetes.core 6.5.0 from .venv/collections, put there by
    `make venv`, ahead of the ansible package's 6.2; community.docker as the package bundles it)."""
    pins = {c["name"]: c["version"] for c in yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]}
    assert set(pins) == {"kubernetes.core", "community.docker"}
    listed = subprocess.run(
        [str(VENV_BIN / "ansible-galaxy"), "collection", "list", "--format", "json"],
        capture_output=True, text=True, check=True, cwd="/", env=base_env(),
    )  # fmt: skip
    loaded: dict[str, str] = {}
    for collections in json.loads(listed.stdout).values():
        for name, info in collections.items():
            loaded.setdefault(name, info["version"])
    assert {name: loaded.get(name) for name in pins} == pins


@pytest.mark.parametrize("role", ROLES)
def test_role_defaults_are_prefixed_and_match_the_argument_spec(role):
    base = ROOT / "roles" / role
    defaults = yaml.safe_load((base / "defaults" / "main.yml").read_text()) or {}
    spec = yaml.safe_load((base / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]
    assert all(name.startswith(f"{role}_") for name in defaults), defaults.keys()
    assert set(defaults) == set(spec["options"]), set(defaults) ^ set(spec["options"])
    for name, option in spec["options"].items():
        assert option.get("description"), f"{role}: {name} has no description"
        assert option.get("type"), f"{role}: {name} has no type"
    assert (base / "README.md").read_text().startswith(f"# Role `{role}`")


@pytest.mark.parametrize("role", ROLES)
def test_role_registers_prefixed_names(role):
    # (FQCN everywhere is enforced by ansible-lint's fqcn rule in the production profile.)
    tasks_text = (ROOT / "roles" / role / "tasks" / "main.yml").read_text()
    for name in re.findall(r"^\s+register:\s*(\S+)", tasks_text, re.M):
        assert name.startswith(f"{role}_"), f"{role}: registered variable {name} lacks the role prefix"


def test_every_task_touching_a_secret_value_has_no_log():
    tasks = yaml.safe_load((ROOT / "roles" / "secrets" / "tasks" / "main.yml").read_text())
    flat = []
    for task in tasks:
        flat.extend(task.get("block", [task]))
    touching = [
        t
        for t in flat
        if "secrets_values" in yaml.safe_dump(t)
        or "secrets_live" in yaml.safe_dump(t)
        or t.get("register") == "secrets_secret"
    ]
    assert len(touching) >= 5
    for task in touching:
        safe = task.get("no_log") is True or (
            # Conditions and messages that only test a value's presence/length are not output.
            set(task) & {"ansible.builtin.fail", "ansible.builtin.set_fact", "ansible.builtin.debug"}
            and "secrets_values" not in yaml.safe_dump({k: v for k, v in task.items() if k != "when"})
        )
        assert safe, f"task {task['name']!r} touches a secret value without no_log"


def plays_of(path: Path) -> list[dict]:
    return [play for play in yaml.safe_load(path.read_text()) or [] if "hosts" in play]


PLAY_FILES = sorted(
    p.relative_to(ROOT)
    # tests/cluster/playbooks: the API-level verify and cleanup the cluster tier runs as a user would
    for p in [
        *(ROOT / "playbooks").glob("*.yml"),
        *(ROOT / "molecule").glob("*/*.yml"),
        *(ROOT / "tests" / "cluster" / "playbooks").glob("*.yml"),
    ]
    if p.name != "molecule.yml"
)


# The one form a play's module_defaults may take: each kubernetes.core action group pointed at
# the dict in playbooks/vars/environment.yml (ansible-core templates only module_defaults' values).
SHARED_MODULE_DEFAULTS = {
    "group/kubernetes.core.k8s": "{{ todo_cluster_defaults }}",
    "group/kubernetes.core.helm": "{{ todo_cluster_defaults }}",
}
# Every YAML file that may hold a play: the playbooks, the molecule scenarios, the test tiers' playbooks.
ALL_PLAY_FILES = sorted(
    p.relative_to(ROOT)
    for p in [
        *(ROOT / "playbooks").rglob("*.yml"),
        *(ROOT / "molecule").rglob("*.yml"),
        *(ROOT / "tests").glob("*/playbooks/*.yml"),
    ]
)


def test_module_defaults_are_declared_once_and_every_play_uses_the_shared_one():
    """Issue 23: the cluster (kubeconfig, context) of the kubernetes.core modules is written in
    playbooks/vars/environment.yml only; a play that pastes its own block fails here."""
    found = []
    for path in ALL_PLAY_FILES:
        text = (ROOT / path).read_text()
        if path != Path("playbooks/vars/environment.yml"):
            assert "todo_kube_context | default(omit" not in text, f"{path} re-declares the cluster defaults"
        for play in yaml.safe_load(text) or []:
            if isinstance(play, dict) and "module_defaults" in play:
                found.append(str(path))
                assert play["module_defaults"] == SHARED_MODULE_DEFAULTS, f"{path}: play {play.get('name')!r}"
    assert len(found) >= 8, found  # the three playbooks, molecule create/verify, the test tiers' plays
    shared = yaml.safe_load((ROOT / "playbooks/vars/environment.yml").read_text())["todo_cluster_defaults"]
    assert shared == {"kubeconfig": "{{ todo_kubeconfig }}", "context": "{{ todo_kube_context | default(omit, true) }}"}


@pytest.mark.parametrize("path", PLAY_FILES, ids=str)
def test_plays_that_reach_the_cluster_take_path_and_cluster_from_the_one_shared_place(path):
    """Every play that runs a role, helm, kubectl, minikube or a kubernetes.core module loads
    playbooks/vars/environment.yml (the pinned tools first on PATH); a play that forgot it
    could not find helm (molecule cleanup did)."""
    for play in plays_of(ROOT / path):
        body = yaml.safe_dump({k: play.get(k) for k in ("roles", "pre_tasks", "tasks", "post_tasks")})
        if not re.search(r"kubernetes\.core\.|kubectl|minikube|\brole\b|\bname: (prerequisites|minikube)\b", body):
            continue
        assert play.get("environment") == "{{ todo_environment }}", f"{path}: play {play['name']!r}"
        assert any(
            str(f).endswith("playbooks/vars/environment.yml") or str(f) == "vars/environment.yml"
            for f in play.get("vars_files", [])
        ), f"{path}: play {play['name']!r} does not load vars/environment.yml"
        if "kubernetes.core." in body:
            assert play.get("module_defaults") == SHARED_MODULE_DEFAULTS, f"{path}: play {play['name']!r}"


def test_the_tools_path_is_written_once():
    copies = [
        str(p.relative_to(ROOT))
        for p in [*ROOT.glob("playbooks/**/*.yml"), *ROOT.glob("molecule/**/*.yml"), *ROOT.glob("roles/**/*.yml")]
        if "lookup('ansible.builtin.env', 'TODO_CACHE')" in p.read_text()
    ]
    assert copies == ["playbooks/vars/environment.yml"]


@pytest.mark.parametrize("role", ["secrets", "release", "verify"])
def test_roles_take_the_cluster_from_module_defaults_not_their_own_copies(role):
    text = (ROOT / "roles" / role / "tasks" / "main.yml").read_text()
    assert "kubeconfig:" not in text and "context:" not in text


def _tasks(value: object) -> list[dict]:
    """Every task of a task file, those inside block/rescue/always included."""
    if isinstance(value, list):
        return [task for item in value for task in _tasks(item)]
    if not isinstance(value, dict):
        return []
    nested = [task for key in ("block", "rescue", "always") for task in _tasks(value.get(key))]
    return [value, *nested]


# Issue 23: the release role's rescue listed every pod in the namespace. Objects are found by
# their labels, never by listing a namespace: a shared namespace holds others' pods too.
def test_every_pod_lookup_of_the_roles_selects_by_label():
    lookups = []
    for path in sorted((ROOT / "roles").glob("*/tasks/*.yml")):
        for task in _tasks(yaml.safe_load(path.read_text())):
            module = task.get("kubernetes.core.k8s_info")
            if isinstance(module, dict) and module.get("kind") == "Pod":
                lookups.append((path.relative_to(ROOT), task["name"], module))
    assert Path("roles/release/tasks/main.yml") in {path for path, _, _ in lookups}  # its rescue
    for path, name, module in lookups:
        assert module.get("label_selectors"), f"{path}: {name!r} lists pods without a label selector"


# Issue 23: comments said Ansible writes `todo-secrets`; the secrets role writes a Secret named
# after its content, todo-secrets-<digest> (roles/secrets/README.md).
def test_the_chart_names_the_secret_the_role_writes():
    texts = {
        path.relative_to(ROOT): path.read_text()
        for path in [
            *(ROOT / "chart/todo").glob("values*.yaml"),
            *(ROOT / "chart/todo/templates").glob("*.tpl"),
            ROOT / "chart/todo/README.md",
        ]
    }
    for path, text in texts.items():
        for line in text.splitlines():
            # The helper's failure message may name any Secret as an example.
            if "todo-secrets" in line and "fail " not in line:
                assert "todo-secrets-<" in line, f"{path}: {line.strip()}"

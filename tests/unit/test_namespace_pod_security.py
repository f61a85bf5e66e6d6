"""Issue 20, item 9: the namespace the deploy creates (roles/secrets) enforces, audits and
warns on the Pod Security Standard `restricted`. That every pod of the chart passes it is
tests/chart/test_chart_pod_security.py; admission on a real API server is the cluster tier's
tests/cluster/test_pod_security_admission.py."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RESTRICTED = {
    f"pod-security.kubernetes.io/{mode}{suffix}": value
    for mode in ("enforce", "audit", "warn")
    for suffix, value in (("", "restricted"), ("-version", "latest"))
}


def _namespace_definitions() -> list[dict]:
    found = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            definition = (node.get("kubernetes.core.k8s") or {}).get("definition")
            if isinstance(definition, dict) and definition.get("kind") == "Namespace":
                found.append(definition)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for tasks in sorted((ROOT / "roles").glob("*/tasks/*.yml")):
        walk(yaml.safe_load(tasks.read_text()))
    return found


def test_the_deploys_namespace_enforces_restricted_pod_security():
    definitions = _namespace_definitions()
    assert definitions, "no role creates the namespace any more"
    for definition in definitions:
        assert definition["metadata"].get("labels", {}) == RESTRICTED

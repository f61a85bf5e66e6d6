"""values.schema.json and the shipped values files."""

import json

import pytest
import yaml
from chart_render import CHART, render, render_fails


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        ({"backend.replicaCount": "two"}, "backend.replicaCount: Invalid type. Expected: integer, given: string"),
        ({"bogus": "1"}, "Additional property bogus is not allowed"),
        ({"backend.bogus": "1"}, "Additional property bogus is not allowed"),
        ({"config.environment": "staging"}, "config.environment"),
        ({"frontend.image.pullPolicy": "Sometimes"}, "frontend.image.pullPolicy"),
        ({"networkPolicy.enabled": "yes-please"}, "networkPolicy.enabled"),
        ({"postgresql.persistence.bogus": "1"}, "Additional property bogus is not allowed"),
        ({"config.cookieSecure": "maybe"}, "config.cookieSecure"),
        ({"config.apiDocsEnabled": "sometimes"}, "config.apiDocsEnabled"),
        ({"config.authRatePerAddress": "-1"}, "config.authRatePerAddress"),
        ({"config.passwordHashConcurrency": "0"}, "config.passwordHashConcurrency"),
        ({"config.trustedProxies": "ingress-nginx"}, "config.trustedProxies"),
        ({"config.allowedOrigins": "todo.example"}, "config.allowedOrigins"),
        ({"backend.autoscaling.minReplicas": "0"}, "backend.autoscaling.minReplicas"),
        ({"frontend.autoscaling.targetCPUUtilizationPercentage": "0"}, "frontend.autoscaling.targetCPU"),
        ({"backend.autoscaling.targetMemoryUtilizationPercentage": "most"}, "backend.autoscaling.targetMemory"),
        ({"backend.autoscaling.scaleDownStabilizationWindowSeconds": "-1"}, "backend.autoscaling.scaleDown"),
        ({"frontend.autoscaling.bogus": "1"}, "Additional property bogus is not allowed"),
    ],
    ids=lambda v: str(v)[:40] if isinstance(v, dict) else None,
)
def test_schema_rejects(sets, expected):
    error = render_fails(sets=sets)
    assert expected in error


def test_schema_rejects_a_tag_given_as_a_number():
    # `--set tag=1234567` makes an all-digit sha an integer; the schema refuses it (use
    # --set-string) rather than let a number stand in for the tag.
    error = render_fails(
        tags=False, sets={"backend.image.tag": "1234567"}, set_strings={"frontend.image.tag": "abc1234"}
    )
    assert "backend.image.tag: Invalid type. Expected: string, given: integer" in error


def test_schema_accepts_shipped_values_files():
    for values_files in [("values.yaml",), ("values-dev.yaml",), ("values-dev.yaml", "ci/lint-values.yaml")]:
        assert render(values_files=values_files).docs


def test_schema_closes_top_level_and_components():
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    assert schema["definitions"]["component"]["additionalProperties"] is False
    assert schema["definitions"]["image"]["additionalProperties"] is False
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) <= set(schema["properties"]), "every top-level value is described by the schema"


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("", "backend.image.tag is required"), ("latest", "backend.image.tag must not be 'latest'")],
)
def test_image_tag_is_required_and_never_latest(tag, expected):
    error = render_fails(set_strings={"backend.image.tag": tag})
    assert expected in error


def test_render_without_tags_fails_naming_the_value():
    assert "image.tag is required" in render_fails(tags=False)


def walk(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}" if path else key)
    else:
        yield path, node


@pytest.mark.parametrize("values_file", ["values.yaml", "values-dev.yaml", "ci/lint-values.yaml"])
def test_values_files_hold_no_secret_values(values_file):
    values = yaml.safe_load((CHART / values_file).read_text())
    for key, value in (values.get("secrets") or {}).items():
        assert value == "", f"{values_file}: secrets.{key} must stay empty (pass it with --set)"
    suspicious = ("password", "token", "apikey", "api_key", "secretkey")
    for path, value in walk(values):
        lowered = path.lower().replace("_", "")
        if any(word in lowered for word in suspicious):
            assert not isinstance(value, str) or value == "", f"{values_file}: {path} looks like a secret value"


def test_embedded_postgresql_is_a_current_patch_of_the_same_major():
    # 15.10 was a year of CVE fixes behind. The major stays 15: a new one cannot start on the
    # data directory an earlier deploy left on the PVC.
    statefulset = render(sets={"postgresql.enabled": "true"}).get("StatefulSet", "todo-postgresql")
    image = statefulset["spec"]["template"]["spec"]["containers"][0]["image"]
    repository, tag = image.rsplit(":", 1)
    major, minor = (int(part) for part in tag.split("-")[0].split("."))
    assert repository == "postgres" and tag.endswith("-bookworm"), image
    assert major == 15 and minor >= 18, image

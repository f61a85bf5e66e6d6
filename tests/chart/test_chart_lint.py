"""helm lint --strict: the chart is well-formed with each shipped values file."""

import pytest
from chart_render import CHART, run_helm


@pytest.mark.parametrize(
    "values_files",
    [
        ["values.yaml"],
        ["values-dev.yaml"],
        # With a secret source and tags every template renders fully during lint.
        ["values.yaml", "ci/lint-values.yaml"],
        ["values-dev.yaml", "ci/lint-values.yaml"],
    ],
    ids=lambda files: "+".join(files),
)
def test_helm_lint_strict(values_files):
    args = ["lint", "--strict", str(CHART)]
    for values_file in values_files:
        args += ["-f", str(CHART / values_file)]
    result = run_helm(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_helm_lint_strict_fails_on_schema_violation():
    # Proves the lint test can fail: a wrong type is a lint error, not a warning.
    result = run_helm("lint", "--strict", str(CHART), "--set", "backend.replicaCount=two")
    assert result.returncode != 0
    assert "replicaCount" in result.stdout + result.stderr

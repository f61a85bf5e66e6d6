"""Every rendered document is valid against the OpenAPI schemas of the Kubernetes the clusters run
(tools/cluster/pins.py; offline, strict)."""

import secrets

import kubernetes_validate
import pytest
from chart_render import KUBE_VERSION, RENDER_MODES, render

MODES = {
    **RENDER_MODES,
    "ingress-host-tls-no-netpol": {
        "sets": {
            "ingress.host": "todo.local",
            "ingress.tls.enabled": "true",
            "ingress.tls.secretName": "todo-tls",  # pragma: allowlist secret (a Secret name)
            "networkPolicy.enabled": "false",
        }
    },
}


def documents() -> list:
    return [
        pytest.param(doc, id=f"{mode}:{doc['kind']}/{doc['metadata']['name']}")
        for mode, kwargs in MODES.items()
        for doc in render(**kwargs).docs
    ]


@pytest.mark.parametrize("doc", documents())
def test_document_is_valid_for_the_pinned_kubernetes(doc):
    kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_validation_is_strict_enough_to_fail():
    (deployment, *_) = render().all("Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replicas": "two", "unknownField": secrets.token_hex(2)}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBE_VERSION, strict=True)

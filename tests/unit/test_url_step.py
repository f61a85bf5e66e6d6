"""The one place the address, host and URL of the app are worked out (roles/verify/tasks/url.yml,
with todo_reach_address and todo_reach_hint from playbooks/vars/environment.yml), as the deploy's
verify role and `make status` both run it."""

from __future__ import annotations

import json

import pytest

from tests.ansible_run import ROOT, run_playbook

PLAYBOOK = ROOT / "tests" / "unit" / "playbooks" / "url_step.yml"
# What the minikube role hands on where the Minikube IP is not reachable: its tunnel's address.
BEHIND_A_TUNNEL = {"ingress_address": "127.0.0.1:41234", "minikube_ip": "192.168.49.2"}


def ingress(host: str = "", lb: dict | None = None, tls_hosts: list[str] | None = None) -> dict:
    item = {
        "spec": {"rules": [{"host": host}] if host else [{}]},
        "status": {"loadBalancer": {"ingress": [lb] if lb else []}},
    }
    if tls_hosts is not None:
        item["spec"]["tls"] = [{"hosts": tls_hosts, "secretName": "todo-tls"}]  # pragma: allowlist secret
    return {"resources": [item]}


def url_step(
    *, ingresses: dict, ingress_address: str = "", minikube_ip: str = "", tunnel: str = "", given: str = ""
) -> dict:
    extra = {
        "test_ingresses": ingresses,
        "test_minikube_ip": minikube_ip,
        "test_needs_tunnel": bool(tunnel),
        "test_tunnel_reason": tunnel,
        "test_ingress_address": ingress_address,
        "todo_ingress_address": given,
    }
    run = run_playbook(PLAYBOOK, "-e", json.dumps(extra), json_output=True)
    assert run.returncode == 0, run.output
    last_task = json.loads(run.stdout)["plays"][0]["tasks"][-1]
    return json.loads(last_task["hosts"]["localhost"]["msg"].removeprefix("RESULT "))


def test_the_minikube_ip_with_the_ingress_host():
    got = url_step(ingresses=ingress("todo.local"), ingress_address="192.168.49.2", minikube_ip="192.168.49.2")
    assert got == {
        "address": "192.168.49.2", "host": "todo.local", "url": "http://todo.local/", "scheme": "http", "hint": ""
    }  # fmt: skip


def test_the_tunnel_address_and_why_it_answers():
    got = url_step(ingresses=ingress(), **BEHIND_A_TUNNEL, tunnel="the docker driver on macOS")
    assert (got["address"], got["url"]) == ("127.0.0.1:41234", "http://127.0.0.1:41234/")
    assert got["hint"].startswith(
        "The Minikube IP 192.168.49.2 is not reachable from this machine (the docker driver on macOS)"
    )


def test_an_address_the_user_gives_wins_and_needs_no_tunnel_hint():
    got = url_step(ingresses=ingress(), **BEHIND_A_TUNNEL, tunnel="WSL2", given="10.0.0.5")
    assert (got["address"], got["url"], got["hint"]) == ("10.0.0.5", "http://10.0.0.5/", "")


@pytest.mark.parametrize(
    ("lb", "address"), [({"ip": "203.0.113.7"}, "203.0.113.7"), ({"hostname": "lb.example.test"}, "lb.example.test")]
)
def test_without_minikube_the_ingress_load_balancer_address(lb, address):
    got = url_step(ingresses=ingress(lb=lb))
    assert (got["address"], got["url"]) == (address, f"http://{address}/")


def test_no_address_no_url():
    assert url_step(ingresses={"resources": []})["url"] == ""


def test_https_when_the_ingress_has_tls_for_its_host():
    """The controller redirects plain HTTP to HTTPS then: the URL, and the probes, are https."""
    got = url_step(ingresses=ingress("todo.example.test", tls_hosts=["todo.example.test"]), given="203.0.113.7")
    assert (got["url"], got["scheme"]) == ("https://todo.example.test/", "https")
    # TLS for another host only, or none: plain http.
    got = url_step(ingresses=ingress("todo.example.test", tls_hosts=["other.test"]), given="203.0.113.7")
    assert (got["url"], got["scheme"]) == ("http://todo.example.test/", "http")
    got = url_step(ingresses=ingress("todo.example.test"), given="203.0.113.7")
    assert got["scheme"] == "http"

"""The pure parts of kindnet's substitute (tools/minikube/kindnet/kindnetd.py): the CNI
configuration it writes, which node it is, the routes it keeps and the masquerade rules. The
program on real nodes is the Minikube tier's (tests/minikube/test_app_on_minikube.py: pods on two
nodes reach each other, Services, DNS and the app)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tools.minikube import build, kindnet

SPEC = importlib.util.spec_from_file_location("kindnetd", kindnet.FILES / "kindnetd.py")
kindnetd = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(kindnetd)


def node(name: str, ip: str | None, cidr: str | None, *, cidrs: list[str] | None = None) -> dict:
    spec = {}
    if cidr:
        spec["podCIDR"] = cidr
    if cidrs:
        spec["podCIDRs"] = cidrs
    addresses = [{"type": "Hostname", "address": name}] + ([{"type": "InternalIP", "address": ip}] if ip else [])
    return {"metadata": {"name": name}, "spec": spec, "status": {"addresses": addresses}}


NODES = [
    node("todo-app", "192.168.58.2", "10.244.0.0/24"),
    node("todo-app-m02", "192.168.58.3", "10.244.1.0/24"),
    node("todo-app-m03", "192.168.58.4", None),  # joined, no podCIDR allocated yet
]


def test_the_conflist_is_kindnets_ptp_host_local_and_portmap_for_this_nodes_cidr() -> None:
    config = json.loads(kindnetd.conflist("10.244.1.0/24", 1400))
    assert config["cniVersion"] == "0.3.1" and config["name"] == "kindnet"
    ptp, portmap = config["plugins"]
    assert ptp["type"] == "ptp" and ptp["ipMasq"] is False and ptp["mtu"] == 1400
    assert ptp["ipam"]["type"] == "host-local"
    assert ptp["ipam"]["ranges"] == [[{"subnet": "10.244.1.0/24"}]]
    assert ptp["ipam"]["routes"] == [{"dst": "0.0.0.0/0"}]
    assert portmap == {"type": "portmap", "capabilities": {"portMappings": True}}
    # The plugins it names are the ones the kic image ships (containernetworking-plugins).
    assert {p["type"] for p in config["plugins"]} | {ptp["ipam"]["type"]} == {"ptp", "host-local", "portmap"}


def test_the_node_is_found_by_its_internal_ip() -> None:
    assert kindnetd.own_node(NODES, "192.168.58.3")["metadata"]["name"] == "todo-app-m02"
    assert kindnetd.own_node(NODES, "192.168.58.9") is None


def test_routes_go_to_every_other_node_with_a_cidr_via_its_internal_ip() -> None:
    assert kindnetd.desired_routes(NODES, "192.168.58.2") == {"10.244.1.0/24": "192.168.58.3"}
    assert kindnetd.desired_routes(NODES, "192.168.58.3") == {"10.244.0.0/24": "192.168.58.2"}


def test_dual_stack_nodes_get_their_ipv4_cidr_only() -> None:
    dual = node("n", "192.168.58.5", None, cidrs=["fd00:10:244::/64", "10.244.2.0/24"])
    assert kindnetd.pod_cidr(dual) == "10.244.2.0/24"
    assert kindnetd.pod_cidr(node("v6", "192.168.58.6", None, cidrs=["fd00:10:244:1::/64"])) is None


@pytest.mark.parametrize(
    ("present", "stale"),
    [
        ([{"dst": "10.244.1.0/24", "gateway": "192.168.58.3"}], []),
        ([{"dst": "10.244.1.0/24", "gateway": "192.168.58.9"}], ["10.244.1.0/24"]),  # node's address changed
        ([{"dst": "10.244.7.0/24", "gateway": "192.168.58.7"}], ["10.244.7.0/24"]),  # node deleted
    ],
)
def test_routes_of_gone_or_moved_nodes_are_stale(present: list[dict], stale: list[str]) -> None:
    assert kindnetd.stale_routes(present, {"10.244.1.0/24": "192.168.58.3"}) == stale


def test_masquerade_exempts_the_pod_subnet_and_comes_last() -> None:
    rules = kindnetd.masq_rules("10.244.0.0/16")
    assert rules[0][0] == "POSTROUTING" and rules[0][1][-2:] == ["-j", kindnetd.MASQ_CHAIN]
    assert rules[0][1][2:5] == ["!", "--dst-type", "LOCAL"]
    assert (
        rules[1][0] == kindnetd.MASQ_CHAIN
        and rules[1][1][:2] == ["-d", "10.244.0.0/16"]
        and rules[1][1][-1] == "RETURN"
    )
    assert rules[-1][0] == kindnetd.MASQ_CHAIN and rules[-1][1][-1] == "MASQUERADE"


def test_the_image_is_named_as_minikube_asks_and_runs_the_program() -> None:
    module = build.minikube_module_dir() / "pkg" / "minikube" / "bootstrapper" / "images" / "images.go"
    if module.is_file():  # the module's source, where make minikube-offline downloaded it
        assert kindnet.IMAGE.removeprefix("docker.io/kindest/") in module.read_text()
    assert kindnet.IMAGE.startswith("docker.io/kindest/kindnetd:")
    assert 'CMD ["/bin/kindnetd"]' in kindnet.DOCKERFILE and "COPY kindnetd.py /bin/kindnetd" in kindnet.DOCKERFILE

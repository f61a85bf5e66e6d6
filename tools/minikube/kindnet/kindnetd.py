#!/usr/bin/env python3
"""kindnetd's work on a minikube docker-driver node, in Python (stdlib only), for the image
minikube's kindnet DaemonSet runs (docker.io/kindest/kindnetd, which cannot be pulled here).

Under minikube's own manifest (hostNetwork, NET_ADMIN + NET_RAW, the service account kindnet,
env HOST_IP / POD_IP / POD_SUBNET, /etc/cni/net.d from the node) it keeps, every PERIOD seconds
and only changing what differs:

1. /etc/cni/net.d/10-kindnet.conflist: ptp + host-local IPAM on this node's spec.podCIDR +
   portmap, as kindnet writes it (the node's kubelet turns Ready once it exists);
2. a route to every other node's podCIDR via that node's InternalIP (the nodes share one Docker
   network, so the next hop is always on-link); routes of nodes that are gone are removed;
3. ip-masq-agent's rule: pod traffic to anything outside POD_SUBNET is masqueraded (chain
   KIND-MASQ-AGENT in nat POSTROUTING for non-local destinations).

Not done (tools/minikube/README.md): NetworkPolicy enforcement, IPv6 and dual stack, nftables
mode, the embedded DNS cache and NAT64 of recent kindnet releases.
"""

from __future__ import annotations

import ipaddress
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path

PERIOD = float(os.environ.get("KINDNET_PERIOD_SECONDS", "5"))
CNI_CONFIG = Path(os.environ.get("CNI_CONFIG_DIR", "/etc/cni/net.d")) / "10-kindnet.conflist"
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
MASQ_CHAIN = "KIND-MASQ-AGENT"
# kindnet's own comments on its rules.
MASQ_COMMENTS = (
    "kind-masq-agent: ensure nat POSTROUTING directs all non-LOCAL destination traffic"
    " to our custom KIND-MASQ-AGENT chain",
    "kind-masq-agent: local traffic is not subject to MASQUERADE",
    "kind-masq-agent: outbound traffic is subject to MASQUERADE (must be last in chain)",
)
# Routes this program owns carry this protocol number (iproute2 accepts any 0-255), so it can
# remove those of a deleted node and never touches anyone else's.
ROUTE_PROTO = "250"


def log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} kindnetd: {message}", flush=True)


# ------------------------------------------------------------------ pure parts (unit-tested)


def conflist(pod_cidr: str, mtu: int) -> str:
    """The CNI configuration kindnet writes for a node with `pod_cidr` (IPv4)."""
    config = {
        "cniVersion": "0.3.1",
        "name": "kindnet",
        "plugins": [
            {
                "type": "ptp",
                "ipMasq": False,
                "ipam": {
                    "type": "host-local",
                    "dataDir": "/run/cni-ipam-state",
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "ranges": [[{"subnet": pod_cidr}]],
                },
                "mtu": mtu,
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(config, indent=2) + "\n"


def internal_ip(node: Mapping) -> str | None:
    for address in node.get("status", {}).get("addresses", []):
        if address.get("type") == "InternalIP" and ipaddress.ip_address(address["address"]).version == 4:
            return address["address"]
    return None


def pod_cidr(node: Mapping) -> str | None:
    spec = node.get("spec", {})
    cidrs = spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else [])
    v4 = [c for c in cidrs if ipaddress.ip_network(c).version == 4]
    return v4[0] if v4 else None


def own_node(nodes: Iterable[Mapping], host_ip: str) -> Mapping | None:
    """This node: the one whose InternalIP is the Pod's HOST_IP (as kindnet finds it)."""
    return next((n for n in nodes if internal_ip(n) == host_ip), None)


def desired_routes(nodes: Iterable[Mapping], host_ip: str) -> dict[str, str]:
    """{other node's podCIDR: its InternalIP}, for every other node that has both."""
    routes = {}
    for node in nodes:
        ip, cidr = internal_ip(node), pod_cidr(node)
        if ip and cidr and ip != host_ip:
            routes[cidr] = ip
    return routes


def stale_routes(present: Iterable[Mapping], desired: Mapping[str, str]) -> list[str]:
    """Destinations of our routes (`ip -j route show proto ROUTE_PROTO`) no node asks for now."""
    return [r["dst"] for r in present if r.get("dst") and desired.get(r["dst"]) != r.get("gateway")]


def masq_rules(pod_subnet: str) -> list[tuple[str, list[str]]]:
    """ip-masq-agent's rules as (chain, rule) in the nat table: pod traffic that leaves the pod
    subnet for a non-local address goes out with the node's address."""
    jump, keep, masquerade = (["-m", "comment", "--comment", text] for text in MASQ_COMMENTS)
    return [
        ("POSTROUTING", ["-m", "addrtype", "!", "--dst-type", "LOCAL", *jump, "-j", MASQ_CHAIN]),
        (MASQ_CHAIN, ["-d", pod_subnet, *keep, "-j", "RETURN"]),
        (MASQ_CHAIN, [*masquerade, "-j", "MASQUERADE"]),
    ]


# ------------------------------------------------------------------ the node's side


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result


def list_nodes() -> list[dict]:
    """GET /api/v1/nodes with the Pod's service account (the token is read each time: it rotates)."""
    host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
    if ":" in host:
        host = f"[{host}]"
    request = urllib.request.Request(
        f"https://{host}:{port}/api/v1/nodes",
        headers={"Authorization": f"Bearer {(SERVICE_ACCOUNT / 'token').read_text().strip()}"},
    )
    context = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT / "ca.crt"))
    # https to the in-cluster apiserver only (the URL is built above, never read from input).
    with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310
        return json.load(response)["items"]


def interface_mtu(host_ip: str) -> int:
    """The MTU of the interface that holds HOST_IP (the profile network's), as kindnet takes it."""
    for link in json.loads(run("ip", "-j", "addr", "show").stdout):
        if any(a.get("local") == host_ip for a in link.get("addr_info", [])):
            return int(link.get("mtu", 1500))
    return 1500


def ensure_conflist(cidr: str, mtu: int) -> None:
    text = conflist(cidr, mtu)
    if CNI_CONFIG.is_file() and CNI_CONFIG.read_text() == text:
        return
    staging = CNI_CONFIG.with_name("." + CNI_CONFIG.name + ".new")
    staging.write_text(text)
    staging.replace(CNI_CONFIG)
    log(f"wrote {CNI_CONFIG} for podCIDR {cidr} (mtu {mtu})")


def ensure_routes(desired: Mapping[str, str]) -> None:
    present = json.loads(run("ip", "-j", "route", "show", "proto", ROUTE_PROTO).stdout or "[]")
    for dst in stale_routes(present, desired):
        run("ip", "route", "del", dst, "proto", ROUTE_PROTO, check=False)
        log(f"removed route {dst}")
    have = {(r.get("dst"), r.get("gateway")) for r in present}
    for dst, gateway in sorted(desired.items()):
        if (dst, gateway) not in have:
            run("ip", "route", "replace", dst, "via", gateway, "proto", ROUTE_PROTO)
            log(f"route {dst} via {gateway}")


def ensure_masquerade(pod_subnet: str) -> None:
    iptables = ("iptables", "-w", "5", "-t", "nat")
    if run(*iptables, "-S", MASQ_CHAIN, check=False).returncode != 0:
        run(*iptables, "-N", MASQ_CHAIN)
    for chain, rule in masq_rules(pod_subnet):
        if run(*iptables, "-C", chain, *rule, check=False).returncode != 0:
            run(*iptables, "-A", chain, *rule)
            log(f"iptables -t nat -A {chain} {' '.join(rule)}")


def reconcile(host_ip: str, pod_subnet: str, mtu: int) -> bool:
    """One pass; True once this node's CNI configuration is in place."""
    nodes = list_nodes()
    me = own_node(nodes, host_ip)
    cidr = pod_cidr(me) if me else None
    if cidr:
        ensure_conflist(cidr, mtu)
    ensure_routes(desired_routes(nodes, host_ip))
    ensure_masquerade(pod_subnet)
    return cidr is not None


def main() -> int:
    host_ip, pod_subnet = os.environ["HOST_IP"], os.environ.get("POD_SUBNET", "10.244.0.0/16")
    mtu = interface_mtu(host_ip)
    log(f"node {host_ip}, pod subnet {pod_subnet}, every {PERIOD:.0f}s")
    waiting_said = False
    while True:
        try:
            if not reconcile(host_ip, pod_subnet, mtu) and not waiting_said:
                log(f"no Node with InternalIP {host_ip} and a podCIDR yet")
                waiting_said = True
        except Exception as error:
            log(f"pass failed, retrying: {error}")
        time.sleep(PERIOD)


if __name__ == "__main__":
    sys.exit(main())

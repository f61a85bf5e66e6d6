"""What a local cluster could leave behind on this machine, as comparable sets: processes of the
components it runs, mounts, network interfaces, network namespaces and iptables rules.

Docker's own rules and interfaces are left out: dockerd runs beside the cluster and may add or
drop them at any time for reasons of its own.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, fields
from pathlib import Path

from tools.cluster.node import process_argvs

COMPONENTS = (
    "containerd",
    "containerd-shim-runc-v2",
    "kubelet",
    "kube-proxy",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "etcd",
    "coredns",
    "traefik",
    "kwok",
    "pause",
)
DOCKER_MARKERS = ("DOCKER", "docker0", "br-", "veth")


@dataclass(frozen=True)
class HostState:
    processes: frozenset[str]
    mounts: frozenset[str]
    links: frozenset[str]
    netns: frozenset[str]
    iptables: frozenset[str]
    ip6tables: frozenset[str]

    def differences(self, later: HostState) -> dict[str, dict[str, list[str]]]:
        out = {}
        for field in fields(self):
            before, after = getattr(self, field.name), getattr(later, field.name)
            if before != after:
                out[field.name] = {"added": sorted(after - before), "removed": sorted(before - after)}
        return out


DOCKER_CONTAINERD_SOCKETS = (b"/run/containerd/containerd.sock", b"/var/run/docker/containerd/containerd.sock")


def _component_processes() -> frozenset[str]:
    found = set()
    for pid, argv in process_argvs():
        name = Path(argv[0].decode(errors="replace")).name if argv and argv[0] else ""
        # Docker's containerd and its shims are not ours: the system one (/run/containerd) or the
        # one dockerd starts itself when there is none (/var/run/docker/containerd).
        if name in COMPONENTS and not any(sock in b" ".join(argv) for sock in DOCKER_CONTAINERD_SOCKETS):
            found.add(f"{pid} {b' '.join(argv).decode(errors='replace')[:200]}")
    return frozenset(found)


def _mounts() -> frozenset[str]:
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return frozenset(p for p in points if "/docker/" not in p and not p.startswith("/run/docker"))


def _links() -> frozenset[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    names = {line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line}
    return frozenset(n for n in names if not n.startswith(DOCKER_MARKERS))


def _netns() -> frozenset[str]:
    directory = Path("/var/run/netns")
    return frozenset(p.name for p in directory.iterdir()) if directory.is_dir() else frozenset()


def _rules(binary: str) -> frozenset[str]:
    """Chains and rules per table; a table that only holds empty built-in chains says nothing."""
    out = subprocess.run([f"{binary}-save"], capture_output=True, text=True).stdout
    kept, table = set(), ""
    for line in out.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":") and line.split()[0][1:] not in (
            "INPUT",
            "OUTPUT",
            "FORWARD",
            "PREROUTING",
            "POSTROUTING",
        ):
            kept.add(f"{table} chain {line.split()[0][1:]}")
        elif line.startswith("-A") and not any(marker in line for marker in DOCKER_MARKERS):
            kept.add(f"{table} {line}")
    return frozenset(kept)


def snapshot() -> HostState:
    return HostState(
        processes=_component_processes(),
        mounts=_mounts(),
        links=_links(),
        netns=_netns(),
        iptables=_rules("iptables"),
        ip6tables=_rules("ip6tables"),
    )

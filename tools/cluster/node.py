"""The real node: containerd (CRI) + runc, CNI bridge, kubelet and kube-proxy on this machine.

Everything lives under the run dir (containerd root/state/socket, kubelet root, CNI config and
IPAM data) except what the kernel keeps globally: the bridge interface, a few iptables rules,
network namespaces and mounts. `up` records each of those in the state file and `down` removes
exactly what it recorded, so the machine ends as it started (tests compare before and after).

Settings that each failed without them on these machines (see tests/cluster/README.md):
no CAP_SYS_RESOURCE (nothing may lower oom_score_adj), cgroup v1 with the cgroupfs driver,
Docker's FORWARD policy DROP with br_netfilter on, and kubelet's iptables util chains.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

NODE_NAME = "todo-node"
NODE_LABEL = ("todo.local/node", "real")
CNI_BIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")
# A comment on every iptables rule we add, so teardown and tests can find ours and only ours.
RULE_COMMENT = "todo-local-node"
SANDBOX_IMAGE = "todo.local/pause:1"
KUBELET_LEFTOVER_CHAINS = {
    "filter": ("KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "KUBE-PROXY-CANARY"),
    "nat": ("KUBE-MARK-MASQ", "KUBE-KUBELET-CANARY", "KUBE-PROXY-CANARY", "KUBE-POSTROUTING", "KUBE-MARK-DROP"),
    "mangle": ("KUBE-KUBELET-CANARY", "KUBE-PROXY-CANARY"),
}


class NodeError(RuntimeError):
    pass


def log(message: str) -> None:
    print(f"[node] {message}", flush=True)


@dataclass(frozen=True)
class NodeNetwork:
    """The node's one bridge: its gateway address is the node IP, the DNS IP and the database host."""

    bridge: str
    cidr: str

    @property
    def gateway(self) -> str:
        return str(next(ipaddress.ip_network(self.cidr).hosts()))

    @classmethod
    def from_env(cls) -> NodeNetwork:
        cidr = os.environ.get("TODO_NODE_POD_CIDR", "10.213.0.0/24")
        ipaddress.ip_network(cidr)  # a typo fails here, not deep inside the CNI plugin
        bridge = os.environ.get("TODO_NODE_BRIDGE", "todo-br0")
        if len(bridge) > 15:
            raise NodeError(f"TODO_NODE_BRIDGE={bridge!r} is longer than the kernel's 15-character limit")
        return cls(bridge=bridge, cidr=cidr)


def run(*argv: str, check: bool = True, timeout: float = 60, input: bytes | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(argv), capture_output=True, timeout=timeout, input=input)
    if check and proc.returncode != 0:
        raise NodeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-2000:]}")
    return proc


# --- preflight ---------------------------------------------------------------------------


def cgroup_version() -> int:
    return 2 if Path("/sys/fs/cgroup/cgroup.controllers").exists() else 1


def cni_bin_dir() -> str:
    for directory in CNI_BIN_DIRS:
        if all((Path(directory) / plugin).exists() for plugin in ("bridge", "host-local", "loopback", "portmap")):
            return directory
    raise NodeError(
        "CNI plugins (bridge, host-local, loopback, portmap) not found in "
        f"{' or '.join(CNI_BIN_DIRS)}: apt-get install containernetworking-plugins (scripts/system-deps.sh)"
    )


def preflight() -> dict[str, str]:
    """Fail early, naming the package, instead of half-starting a node."""
    if os.geteuid() != 0:
        raise NodeError("the real node needs root (bridge, iptables, mounts, containers); run as root")
    tools = {
        "containerd": "containerd",
        "containerd-shim-runc-v2": "containerd",
        "ctr": "containerd",
        "runc": "runc",
        "iptables": "iptables",
        "ip": "iproute2",
        "conntrack": "conntrack",
        "gcc": "gcc (for the pause image)",
    }
    missing = sorted({package for tool, package in tools.items() if not shutil.which(tool)})
    if missing:
        raise NodeError(f"missing for the real node: {', '.join(missing)}; run scripts/system-deps.sh (as root)")
    return {"cni_bin_dir": cni_bin_dir(), "cgroup_version": str(cgroup_version())}


# --- network -----------------------------------------------------------------------------


def iptables_binaries() -> tuple[str, ...]:
    return tuple(b for b in ("iptables", "ip6tables") if shutil.which(b))


def forward_rules(network: NodeNetwork) -> list[list[str]]:
    """Docker sets FORWARD's policy to DROP; with br_netfilter on, bridged pod traffic passes
    FORWARD too, so pod -> pod and pod -> Service are dropped without these two rules."""
    comment = ["-m", "comment", "--comment", RULE_COMMENT]
    return [
        ["FORWARD", "-i", network.bridge, *comment, "-j", "ACCEPT"],
        ["FORWARD", "-o", network.bridge, *comment, "-j", "ACCEPT"],
    ]


def setup_network(network: NodeNetwork, record: dict) -> None:
    if run("ip", "link", "show", network.bridge, check=False).returncode == 0:
        raise NodeError(
            f"interface {network.bridge} already exists (another local node, or a crashed one: "
            f"`python -m tools.cluster down` cleans what it started; else `ip link delete {network.bridge}`)"
        )
    run("ip", "link", "add", network.bridge, "type", "bridge")
    record["bridge"] = network.bridge
    prefix = ipaddress.ip_network(network.cidr).prefixlen
    run("ip", "addr", "add", f"{network.gateway}/{prefix}", "dev", network.bridge)
    run("ip", "link", "set", network.bridge, "up")
    record["iptables_rules"] = []
    for rule in forward_rules(network):
        run("iptables", "-w", "-I", *rule[:1], "1", *rule[1:])
        record["iptables_rules"].append(rule)
    forward = Path("/proc/sys/net/ipv4/ip_forward")
    record["ip_forward_was"] = forward.read_text().strip()
    if record["ip_forward_was"] != "1":
        forward.write_text("1\n")
    log(f"bridge {network.bridge} {network.gateway}/{prefix} up; FORWARD accepts it")


def teardown_network(record: dict) -> None:
    for rule in record.get("iptables_rules", []):
        while run("iptables", "-w", "-C", *rule, check=False).returncode == 0:
            run("iptables", "-w", "-D", *rule)
    if record.get("bridge") and run("ip", "link", "show", record["bridge"], check=False).returncode == 0:
        run("ip", "link", "delete", record["bridge"])
    # Put forwarding back as found, unless a Docker daemon started meanwhile (it needs it on).
    if record.get("ip_forward_was") == "0" and not Path("/var/run/docker.pid").exists():
        Path("/proc/sys/net/ipv4/ip_forward").write_text("0\n")


def remove_kube_chains() -> None:
    """kube-proxy --cleanup leaves KUBE-FIREWALL, the canaries and KUBE-MARK-MASQ behind in both
    iptables and ip6tables; kubelet's canaries are created even with makeIPTablesUtilChains off."""
    for binary in iptables_binaries():
        for table, chains in KUBELET_LEFTOVER_CHAINS.items():
            listing = run(binary, "-w", "-t", table, "-S", check=False).stdout.decode()
            present = [chain for chain in chains if f"-N {chain}" in listing.splitlines()]
            # Jumps into a chain must go before the chain can be deleted.
            for line in listing.splitlines():
                parts = line.split()
                if parts[:1] == ["-A"] and "-j" in parts and parts[parts.index("-j") + 1] in present:
                    run(binary, "-w", "-t", table, "-D", *parts[1:], check=False)
            for chain in present:
                run(binary, "-w", "-t", table, "-F", chain, check=False)
            for chain in present:
                run(binary, "-w", "-t", table, "-X", chain, check=False)


def netns_names() -> set[str]:
    directory = Path("/var/run/netns")
    return {p.name for p in directory.iterdir()} if directory.is_dir() else set()


def mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount_point = line.split()[4].replace("\\040", " ")
        if mount_point == prefix or mount_point.startswith(prefix + "/"):
            found.append(mount_point)
    return found


def unmount_all_under(path: Path) -> None:
    # Deepest first; lazy so a busy mount cannot stop the rest.
    for mount_point in sorted(set(mounts_under(path)), key=len, reverse=True):
        run("umount", "-l", mount_point, check=False)


# --- containerd --------------------------------------------------------------------------


def containerd_paths(run_dir: Path) -> dict[str, Path]:
    base = run_dir / "containerd"
    return {
        "config": base / "config.toml",
        "root": base / "root",
        "state": base / "state",
        "socket": base / "containerd.sock",
        "cni_conf": run_dir / "cni" / "net.d",
        "cni_data": run_dir / "cni" / "ipam",
    }


def containerd_config(run_dir: Path, cni_bin: str) -> str:
    p = containerd_paths(run_dir)
    # A dedicated instance: own root, state and socket, so Docker's containerd is never touched.
    return f"""version = 2
root = "{p["root"]}"
state = "{p["state"]}"
disabled_plugins = ["io.containerd.internal.v1.tracing", "io.containerd.grpc.v1.introspection.v1"]

[grpc]
  address = "{p["socket"]}"

[ttrpc]
  address = "{p["socket"]}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{SANDBOX_IMAGE}"
  # No CAP_SYS_RESOURCE here: runc may not lower oom_score_adj, so the sandbox keeps ours.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # cgroupfs, matching kubelet's cgroupDriver (no systemd here).
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{p["cni_conf"]}"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{run_dir / "containerd" / "opt"}"
"""


def cni_config(run_dir: Path, network: NodeNetwork) -> dict:
    return {
        "cniVersion": "1.0.0",
        "name": "todo-node",
        "plugins": [
            {
                "type": "bridge",
                "bridge": network.bridge,
                "isGateway": True,
                # Else a pod has only its subnet route and Service IPs are "network unreachable".
                "isDefaultGateway": True,
                # Pods talk only to the node and each other: no masquerading to the outside.
                "ipMasq": False,
                # A pod reaching its own Service IP comes back through the bridge.
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": network.cidr, "gateway": network.gateway}]],
                    "dataDir": str(containerd_paths(run_dir)["cni_data"]),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def write_runtime_config(run_dir: Path, network: NodeNetwork, cni_bin: str) -> None:
    p = containerd_paths(run_dir)
    for key in ("root", "state", "cni_conf", "cni_data"):
        p[key].mkdir(parents=True, exist_ok=True)
    p["config"].write_text(containerd_config(run_dir, cni_bin))
    (p["cni_conf"] / "10-todo-node.conflist").write_text(json.dumps(cni_config(run_dir, network), indent=2))


def containerd_argv(run_dir: Path) -> list[str]:
    return [shutil.which("containerd") or "containerd", "--config", str(containerd_paths(run_dir)["config"])]


def ctr(
    run_dir: Path, *args: str, input: bytes | None = None, timeout: float = 300, check: bool = True
) -> subprocess.CompletedProcess:
    socket = str(containerd_paths(run_dir)["socket"])
    return run("ctr", "--address", socket, "--namespace", "k8s.io", *args, input=input, timeout=timeout, check=check)


def containerd_ready(run_dir: Path) -> bool:
    socket = containerd_paths(run_dir)["socket"]
    return socket.exists() and run("ctr", "--address", str(socket), "version", check=False).returncode == 0


def image_refs(run_dir: Path) -> set[str]:
    return set(ctr(run_dir, "images", "list", "--quiet").stdout.decode().split())


def import_archive(run_dir: Path, archive: bytes) -> None:
    ctr(run_dir, "images", "import", "--no-unpack=false", "-", input=archive, timeout=600)


def process_argvs() -> Iterator[tuple[int, list[bytes]]]:
    """(pid, argv) of every process that can still be read."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                yield int(proc.name), (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue


def shim_pids(run_dir: Path) -> list[int]:
    """containerd-shim-runc-v2 processes of our instance: they outlive containerd itself."""
    socket = str(containerd_paths(run_dir)["socket"]).encode()
    return [
        pid for pid, argv in process_argvs() if argv and argv[0].endswith(b"containerd-shim-runc-v2") and socket in argv
    ]


def remove_all_containers(run_dir: Path) -> None:
    """Kill every task and delete every container of our containerd, sandboxes included.
    kubelet is stopped by now, so nothing restarts them; network namespaces and IPAM files are
    cleaned separately (recorded, or under the run dir)."""
    if not containerd_ready(run_dir):
        return
    tasks = ctr(run_dir, "tasks", "list", "--quiet").stdout.decode().split()
    for task in tasks:
        ctr(run_dir, "tasks", "kill", "--signal", "SIGKILL", task, check=False, timeout=30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        listing = ctr(run_dir, "tasks", "list", check=False).stdout.decode().splitlines()[1:]
        if all("STOPPED" in line for line in listing):
            break
        time.sleep(0.3)
    for task in tasks:
        ctr(run_dir, "tasks", "delete", "--force", task, check=False, timeout=30)
    for container in ctr(run_dir, "containers", "list", "--quiet", check=False).stdout.decode().split():
        ctr(run_dir, "containers", "delete", container, check=False, timeout=30)


# --- kubelet and kube-proxy --------------------------------------------------------------


def kubelet_config(run_dir: Path, network: NodeNetwork, ports: dict[str, int], ca_cert: str) -> dict:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # The node IP, so the API server reaches it for logs and exec; only on our own bridge.
        "address": network.gateway,
        "port": ports["kubelet"],
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": ports["kubelet-healthz"],
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": ca_cert},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "containerRuntimeEndpoint": f"unix://{containerd_paths(run_dir)['socket']}",
        # Pod logs under the run dir too (default /var/log/pods would outlive `down`).
        "podLogsDir": str(run_dir / "pod-logs"),
        "cgroupDriver": "cgroupfs",
        # cgroup v1 is what these machines have; 1.35 still runs on it when told so (failCgroupV1).
        "failCgroupV1": False,
        # Without CAP_SYS_RESOURCE kubelet cannot give itself -999.
        "oomScoreAdj": 0,
        "clusterDNS": [network.gateway],
        "clusterDomain": "cluster.local",
        "resolvConf": "/etc/resolv.conf",
        # Else kubelet installs KUBE-FIREWALL, which drops non-local traffic to 127.0.0.0/8.
        "makeIPTablesUtilChains": False,
        "enforceNodeAllocatable": [],
        "failSwapOn": False,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "registerNode": True,
        "maxPods": 60,
        "nodeStatusReportFrequency": "10s",
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "streamingConnectionIdleTimeout": "5m",
        "shutdownGracePeriod": "0s",
        "logging": {"format": "text"},
    }


def kubelet_argv(bin_dir: Path, run_dir: Path, network: NodeNetwork, kubeconfig: str) -> list[str]:
    return [
        str(bin_dir / "kubelet"),
        f"--config={run_dir / 'kubelet' / 'config.json'}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={run_dir / 'kubelet' / 'root'}",
        f"--cert-dir={run_dir / 'kubelet' / 'pki'}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={network.gateway}",
        f"--node-labels={NODE_LABEL[0]}={NODE_LABEL[1]}",
        "--v=1",
    ]


def write_kubelet_config(run_dir: Path, network: NodeNetwork, ports: dict[str, int], ca_cert: str) -> None:
    directory = run_dir / "kubelet"
    (directory / "root").mkdir(parents=True, exist_ok=True)
    (directory / "pki").mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(kubelet_config(run_dir, network, ports, ca_cert), indent=2))


def kube_proxy_argv(bin_dir: Path, network: NodeNetwork, kubeconfig: str, ports: dict[str, int]) -> list[str]:
    return [
        str(bin_dir / "kube-proxy"),
        f"--kubeconfig={kubeconfig}",
        "--proxy-mode=iptables",
        f"--cluster-cidr={network.cidr}",
        f"--hostname-override={NODE_NAME}",
        # 0: leave the host's conntrack limits alone.
        "--conntrack-max-per-core=0",
        f"--metrics-bind-address=127.0.0.1:{ports['kube-proxy-metrics']}",
        f"--healthz-bind-address=127.0.0.1:{ports['kube-proxy-healthz']}",
        "--v=1",
    ]


def kube_proxy_cleanup(bin_dir: Path) -> None:
    run(str(bin_dir / "kube-proxy"), "--cleanup", "--proxy-mode=iptables", check=False, timeout=60)

#!/usr/bin/env python3
"""Local Kubernetes test cluster: a real control plane with kwok playing the kubelets.

What runs pods for real (kubelet, a container runtime, an Ingress controller, faults under
load) is a real Minikube profile (tools/minikube, the Minikube tier); this cluster is for the
API-level tests that need only a control plane: admission, Helm hooks, the playbooks' API
calls, in seconds.

    python -m tools.cluster build    compile/cache etcd, kube-apiserver, -controller-manager, -scheduler, kwok
    python -m tools.cluster up       start everything, wait for a healthy API and Ready kwok nodes
    python -m tools.cluster env      print `export KUBECONFIG=...` (eval "$(python -m tools.cluster env)")
    python -m tools.cluster status   show processes, API health and nodes
    python -m tools.cluster down     stop every process `up` started (by pid) and delete its state

Binaries are built from pinned Go modules (see pins.py / build.py) and cached under
${TODO_CACHE:-~/.cache/todo}/k8s/<version>/. Runtime state (certs, etcd data, logs,
kubeconfig, pids) lives in ${TODO_CLUSTER_DIR:-$TODO_CACHE/cluster/run}, never in the repo.
Ports: API ${TODO_CLUSTER_PORT_BASE:-16443}, etcd client/peer the next two.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tools.cluster import build, pins

SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
NODE_NAMES = ("kwok-node-0", "kwok-node-1")
# kwok manages only nodes carrying this annotation (its documented convention).
KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
# kwok's pod Stages (--config): its defaults, with bare run-to-completion Pods completed too.
KWOK_STAGES = Path(__file__).with_name("kwok-stages.yaml")
CONTEXT = "todo-local"
STATE_FILE = "state.json"
# Written into every run dir we create: `down` deletes only directories that carry it, so a
# mistyped TODO_CLUSTER_DIR can never make it delete somebody else's files.
MARKER_FILE = ".todo-local-cluster"


class ClusterError(RuntimeError):
    pass


def log(message: str) -> None:
    print(f"[cluster] {message}", flush=True)


# --- ports and state -------------------------------------------------------------------


PORT_OFFSETS = {"apiserver": 0, "etcd-client": 1, "etcd-peer": 2}


def ports() -> dict[str, int]:
    base = int(os.environ.get("TODO_CLUSTER_PORT_BASE", "16443"))
    return {name: base + offset for name, offset in PORT_OFFSETS.items()}


def check_port_free(port: int, owner: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as error:
            raise ClusterError(
                f"port {port} (for {owner}) is already in use ({error.strerror}); "
                f"see `ss -ltnp 'sport = :{port}'`, stop that process or set TODO_CLUSTER_PORT_BASE"
            ) from None


def remove_run_dir(run_dir: Path) -> None:
    if not run_dir.exists():
        return
    if not any(run_dir.iterdir()):
        run_dir.rmdir()
        return
    if not ((run_dir / MARKER_FILE).exists() or (run_dir / STATE_FILE).exists()):
        raise ClusterError(f"{run_dir} exists but was not made by cluster.py (no {MARKER_FILE}); not touching it")
    shutil.rmtree(run_dir)
    log(f"removed {run_dir}")


@dataclass
class Process:
    """A process `up` started: its start time tells it apart from a later one reusing the pid."""

    name: str
    pid: int
    start_time: str | None
    log: str


@dataclass
class ClusterState:
    """What `up` started, kept in the run dir's state.json for `env`, `status` and `down`."""

    ports: dict[str, int]  # PORT_OFFSETS' names
    certs: dict[str, str]  # pki.generate's names -> paths
    kubeconfig: str
    versions: dict[str, str]
    nodes: str = "kwok"
    processes: list[Process] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict) -> ClusterState:
        processes = [Process(**entry) for entry in data.get("processes", [])]
        return cls(**{**data, "processes": processes})


def read_state(run_dir: Path) -> ClusterState | None:
    path = run_dir / STATE_FILE
    if not path.is_file():
        return None
    return ClusterState.from_json(json.loads(path.read_text()))


def write_state(run_dir: Path, state: ClusterState) -> None:
    tmp = run_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2))
    tmp.replace(run_dir / STATE_FILE)


# --- processes ---------------------------------------------------------------------------


def process_start_time(pid: int) -> str | None:
    """Kernel start time of pid: tells our process apart from a later one reusing the pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; split after the ")" that ends the (possibly spaced) command name.
    return stat.rsplit(")", 1)[1].split()[19]


def is_ours_and_alive(entry: Process) -> bool:
    start = process_start_time(entry.pid)
    if start is None or start != entry.start_time:
        return False
    state = Path(f"/proc/{entry.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def spawn(name: str, argv: list[str], run_dir: Path, state: ClusterState, env: dict[str, str] | None = None) -> None:
    log_path = run_dir / "logs" / f"{name}.log"
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(
            argv,
            env={**os.environ, **env} if env else None,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=run_dir,
            start_new_session=True,  # survives `up` exiting; not tied to our terminal
        )
    state.processes.append(Process(name, proc.pid, process_start_time(proc.pid), str(log_path)))
    write_state(run_dir, state)
    log(f"started {name} (pid {proc.pid}, log {log_path})")


def stop_processes(state: ClusterState, timeout: float = 15.0, only: tuple[str, ...] | None = None) -> None:
    # Reverse start order, each one gone before the next is signalled: kwok and controllers
    # first, etcd last. (Signalled all at once, kube-apiserver spent 10 s of its exit on the
    # DELETE of its identity Lease, timing out against the etcd already gone: `down` took 13 s.)
    entries = [e for e in reversed(state.processes) if only is None or e.name in only]
    deadline = time.monotonic() + timeout
    for entry in entries:
        if is_ours_and_alive(entry):
            os.kill(entry.pid, signal.SIGTERM)
        while is_ours_and_alive(entry) and time.monotonic() < deadline:
            time.sleep(0.1)
        if is_ours_and_alive(entry):
            log(f"{entry.name} (pid {entry.pid}) ignored SIGTERM; sending SIGKILL")
            os.kill(entry.pid, signal.SIGKILL)
            for _ in range(50):
                if not is_ours_and_alive(entry):
                    break
                time.sleep(0.1)
        log(f"stopped {entry.name} (pid {entry.pid})")


def ensure_alive(state: ClusterState) -> None:
    for entry in state.processes:
        if not is_ours_and_alive(entry):
            tail = Path(entry.log).read_text(errors="replace")[-3000:] if Path(entry.log).exists() else ""
            raise ClusterError(f"{entry.name} exited during start-up; last log lines:\n{tail}")


# --- talking to the API ------------------------------------------------------------------


def api_context(certs: dict[str, str]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=certs["ca_cert"])
    context.load_cert_chain(certs["admin_cert"], certs["admin_key"])
    return context


def api_request(state: ClusterState, method: str, path: str, body: dict | None = None, timeout: float = 5.0):
    url = f"https://127.0.0.1:{state.ports['apiserver']}{path}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    # The URL is always https://127.0.0.1:<port> built above.
    with urllib.request.urlopen(request, context=api_context(state.certs), timeout=timeout) as response:  # noqa: S310
        payload = response.read()
    try:
        return json.loads(payload)
    except json.JSONDecodeError:
        return payload.decode()


def wait_for(description: str, probe, state: ClusterState, timeout: float) -> None:
    started = time.monotonic()
    last_error: Exception | None = None
    while time.monotonic() - started < timeout:
        ensure_alive(state)
        try:
            if probe():
                log(f"{description}: ok ({time.monotonic() - started:.1f}s)")
                return
        except (OSError, urllib.error.URLError, ValueError, KeyError) as error:
            last_error = error
        time.sleep(0.5)
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {description} (last error: {last_error})")


def etcd_healthy(state: ClusterState) -> bool:
    url = f"http://127.0.0.1:{state.ports['etcd-client']}/health"
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.loads(response.read()).get("health") == "true"


def api_ready(state: ClusterState) -> bool:
    return api_request(state, "GET", "/readyz", timeout=3) == "ok"


def default_service_account_exists(state: ClusterState) -> bool:
    try:
        api_request(state, "GET", "/api/v1/namespaces/default/serviceaccounts/default")
        return True
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return False
        raise


def register_nodes(state: ClusterState) -> None:
    for name in NODE_NAMES:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {KWOK_NODE_ANNOTATION[0]: KWOK_NODE_ANNOTATION[1], "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "type": "kwok",
                },
            },
            # No kwok NoSchedule taint: the chart's pods must schedule without tolerations. The
            # chart requests ephemeral storage, which a real kubelet reports from its disk.
            "status": {
                "allocatable": {"cpu": "32", "memory": "256Gi", "ephemeral-storage": "100Gi", "pods": "110"},
                "capacity": {"cpu": "32", "memory": "256Gi", "ephemeral-storage": "100Gi", "pods": "110"},
            },
        }
        try:
            api_request(state, "POST", "/api/v1/nodes", node)
        except urllib.error.HTTPError as error:
            if error.code != 409:
                raise
        log(f"registered node {name}")


def nodes_ready(state: ClusterState) -> bool:
    nodes = api_request(state, "GET", "/api/v1/nodes")["items"]
    ready = {
        node["metadata"]["name"]
        for node in nodes
        for condition in node.get("status", {}).get("conditions", [])
        if condition["type"] == "Ready" and condition["status"] == "True"
    }
    return set(NODE_NAMES) <= ready


# --- kubeconfig --------------------------------------------------------------------------


def write_kubeconfig(path: Path, api_port: int, certs: dict[str, str]) -> None:
    def b64(file: str) -> str:
        return base64.b64encode(Path(file).read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CONTEXT,
                "cluster": {
                    "server": f"https://127.0.0.1:{api_port}",
                    "certificate-authority-data": b64(certs["ca_cert"]),
                },
            }
        ],
        "users": [
            {
                "name": f"{CONTEXT}-admin",
                "user": {
                    "client-certificate-data": b64(certs["admin_cert"]),
                    "client-key-data": b64(certs["admin_key"]),
                },
            }
        ],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": f"{CONTEXT}-admin"}}],
        "current-context": CONTEXT,
    }
    # JSON is valid YAML, so every kubeconfig reader accepts it.
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)


# --- commands ----------------------------------------------------------------------------


def component_commands(bin_dir: Path, run_dir: Path, state: ClusterState) -> list[tuple[str, list[str]]]:
    p = state.ports
    c = state.certs
    kubeconfig = state.kubeconfig
    etcd_url = f"http://127.0.0.1:{p['etcd-client']}"
    peer_url = f"http://127.0.0.1:{p['etcd-peer']}"
    return [
        (
            "etcd",
            [
                str(bin_dir / "etcd"),
                "--name=todo-local",
                f"--data-dir={run_dir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=todo-local={peer_url}",
                "--initial-cluster-state=new",
                # Throwaway data: skipping fsync makes start-up and writes much faster.
                "--unsafe-no-fsync=true",
                "--quota-backend-bytes=1073741824",
                "--log-level=warn",
            ],
        ),
        (
            "kube-apiserver",
            [
                str(bin_dir / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                # Endpoints may not point at loopback; nothing in this cluster dials the
                # `kubernetes` Service, so do not maintain its Endpoints at all.
                "--endpoint-reconciler-type=none",
                f"--secure-port={p['apiserver']}",
                f"--tls-cert-file={c['server_cert']}",
                f"--tls-private-key-file={c['server_key']}",
                f"--client-ca-file={c['ca_cert']}",
                f"--service-account-key-file={c['sa_pub']}",
                f"--service-account-signing-key-file={c['sa_key']}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC",
                "--allow-privileged=true",
                "--profiling=false",
                f"--cert-dir={run_dir / 'pki'}",
                "--v=1",
            ],
        ),
        (
            "kube-controller-manager",
            [
                str(bin_dir / "kube-controller-manager"),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--leader-elect=false",
                # 0 = serve no HTTPS: nothing scrapes it and it avoids port clashes.
                "--secure-port=0",
                f"--service-account-private-key-file={c['sa_key']}",
                f"--root-ca-file={c['ca_cert']}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--use-service-account-credentials=false",
                "--profiling=false",
                "--v=1",
            ],
        ),
        (
            "kube-scheduler",
            [
                str(bin_dir / "kube-scheduler"),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--leader-elect=false",
                "--secure-port=0",
                "--profiling=false",
                "--v=1",
            ],
        ),
        (
            "kwok",
            [
                str(bin_dir / "kwok"),
                f"--kubeconfig={kubeconfig}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION[0]}={KWOK_NODE_ANNOTATION[1]}",
                "--node-ip=10.0.0.1",
                "--cidr=10.244.0.0/16",
                "--node-lease-duration-seconds=40",
                # kwok's default pod stages, except that every run-to-completion pod (restartPolicy
                # Never/OnFailure) Succeeds, not only a Job's: Helm hook Jobs and the `helm test` Pod.
                f"--config={KWOK_STAGES}",
            ],
        ),
    ]


def cmd_build(args: argparse.Namespace) -> None:
    build.build(force=args.force, addons=not args.control_plane)


def cmd_up(args: argparse.Namespace) -> None:
    started = time.monotonic()
    run_dir = pins.default_run_dir()
    existing = read_state(run_dir)
    if existing:
        if existing.processes and all(is_ours_and_alive(e) for e in existing.processes):
            log("already up")
            print(env_line(existing), flush=True)
            return
        log("found a stale or half-started cluster; cleaning it up first")
        stop_processes(existing)
    remove_run_dir(run_dir)

    bin_dir = build.build_control_plane()
    for name, port in ports().items():
        check_port_free(port, name)

    from tools.cluster import pki  # needs `cryptography`; imported late so `build`/`down` work without it

    run_dir.mkdir(parents=True)
    (run_dir / MARKER_FILE).write_text("state of tools/cluster; deleted by `python -m tools.cluster down`\n")
    (run_dir / "logs").mkdir()
    certs = {k: str(v) for k, v in pki.generate(run_dir / "pki", KUBERNETES_SERVICE_IP).items()}
    versions = {"kubernetes": pins.KUBERNETES_VERSION, "etcd": pins.ETCD_VERSION, "kwok": pins.KWOK_VERSION}
    state = ClusterState(ports=ports(), certs=certs, kubeconfig=str(run_dir / "kubeconfig"), versions=versions)
    write_kubeconfig(Path(state.kubeconfig), state.ports["apiserver"], certs)
    write_state(run_dir, state)
    log(f"certificates and kubeconfig written to {run_dir}")

    try:
        commands = dict(component_commands(bin_dir, run_dir, state))
        spawn("etcd", commands["etcd"], run_dir, state)
        wait_for("etcd healthy", lambda: etcd_healthy(state), state, timeout=30)
        spawn("kube-apiserver", commands["kube-apiserver"], run_dir, state)
        wait_for("kube-apiserver /readyz", lambda: api_ready(state), state, timeout=90)
        for name in ("kube-controller-manager", "kube-scheduler"):
            spawn(name, commands[name], run_dir, state)
        spawn("kwok", commands["kwok"], run_dir, state)
        register_nodes(state)
        wait_for(f"kwok nodes Ready ({', '.join(NODE_NAMES)})", lambda: nodes_ready(state), state, timeout=60)
        wait_for(
            "controller-manager (default ServiceAccount created)",
            lambda: default_service_account_exists(state),
            state,
            timeout=60,
        )
    except BaseException:
        log(f"start-up failed; logs kept in {run_dir / 'logs'}; stopping what was started")
        stop_processes(state)
        raise
    log(f"cluster up in {time.monotonic() - started:.1f}s (kwok nodes)")
    print(env_line(state), flush=True)


def cmd_down(args: argparse.Namespace) -> None:
    run_dir = pins.default_run_dir()
    state = read_state(run_dir)
    if state is None:
        log(f"no cluster state in {run_dir}; nothing to stop")
    else:
        stop_processes(state)
    remove_run_dir(run_dir)


def env_line(state: ClusterState) -> str:
    """What a user pastes."""
    return f"export KUBECONFIG={state.kubeconfig}"


def running_state() -> ClusterState:
    state = read_state(pins.default_run_dir())
    if state is None:
        raise ClusterError("cluster is not up (run `make cluster-up` or `python -m tools.cluster up` first)")
    return state


def cmd_env(args: argparse.Namespace) -> None:
    print(env_line(running_state()))


def cmd_status(args: argparse.Namespace) -> None:
    run_dir = pins.default_run_dir()
    state = read_state(run_dir)
    if state is None:
        print(f"down (no state in {run_dir})")
        sys.exit(1)
    healthy = True
    for entry in state.processes:
        alive = is_ours_and_alive(entry)
        healthy &= alive
        print(f"{entry.name:<24} pid {entry.pid:<8} {'running' if alive else 'NOT RUNNING'}")
    try:
        print(f"{'api /readyz':<24} {api_request(state, 'GET', '/readyz')}")
        for item in api_request(state, "GET", "/api/v1/nodes")["items"]:
            ready = next((c["status"] for c in item["status"].get("conditions", []) if c["type"] == "Ready"), "Unknown")
            healthy &= ready == "True"
            print(f"{'node ' + item['metadata']['name']:<24} Ready={ready}")
    except (OSError, urllib.error.URLError) as error:
        healthy = False
        print(f"{'api':<24} unreachable: {error}")
    print(env_line(state))
    sys.exit(0 if healthy else 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    build_parser = sub.add_parser("build", help="build and cache the binaries")
    build_parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    build_parser.add_argument(
        "--control-plane",
        action="store_true",
        help="only what `up` runs (Kubernetes, etcd, kwok), not the Minikube node's CoreDNS and Traefik",
    )
    build_parser.set_defaults(func=cmd_build)
    sub.add_parser("up", help="start the cluster").set_defaults(func=cmd_up)
    for name, func in (("down", cmd_down), ("env", cmd_env), ("status", cmd_status)):
        sub.add_parser(name).set_defaults(func=func)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (ClusterError, build.BuildError) as error:
        sys.exit(f"[cluster] ERROR: {error}")


if __name__ == "__main__":
    main()

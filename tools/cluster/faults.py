"""Faults to inject into a running real node, for the fault-under-load tests and the bench.

- `block_database` / `unblock_database`: the pods' packets to the database are dropped (a
  network partition: no refusal, no reset, the way a Neon endpoint that went away looks).
- `SlowDatabase`: new connections from the pods to the database go through a proxy on the node
  that delays every chunk both ways (iptables REDIRECT on the bridge; no netem in this kernel).

Every iptables rule carries the node's rule comment, so `down` would find one left behind.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

from tools.cluster import node


def _db(state: dict) -> dict:
    record = (state.get("node") or {}).get("database")
    if not record:
        raise node.NodeError("this cluster has no real node database")
    return record


def _block_rule(state: dict) -> list[str]:
    bridge = state["node"]["network"]["bridge"]
    port = str(_db(state)["port"])
    return ["INPUT", "-i", bridge, "-p", "tcp", "--dport", port, "-m", "comment", "--comment", node.RULE_COMMENT,
            "-j", "DROP"]  # fmt: skip


def block_database(state: dict) -> None:
    node.run("iptables", "-w", "-I", *_block_rule(state)[:1], "1", *_block_rule(state)[1:])


def unblock_database(state: dict) -> None:
    rule = _block_rule(state)
    while node.run("iptables", "-w", "-C", *rule, check=False).returncode == 0:
        node.run("iptables", "-w", "-D", *rule)


class SlowDatabase:
    """Delay every chunk between the pods and the database by `delay` seconds each way."""

    def __init__(self, state: dict, delay: float) -> None:
        self.state, self.delay = state, delay
        self.host = state["node"]["bridge_ip"]
        self.target = ("127.0.0.1", _db(state)["port"])
        self.listener = socket.create_server((self.host, 0))
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []

    def _rule(self) -> list[str]:
        bridge = self.state["node"]["network"]["bridge"]
        comment = ["-m", "comment", "--comment", node.RULE_COMMENT]
        match = ["-i", bridge, "-p", "tcp", "-d", self.host, "--dport", str(self.target[1])]
        return ["PREROUTING", *match, *comment, "-j", "REDIRECT", "--to-ports", str(self.port)]

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while not self._stop.is_set():
                data = src.recv(65536)
                if not data:
                    break
                time.sleep(self.delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def _accept(self) -> None:
        self.listener.settimeout(0.5)
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            upstream = socket.create_connection(self.target, timeout=5)
            upstream.settimeout(None)
            self._sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    def __enter__(self) -> SlowDatabase:
        threading.Thread(target=self._accept, daemon=True).start()
        node.run("iptables", "-w", "-t", "nat", "-I", *self._rule()[:1], "1", *self._rule()[1:])
        return self

    def __exit__(self, *exc: object) -> None:
        rule = self._rule()
        while node.run("iptables", "-w", "-t", "nat", "-C", *rule, check=False).returncode == 0:
            node.run("iptables", "-w", "-t", "nat", "-D", *rule)
        self._stop.set()
        self.listener.close()
        for s in self._sockets:
            s.close()


def kill_container(state: dict, container_id: str) -> None:
    """SIGKILL a container's process through the node's containerd (no grace, no preStop)."""
    run_dir = Path(state["kubeconfig"]).parent
    node.ctr(run_dir, "tasks", "kill", "--signal", "SIGKILL", container_id, timeout=30)

"""Faults to inject into a running cluster whose pods reach the Neon-like database through a
bridge of this host (a Minikube profile's Docker network: tools/minikube/faults.py), for the
fault-under-load tests and the bench.

- `block_database` / `unblock_database`: the pods' packets to the database are dropped (a
  network partition: no refusal, no reset, the way a Neon endpoint that went away looks).
- `SlowDatabase`: new connections from the pods to the database go through a proxy on this
  host that delays every chunk both ways (iptables REDIRECT on the bridge; no netem in this
  kernel).

Every iptables rule carries the path's rule comment, so the cluster's teardown (or its test's
leftover check) finds one left behind.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from tools.tcp_relay import TcpRelay


@dataclass(frozen=True)
class DatabasePath:
    """Where the pods' packets to the database enter this host: the bridge they arrive on and
    the address (the bridge's own) and port the database listens on."""

    bridge: str
    address: str
    port: int
    rule_comment: str

    def _comment(self) -> list[str]:
        return ["-m", "comment", "--comment", self.rule_comment]


def iptables(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["iptables", "-w", *argv], capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise RuntimeError(f"iptables {' '.join(argv)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc


def _insert(table: str, rule: list[str]) -> None:
    iptables("-t", table, "-I", rule[0], "1", *rule[1:])


def _delete_all(table: str, rule: list[str]) -> None:
    while iptables("-t", table, "-C", *rule, check=False).returncode == 0:
        iptables("-t", table, "-D", *rule)


def _block_rule(path: DatabasePath) -> list[str]:
    return ["INPUT", "-i", path.bridge, "-p", "tcp", "--dport", str(path.port), *path._comment(), "-j", "DROP"]


def block_database(path: DatabasePath) -> None:
    _insert("filter", _block_rule(path))


def unblock_database(path: DatabasePath) -> None:
    _delete_all("filter", _block_rule(path))


class SlowDatabase:
    """Delay every chunk between the pods and the database by `delay` seconds each way."""

    def __init__(self, path: DatabasePath, delay: float) -> None:
        self.path, self.delay = path, delay
        self.relay: TcpRelay | None = None

    def _rule(self, port: int) -> list[str]:
        match = ["-i", self.path.bridge, "-p", "tcp", "-d", self.path.address, "--dport", str(self.path.port)]
        return ["PREROUTING", *match, *self.path._comment(), "-j", "REDIRECT", "--to-ports", str(port)]

    def __enter__(self) -> SlowDatabase:
        # The relay's own connections come from this host, not through the bridge: not redirected.
        self.relay = TcpRelay((self.path.address, 0), ("127.0.0.1", self.path.port), delay=self.delay)
        _insert("nat", self._rule(self.relay.port))
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.relay is not None
        _delete_all("nat", self._rule(self.relay.port))
        self.relay.close()

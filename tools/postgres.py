"""Real PostgreSQL for the tests: throwaway roles/databases on the shared server, a private
server instance that a test can stop and start, and a TCP proxy that can cut the line.

The admin URL comes from TODO_TEST_PG_ADMIN_URL (default postgresql:///postgres: the local
server over its Unix socket with peer auth). Application roles get generated passwords and
connect over TCP, as they do in production.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import select
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote

import psycopg
from psycopg import sql

ADMIN_URL = os.environ.get("TODO_TEST_PG_ADMIN_URL", "postgresql:///postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def admin_connect(url: str = ADMIN_URL) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


@dataclass
class Database:
    name: str
    role: str
    password: str
    host: str
    port: int

    @property
    def url(self) -> str:
        return (
            f"postgresql://{self.role}:{quote(self.password, safe='')}@{self.host}:{self.port}/"
            f"{self.name}?sslmode=prefer"
        )


def tcp_endpoint(conn: psycopg.Connection) -> tuple[str, int]:
    """Where roles with passwords reach this server over TCP."""
    info = conn.info
    host = info.host if info.host and not info.host.startswith("/") else "127.0.0.1"
    port = int(conn.execute("SHOW port").fetchone()[0])
    return host, port


def create_database(admin_url: str = ADMIN_URL, prefix: str = "todo_test") -> Database:
    suffix = secrets.token_hex(4)
    name, role, password = f"{prefix}_{suffix}", f"{prefix}_{suffix}", secrets.token_urlsafe(24)
    with admin_connect(admin_url) as conn:
        host, port = tcp_endpoint(conn)
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(role)))
    return Database(name, role, password, host, port)


def drop_database(db: Database, admin_url: str = ADMIN_URL) -> None:
    with admin_connect(admin_url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db.name)))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(db.role)))


# ---------------------------------------------------------------- a private server


def _pg_bindir() -> str:
    found = shutil.which("pg_ctl")
    if found:
        return os.path.dirname(found)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries (pg_ctl, initdb) not found")
    return os.path.dirname(candidates[-1])


class PrivateServer:
    """A PostgreSQL instance in a temp dir on a free loopback port, for outage tests.

    initdb/postgres refuse to run as root, so as root they run as the `postgres` user.
    """

    def __init__(self, port: int | None = None, directory: str | None = None) -> None:
        """`directory`: the handle of an instance another process initialised there (its tmp)."""
        self.bindir = _pg_bindir()
        self.port = port or free_port()
        # A temp dir, not under the caller's home: the postgres user must be able to enter it.
        self.tmp = directory or tempfile.mkdtemp(prefix="todo-pg-")
        self.datadir = os.path.join(self.tmp, "data")
        self.sockdir = self.tmp
        self.superuser_password = "" if directory else secrets.token_urlsafe(16)
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            if directory is None:
                pg = pwd.getpwnam("postgres")
                os.chown(self.tmp, pg.pw_uid, pg.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run([*self._as_user, *args], check=True, capture_output=True, timeout=timeout, cwd=self.tmp)

    def init(self) -> PrivateServer:
        pwfile = os.path.join(self.tmp, "pw")
        with open(pwfile, "w") as f:
            f.write(self.superuser_password)
        if self._as_user:
            pg = pwd.getpwnam("postgres")
            os.chown(pwfile, pg.pw_uid, pg.pw_gid)
        self._run(
            f"{self.bindir}/initdb",
            "-D",
            self.datadir,
            "-U",
            "postgres",
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        os.unlink(pwfile)
        return self

    def start(self, listen_addresses: str = "127.0.0.1", settings: dict[str, str] | None = None) -> None:
        options = f"-p {self.port} -k {self.sockdir} -c listen_addresses={listen_addresses} -c fsync=off"
        for key, value in (settings or {}).items():
            options += f" -c {key}={value}"
        self._run(
            f"{self.bindir}/pg_ctl",
            "-D",
            self.datadir,
            "-o",
            options,
            "-l",
            os.path.join(self.tmp, "log"),
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(f"{self.bindir}/pg_ctl", "-D", self.datadir, "-m", mode, "-w", "stop")

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres:{quote(self.superuser_password, safe='')}@127.0.0.1:{self.port}/postgres"

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------- a line we can cut


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target. cut() drops every open connection and then
    accepts new ones without ever answering (like a host that went silent); freeze() keeps
    every connection open but stops moving bytes (a hung server or pooler); restore() and
    thaw() undo them."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self._cut = threading.Event()
        self._frozen = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _track(self, *socks: socket.socket) -> None:
        with self._lock:
            self._sockets.update(socks)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.listener], [], [], 0.1)
            if not ready:
                continue
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self._track(client)
            if self._cut.is_set() or self._frozen.is_set():
                continue  # hold it open, say nothing: the client must time out
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            self._track(upstream)
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        pair = {a: b, b: a}
        try:
            while not self._stop.is_set() and not self._cut.is_set():
                if self._frozen.is_set():
                    time.sleep(0.05)
                    continue
                ready, _, _ = select.select(list(pair), [], [], 0.1)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    pair[sock].sendall(data)
        except OSError:
            pass
        finally:
            for sock in (a, b):
                with contextlib.suppress(OSError):
                    sock.close()

    def cut(self) -> None:
        self._cut.set()
        time.sleep(0.3)  # let the pipes notice and close their sockets

    def freeze(self) -> None:
        self._frozen.set()

    def thaw(self) -> None:
        self._frozen.clear()

    def restore(self) -> None:
        with self._lock:
            held = [s for s in self._sockets if s.fileno() != -1]
            self._sockets.clear()
        for sock in held:  # connections accepted while cut: close them, clients retry
            with contextlib.suppress(OSError):
                sock.close()
        self._cut.clear()

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
        self.restore()

"""A database that behaves like Neon where our code can tell: TLS required, SCRAM with channel
binding, reached over the network by the pods with the URL shape a Neon user pastes:

    postgresql://todo:PASSWORD@<gateway IP>:<port>/todo?sslmode=require&channel_binding=require

It is Debian's PostgreSQL in a private instance (tools.postgres.PrivateServer) listening on
127.0.0.1 and on the address the pods reach (the gateway of a Minikube profile's network,
tools/minikube/database.py); pg_hba accepts only `hostssl ... scram-sha-256`, so a
client without TLS, or with md5/plain passwords, is refused as Neon would refuse it. The
certificate is made at start-up, signed by the run's throwaway CA.

The password comes from TODO_CLUSTER_DB_PASSWORD when set (so a caller can know the URL before
the database exists) and is generated otherwise; the URL is kept in the run dir (mode 0600) and
printed only by `python -m tools.minikube.database start`.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
from pathlib import Path
from urllib.parse import quote

from tools.postgres import PrivateServer, admin_connect

DB_NAME = "todo"
DB_ROLE = "todo"
URL_FILE = "database-url"


def password_from_env() -> str | None:
    return os.environ.get("TODO_CLUSTER_DB_PASSWORD") or None


def database_url(host: str, port: int, password: str) -> str:
    return (
        f"postgresql://{DB_ROLE}:{quote(password, safe='')}@{host}:{port}/{DB_NAME}"
        "?sslmode=require&channel_binding=require"
    )


def _give_to_postgres(path: Path, mode: int) -> None:
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(path, pg.pw_uid, pg.pw_gid)
    path.chmod(mode)


def hba(pod_cidr: str) -> str:
    return (
        "# TLS and SCRAM only, like Neon; nothing else gets in.\n"
        "hostssl all all 127.0.0.1/32 scram-sha-256\n"
        f"hostssl all all {pod_cidr} scram-sha-256\n"
    )


def start(run_dir: Path, host: str, port: int, pod_cidr: str, ca_cert: str, ca_key: str) -> dict:
    """Start the instance, create the app role and database; return what `stop` needs."""
    from tools.cluster import pki

    server = PrivateServer(port=port)
    record = {"dir": server.tmp, "port": port, "host": host}
    try:
        server.init()
        data = Path(server.datadir)
        cert, key = pki.server_certificate(Path(server.tmp), "todo-node-database", [host, "127.0.0.1"], ca_cert, ca_key)
        for path in (cert, key):
            _give_to_postgres(path, 0o600)
        (data / "pg_hba.conf").write_text(hba(pod_cidr))
        server.start(
            listen_addresses=f"127.0.0.1,{host}",
            settings={
                "ssl": "on",
                "ssl_cert_file": str(cert),
                "ssl_key_file": str(key),
                "password_encryption": "scram-sha-256",
                "max_connections": "100",
            },
        )
        password = password_from_env() or secrets.token_urlsafe(24)
        with admin_connect(server.admin_url + "?sslmode=require") as conn:
            # Parameters cannot bind in utility statements; the literal is quoted by the server.
            quoted = conn.execute("SELECT quote_literal(%s)", [password]).fetchone()[0]
            conn.execute(f"CREATE ROLE {DB_ROLE} LOGIN PASSWORD {quoted}")
            conn.execute(f"CREATE DATABASE {DB_NAME} OWNER {DB_ROLE}")
        url_file = run_dir / URL_FILE
        url_file.touch(mode=0o600)
        url_file.write_text(database_url(host, port, password) + "\n")
        record["admin_url"] = server.admin_url + "?sslmode=require"
    except BaseException:
        server.cleanup()
        raise
    return record


def read_url(run_dir: Path) -> str | None:
    path = run_dir / URL_FILE
    return path.read_text().strip() if path.is_file() else None


def is_up(record: dict) -> bool:
    """The instance accepts a TLS + SCRAM login (the admin one)."""
    if not record.get("admin_url"):
        return False
    try:
        with admin_connect(record["admin_url"]) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except Exception:
        return False


def stop(record: dict) -> None:
    if record.get("dir") and Path(record["dir"]).exists():
        PrivateServer(record["port"], directory=record["dir"]).cleanup()
    shutil.rmtree(record.get("dir", ""), ignore_errors=True)

"""The Neon-like PostgreSQL (TLS required, SCRAM with channel binding) for a Minikube profile's
pods: tools/cluster/database.py's instance, listening on the gateway of the profile's Docker
network, so pods reach it as they would reach Neon: over the network, from the node's address.

    python -m tools.minikube.database start PROFILE DIR   prints the DATABASE_URL
    python -m tools.minikube.database stop DIR

The password comes from TODO_CLUSTER_DB_PASSWORD when set (tools/cluster/database.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tools.cluster import database, pki
from tools.docker import engine
from tools.postgres import free_port

RECORD = "database.json"


def profile_network(profile: str) -> tuple[str, str]:
    """(gateway, subnet) of the Docker network minikube made for `profile` (named after it)."""
    out = engine.docker("network", "inspect", profile, "--format", "{{json .IPAM.Config}}").stdout
    config = json.loads(out)[0]
    return config["Gateway"], config["Subnet"]


def start(profile: str, run_dir: Path) -> str:
    run_dir.mkdir(parents=True, exist_ok=True)
    gateway, subnet = profile_network(profile)
    certs = pki.generate(run_dir / "pki", "10.96.0.1")
    record = database.start(
        run_dir, gateway, free_port(), subnet, str(certs["ca_cert"]), str(certs["ca_key"])
    )  # fmt: skip
    (run_dir / RECORD).write_text(json.dumps(record))
    url = database.read_url(run_dir)
    assert url
    return url


def stop(run_dir: Path) -> None:
    path = run_dir / RECORD
    if path.is_file():
        database.stop(json.loads(path.read_text()))
        path.unlink()


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "start":
        print(start(argv[1], Path(argv[2])))
        return 0
    if len(argv) == 2 and argv[0] == "stop":
        stop(Path(argv[1]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

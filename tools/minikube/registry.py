"""A container registry for a Minikube profile used as a "remote" cluster: distribution's
`registry` (github.com/distribution/distribution/v3 v3.0.0, the code behind Docker Hub's
`registry:3` image), compiled here from the Go module proxy, run as a process with TLS from a CA
generated at start (never committed), listening on the gateway of the profile's Docker network.

This host pushes to the gateway's address (its own on the bridge); the nodes can pull by that
address too, or by a name of their own, `host.minikube.internal` (minikube writes it into every
node's /etc/hosts for that gateway), as a cluster often pulls by another name than the one a CI
pushes to (`todo_registry_pull`); the certificate names both (inside a node 127.0.0.1 is the
node itself). Both Docker engines trust the CA as a cluster admin would set it up,
/etc/docker/certs.d/<host:port>/ca.crt (read at each pull and push, no restart): `trust` writes it
on this host and, for both names, into every node of the profile; `stop` removes the host's copy.
tests/minikube/test_deploy_cluster.py runs it (start(PROFILE, DIR) returns its host:port;
pull_address(...) the nodes' name for it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from tools.cache import file_lock
from tools.cluster import pki
from tools.docker import engine
from tools.minikube import gobuild
from tools.minikube.database import profile_network
from tools.minikube.nodes import node_containers
from tools.postgres import free_port

MODULE, VERSION = "github.com/distribution/distribution/v3", "v3.0.0"
RECORD = "registry.json"
HOST_CERTS_D = Path("/etc/docker/certs.d")
# minikube's name for the host inside every node (constants.HostAlias).
NODE_NAME_FOR_HOST = "host.minikube.internal"


class RegistryError(RuntimeError):
    pass


def build() -> Path:
    """cmd/registry of distribution v3.0.0 (cached in the tool cache; a wrapper module, as for
    every pinned Go program here), its version stamped as the release build stamps it."""
    with file_lock("go-registry"):
        return gobuild.build_in_wrapper(
            "registry",
            MODULE,
            VERSION,
            f"{MODULE}/cmd/registry",
            f"-s -w -X {MODULE}/version.version={VERSION}",
            VERSION,
        )


def config(run_dir: Path, address: str, cert: Path, key: Path) -> dict:
    return {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(run_dir / "data")}},
        "http": {"addr": address, "tls": {"certificate": str(cert), "key": str(key)}},
    }


def pull_address(address: str) -> str:
    """The nodes' own name for the registry at `address` (gateway:port)."""
    return f"{NODE_NAME_FOR_HOST}:{address.rsplit(':', 1)[1]}"


def trust(profile: str, address: str, ca_cert: Path) -> list[str]:
    """Make this host's and every node's Docker trust the registry at `address` (and the nodes'
    by its pull address too); returns the nodes."""
    host_dir = HOST_CERTS_D / address
    host_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ca_cert, host_dir / "ca.crt")
    found = node_containers(profile)
    for node in found:
        for name in (address, pull_address(address)):
            engine.docker("exec", node, "mkdir", "-p", f"/etc/docker/certs.d/{name}")
            engine.docker("cp", str(ca_cert), f"{node}:/etc/docker/certs.d/{name}/ca.crt")
    return found


def get(address: str, path: str, ca_cert: Path) -> dict:
    """GET https://<address><path> of the registry API (its own CA, no proxy) as JSON."""
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=str(ca_cert))),
    )
    with opener.open(f"https://{address}{path}", timeout=10) as response:  # our own registry
        return json.loads(response.read() or b"{}")


def start(profile: str, run_dir: Path) -> str:
    """The registry on the profile network's gateway, trusted by this host and the profile's
    nodes; returns its host:port once /v2/ answers."""
    binary = build()
    run_dir.mkdir(parents=True, exist_ok=True)
    gateway, _subnet = profile_network(profile)
    certs = pki.generate(run_dir / "pki", "10.96.0.1")
    cert, key = pki.server_certificate(
        run_dir / "pki",
        "todo-registry",
        [gateway, "127.0.0.1"],
        str(certs["ca_cert"]),
        str(certs["ca_key"]),
        dns_names=[NODE_NAME_FOR_HOST],
    )
    address = f"{gateway}:{free_port()}"
    (run_dir / "config.yml").write_text(yaml.safe_dump(config(run_dir, address, cert, key)))
    # No OpenTelemetry exporter: v3 would otherwise try to send traces to localhost:4318.
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "none"}
    with open(run_dir / "registry.log", "wb") as log:
        process = subprocess.Popen(
            [str(binary), "serve", str(run_dir / "config.yml")], stdout=log, stderr=subprocess.STDOUT, env=env
        )
    record = {"pid": process.pid, "address": address, "ca_cert": str(certs["ca_cert"])}
    (run_dir / RECORD).write_text(json.dumps(record))
    for _ in range(100):  # bounded: 10 s
        if process.poll() is not None:
            raise RegistryError(f"registry exited ({process.returncode}):\n{(run_dir / 'registry.log').read_text()}")
        try:
            get(address, "/v2/", certs["ca_cert"])
            break
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    else:
        stop(run_dir)
        raise RegistryError(f"registry at {address} did not answer /v2/ within 10 s")
    trust(profile, address, certs["ca_cert"])
    return address


def stop(run_dir: Path) -> None:
    path = run_dir / RECORD
    if not path.is_file():
        return
    record = json.loads(path.read_text())
    with contextlib.suppress(ProcessLookupError):
        os.kill(record["pid"], signal.SIGTERM)
    with contextlib.suppress(ChildProcessError):  # reaped here when this process started it
        os.waitpid(record["pid"], 0)
    shutil.rmtree(HOST_CERTS_D / record["address"], ignore_errors=True)
    path.unlink()

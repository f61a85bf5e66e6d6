"""The pod sandbox ("pause") image, made here: nothing can be pulled from a registry.

A pause container only has to hold the pod's namespaces open and exit on a stop signal, so a
few lines of C compiled statically are the whole image. It is written as an OCI image layout
archive that `ctr images import` takes directly, with no Docker involved, and cached by the
hash of its source.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path

from tools.cluster import pins

PAUSE_SOURCE = r"""
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>

static void stop(int sig) { (void)sig; _exit(0); }
/* PID 1 of a pod with a shared process namespace must reap orphans. */
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }

int main(void) {
    signal(SIGINT, stop);
    signal(SIGTERM, stop);
    signal(SIGCHLD, reap);
    for (;;) pause();
}
"""


def _blob(layout: tarfile.TarFile, data: bytes) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{digest.split(':', 1)[1]}")
    info.size = len(data)
    layout.addfile(info, io.BytesIO(data))
    return {"digest": digest, "size": len(data)}


def _layer(binary: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as layer:
        info = tarfile.TarInfo("pause")
        info.size, info.mode, info.mtime = len(binary), 0o755, 0
        layer.addfile(info, io.BytesIO(binary))
    return buffer.getvalue()


def oci_archive(binary: bytes, ref: str, arch: str = "amd64") -> bytes:
    """An OCI image layout (as a tar) holding one image named `ref`."""
    layer = _layer(binary)
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as layout:
        layer_desc = _blob(layout, layer)
        config_desc = _blob(layout, json.dumps(config, sort_keys=True).encode())
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_desc},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer_desc}],
        }
        manifest_desc = _blob(layout, json.dumps(manifest, sort_keys=True).encode())
        index = {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    **manifest_desc,
                    "annotations": {"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": ref},
                }
            ],
        }
        for name, data in (
            ("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'),
            ("index.json", json.dumps(index).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            layout.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def pause_binary() -> bytes:
    """The static pause binary, compiled once per source version and cached."""
    digest = hashlib.sha256(PAUSE_SOURCE.encode()).hexdigest()[:16]
    cached = pins.cache_root() / "node" / f"pause-{digest}"
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "pause.c"
            source.write_text(PAUSE_SOURCE)
            output = Path(tmp) / "pause"
            proc = subprocess.run(
                ["gcc", "-static", "-Os", "-s", "-o", str(output), str(source)], capture_output=True, text=True
            )
            if proc.returncode != 0:
                raise RuntimeError(f"compiling the pause binary failed (needs gcc and libc6-dev):\n{proc.stderr}")
            output.replace(cached)
    return cached.read_bytes()

"""Images from the local Docker engine into the real node's containerd (as `kind load docker-image`
or `minikube image load` do): `docker save` piped into `ctr images import`.

The chart's `pullPolicy: Never` then finds `todo-backend:TAG` as kubelet normalises it
(docker.io/library/todo-backend:TAG), the name `ctr import` gives a docker-save archive.
A record of what was loaded (image ID per reference) makes a repeat load of the same image a
no-op that says `unchanged`, so the deploy stays idempotent.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tools.cluster import node
from tools.docker import engine

RECORD = "loaded-images.json"


def normalised(ref: str) -> str:
    """The name containerd and kubelet use for a Docker Hub style short reference."""
    name = ref if ":" in ref.rsplit("/", 1)[-1] else f"{ref}:latest"
    first = name.split("/", 1)[0]
    if "/" not in name:
        return f"docker.io/library/{name}"
    if "." in first or ":" in first or first == "localhost":
        return name
    return f"docker.io/{name}"


def load(run_dir: Path, ref: str) -> str:
    image_id = engine.image_id(ref)
    if not image_id:
        raise node.NodeError(f"image {ref} is not in the local Docker engine (build it first)")
    record_path = run_dir / RECORD
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    target = normalised(ref)
    if record.get(target) == image_id and target in node.image_refs(run_dir):
        return "unchanged"
    saved = subprocess.run([engine.docker_cli(), "save", ref], capture_output=True, timeout=600)
    if saved.returncode != 0:
        raise node.NodeError(f"docker save {ref} failed: {saved.stderr.decode(errors='replace')[-2000:]}")
    node.import_archive(run_dir, saved.stdout)
    if target not in node.image_refs(run_dir):
        raise node.NodeError(f"containerd did not list {target} after importing {ref}")
    record[target] = image_id
    record_path.write_text(json.dumps(record, indent=2))
    return f"loaded ({len(saved.stdout) / 1e6:.0f} MB)"

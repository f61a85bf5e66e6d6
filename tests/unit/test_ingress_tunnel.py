"""roles/minikube/files/ingress_tunnel.py's own bookkeeping: start in the background, reuse a
tunnel that still answers, replace one that does not, stop the whole process group.

What minikube itself prints is tested with the real binary in the docker tier's
tests/docker/test_minikube_real.py (no cluster there, so only its refusal). Here the command is a
small real server that, like `minikube service --url` in tunnel mode
(cmd/minikube/cmd/service.go: the URLs, one a line, then it waits for Ctrl-C), prints its URL and
serves until interrupted, with a child process of its own standing for the ssh that minikube
starts.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.ansible_run import ROOT

TUNNEL = ROOT / "roles" / "minikube" / "files" / "ingress_tunnel.py"

SERVER = textwrap.dedent(
    """\
    import http.server, signal, subprocess, sys, threading
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    open(sys.argv[-1], "w").write(str(child.pid))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("! Because you are using a Docker driver on darwin, the terminal needs to be open to run it.")
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    signal.sigwait([signal.SIGINT])
    child.terminate()
    """
)


@pytest.fixture
def command(tmp_path) -> Path:
    """An executable that runs SERVER; ingress_tunnel.py appends minikube's arguments to it."""
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    wrapper = tmp_path / "serve-url"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} {script} "$@" {tmp_path / "child.pid"}\n')
    wrapper.chmod(0o755)
    return wrapper


def tunnel(tmp_path: Path, command: Path, action: str) -> tuple[int, dict]:
    argv = [sys.executable, str(TUNNEL), action, "--profile", "todo", "--state-dir", str(tmp_path / "state"),
            "--minikube", str(command)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    return done.returncode, json.loads(done.stdout)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_start_reuse_and_stop(tmp_path, command):
    rc, first = tunnel(tmp_path, command, "start")
    assert rc == 0 and first["started"] is True, first
    where = urlsplit(first["url"])
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    connection.request("GET", "/")
    assert connection.getresponse().status == 200
    connection.close()
    child = int((tmp_path / "child.pid").read_text())
    state = json.loads((tmp_path / "state" / "todo.json").read_text())
    assert state["url"] == first["url"] and state["argv"][1:] == [
        "-p", "todo", "service", "ingress-nginx-controller", "-n", "ingress-nginx", "--url"]  # fmt: skip

    rc, again = tunnel(tmp_path, command, "start")
    assert rc == 0 and again == {"url": first["url"], "started": False, "pid": first["pid"]}
    assert tunnel(tmp_path, command, "show") == (0, {"url": first["url"], "pid": first["pid"], "running": True})

    rc, stopped = tunnel(tmp_path, command, "stop")
    assert rc == 0 and stopped == {"stopped": True}
    assert not alive(first["pid"]) and not alive(child)
    assert not (tmp_path / "state" / "todo.json").exists()
    assert tunnel(tmp_path, command, "stop") == (0, {"stopped": False})
    assert tunnel(tmp_path, command, "show") == (0, {})


def test_a_tunnel_that_no_longer_answers_is_replaced(tmp_path, command):
    rc, first = tunnel(tmp_path, command, "start")
    assert rc == 0
    state_file = tmp_path / "state" / "todo.json"
    state = json.loads(state_file.read_text())
    state["url"] = "http://127.0.0.1:9"  # discard: nothing answers there
    state_file.write_text(json.dumps(state))
    rc, second = tunnel(tmp_path, command, "start")
    assert rc == 0 and second["started"] is True and second["pid"] != first["pid"]
    assert not alive(first["pid"])
    tunnel(tmp_path, command, "stop")


def test_a_bad_profile_name_is_refused():
    done = subprocess.run([sys.executable, str(TUNNEL), "start", "--profile", "../x"], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode == 2 and "is not a Minikube profile name" in done.stderr

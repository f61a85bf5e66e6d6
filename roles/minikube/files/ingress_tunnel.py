#!/usr/bin/env python3
"""Keep `minikube service <ingress controller> --url` running in the background, so that the
Ingress answers on 127.0.0.1 where the Minikube IP is not reachable from this machine (a container
driver on macOS, Windows/WSL2, Docker Desktop, rootless Docker). There Minikube opens an SSH tunnel
to the Service and prints its URL (http://127.0.0.1:PORT), then waits for Ctrl-C; no sudo is
needed, unlike `minikube tunnel` for ports 80/443. The minikube role runs this (start), and
teardown.yml stops it. One tunnel per profile; its PID and URL are kept in STATE_DIR/<profile>.json.

    ingress_tunnel.py start --profile todo [--namespace ingress-nginx] [--service ingress-nginx-controller]
                            [--state-dir DIR] [--timeout 120]
    ingress_tunnel.py stop --profile todo [--state-dir DIR]
    ingress_tunnel.py show --profile todo [--state-dir DIR]

Prints one JSON object: {"url": ..., "started": bool}, {"stopped": bool}, or for show the tunnel's
{"url": ..., "pid": ..., "running": bool} ({} when none was opened); start exits 1 with the reason
(and Minikube's own words) when no URL came. STATE_DIR defaults to $TODO_CACHE/run/ingress-tunnel
(TODO_CACHE defaults to ~/.cache/todo).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

URL = re.compile(r"^(https?://[^\s]+)\s*$", re.M)


def default_state_dir() -> Path:
    return Path(os.environ.get("TODO_CACHE", Path.home() / ".cache" / "todo")) / "run" / "ingress-tunnel"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def answers(url: str) -> bool:
    """Whether something accepts connections at the URL's host and port."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 80), timeout=3):
            return True
    except OSError:
        return False


def stop(state_file: Path) -> bool:
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return False
    pid = int(state.get("pid", 0))
    stopped = False
    if pid > 0 and alive(pid):
        # Ctrl-C is what `minikube service` waits for: it then stops its SSH tunnel itself. Whatever
        # is left of its process group (the ssh) goes after it.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
            for _ in range(50):
                if not alive(pid):
                    break
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                time.sleep(0.1)
            if not alive(pid):
                stopped = True
                break
    state_file.unlink(missing_ok=True)
    return stopped


def start(args: argparse.Namespace, state_file: Path) -> tuple[dict, int]:
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        state = {}
    if state.get("pid") and alive(int(state["pid"])) and answers(state.get("url", "")):
        return {"url": state["url"], "started": False, "pid": state["pid"]}, 0
    stop(state_file)  # a dead or deaf one
    state_file.parent.mkdir(parents=True, exist_ok=True)
    log = state_file.with_suffix(".log")
    argv = [args.minikube, "-p", args.profile, "service", args.service, "-n", args.namespace, "--url"]
    with log.open("w") as out:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + args.timeout
    url = ""
    while time.monotonic() < deadline:
        match = URL.search(log.read_text(errors="replace"))
        if match:
            url = match.group(1)
            break
        if process.poll() is not None:
            break
        time.sleep(0.5)
    said = log.read_text(errors="replace").strip()
    if not url:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        how = f"exited {process.returncode}" if process.returncode is not None else f"printed no URL in {args.timeout}s"
        return {"error": f"`{' '.join(argv)}` {how}: {said[-1500:] or 'it said nothing'}"}, 1
    if process.poll() is not None:
        # Printed the URL and exited: the Service is reachable without a tunnel.
        return {"url": url, "started": False, "pid": None}, 0
    state_file.write_text(json.dumps({"pid": process.pid, "url": url, "argv": argv}))
    return {"url": url, "started": True, "pid": process.pid}, 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["start", "stop", "show"])
    parser.add_argument("--profile", required=True)
    parser.add_argument("--namespace", default="ingress-nginx")
    parser.add_argument("--service", default="ingress-nginx-controller")
    parser.add_argument("--state-dir", type=Path, default=default_state_dir())
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the URL")
    parser.add_argument("--minikube", default="minikube", help="the minikube executable")
    args = parser.parse_args()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", args.profile):
        parser.error(f"--profile {args.profile!r} is not a Minikube profile name")
    state_file = args.state_dir / f"{args.profile}.json"
    if args.command == "stop":
        print(json.dumps({"stopped": stop(state_file)}))
        return 0
    if args.command == "show":
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError):
            state = {}
        shown = {"url": state["url"], "pid": state["pid"], "running": alive(int(state["pid"]))} if state else {}
        print(json.dumps(shown))
        return 0
    result, status = start(args, state_file)
    print(json.dumps(result))
    return status


if __name__ == "__main__":
    sys.exit(main())

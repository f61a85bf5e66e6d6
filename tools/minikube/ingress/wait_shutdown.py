#!/usr/bin/python3
"""/wait-shutdown (the addon's preStop hook): stop the controller and wait until it has exited.

Like ingress-nginx's own: SIGTERM to the controller, then wait for it (Traefik drains its
connections first); kubelet bounds the wait with the pod's termination grace period.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

STATE_DIR = Path(os.environ.get("INGRESS_STATE_DIR", "/etc/ingress-controller"))


def main() -> int:
    try:
        pid = int((STATE_DIR / "controller.pid").read_text())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        return 0  # not running (any more)
    while Path(f"/proc/{pid}").exists():
        time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

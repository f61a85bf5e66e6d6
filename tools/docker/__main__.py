"""`python -m tools.docker ensure-daemon|base-images|all [--force]` from the repository root."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from tools.docker.base_images import ensure_base_images
from tools.docker.engine import DockerError, dockerd_log, ensure_daemon, image_size

# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.docker",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["ensure-daemon", "base-images", "all"])
    parser.add_argument("--force", action="store_true", help="rebuild base images without cache")
    args = parser.parse_args(argv)
    try:
        start = time.monotonic()
        started = ensure_daemon()
        print(
            f"dockerd: {'started' if started else 'already running'} "
            f"({time.monotonic() - start:.1f}s; log {dockerd_log()})"
        )
        if args.action in ("base-images", "all"):
            for result in ensure_base_images(force=args.force):
                phases = ", ".join(f"{k} {v:.1f}s" for k, v in result.phases.items())
                print(
                    f"{result.tag}: {'built' if result.built else 'cached'} in {result.seconds:.1f}s"
                    f"{f' ({phases})' if phases else ''}, {image_size(result.tag) / 1e6:.0f} MB"
                )
    except DockerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

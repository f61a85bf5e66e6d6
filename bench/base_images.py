"""Benchmark: the images tier's local base images (cold build per image, warm run, sizes).

    .venv/bin/python bench/base_images.py          # cold numbers only for images not built yet
    .venv/bin/python bench/base_images.py --cold   # first rebuild all three without cache (~3 min)

Prints numbers, never fails on them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.docker import base_images, engine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold", action="store_true", help="rebuild every base image without cache first")
    parser.add_argument("--warm-runs", type=int, default=3)
    args = parser.parse_args()

    start = time.monotonic()
    started = engine.ensure_daemon()
    print(f"dockerd: {'started in' if started else 'already running, checked in'} {time.monotonic() - start:.1f}s")
    cli, builder = engine.build_cli()
    print(f"docker build: {builder} via {cli}")

    print("cold build (per image):")
    for result in base_images.ensure_base_images(force=args.cold):
        if result.built:
            phases = ", ".join(f"{name} {secs:.1f}s" for name, secs in result.phases.items())
            print(f"  {result.tag:32} {result.seconds:6.1f}s  ({phases})")
        else:
            print(f"  {result.tag:32}  cached (run with --cold to measure)")

    warm = []
    for _ in range(args.warm_runs):
        start = time.monotonic()
        base_images.build_base_images()
        warm.append(time.monotonic() - start)
    print(f"warm build_base_images(): median {statistics.median(warm):.2f}s over {len(warm)} runs")

    print("image sizes (uncompressed, with parent layers):")
    for tag in base_images.BASE_TAGS.values():
        print(f"  {tag:32} {engine.image_size(tag) / 1e6:6.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: building the app images, todo-backend and todo-frontend, on the local bases.

    .venv/bin/python bench/image_builds.py               # both images at once, like the images role
    .venv/bin/python bench/image_builds.py --sequential  # one after the other
    .venv/bin/python bench/image_builds.py --buildkit    # BuildKit instead of the classic builder

Per image: a cold build (--no-cache), then a warm one after a one-line source edit (what a
developer's redeploy (`make deploy`) rebuilds). The classic builder is the default because the images
role builds through the Docker API, which only has that one. Builds copies of apps/backend and
apps/frontend (the edit never touches the checkout) as todo-backend:bench-images and
todo-frontend:bench-images, removed at the end. Prints seconds, the load average and each image's
size over its base (budgets: backend 60 MB, frontend 40 MB); never fails on them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.docker import engine
from tools.docker.base_images import build_base_images

REPO = Path(__file__).resolve().parents[1]
TAG = "bench-images"
# image name -> (context under apps/, base build arg, base key, file edited for the warm build)
IMAGES = {
    "todo-backend": ("backend", "PYTHON_IMAGE", "python", "src/todo_api/main.py"),
    "todo-frontend": ("frontend", "NODE_IMAGE", "node", "src/app/page.tsx"),
}
BUDGET_MB = {"todo-backend": 60, "todo-frontend": 40}
IGNORE = shutil.ignore_patterns("node_modules", ".next", ".venv", "__pycache__", "test-artifacts")


def load() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


def build_all(contexts: dict[str, Path], bases: dict[str, str], *, no_cache: bool, legacy: bool, parallel: bool):
    """Build every image; returns ({name: seconds}, wall seconds)."""

    def build(name: str) -> float:
        _, arg, base, _ = IMAGES[name]
        start = time.monotonic()
        engine.docker_build(contexts[name], None, f"{name}:{TAG}", {arg: bases[base]}, no_cache=no_cache, legacy=legacy)
        return time.monotonic() - start

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(IMAGES) if parallel else 1) as pool:
        seconds = dict(zip(IMAGES, pool.map(build, IMAGES), strict=True))
    return seconds, time.monotonic() - start


def report(phase: str, seconds: dict[str, float], wall: float, load_before: str) -> None:
    per_image = ", ".join(f"{name} {secs:.1f}s" for name, secs in seconds.items())
    print(f"{phase:5} wall {wall:6.1f}s  ({per_image})  load {load_before} -> {load()}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequential", action="store_true", help="build one image after the other")
    parser.add_argument("--buildkit", action="store_true", help="BuildKit (where available) instead of classic")
    parser.add_argument(
        "--apps", type=Path, default=REPO / "apps", help="where backend/ and frontend/ are (e.g. an older checkout's)"
    )
    args = parser.parse_args()

    engine.ensure_daemon()
    bases = build_base_images()
    legacy = not args.buildkit
    builder = "classic" if legacy else "/".join(engine.build_cli()[::-1])
    mode = "sequential" if args.sequential else "both at once"
    print(f"builder: {builder}; {mode}; {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-images-") as tmp:
        contexts = {}
        for name, (app, *_rest) in IMAGES.items():
            contexts[name] = Path(tmp) / app
            shutil.copytree(args.apps / app, contexts[name], ignore=IGNORE)
        try:
            before = load()
            seconds, wall = build_all(contexts, bases, no_cache=True, legacy=legacy, parallel=not args.sequential)
            report("cold", seconds, wall, before)
            for name, (_, _, _, edited) in IMAGES.items():
                with open(contexts[name] / edited, "a") as handle:
                    handle.write(f"// bench edit {time.time()}\n" if edited.endswith(".tsx") else "# bench edit\n")
            before = load()
            seconds, wall = build_all(contexts, bases, no_cache=False, legacy=legacy, parallel=not args.sequential)
            report("warm", seconds, wall, before)
            for name, (_, _, base, _) in IMAGES.items():
                size, base_size = engine.image_size(f"{name}:{TAG}"), engine.image_size(bases[base])
                over = (size - base_size) / 1e6
                print(f"{name}: {size / 1e6:.1f} MB, {over:.1f} MB over {bases[base]} (budget {BUDGET_MB[name]} MB)")
        finally:
            for name in IMAGES:
                engine.docker("image", "rm", f"{name}:{TAG}", check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

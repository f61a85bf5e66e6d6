"""Where the harness keeps what it downloads and builds: $TODO_CACHE, ~/.cache/todo by default.

Outside the repository, so a fresh clone reuses compiled clusters, base images' downloads and
tool binaries, and `git clean` never throws hours of builds away.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("TODO_CACHE") or Path.home() / ".cache" / "todo")

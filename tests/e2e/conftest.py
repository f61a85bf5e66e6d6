"""Starts the real stack once for the browser tests (see stack.py) and runs scenarios.

Real: PostgreSQL (throwaway database), the backend (`todo-api migrate` + `serve`), the
built standalone frontend, Debian's Chromium. Stand-in: only the OpenAI API
(apps/backend/tests/fake_openai.py), used by the tests named *_fake_openai.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import stack as st
from ingress_proxy import IngressProxy
from stack import Urls

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCENARIOS = Path(__file__).resolve().parent / "browser" / "scenarios.mjs"


@pytest.fixture(scope="session")
def e2e_stack() -> Iterator[Urls]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (scripts/system-deps.sh)")
    if not shutil.which("node"):
        pytest.fail("node not found")
    # Screenshots from an earlier run must not pass for this run's.
    for old in st.E2E_ARTIFACTS.glob("*.png"):
        old.unlink()
    st.ensure_frontend_built()
    db = st.create_database()
    stack = st.Stack(db=db, auth_secret=secrets.token_urlsafe(32))
    try:
        st.migrate(db, stack.auth_secret)
        fake, fake_url, fake_key = st.start_fake_openai()
        stack.procs.append(fake)
        backend, backend_url = st.start_backend(
            "backend", db, stack.auth_secret, OPENAI_API_KEY=fake_key, OPENAI_BASE_URL=fake_url
        )
        stack.procs.append(backend)
        plain, plain_url = st.start_backend("backend-no-assistant", db, stack.auth_secret)
        stack.procs.append(plain)
        frontend, frontend_url = st.start_frontend("frontend", backend_url)
        stack.procs.append(frontend)
        nowhere = f"http://127.0.0.1:{st.free_port()}"  # nothing listens there
        orphan, orphan_url = st.start_frontend("frontend-no-backend", nowhere)
        stack.procs.append(orphan)

        def proxy(frontend: str, api: str) -> str:
            p = IngressProxy(frontend, api).start()
            stack.proxies.append(p)
            return p.url

        yield Urls(
            app=proxy(frontend_url, backend_url),
            app_no_assistant=proxy(frontend_url, plain_url),
            api_down=proxy(frontend_url, nowhere),
            all_down=proxy(orphan_url, nowhere),
            backend=backend_url,
            fake_openai=fake_url,
        )
    finally:
        stack.stop()
        st.drop_database(db)


@pytest.fixture(scope="session")
def scenario(e2e_stack: Urls):
    """Runs one browser scenario; fails the test with its output when it fails."""

    def run(name: str, base_url: str | None = None, **env: str) -> str:
        full_env = st.base_env(
            BASE_URL=base_url or e2e_stack.app,
            ARTIFACT_DIR=str(st.E2E_ARTIFACTS),
            FRONTEND_DIR=str(st.FRONTEND_DIR),
            CHROMIUM=CHROMIUM,
            **env,
        )
        result = subprocess.run(
            ["node", str(SCENARIOS), name],
            env=full_env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        output = result.stdout + result.stderr
        (st.LOGS / f"scenario-{name}.log").write_text(output)
        if result.returncode != 0:
            pytest.fail(f"browser scenario {name} failed (exit {result.returncode}):\n{output}", pytrace=False)
        return output

    return run

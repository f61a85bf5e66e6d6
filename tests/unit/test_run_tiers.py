"""scripts/run-tiers.sh --meanwhile and the cache lock (tools/cache.py) it relies on: `make test`
compiles in the background while the early tiers run, and a tier that needs what is still being
built waits on that build's lock instead of building it a second time."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.ansible_run import ROOT

LOCK_HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from tools.cache import file_lock
    with file_lock(sys.argv[1]):
        Path(sys.argv[2]).write_text("held")
        time.sleep(float(sys.argv[3]))
        Path(sys.argv[2]).write_text("built")
    """
)


def hold_lock(name: str, marker: Path, seconds: float, cache: Path) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, name, str(marker), str(seconds)],
        cwd=ROOT,
        env={**os.environ, "TODO_CACHE": str(cache)},
    )
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert holder.poll() is None and time.monotonic() < deadline, "the lock holder did not start"
        time.sleep(0.05)
    return holder


WAITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tools.cache import file_lock
    with file_lock(sys.argv[1]):
        with file_lock(sys.argv[1]):  # re-entrant: a build step calling another that guards itself
            print(Path(sys.argv[2]).read_text())
    """
)


def test_a_second_process_waits_for_the_build_says_so_and_then_sees_it_done(tmp_path):
    marker = tmp_path / "marker"
    holder = hold_lock("go-demo", marker, 1.5, tmp_path / "cache")
    waiter = subprocess.run(
        [sys.executable, "-c", WAITER, "go-demo", str(marker)],
        cwd=ROOT,
        env={**os.environ, "TODO_CACHE": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    holder.wait(timeout=30)
    assert waiter.returncode == 0, waiter.stderr
    assert waiter.stdout.strip() == "built", "the waiter ran before the holder finished"
    assert "[cache] waiting for another process to finish `go-demo`" in waiter.stderr
    assert "[cache] `go-demo` free after" in waiter.stderr


def test_a_free_lock_is_taken_without_a_word(tmp_path):
    (tmp_path / "marker").write_text("nobody")
    waiter = subprocess.run(
        [sys.executable, "-c", WAITER, "go-free", str(tmp_path / "marker")],
        cwd=ROOT,
        env={**os.environ, "TODO_CACHE": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert waiter.returncode == 0 and waiter.stdout.strip() == "nobody", waiter.stderr
    assert waiter.stderr == ""


JUNIT = '<testsuite><testcase classname="t" name="{name}"/></testsuite>'


def tier_repo(tmp_path: Path, meanwhile_marker: Path) -> Path:
    """A directory run-tiers.sh can run in: its scripts and a Makefile of two tiny tiers. Tier
    `late` needs what the meanwhile command makes, as the minikube tier needs the compiles."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    for script in ("run-tiers.sh", "junit_summary.py"):
        shutil.copy(ROOT / "scripts" / script, repo / "scripts" / script)
    junit = "test-artifacts/junit"
    (repo / "Makefile").write_text(
        textwrap.dedent(
            f"""\
            test-early:
            \techo '{JUNIT.format(name="early")}' > {junit}/early.xml
            test-late:
            \ttest -f {meanwhile_marker}
            \techo '{JUNIT.format(name="late")}' > {junit}/late.xml
            """
        )
    )
    return repo


def run_tiers(repo: Path, meanwhile: str, *tiers: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "scripts/run-tiers.sh", "--meanwhile", meanwhile, *tiers],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_meanwhile_command_runs_beside_the_tiers_and_is_reported(tmp_path):
    marker = tmp_path / "compiled"
    repo = tier_repo(tmp_path, marker)
    # The early tier passes while the background still works; the late one finds its result.
    run = run_tiers(repo, f"echo compiling; sleep 2; touch {marker}; echo compiled", "early")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "meanwhile (pid " in run.stdout and "tier early: ok" in run.stdout
    assert "meanwhile: ok (log test-artifacts/meanwhile.log)" in run.stdout
    log = (repo / "test-artifacts" / "meanwhile.log").read_text()
    assert "compiling\ncompiled\nmeanwhile: exit 0 after" in log
    assert "total: 1 passed, 0 failed, 0 skipped" in run.stdout

    marker.unlink()
    run = run_tiers(repo, f"sleep 3; touch {marker}", "early", "late")
    # make's own rule for `late` does not wait: it fails when the work is not done yet, which
    # is why the real tiers wait on cache locks rather than on files.
    assert "tier late: FAILED" in run.stdout, run.stdout


def test_a_failed_meanwhile_command_is_shown_with_its_log(tmp_path):
    repo = tier_repo(tmp_path, tmp_path / "never")
    run = run_tiers(repo, "echo the go proxy refused; exit 3", "early")
    assert "meanwhile: FAILED (exit 3); last lines of test-artifacts/meanwhile.log:" in run.stdout
    assert "the go proxy refused" in run.stdout


def test_an_interrupted_run_stops_the_background_work(tmp_path):
    repo = tier_repo(tmp_path, tmp_path / "never")
    tier_pidfile = tmp_path / "tier.pid"
    (repo / "Makefile").write_text(f"test-slow:\n\techo $$$$ > {tier_pidfile}; sleep 60\n")
    pidfile = tmp_path / "background.pid"
    runner = subprocess.Popen(
        ["bash", "scripts/run-tiers.sh", "--meanwhile", f"echo $$ > {pidfile}; sleep 300", "slow"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not (pidfile.exists() and pidfile.read_text().strip()):
        assert time.monotonic() < deadline, "the meanwhile command did not start"
        time.sleep(0.1)
    background = int(pidfile.read_text())
    # Ctrl-C while a tier runs. Sent any earlier, it can land in the child bash has forked for
    # make before that child execs (bash's own race): make then starts unaware and bash waits
    # out the whole tier before running its trap (a 30 s timeout, seen once under load).
    while not (tier_pidfile.exists() and tier_pidfile.read_text().strip()):
        assert time.monotonic() < deadline, "the tier did not start"
        time.sleep(0.1)
    os.killpg(runner.pid, signal.SIGINT)  # Ctrl-C reaches the terminal's process group
    runner.wait(timeout=30)
    deadline = time.monotonic() + 10
    while alive(background) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(background), "the background work outlived the interrupted run"


def alive(pid: int) -> bool:
    """Running, not a zombie nobody has reaped yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False

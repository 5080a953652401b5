"""``spillway local`` as a user runs it (a real subprocess of the installed command line): a
closed terminal (SIGHUP) stops the stack and every child, a SIGKILL leaves nothing the next
start does not reap, and ``spillway --local`` then says no stack is running."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from spillway.local.embedded import is_moto_server
from spillway.local.lifecycle import CHILDREN_FILE, LOCAL_ENV_FILE, STACK_PID_KEY

pytestmark = pytest.mark.e2e

#: Seconds the stack may take to start or stop on 2 busy cores (a deadline, not a measurement).
UP_WITHIN_S = 240
OUTSIDE_SERVERS = ("DATABASE_URL", "QUEUE_DATABASE_URL", "AWS_ENDPOINT_URL", "SPILLWAY_URL")


@pytest.fixture
def workdir():
    """Not under pytest's basetemp (pgserver's postgres runs as another user when we are
    root, as tests/conftest.py)."""
    path = Path(tempfile.mkdtemp(prefix="spillway-test-cleanup-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in OUTSIDE_SERVERS}
    env["SPILLWAY_WORKDIR"] = str(workdir)
    return env


def _spillway(*args: str) -> list[str]:
    return [sys.executable, "-m", "spillway.cli", *args]


def _start(workdir: Path) -> subprocess.Popen:
    proc = subprocess.Popen(_spillway("local", "--backend", "aws", "--no-dashboard"),
                            env=_env(workdir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    deadline = time.monotonic() + UP_WITHIN_S
    while _owner(workdir) != proc.pid:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"spillway local did not come up: {proc.stdout.read()}")
        time.sleep(0.5)
    return proc


def _owner(workdir: Path) -> int | None:
    """The pid the env file names (None while there is none: a killed stack's file is stale)."""
    try:
        return int(json.loads((workdir / LOCAL_ENV_FILE).read_text())[STACK_PID_KEY])
    except (OSError, ValueError, KeyError):
        return None


def _children(workdir: Path) -> tuple[int, int]:
    """(moto server pid, application PostgreSQL postmaster pid) of the running stack."""
    record = json.loads((workdir / CHILDREN_FILE).read_text())
    postmaster = int((workdir / "pg-app" / "postmaster.pid").read_text().split()[0])
    return int(record["moto_pid"]), postmaster


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"


def _processes_of(workdir: Path) -> list[str]:
    """Command lines of live processes naming ``workdir``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(workdir) in cmdline and "pytest" not in cmdline:
                found.append(cmdline)
    return found


def _no_stack_running(workdir: Path) -> None:
    out = subprocess.run(_spillway("--local", "status"), env=_env(workdir),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out
    assert "no local stack is running" in out.stderr
    assert "Traceback" not in out.stderr


def test_sighup_stops_the_stack_and_all_its_children(workdir):
    proc = _start(workdir)
    moto, postmaster = _children(workdir)
    assert is_moto_server(moto) and _alive(postmaster)
    # A second stack on the same workdir is refused and leaves the running one alone.
    second = subprocess.run(_spillway("local", "--no-dashboard"), env=_env(workdir),
                            capture_output=True, text=True, timeout=UP_WITHIN_S)
    assert second.returncode == 2 and "already running" in second.stderr, second
    assert _owner(workdir) == proc.pid and is_moto_server(moto) and _alive(postmaster)

    proc.send_signal(signal.SIGHUP)
    output, _ = proc.communicate(timeout=UP_WITHIN_S)

    assert proc.returncode == 0, output
    assert "Stopped:" in output and f"moto server (pid {moto})" in output
    assert not is_moto_server(moto)
    assert not _alive(postmaster)
    assert not _processes_of(workdir)
    assert not (workdir / LOCAL_ENV_FILE).exists()
    _no_stack_running(workdir)


def test_after_sigkill_the_emulator_is_gone_and_the_next_start_reaps_postgres(workdir):
    proc = _start(workdir)
    moto, postmaster = _children(workdir)

    proc.kill()
    proc.communicate(timeout=UP_WITHIN_S)
    deadline = time.monotonic() + 30  # the kernel's parent-death signal is asynchronous
    while is_moto_server(moto) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not is_moto_server(moto)  # died with its parent (PR_SET_PDEATHSIG)
    _no_stack_running(workdir)  # the env file is left, but its pid is gone

    second = _start(workdir)
    second.send_signal(signal.SIGTERM)
    output, _ = second.communicate(timeout=UP_WITHIN_S)
    assert f"an orphaned PostgreSQL in {workdir / 'pg-app'}" in output, output
    assert not _alive(postmaster)
    assert not _processes_of(workdir)

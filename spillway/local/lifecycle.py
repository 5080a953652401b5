"""A local stack's lifecycle files in its workdir: the env file ``spillway --local`` reads (with
the owner's pid, checked alive), the record of its children, and reaping what a killed stack
left behind (its moto server, its PostgreSQL servers: pg_ctl daemonizes postgres, so it
outlives its owner). Also how to print a ``spillway`` command that runs as printed."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

from spillway.local.embedded import EmbeddedPostgres, stop_moto_pid
from spillway.paths import WORKDIR

#: File in the workdir holding a running local stack's environment (JSON object).
LOCAL_ENV_FILE = "local-env.json"
#: File in the workdir naming the children of the stack that owns it (JSON: ``pid`` of the
#: owner, ``moto_pid``, ``pg_dirs``), for the next start to reap.
CHILDREN_FILE = "local-children.json"
#: Keys the env file holds beyond the Lambda environment: the owner's pid and the webhook URL.
STACK_PID_KEY, URL_KEY = "SPILLWAY_STACK_PID", "SPILLWAY_URL"
#: Data directories of the embedded PostgreSQL servers in the workdir (``--fresh`` empties them).
PG_DIRS = ("pg-app", "pg-queue")

def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (mode 0600: the env file holds
    the webhook secret and the GitHub token). Written to a 0600 temporary file in the same
    folder, then renamed over ``path``, so no reader ever sees it world-readable or half
    written, and an older 0644 file is replaced, not reused. Raises OSError."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mkstemp: 0600
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_local_env(workdir: Path | None = None) -> dict[str, str]:
    """The environment a running :class:`LocalStack` left in ``workdir`` (default
    ``$SPILLWAY_WORKDIR``, else :data:`spillway.paths.WORKDIR`), for
    ``spillway --local <command>``. Raises :class:`ConfigError` when no stack is running there."""
    from chalicelib.errors import ConfigError

    workdir = Path(workdir or os.environ.get("SPILLWAY_WORKDIR") or WORKDIR)
    env_file = workdir / LOCAL_ENV_FILE
    hint = f"start one with `{spillway_executable()} local`"
    if not env_file.is_file():
        raise ConfigError(f"no local stack is running ({env_file} not found); {hint}")
    try:
        env = json.loads(env_file.read_text())
        pid = int(env.pop(STACK_PID_KEY))
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"no local stack is running ({env_file} is unreadable or from an "
                          f"older version); {hint}") from None
    if not _alive(pid):
        raise ConfigError(f"no local stack is running (pid {pid} of {env_file} is gone); "
                          f"{hint}")
    return env


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def reap_leftovers(workdir: Path) -> list[str]:
    """Stop what a killed stack left in ``workdir`` (its moto server, its PostgreSQL servers)
    and remove its env file. Returns what was stopped. Raises :class:`ConfigError` when the
    stack that owns ``workdir`` is still running."""
    from chalicelib.errors import ConfigError

    record_file = workdir / CHILDREN_FILE
    try:
        record = json.loads(record_file.read_text())
    except (OSError, ValueError):
        record = {}
    owner = record.get("pid")
    if owner and owner != os.getpid() and _alive(int(owner)) and _is_python(int(owner)):
        raise ConfigError(f"a local stack (pid {owner}) is already running in {workdir}; "
                          "stop it first (Ctrl-C in its terminal, or kill it)")
    reaped = []
    moto_pid = record.get("moto_pid")
    if moto_pid and stop_moto_pid(int(moto_pid)):
        reaped.append(f"an orphaned moto server (pid {moto_pid})")
    pg_dirs = set(record.get("pg_dirs") or ()) | {str(workdir / d) for d in PG_DIRS}
    for data_dir in sorted(pg_dirs):
        if EmbeddedPostgres.stop_stale(data_dir):
            reaped.append(f"an orphaned PostgreSQL in {data_dir}")
    for stale in (workdir / LOCAL_ENV_FILE, record_file):
        with contextlib.suppress(OSError):
            stale.unlink()
    return reaped


def _is_python(pid: int) -> bool:
    try:
        return b"python" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: assume it is the owner


def spillway_executable() -> str:
    """How to run this ``spillway`` as typed in a shell: the absolute path of the running
    console script when there is one (``.venv/bin/spillway`` is not on PATH after
    ``make install``), else ``python -m spillway.cli`` with this interpreter."""
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if argv0 is not None and argv0.name == "spillway" and argv0.exists():
        return str(argv0)
    script = Path(sys.executable).parent / "spillway"
    if script.exists():
        return str(script)
    return f"{sys.executable} -m spillway.cli"

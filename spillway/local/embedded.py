"""Embedded stand-ins for the local stack and the tests: a moto server (AWS emulator) and
pgserver (embedded PostgreSQL 16), no Docker and no AWS account.

Operator/test tooling only; never shipped to Lambda.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

# pgserver asks platformdirs for a runtime dir at import; without XDG_RUNTIME_DIR (root, CI)
# platformdirs warns on every run and falls back to /tmp/runtime-<uid>, which is fine here.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

#: Credentials the moto server accepts (any non-empty values); set so boto3 never looks further.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}

#: moto's default account id (used in ARNs and in the claim-check bucket name).
MOTO_ACCOUNT_ID = "123456789012"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: prctl(2) option: the signal a child gets when the thread that forked it dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn`` for a child that must not outlive its parent, even one killed by SIGKILL:
    asks the kernel (Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``) to kill the child when the
    forking thread exits. A no-op where prctl is not available (the stack reaps the recorded
    pid on its next start instead)."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def is_moto_server(pid: int) -> bool:
    """Whether ``pid`` is alive and is a ``moto.server`` process (its command line, Linux
    ``/proc``), so a recorded pid that was reused by another program is never killed."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"moto.server" in cmdline


def stop_moto_pid(pid: int, timeout_s: float = 10.0) -> bool:
    """Stop the moto server ``pid`` left by an earlier stack (SIGTERM, then SIGKILL after
    ``timeout_s`` seconds). Returns whether there was one to stop."""
    import signal

    if not is_moto_server(pid):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while is_moto_server(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if is_moto_server(pid):
            os.kill(pid, signal.SIGKILL)
    return True


@dataclass
class MotoServer:
    """A moto server in a child process (its own core, not our GIL). ``url`` is the endpoint.
    The child dies with the thread that started it, even on SIGKILL (:func:`die_with_parent`)."""

    url: str
    process: subprocess.Popen

    @classmethod
    def start(cls, port: int | None = None, timeout_s: float = 30.0) -> MotoServer:
        port = port or free_port()
        env = {**os.environ, **FAKE_AWS_ENV}
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
            preexec_fn=die_with_parent,
            # its own process group: a terminal's Ctrl-C (SIGINT to the foreground group) reaches
            # the stack, which counts what the emulator holds and then stops it; were the
            # emulator to die first, what it held would be lost uncounted. It still dies with
            # its parent (die_with_parent).
            process_group=0,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"moto server exited with {proc.returncode}")
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1).read()
                return cls(url=url, process=proc)
            except OSError:
                time.sleep(0.1)
        proc.kill()
        raise RuntimeError(f"moto server did not answer on {url} within {timeout_s} s")

    def reset(self) -> None:
        """Forget every resource (moto's reset API)."""
        req = urllib.request.Request(self.url + "/moto-api/reset", method="POST")
        urllib.request.urlopen(req, timeout=10).read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


class EmbeddedPostgres:
    """An embedded PostgreSQL server (pgserver) keeping its data in ``data_dir``.

    pgserver listens on a unix socket only; :attr:`url` is a libpq URI with ``host=<dir>``.
    A server orphaned by a killed owner is stopped on start (``pg_ctl stop``), per DESIGN.md 2b.
    :meth:`stop` and :meth:`start` stop and restart the same data directory (used by chaos).
    """

    def __init__(self, data_dir: Path | str):
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server = None
        self._socket_dir = None
        self.url: str = ""
        #: True between :meth:`stop` and :meth:`restart`: down on purpose (chaos, shutdown),
        #: not to be revived by a watchdog.
        self.held_down = False

    def start(self) -> EmbeddedPostgres:
        import pgserver  # heavy import, tooling only

        self._stop_stale()
        self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        self.url = self._server.get_uri()
        self._socket_dir = self._server.get_postmaster_info().socket_dir
        return self

    def _pg_ctl(self, *args: str) -> str:
        # pgserver's own pg_ctl runner: it avoids the pipe hang of capture_output with pg_ctl,
        # and runs as the 'pgserver' user that pgserver creates when we are root.
        from pgserver._commands import pg_ctl

        user = "pgserver" if os.geteuid() == 0 else None
        return pg_ctl(list(args), pgdata=self.data_dir, user=user, timeout=60)

    def _stop_stale(self) -> bool:
        """Stop a server left running on this data directory; returns whether there was one."""
        if (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(Exception):
                self._pg_ctl("-w", "-m", "fast", "stop")
                return True
        return False

    @classmethod
    def stop_stale(cls, data_dir: Path | str) -> bool:
        """Stop the server an earlier, killed owner left on ``data_dir`` (pg_ctl daemonizes
        postgres, so it outlives its owner). Returns whether one was running."""
        data_dir = Path(data_dir)
        return data_dir.is_dir() and cls(data_dir)._stop_stale()

    def stop(self) -> None:
        """Stop the server now (fast shutdown: open connections are cut); it stays down
        (:attr:`held_down`) until :meth:`restart`."""
        self.held_down = True
        self._pg_ctl("-w", "-m", "fast", "stop")

    def restart(self) -> None:
        """Start the server again on the same data directory and unix socket, with the options
        pgserver starts it with (no TCP listener), as the user pgserver runs it as. Raises
        what pg_ctl raises (e.g. the shared memory of a killed server's children still in
        use)."""
        self._pg_ctl("-w", "-o", '-h ""', "-o", f"-k {self._socket_dir}",
                     "-l", str(self.data_dir / "log"), "start")
        self.held_down = False

    def postmaster_pid(self) -> int | None:
        """The pid ``postmaster.pid`` names, or None (no such file, unreadable)."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def running(self) -> bool:
        """Whether the server's postmaster is alive (the pid its ``postmaster.pid`` names,
        checked with signal 0: a server killed with SIGKILL leaves that file behind)."""
        pid = self.postmaster_pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # alive, another user's (pgserver's postgres when we are not root)
            return True
        with contextlib.suppress(OSError):  # a zombie (no reaping init) is not alive
            if "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text():
                return False
        return True

    def cleanup(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.cleanup()
            self._server = None
        self._stop_stale()

    def create_database(self, name: str) -> str:
        """Create database ``name`` if missing; returns its URL."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self._server.get_uri(name)

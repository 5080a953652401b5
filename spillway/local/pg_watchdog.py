"""Bring a local stack's embedded PostgreSQL back when it dies: the local stand-in for a managed
database's automatic recovery (RDS restarts a crashed instance; nobody has to log in as
``pgserver`` with the right socket options).

:class:`PostgresWatchdog` looks at each server every ``interval_s`` seconds
(:meth:`~spillway.local.embedded.EmbeddedPostgres.running`: the pid of its ``postmaster.pid``);
one found dead while not :attr:`~spillway.local.embedded.EmbeddedPostgres.held_down` (a chaos
outage, a shutdown) is said so (a WARNING log line, and ``say``) and restarted on its data
directory and socket (PostgreSQL's crash recovery replays its WAL: every committed delivery
stays). A restart that fails (a killed server's children still hold its shared memory) is
tried again at the next look. Nothing is lost meanwhile: the edge keeps enqueueing, the
workers' breaker holds deliveries back until the database answers again.

Operator/test tooling only; never shipped to Lambda.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping

from spillway.local.embedded import EmbeddedPostgres

log = logging.getLogger("spillway.local")

#: Seconds between two looks at the servers.
INTERVAL_S = 2.0


class PostgresWatchdog:
    """Restarts the ``servers`` (label -> server, e.g. ``{"application": app_db}``) that die.
    ``say`` gets one human line per event (None: the log lines only). :attr:`restarts` counts
    the servers brought back."""

    def __init__(self, servers: Mapping[str, EmbeddedPostgres],
                 say: Callable[[str], None] | None = None, interval_s: float = INTERVAL_S):
        self.servers, self.say, self.interval_s = dict(servers), say, interval_s
        self.restarts = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reported: set[str] = set()

    def start(self) -> PostgresWatchdog:
        self._thread = threading.Thread(target=self._run, name="pg-watchdog", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop looking (before the servers are stopped on purpose); waits for a restart
        under way."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(120.0)

    def check(self) -> None:
        """One look at every server; restarts the dead ones. Never raises."""
        for label, server in self.servers.items():
            if self._stop.is_set() or server.held_down or server.running():
                continue
            if label not in self._reported:
                self._reported.add(label)
                self._tell(logging.WARNING, f"the {label} PostgreSQL in {server.data_dir} is "
                           f"gone (pid {server.postmaster_pid()}); restarting it")
            try:
                server.restart()
            except Exception as exc:  # noqa: BLE001 -- tried again at the next look
                log.warning("restarting the %s PostgreSQL failed (trying again in %.0f s): %s",
                            label, self.interval_s, str(exc).strip().splitlines()[-1:] or exc)
                continue
            self._reported.discard(label)
            self.restarts += 1
            self._tell(logging.WARNING, f"the {label} PostgreSQL is back (pid "
                       f"{server.postmaster_pid()}); crash recovery kept every committed row")

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.check()

    def _tell(self, level: int, line: str) -> None:
        log.log(level, "%s", line)
        if self.say is not None:
            with contextlib.suppress(Exception):
                self.say(line)

"""The three systems of the burst behind one small interface.

Each has ``name``; :meth:`start` (``workdir``: where its databases and logs live) after which
``endpoint`` (the webhook URL), ``database_url`` (its application database) and ``app_db``
(that database's :class:`~spillway.local.embedded.EmbeddedPostgres`, which
:class:`spillway.chaos.DbOutage` stops and restarts) are set; :meth:`pending` (deliveries
accepted and not yet stored, -1 when it cannot tell); :meth:`stored` (rows per delivery id,
:func:`bench.burst.ledger.stored`); :meth:`stop`. All sign with :data:`bench.corpus.SECRET`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from bench.burst import ledger
from bench.corpus import ROOT, SECRET
from spillway.local.embedded import EmbeddedPostgres, die_with_parent, free_port

#: The edge concurrency cap every system is held to: the free tier's edge reserved
#: concurrency (``chalicelib.core.concurrency.plan.build_plan("free").edge_concurrency``).
FREE_TIER = "free"


class SpillwaySystem:
    """Spillway's local stack, backend ``postgres`` (queues and state in their own embedded
    PostgreSQL, apart from the application database), with the free tier's plan as
    ``spillway demo --tier free`` runs it: edge reserved concurrency 10 (``concurrency``
    overrides it), the workers' reserved and mapping concurrency, the shared database slots."""

    name = "spillway"

    def __init__(self, concurrency: int = 10):
        self.concurrency = concurrency
        self.stack = None

    def start(self, workdir: Path) -> SpillwaySystem:
        from chalicelib.core.concurrency.plan import build_plan
        from spillway.demo_tier import tier_stack_options
        from spillway.local.stack import LocalStack, StackOptions

        base = StackOptions(backend="postgres", workdir=workdir / "spillway", fresh=True,
                            secret=SECRET)
        options = dataclasses.replace(tier_stack_options(build_plan(FREE_TIER), base),
                                      edge_concurrency=self.concurrency)
        self.stack = LocalStack(options).start()
        self.endpoint = self.stack.url
        self.database_url = self.stack.env["DATABASE_URL"]
        self.app_db = self.stack.app_db
        return self

    def pending(self) -> int:
        from chalicelib import wiring
        from chalicelib.ports import WORK_QUEUES

        try:
            queue = wiring.get_queue()
            return sum(queue.stats(q).total for q in WORK_QUEUES)
        except Exception:  # noqa: BLE001 - "cannot tell" is an answer here
            return -1

    def stored(self, delivery_ids, t0_epoch: float):
        return ledger.stored(self.database_url, "webhook_deliveries", "processed_at",
                             delivery_ids, t0_epoch)

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.stop()
            self.stack = None


class _OwnDatabase:
    """A system with an embedded PostgreSQL of its own in ``workdir/<name>-pg``."""

    name = "own"

    def _start_db(self, workdir: Path) -> None:
        self.app_db = EmbeddedPostgres(workdir / f"{self.name}-pg").start()
        self.database_url = self.app_db.url

    def _stop_db(self) -> None:
        if getattr(self, "app_db", None) is not None:
            self.app_db.cleanup()
            self.app_db = None


class NaiveSystem(_OwnDatabase):
    """:class:`bench.burst.naive.NaiveServer` in this process, ``concurrency`` slots."""

    name = "naive"

    def __init__(self, concurrency: int = 10):
        self.concurrency = concurrency
        self.server = None

    def start(self, workdir: Path) -> NaiveSystem:
        from bench.burst.naive import NaiveServer

        self._start_db(workdir)
        self.server = NaiveServer(self.database_url, SECRET, self.concurrency).start()
        self.endpoint = self.server.endpoint
        return self

    def pending(self) -> int:
        return 0  # stored inside the request, or not at all

    def stored(self, delivery_ids, t0_epoch: float):
        return ledger.stored(self.database_url, "naive_webhooks", "stored_at", delivery_ids,
                             t0_epoch)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        self._stop_db()


#: Seconds a supervisor waits before starting an exited peer process again (systemd's
#: ``RestartSec``-style policy; a production deployment restarts its worker).
RESTART_AFTER_S = 1.0

_PENDING_JOBS_SQL = ("SELECT count(*) FROM procrastinate_jobs "
                     "WHERE status IN ('todo', 'doing')")


class PeerSystem(_OwnDatabase):
    """:mod:`bench.burst.peer`: uvicorn (the FastAPI app) and a procrastinate worker, each a
    child process restarted :data:`RESTART_AFTER_S` after it exits (``restarts`` counts
    them), logs in ``workdir/peer-web.log`` and ``peer-worker.log``."""

    name = "peer"

    def __init__(self, concurrency: int = 10):
        self.concurrency = concurrency
        self.restarts = 0
        self._procs: dict[str, subprocess.Popen] = {}
        self._halt = threading.Event()
        self._supervisor: threading.Thread | None = None

    def _env(self) -> dict[str, str]:
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        return {**os.environ, "PYTHONPATH": path, "PEER_DATABASE_URL": self.database_url,
                "PEER_SECRET": SECRET, "PEER_CONCURRENCY": str(self.concurrency)}

    def _spawn(self, role: str) -> subprocess.Popen:
        args = [sys.executable, "-m", "bench.burst.peer", role]
        if role == "web":
            args.append(str(self.port))
        with open(self.workdir / f"peer-{role}.log", "ab") as log:
            return subprocess.Popen(args, env=self._env(), stdout=log, stderr=log,
                                    stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)

    def start(self, workdir: Path) -> PeerSystem:
        self.workdir = workdir
        self._start_db(workdir)
        subprocess.run([sys.executable, "-m", "bench.burst.peer", "schema"], env=self._env(),
                       check=True, capture_output=True, timeout=120)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}/webhooks/github"
        self._procs = {role: self._spawn(role) for role in ("web", "worker")}
        self._wait_ready(f"http://127.0.0.1:{self.port}/healthz")
        self._supervisor = threading.Thread(target=self._supervise, name="peer-supervisor",
                                            daemon=True)
        self._supervisor.start()
        return self

    def _wait_ready(self, url: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._procs["web"].poll() is not None:
                raise RuntimeError(f"the peer's web process exited; see {self.workdir}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(url, timeout=1).read()
                return
            time.sleep(0.2)
        raise RuntimeError(f"the peer did not answer on {url} within {timeout_s} s")

    def _supervise(self) -> None:
        while not self._halt.wait(0.2):
            for role, proc in list(self._procs.items()):
                if proc.poll() is not None and not self._halt.wait(RESTART_AFTER_S):
                    self.restarts += 1
                    self._procs[role] = self._spawn(role)

    def pending(self) -> int:
        return ledger.count(self.database_url, _PENDING_JOBS_SQL)

    def stored(self, delivery_ids, t0_epoch: float):
        return ledger.stored(self.database_url, "peer_webhooks", "stored_at", delivery_ids,
                             t0_epoch)

    def stop(self) -> None:
        self._halt.set()
        if self._supervisor is not None:
            self._supervisor.join()
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._procs = {}
        self._stop_db()


#: name -> factory(concurrency) of every system, in the order the benchmark runs them.
SYSTEMS = {"spillway": SpillwaySystem, "naive": NaiveSystem, "peer": PeerSystem}

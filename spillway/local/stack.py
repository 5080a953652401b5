"""The whole system on one machine: embedded stand-ins + the local Lambda runtime.

``LocalStack.start()``:

1. the application PostgreSQL (pgserver) unless ``DATABASE_URL`` is set; its migrations; a
   watchdog restarts an embedded server that dies (:mod:`spillway.local.pg_watchdog`);
2. backend ``aws``: a moto server unless ``AWS_ENDPOINT_URL`` is set, provisioned from the same
   ``infra/template.yaml`` by CloudFormation; backend ``postgres``: a *second* embedded
   PostgreSQL for queues and state unless ``QUEUE_DATABASE_URL`` is set (separate so that an
   application-database outage never stops the edge from enqueueing), and its migrations;
3. the environment variables the Lambda functions would get, then the edge (N app copies
   behind a local API Gateway) and, per worker function of the app, one event source mapping
   per lane of its tier plan (``lane-1..lane-N``, each with its share of MaximumConcurrency), all
   lanes of a function held to its one reserved concurrency (:mod:`spillway.local.concurrency`)
   and each lane paused while the shared lane state (:mod:`chalicelib.shared_lanes`) has it
   disabled or ejected; each batch counts for or against its lane there by the workers' own
   rule (:mod:`chalicelib.lane_outcomes`, as on Lambda: each invocation carries its alias's
   ARN), so a failing lane is ejected.

Nothing outlives the stack: the moto child dies with its parent (even on SIGKILL), and the
children a stack starts are recorded in ``workdir/local-children.json`` so that the next start
stops what a killed one left behind (pg_ctl daemonizes postgres, so no parent-death signal can
reach it). ``spillway --local <command>`` checks that the pid in the env file is alive.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chalicelib.core.concurrency.plan import visibility_floor
from spillway.deploy import provision
from spillway.local.embedded import FAKE_AWS_ENV, MOTO_ACCOUNT_ID, EmbeddedPostgres, MotoServer
from spillway.local.lambda_env import lambda_env
from spillway.local.lifecycle import (
    CHILDREN_FILE,
    LOCAL_ENV_FILE,
    PG_DIRS,
    STACK_PID_KEY,
    URL_KEY,
    read_local_env,  # noqa: F401  (its home before lifecycle)
    reap_leftovers,
    write_private,
)
from spillway.paths import WORKDIR


@dataclass
class StackOptions:
    """How to run the local stack. Durations in seconds."""

    backend: str = "aws"
    workdir: Path = field(default_factory=lambda: WORKDIR)
    secret: str | None = None
    edge_concurrency: int = 10
    #: TCP port of the edge on 127.0.0.1; 0 = any free port.
    edge_port: int = 0
    #: Per-queue override of the mapping's MaximumConcurrency; None = as declared in app.py.
    worker_concurrency: dict[str, int] | None = None
    #: Per worker function (``worker_high``...) override of its reserved concurrency, shared by
    #: all its mappings; None = the app's tier plan (``app.PLAN``).
    reserved_concurrency: dict[str, int] | None = None
    #: Worker function timeout locally (s), scaled down from AWS's 30 s so a failed batch
    #: returns in about a minute; each poller's visibility timeout keeps AWS's ratio:
    #: 6 x this + its batching window (core.concurrency.plan.visibility_floor).
    handler_timeout_s: int = 10
    max_receive_count: int = 5
    retry_base_s: int = 2
    retry_max_s: int = 30
    breaker_open_s: int = 5
    prefix: str = "spillway"
    #: Extra Lambda environment variables, winning over the stack's own (e.g. a tier plan's
    #: DB_POOL_SIZE and SLOT_* settings).
    env: dict[str, str] = field(default_factory=dict)
    #: Start with empty databases (delete the workdir's embedded PostgreSQL data first).
    fresh: bool = False
    #: Tier preset (``free`` / ``pro`` / ``enterprise``) whose plan the app copies read
    #: (``SPILLWAY_TIER`` in the Lambda environment and the env file); None: the environment's.
    tier: str | None = None
    #: Where one line per webhook answer and per stored delivery goes
    #: (:class:`~spillway.local.delivery_feed.DeliveryFeed`); None: no such lines.
    say: Callable[[str], None] | None = None


class LocalStack:
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager).

    After start: ``url`` (webhook endpoint), ``secret``, ``app_db`` (the application
    :class:`EmbeddedPostgres`, or None when ``DATABASE_URL`` points elsewhere), ``env``.
    """

    def __init__(self, options: StackOptions | None = None):
        self.options = options or StackOptions()
        self.secret = self.options.secret or os.environ.get("GITHUB_WEBHOOK_SECRET") \
            or secrets.token_hex(16)
        self.app_db: EmbeddedPostgres | None = None
        self.queue_db: EmbeddedPostgres | None = None
        self.moto: MotoServer | None = None
        self.edge = None
        self.mappings: list = []
        #: Worker function name -> its :class:`ReservedConcurrency` (throttle counters).
        self.limiters: dict = {}
        #: Worker function name -> its :class:`~chalicelib.shared_lanes.SharedLanes`.
        self.lanes: dict = {}
        self.env: dict[str, str] = {}
        self.github = self.github_hook = None  # the GitHub stand-in and its hook (github_hook)
        self.feed = None  # the DeliveryFeed, when options.say is set
        #: The :class:`~spillway.local.pg_watchdog.PostgresWatchdog` of the embedded servers.
        self.watchdog = None
        self._saved_env: dict[str, str | None] = {}
        self._pg_dirs: list[str] = []
        self._owns_workdir = False
        #: What :meth:`start` stopped of an earlier stack's leftovers (descriptions).
        self.reaped: list[str] = []

    # -- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> LocalStack:
        opts = self.options
        opts.workdir.mkdir(parents=True, exist_ok=True)
        self.reaped = reap_leftovers(opts.workdir)
        self._owns_workdir = True  # from here on its env and children files are ours
        if opts.fresh:
            for name in PG_DIRS:
                shutil.rmtree(opts.workdir / name, ignore_errors=True)
        env = lambda_env(
            backend=opts.backend, prefix=opts.prefix, secret=self.secret,
            max_receive_count=opts.max_receive_count, retry_base_s=opts.retry_base_s,
            retry_max_s=opts.retry_max_s, BREAKER_OPEN_S=str(opts.breaker_open_s),
            # One process hosts every edge and worker "instance" here (on AWS each has its own
            # pool): the queue pool serves the edge copies and every long-polling mapping.
            **{"DB_POOL_SIZE": "20", "QUEUE_POOL_SIZE": "40",
               **({"SPILLWAY_TIER": opts.tier} if opts.tier else {}), **opts.env})
        env["DATABASE_URL"], self.app_db = self._database("DATABASE_URL", "pg-app", "app")
        if opts.backend == "postgres":
            env["QUEUE_DATABASE_URL"], self.queue_db = self._database(
                "QUEUE_DATABASE_URL", "pg-queue", "queue")
        else:
            env.update(FAKE_AWS_ENV if not os.environ.get("AWS_ENDPOINT_URL") else {})
            endpoint = os.environ.get("AWS_ENDPOINT_URL")
            if not endpoint:
                self.moto = MotoServer.start()
                self._record_children()
                endpoint = self.moto.url
            env["AWS_ENDPOINT_URL"] = endpoint
        servers = {label: db for label, db in (("application", self.app_db),
                                               ("queue", self.queue_db)) if db is not None}
        if servers:  # a killed embedded PostgreSQL comes back, as a managed one would
            from spillway.local.pg_watchdog import PostgresWatchdog

            self.watchdog = PostgresWatchdog(servers, say=opts.say).start()
        self._apply_env(env)
        if opts.backend == "aws":
            provision(opts.prefix, opts.max_receive_count)
        self._start_runtime()
        from chalicelib.collector.wiring import start_local  # edge_function_metrics, every 10 s
        from spillway.local import github_hook

        self._collector_stop = start_local(10.0)
        self.github, self.github_hook = github_hook.start(self)  # writes the env file too
        self._write_env_file()
        return self

    def _database(self, env_key: str, dirname: str,
                  which: str) -> tuple[str, EmbeddedPostgres | None]:
        """The server named by ``env_key`` if set, else an embedded one in
        ``workdir/dirname``; either way with ``migrations/<which>`` applied."""
        from spillway.migrate import migrate

        url, server = os.environ.get(env_key), None
        if not url:
            server = EmbeddedPostgres(self.options.workdir / dirname)
            self._pg_dirs.append(str(server.data_dir))
            self._record_children()
            server.start()
            url = server.url
        migrate(url, which)
        return url, server

    @property
    def env_file(self) -> Path:
        """Where a running stack leaves its environment for ``spillway --local <command>``."""
        return self.options.workdir / LOCAL_ENV_FILE

    @property
    def children_file(self) -> Path:
        return self.options.workdir / CHILDREN_FILE

    def _record_children(self) -> None:
        self.children_file.write_text(json.dumps({
            "pid": os.getpid(), "moto_pid": self.moto.process.pid if self.moto else None,
            "pg_dirs": self._pg_dirs}))

    def stop(self, say: Callable[[str], None] | None = None) -> list[str]:
        """Stop everything :meth:`start` started (safe on a partly started stack). Returns
        what was stopped, one description each, for the shutdown message. ``say`` (if given)
        is told, before it happens, what stopping an in-memory emulator loses
        (:meth:`memory_losses`)."""
        stopped: list[str] = []
        if self.watchdog is not None:  # the servers are about to stop on purpose
            self.watchdog.stop()
            self.watchdog = None
        from spillway.local import github_hook

        if self.github is not None:
            github_hook.stop(self.github)
            stopped.append("the GitHub stand-in")
        self.github = self.github_hook = None
        if getattr(self, "_collector_stop", None) is not None:
            self._collector_stop.set()
            stopped.append("the metrics collector")
        if self._owns_workdir:  # not when start refused: another stack's files stay
            with contextlib.suppress(OSError):
                self.env_file.unlink()
                stopped.append(f"removed {self.env_file}")
        for mapping in self.mappings:
            mapping.stop()
        for lanes in self.lanes.values():
            with contextlib.suppress(Exception):
                lanes.flush()
        self.lanes = {}
        from chalicelib import wiring

        if self.mappings:
            with contextlib.suppress(Exception):  # the workers' own lane tallies
                wiring.get_lanes().flush()
        if self.feed is not None:
            self.feed.stop()
            self.feed = None
        if self.mappings:
            stopped.append(f"{len(self.mappings)} event source mappings")
        self.mappings = []
        if self.edge is not None:
            self.edge.stop()
            stopped.append(f"the edge at {self.edge.url}")
            self.edge = None
        if self.moto is not None and say is not None:  # before the clients close
            with contextlib.suppress(Exception):
                say(self.memory_losses())
        with contextlib.suppress(Exception):
            wiring.close()
        if self.moto is not None:
            self.moto.stop()
            stopped.append(f"the moto server (pid {self.moto.process.pid})")
            self.moto = None
        for db in (self.app_db, self.queue_db):
            if db is not None:
                db.cleanup()
                stopped.append(f"PostgreSQL in {db.data_dir}")
        self.app_db = self.queue_db = None
        if self._owns_workdir:
            with contextlib.suppress(OSError):
                self.children_file.unlink()
        self._owns_workdir = False
        self._restore_env()
        return stopped

    def memory_losses(self) -> str:
        """What stopping this stack's moto server (aws backend; it keeps everything in
        memory) loses, as one sentence: queued deliveries (work queues: visible + in flight +
        delayed), dead letters, and the state items (breaker, lanes, slots, tier lifts, the
        audit trail). Raises what the emulator's clients raise."""
        from chalicelib import wiring
        from chalicelib.ports import DLQ, WORK_QUEUES

        queue = wiring.get_queue()
        queued = sum(queue.stats(q).total for q in WORK_QUEUES)
        dead = queue.stats(DLQ).total
        items = wiring.get_state().scan("")
        audit = sum(1 for i in items if i.key.startswith("audit#"))
        return (f"Stopping the moto server loses what it holds in memory: {queued} queued "
                f"deliveries (not stored yet), {dead} dead letters, the breaker, lane and "
                f"slot state and {audit} audit records ({len(items)} state items). The "
                "ledger in PostgreSQL stays; `--backend postgres` keeps the queues and state "
                "too.")

    # -- pieces -----------------------------------------------------------------------------
    def _apply_env(self, env: dict[str, str]) -> None:
        self.env = env
        for key, value in env.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value
        from chalicelib import wiring

        wiring.reset()

    def add_env(self, extra: dict[str, str]) -> None:
        """Add ``extra`` to a started stack's environment (``env``, ``os.environ`` and the
        env file), restored on :meth:`stop` like the rest."""
        for key, value in extra.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value
        self.env.update(extra)
        self._write_env_file()

    def _write_env_file(self) -> None:
        """The environment ``spillway --local`` commands load, with this process's pid (so
        they can tell a live stack from a stale file) and the webhook URL; mode 0600, as it
        holds the webhook secret and the GitHub token."""
        write_private(self.env_file, json.dumps(
            {**self.env, STACK_PID_KEY: str(os.getpid()), URL_KEY: self.url}, indent=1,
            sort_keys=True))

    def _restore_env(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = {}

    def _start_runtime(self) -> None:
        from chalicelib import wiring
        from chalicelib.settings import get_settings
        from chalicelib.shared_lanes import SharedLanes
        from spillway.local.concurrency import ReservedConcurrency
        from spillway.local.edge_server import EdgeServer, load_app_copy
        from spillway.local.event_source import EventSourceMapping

        opts = self.options
        # Warm start, like provisioned concurrency: build clients and pools before traffic.
        wiring.get_edge()
        wiring.get_worker()
        self.edge = EdgeServer(concurrency=opts.edge_concurrency,
                               port=opts.edge_port).start()
        if opts.say is not None:
            from spillway.local.delivery_feed import DeliveryFeed

            self.feed = DeliveryFeed(self.env["DATABASE_URL"], opts.say).start()
            self.edge.delivery_feed = self.feed
        workers = load_app_copy(-1)
        queue = wiring.get_queue()
        reserved = {w.name: w.reserved_concurrency for w in workers.PLAN.workers}
        reserved.update(opts.reserved_concurrency or {})
        # The mappings come from the app's own @app.on_sqs_message declarations (batch size,
        # batching window) and the plan's lanes of each (one mapping per alias, its share of
        # MaximumConcurrency): what `chalice deploy` plus the lanes merge template create on AWS.
        for source in workers.app.event_sources:
            if type(source).__name__ != "SQSEventConfig":
                continue
            priority = source.queue.removeprefix(f"{opts.prefix}-")
            shares = self._lane_shares(workers.PLAN, source, priority)
            limiter = self.limiters.setdefault(source.name, ReservedConcurrency(
                source.name, reserved.get(source.name, sum(shares.values()))))
            lanes = self.lanes.setdefault(source.name, SharedLanes(
                source.name, len(shares), wiring.get_state(), get_settings().lane_config))
            for lane, concurrency in shares.items():
                self.mappings.append(EventSourceMapping(
                    queue, priority, getattr(workers, source.handler_string.split(".")[-1]),
                    function_name=source.name,
                    queue_arn=f"arn:aws:sqs:us-east-1:{MOTO_ACCOUNT_ID}:{source.queue}",
                    batch_size=source.batch_size,
                    maximum_batching_window_s=source.maximum_batching_window_in_seconds,
                    maximum_concurrency=concurrency,
                    visibility_timeout_s=visibility_floor(
                        opts.handler_timeout_s, source.maximum_batching_window_in_seconds),
                    timeout_s=opts.handler_timeout_s, wait_s=1.0, limiter=limiter, lane=lane,
                    paused=functools.partial(lanes.paused, lane),
                    invoked_function_arn=(f"arn:aws:lambda:us-east-1:{MOTO_ACCOUNT_ID}:"
                                          f"function:{source.name}:{lane}"),
                    on_outcome=functools.partial(lanes.record, lane),
                    on_handled=self.feed.handled if self.feed is not None else None,
                ).start())

    def _lane_shares(self, plan, source, priority: str) -> dict[str, int]:
        """Lane -> MaximumConcurrency of ``source``'s function: the plan's lanes, or one lane
        for a function the plan lacks; a ``worker_concurrency`` override (the total) is split
        evenly over the lanes, each getting at least 1."""
        from chalicelib.core.concurrency.plan import PlanError
        from chalicelib.core.concurrency.shares import allocate

        try:
            shares = {m.lane: m.maximum_concurrency for m in plan.worker(source.name).mappings}
        except PlanError:
            shares = {"lane-1": source.maximum_concurrency or 2}
        total = (self.options.worker_concurrency or {}).get(priority)
        if total is not None:
            names = list(shares)[:max(1, total)]
            shares = allocate(total, dict.fromkeys(names, 1.0), minimum=1)
        return shares

    def mapping(self, function: str, lane: str):
        """The running :class:`EventSourceMapping` of ``function``'s ``lane``; KeyError if none."""
        for m in self.mappings:
            if m.function_name == function and m.lane == lane:
                return m
        raise KeyError(f"no mapping for {function} {lane}")

    def throttles(self) -> dict[str, int]:
        """Throttled invocations so far per worker function (Lambda's ``Throttles``)."""
        return {name: limiter.throttles for name, limiter in self.limiters.items()}

    @property
    def url(self) -> str:
        return f"{self.edge.url}/webhooks/github"

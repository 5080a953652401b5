"""The dashboard of a running local stack: wire the sources, start the sampler and the server.

``spillway local`` (and ``demo``, ``loadtest`` while they run) call :func:`start` with the
stack's pieces; ``python -m spillway.dashboard`` calls :func:`from_environment` to watch a
stack started elsewhere (queues, breaker and ledger only: acknowledgements and slots are
in-process feeds of the stack that owns the edge).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from spillway.dashboard.feeds import AckFeed, SlotMeter
from spillway.dashboard.sampler import STEP_S, WINDOW_S, Sampler, Sources
from spillway.dashboard.server import DashboardServer, serve
from spillway.dashboard.snapshot import SlotReading
from spillway.dashboard.sources import PgLedger, breaker_reader, queue_reader


@dataclass
class Dashboard:
    """A running dashboard. ``acks``: the feed the edge records into; ``slots``: meters by
    pool name (wrap worker handlers with them). :meth:`stop` stops the server and sampler and
    closes the ledger pool it opened."""

    sampler: Sampler
    server: DashboardServer
    acks: AckFeed
    slots: dict[str, SlotMeter] = field(default_factory=dict)
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()
        self.sampler.stop()
        for close in self._closers:
            close()


def make_sources(*, queue=None, breaker_status: Callable[[], Mapping | None] | None = None,
                 database_url: str | None = None, acks: AckFeed | None = None,
                 slots: Mapping[str, SlotMeter | Callable[[], SlotReading]] | None = None,
                 labels: Mapping[str, str] | None = None, status_sections: bool = True
                 ) -> tuple[Sources, list[Callable[[], None]]]:
    """The sampler's :class:`Sources` from the stack's pieces, and the closers of what was
    opened for them. ``queue``: the stack's :class:`~chalicelib.ports.QueuePort`
    (``wiring.get_queue()``); ``breaker_status``: ``spillway.ops.status.breaker_status``;
    ``database_url``: the application database (the ledger; a pool of one connection is opened
    for it); ``acks``: the edge's feed; ``slots``: pool name -> :class:`SlotMeter` or a
    callable returning a :class:`SlotReading`; ``status_sections``: add the status sections
    (``spillway.ops.status.SECTIONS`` and ``DERIVED``: tier, lanes, alarms, concurrency,
    health), so the page and ``spillway status --json`` show one shape."""
    closers: list[Callable[[], None]] = []
    ledger = None
    if database_url:
        from chalicelib.adapters.postgres.pool import make_pool

        # A short wait for a connection: while the database is down the ledger reads fail fast
        # (and show as an error on the page) instead of holding their thread.
        pool = make_pool(database_url, min_size=0, max_size=1, timeout_s=2.0,
                         name="spillway-dashboard")
        closers.append(pool.close)
        ledger = PgLedger(pool)
    readers = {name: (s.reading if isinstance(s, SlotMeter) else s)
               for name, s in (slots or {}).items()}
    sources = Sources(
        queues=queue_reader(queue) if queue is not None else None,
        breaker=breaker_reader(breaker_status) if breaker_status is not None else None,
        slots=(lambda: {name: read() for name, read in readers.items()}) if readers else None,
        ledger=ledger, acks=acks, labels=dict(labels or {}))
    if status_sections:
        from spillway.ops.status import DERIVED, SECTIONS

        sources.sections, sources.derived = dict(SECTIONS), dict(DERIVED)
    return sources, closers


def start(*, queue=None, breaker_status: Callable[[], Mapping | None] | None = None,
          database_url: str | None = None, acks: AckFeed | None = None,
          slots: Mapping[str, SlotMeter | Callable[[], SlotReading]] | None = None,
          labels: Mapping[str, str] | None = None, port: int = 0, host: str = "127.0.0.1",
          step_s: float = STEP_S, window_s: float = WINDOW_S) -> Dashboard:
    """Start sampling and serving (arguments as :func:`make_sources`; ``acks`` a new feed if
    None). ``port`` 0 picks a free port. Raises ``OSError`` if the port is taken."""
    acks = acks or AckFeed()
    sources, closers = make_sources(queue=queue, breaker_status=breaker_status,
                                    database_url=database_url, acks=acks, slots=slots,
                                    labels=labels)
    meters = {name: s for name, s in (slots or {}).items() if isinstance(s, SlotMeter)}
    sampler = Sampler(sources, step_s=step_s, window_s=window_s).start()
    try:
        server = serve(sampler, port, host)
    except OSError:
        sampler.stop()
        for close in closers:
            close()
        raise
    return Dashboard(sampler, server, acks, meters, closers)


def _environment() -> dict:
    from chalicelib import wiring
    from spillway.ops.status import breaker_status

    settings = wiring.get_settings()
    return {"queue": wiring.get_queue(), "breaker_status": breaker_status,
            "database_url": settings.database_url or None,
            "labels": {"backend": settings.backend}}


def from_environment(port: int = 0) -> Dashboard:
    """A dashboard on the backend configured by the environment (``SPILLWAY_BACKEND``,
    ``DATABASE_URL``, ... as :mod:`chalicelib.settings` reads them), e.g. the variables a
    running ``spillway local`` wrote to its env file."""
    return start(port=port, **_environment())


def status_snapshot(budget_s: float = 10.0) -> dict:
    """One snapshot of the backend configured by the environment, for ``spillway status
    [--json]``: every source and status section read once, each given ``budget_s`` seconds
    (the same shape as the dashboard's ``/api/status``). One sample has no step before it, so
    its rates are null; acknowledgements are null too (an in-process feed of the stack that
    owns the edge). Slots are the running local stack's, read from its dashboard, when the
    environment is a local stack's (``spillway --local status``); else null, and the sections
    built on them say so."""
    slots = _published_slots(os.environ)
    sources, closers = make_sources(**_environment())
    if slots is not None:  # the stack's pools, as its own dashboard reads them
        sources.slots = slots
    sampler = Sampler(sources)
    try:
        sampler.sample_now(budget_s=budget_s)
        return sampler.snapshot()
    finally:
        sampler.stop()
        for close in closers:
            close()


def for_stack(stack, *, port: int = 0, acks: AckFeed | None = None,
              edge_slots: Callable[[], SlotReading] | None = None) -> Dashboard:
    """The dashboard of a started local stack (``spillway.local.stack.LocalStack`` or its
    successor: read are ``stack.env``, ``stack.options.backend``, ``stack.url`` and
    ``stack.limiters``). Each worker function's concurrency is read from its
    :class:`~spillway.local.concurrency.ReservedConcurrency` (shared by its lanes, as Lambda's
    reserved concurrency is): the most executions at once during each step, out of its
    reserved concurrency. ``edge_slots`` reads the edge's busy execution environments when
    given (its step peak comes from the answers recorded into ``acks``: wire the edge to
    :attr:`Dashboard.acks`, as :func:`attach` does); ``acks`` is the feed the edge records
    into (a new one if None)."""
    from chalicelib import wiring
    from spillway.dashboard.sources import reserved_concurrency_reader

    acks = acks or AckFeed()
    slots: dict[str, SlotMeter | Callable[[], SlotReading]] = {}
    if edge_slots is not None:
        slots["edge"] = lambda: _with_peak(edge_slots(), acks.take_peak())
    for name, limiter in sorted(stack.limiters.items()):
        slots[name] = reserved_concurrency_reader(limiter)
    from spillway.ops.status import breaker_status

    return start(queue=wiring.get_queue(), breaker_status=breaker_status,
                 database_url=stack.env.get("DATABASE_URL"), acks=acks, slots=slots,
                 labels={"backend": stack.options.backend, "webhook": stack.url}, port=port)


def _with_peak(now: SlotReading, answered_peak: int) -> SlotReading:
    return SlotReading(now.in_use, now.limit, max(now.in_use, answered_peak), None)


def attach(stack, port: int | None = 0, *, say: Callable[[str], None] | None = None
           ) -> Dashboard | None:
    """The dashboard of a started ``LocalStack`` wired to its edge (the edge's answers go to
    :attr:`Dashboard.acks`, its busy execution environments to the ``edge`` slots chart), or
    None when ``port`` is None (``--no-dashboard``). ``say`` gets the line naming its URL.
    A taken port is not fatal: the stack runs on and ``say`` is told why there is no
    dashboard. Its URL is published in the stack's workdir (:func:`publish`) for
    ``spillway --local status``. Stop it (:meth:`Dashboard.stop`) before the stack."""
    if port is None:
        return None
    try:
        dashboard = for_stack(stack, port=port, edge_slots=stack.edge.in_use)
    except OSError as exc:
        if say is not None:
            say(f"  dashboard:   not started (port {port}: {exc.strerror or exc})")
        return None
    stack.edge.ack_feed = dashboard.acks
    published = publish(dashboard, stack.options.workdir)
    dashboard._closers.append(lambda: published.unlink(missing_ok=True))
    if say is not None:
        say(f"  dashboard:   {dashboard.url}")
    return dashboard


#: File in the local stack's workdir naming its dashboard: ``{"url", "pid"}`` (JSON).
DASHBOARD_FILE = "dashboard.json"


def publish(dashboard: Dashboard, workdir: Path) -> Path:
    """Write ``workdir/``:data:`DASHBOARD_FILE` (mode 0600) so that another process
    (``spillway --local status``) can read the slots this process meters; returns its path."""
    path = Path(workdir) / DASHBOARD_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"url": dashboard.url, "pid": os.getpid()}, f)
    return path


def _published_slots(env: Mapping[str, str]) -> Callable[[], Mapping[str, SlotReading]] | None:
    """The slots reader of the running local stack's dashboard when ``env`` is a local stack's
    (``spillway --local``: it holds the stack's URL), else None. When the stack published no
    dashboard the reader raises ``LookupError`` saying so (the section shows it)."""
    from spillway.dashboard.sources import remote_slots_reader
    from spillway.local.lifecycle import URL_KEY
    from spillway.paths import WORKDIR

    if not env.get(URL_KEY):
        return None
    path = Path(env.get("SPILLWAY_WORKDIR") or WORKDIR) / DASHBOARD_FILE
    try:
        url = json.loads(path.read_text())["url"]
    except (OSError, ValueError, KeyError, TypeError):
        def none_published() -> Mapping[str, SlotReading]:
            raise LookupError(f"the local stack publishes its concurrency through its "
                              f"dashboard, and {path} names none (started with "
                              "--no-dashboard?)")
        return none_published
    return remote_slots_reader(url.rstrip("/") + "/api/status")

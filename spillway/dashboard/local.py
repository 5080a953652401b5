"""The dashboard of a running local stack: wire the sources, start the sampler and the server.

``spillway local`` (and ``demo``, ``loadtest`` while they run) call :func:`start` with the
stack's pieces; ``python -m spillway.dashboard`` calls :func:`from_environment` to watch a
stack started elsewhere (queues, breaker and ledger only: acknowledgements and slots are
in-process feeds of the stack that owns the edge).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

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
    its rates are null; acknowledgements and slots are null too (in-process feeds of the
    stack that owns the edge), and the sections built on them say so."""
    sources, closers = make_sources(**_environment())
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
    ``stack.mappings``). Every event source mapping's handler is wrapped in a
    :class:`SlotMeter` (slots named by worker function, limit = its maximum concurrency);
    ``edge_slots`` reads the edge's busy execution environments when given; ``acks`` is the
    feed the edge records into (a new one if None: :attr:`Dashboard.acks`)."""
    from chalicelib import wiring

    slots: dict[str, SlotMeter | Callable[[], SlotReading]] = {}
    if edge_slots is not None:
        slots["edge"] = edge_slots
    for mapping in stack.mappings:
        meter = SlotMeter(mapping.maximum_concurrency)
        mapping.handler = meter.wrap(mapping.handler)
        slots[mapping.function_name] = meter
    from spillway.ops.status import breaker_status

    return start(queue=wiring.get_queue(), breaker_status=breaker_status,
                 database_url=stack.env.get("DATABASE_URL"), acks=acks, slots=slots,
                 labels={"backend": stack.options.backend, "webhook": stack.url}, port=port)


def attach(stack, port: int | None = 0, *, say: Callable[[str], None] | None = None
           ) -> Dashboard | None:
    """The dashboard of a started ``LocalStack`` wired to its edge (the edge's answers go to
    :attr:`Dashboard.acks`, its busy execution environments to the ``edge`` slots chart), or
    None when ``port`` is None (``--no-dashboard``). ``say`` gets the line naming its URL.
    A taken port is not fatal: the stack runs on and ``say`` is told why there is no
    dashboard. Stop it (:meth:`Dashboard.stop`) before the stack."""
    if port is None:
        return None
    try:
        dashboard = for_stack(stack, port=port, edge_slots=stack.edge.in_use)
    except OSError as exc:
        if say is not None:
            say(f"  dashboard:   not started (port {port}: {exc.strerror or exc})")
        return None
    stack.edge.ack_feed = dashboard.acks
    if say is not None:
        say(f"  dashboard:   {dashboard.url}")
    return dashboard

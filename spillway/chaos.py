"""Chaos for ``spillway demo`` and ``spillway loadtest``: planned faults injected while the
deliveries are sent, each a thread that breaks one part of the local stack for a while and
then mends it.

Kinds (``--chaos KIND=SECONDS``, repeatable; :data:`KINDS` is the registry, other modules add
theirs with :func:`register`):

* ``db-outage`` -- the embedded application PostgreSQL is stopped for SECONDS, then started
  again (the worker's circuit breaker opens; messages wait in their queues);
* ``worker-kill`` -- for SECONDS every worker invocation dies mid-batch without deleting its
  messages (a crashed Lambda); they come back after the visibility timeout, stored once. With
  the shared database slots on it dies *holding its slot lease*: the lease stays in the item,
  never renewed, until it expires (``lease_s``) or ``spillway slots release`` frees it;
* ``queue-outage`` -- the queue backend the edge writes to is unreachable for SECONDS (backend
  ``postgres``: its embedded queue PostgreSQL is stopped); the edge answers 503 and stores
  nothing half-way, GitHub (or the sender) retries later.

Every fault starts ``after_s`` seconds into the run (0: before the first delivery) and records
``restored_at`` (``time.perf_counter()`` seconds) when mended, from which the run's recovery
time is measured.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.errors import ConfigError


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class ChaosSpec:
    """One requested fault: ``kind`` (a key of :data:`KINDS`) for ``seconds`` seconds."""

    kind: str
    seconds: float


class Fault(threading.Thread):
    """A planned fault: :meth:`break_` at ``after_s`` seconds, :meth:`mend` ``outage_s``
    seconds later. Subclasses implement both (and may raise :class:`ConfigError` from
    ``__init__`` when the stack cannot host them)."""

    kind = "fault"
    #: True when the edge is expected to answer 503 while the fault lasts (not an error).
    planned_503 = False
    #: Seconds the work it broke stays out of sight after it is mended (a killed batch: its
    #: visibility timeout); the recovery limit grows by it (report.thresholds.recovery_limit_s).
    returns_after_s = 0.0

    def __init__(self, stack, outage_s: float, after_s: float = 1.0):
        super().__init__(name=f"chaos-{self.kind}", daemon=True)
        self.stack, self.outage_s, self.after_s = stack, outage_s, after_s
        self.broken_at: float | None = None
        self.restored_at: float | None = None

    def break_(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def mend(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def start(self) -> None:
        if self.after_s <= 0:  # broken before the first delivery: every one meets the fault
            self._break()
        super().start()

    def _break(self) -> None:
        _progress(f"  chaos: {self.kind} for {self.outage_s:g} s")
        self.break_()
        self.broken_at = time.perf_counter()

    def run(self) -> None:
        if self.after_s > 0:
            time.sleep(self.after_s)
            self._break()
        time.sleep(self.outage_s)
        self.mend()
        self.restored_at = time.perf_counter()
        _progress(f"  chaos: {self.kind} over")


class ServerOutage(Fault):
    """Stops one embedded PostgreSQL of the stack (attribute ``server``) for ``outage_s``
    seconds, then starts it again; ``needs`` says what the stack lacks when it has none."""

    server = "app_db"
    needs = "the embedded PostgreSQL"

    def __init__(self, stack, outage_s: float, after_s: float = 1.0):
        if getattr(stack, self.server, None) is None:
            raise ConfigError(f"--chaos {self.kind} needs {self.needs}")
        super().__init__(stack, outage_s, after_s)

    def break_(self) -> None:
        getattr(self.stack, self.server).stop()

    def mend(self) -> None:
        getattr(self.stack, self.server).restart()


class DbOutage(ServerOutage):
    """The application PostgreSQL down: the workers' circuit breaker opens."""

    kind = "db-outage"
    needs = "the embedded PostgreSQL (unset DATABASE_URL)"


class QueueOutage(ServerOutage):
    """The queue PostgreSQL (backend ``postgres``) down: the edge cannot enqueue and answers
    503."""

    kind = "queue-outage"
    planned_503 = True
    server = "queue_db"
    needs = ("--backend postgres with the embedded queue PostgreSQL "
             "(unset QUEUE_DATABASE_URL)")


class WorkerKilled(Exception):
    """Raised inside a worker invocation by :class:`WorkerKill`: the local event source mapping
    treats it as a crashed Lambda (nothing deleted; the batch returns after its visibility
    timeout). A simulation, not a Spillway error."""


class WorkerKill(Fault):
    """For ``outage_s`` seconds every worker invocation is killed, as a Lambda killed by its
    timeout or an out-of-memory error is: it dies without answering, and the whole batch comes
    back after the visibility timeout; the worker's idempotency stores each delivery once.

    Without shared slots the first half of its records is handled (stored) first. With them
    (``wiring.get_slots()``) the invocation takes its batch's slot lease as the worker does --
    under an instance id of its own, since a killed instance never asks again -- and dies
    holding it before storing: the lease stays in the item and its heartbeat never runs, so
    the pool gets the slots back only when the lease expires (or an operator releases it).
    ``held`` counts the leases left behind (holders in ``dead_holders``)."""

    kind = "worker-kill"

    def __init__(self, stack, outage_s: float, after_s: float = 1.0, slots=None):
        if not getattr(stack, "mappings", None):
            raise ConfigError("--chaos worker-kill needs the local stack's event source mappings")
        super().__init__(stack, outage_s, after_s)
        # A batch killed just before the mend is invisible for its visibility timeout (6 x the
        # function timeout + the batching window, as on Lambda), then stored.
        self.returns_after_s = float(max(m.visibility_timeout_s for m in stack.mappings))
        if slots is None:
            from chalicelib import wiring

            slots = wiring.get_slots()
        self.slots = slots
        self.killed = 0
        self.held = 0
        self.dead_holders: list[str] = []
        self._saved: list = []

    def _die_holding(self, event: dict, queue: str) -> bool:
        """Take the batch's lease as a doomed instance; True when it was granted."""
        from chalicelib.batch_slots import acquire_for_batch

        doomed = f"killed{self.killed}"
        lease, _ = acquire_for_batch(self.slots, event, queue, instance=doomed, heartbeat=False)
        if lease is None:  # refused (the pool is full) or failed open: it dies waiting
            return False
        self.held += 1
        self.dead_holders.append(lease.holder)
        return True

    def _killer(self, handler, queue: str):
        def killed(event, context):
            records = event.get("Records", [])
            if self.slots is not None:
                holding = self._die_holding(event, queue)
                self.killed += 1
                raise WorkerKilled(f"killed {'holding its slot lease' if holding else 'waiting'}"
                                   f" before storing any of {len(records)} records")
            if len(records) // 2:  # a batch of one dies before handling anything
                handler({**event, "Records": records[: len(records) // 2]}, context)
            self.killed += 1
            raise WorkerKilled(f"killed after {len(records) // 2} of {len(records)} records")
        return killed

    def break_(self) -> None:
        self._saved = [(m, m.handler) for m in self.stack.mappings]
        for mapping, handler in self._saved:
            mapping.handler = self._killer(handler, mapping.queue_name)

    def mend(self) -> None:
        for mapping, handler in self._saved:
            mapping.handler = handler


#: kind -> factory ``(stack, outage_s, after_s) -> Fault``.
KINDS: dict[str, Callable[..., Fault]] = {"db-outage": DbOutage, "queue-outage": QueueOutage,
                                           "worker-kill": WorkerKill}


def register(kind: str, factory: Callable[..., Fault]) -> None:
    """Add a kind of fault (``factory(stack, outage_s, after_s)`` returns a :class:`Fault`)."""
    KINDS[kind] = factory


#: Kinds a command runs itself rather than as a :class:`Fault` thread here (kind ->
#: description): ``edge-outage`` is the demo's, through the GitHub stand-in
#: (:mod:`spillway.demo_reconcile`). :func:`make_faults` leaves them out.
EXTERNAL_KINDS: dict[str, str] = {
    "edge-outage": "the edge is unreachable from GitHub (the stand-in's hook points at a dead "
                   "port); the demo's --reconcile closes the gap",
}


#: The longest planned fault (seconds): a day. Longer (``1e400``) would never end -- a sleep of
#: it overflows -- and no demo waits that long.
MAX_CHAOS_S = 86_400.0


def parse_chaos(value: str, external: tuple[str, ...] = ()) -> ChaosSpec:
    """``"db-outage=20"`` -> ``ChaosSpec("db-outage", 20.0)``; argparse.ArgumentTypeError for
    an unknown kind or a missing/negative/non-numeric number of seconds. ``external``: kinds of
    :data:`EXTERNAL_KINDS` the calling command also accepts."""
    kind, _, seconds = value.partition("=")
    allowed = {*KINDS, *external}
    known = ", ".join(sorted(allowed))
    if kind not in allowed or not seconds:
        raise argparse.ArgumentTypeError(f"expected KIND=SECONDS, KIND one of {known}")
    try:
        outage_s = float(seconds)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{kind} takes a number of seconds") from None
    if not 0 <= outage_s <= MAX_CHAOS_S:  # NaN and infinities fail here too
        raise argparse.ArgumentTypeError(
            f"{kind} takes a number of seconds from 0 to {MAX_CHAOS_S:g}")
    return ChaosSpec(kind, outage_s)


def make_faults(stack, specs: list[ChaosSpec], after_s: float = 1.0) -> list[Fault]:
    """One :class:`Fault` per spec with ``seconds > 0`` (raises :class:`ConfigError` when the
    stack cannot host one)."""
    return [KINDS[s.kind](stack, s.seconds, after_s) for s in specs
            if s.seconds > 0 and s.kind in KINDS]


def add_chaos_argument(parser: argparse.ArgumentParser, external: tuple[str, ...] = ()) -> None:
    """``--chaos KIND=SECONDS`` (repeatable) on ``parser``; ``args.chaos`` is a list of
    :class:`ChaosSpec`. ``external``: kinds of :data:`EXTERNAL_KINDS` the command runs itself."""
    kinds = ", ".join(sorted({*KINDS, *external}))
    parser.add_argument("--chaos", type=lambda v: parse_chaos(v, external), action="append",
                        default=[], metavar="KIND=SECONDS",
                        help=f"inject a fault during the run ({kinds}); repeatable")


def breaker_trips() -> int:
    """Trips of the shared circuit breaker since its item was created."""
    from spillway.ops.status import breaker_status

    status = breaker_status()
    return int(status.get("trips", 0)) if status else 0

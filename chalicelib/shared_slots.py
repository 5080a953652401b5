"""Shared database slots: one :class:`~chalicelib.ports.StatePort` item per protected
dependency (key ``slots#<name>``, e.g. ``slots#postgres``) holding the whole slot pool
(:class:`~chalicelib.core.concurrency.slots.SlotState`), changed by every Lambda instance through
compare-and-set (:func:`chalicelib.breaker_item.cas_update`, as the circuit breaker does).

The decisions are the pure core's (:func:`chalicelib.core.concurrency.manager.decide`: fold the
reported database samples into the adaptive limit, then
:func:`~chalicelib.core.concurrency.slots.acquire`); this module adds the sharing.

* **Lease per batch.** A worker acquires ``count`` slots (its pool size) for a whole SQS batch
  and releases once, so the cost is per batch, not per delivery.
* **Cost.** The last item seen (read or written) is kept and tried first, blind: when nobody
  wrote in between, the conditional write succeeds at once -- acquire = 1 write, release = 1
  write. A lost race costs one read and one more write. Steady state with several instances:
  between 2 and 3 state-store requests per batch on average (``bench``/tests count them at the
  port), i.e. about 0.2-0.3 per delivery at BatchSize 10.
* **Crash safety.** Leases are short (``lease_s``,
  :attr:`~chalicelib.core.concurrency.plan.WorkerPlan.lease_s`: at most
  :data:`~chalicelib.core.concurrency.plan.SLOT_LEASE_S`) and renewed by a heartbeat
  (:meth:`SlotLease.keep_alive`: one compare-and-set every ``lease_s / 4`` while the batch runs,
  none for a batch shorter than that); every decision reclaims expired leases first, so a holder
  that dies stops renewing and gives its slots back ``lease_s`` after its last heartbeat at the
  latest. ``spillway slots release`` frees them at once (:mod:`spillway.ops.slots`).
* **Waiting costs reads, not writes.** A holder refused before asks again by reading the item
  (not a blind write) and writes only when it is admitted or its place in the line needs
  extending; a waiter refused only by overdue leases (a dead holder's) is told to come back when
  they can expire (:func:`chalicelib.core.concurrency.slots.acquire`).
* **Tier lift.** With a ``lift`` view (:class:`chalicelib.tier_lift.LiftView`) the bounds of each
  decision are the lifted tier's while a lift is active (``spillway tier lift``), the deployed
  ones otherwise; expiry is checked against the decision's clock. The view is cached (one read
  of ``tier#lift`` per ``cache_ttl_s`` per process, 5 s by default), so it adds no request per
  batch in steady state.
* **Refusal.** :meth:`SharedSlots.acquire` returns a :class:`SlotWait` with the 1-based queue
  position and the estimated wait (seconds, <= 900, SQS's largest DelaySeconds) that the worker
  uses as its hold-back delay.

Metrics (duck-typed Powertools ``metrics.add_metric``): ``SlotWaits`` (Count, one per refused
acquire), ``SlotLimit`` (Count: the adaptive limit after each decision), ``SlotsInUse`` (Count:
slots held after each decision), ``SlotStoreFailures`` (Count: a release or renewal that could
not be written; the lease runs out instead), ``SlotLeasesLost`` (Count: a heartbeat found its
lease gone: expired, or released by an operator; the batch goes on, its stores are idempotent).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.breaker_item import cas_update
from chalicelib.core.concurrency.limit import Aimd, Bounds, Gradient2
from chalicelib.core.concurrency.manager import decide
from chalicelib.core.concurrency.slots import (
    DEFAULT_SLOT_CONFIG,
    Granted,
    Refused,
    SlotConfig,
    SlotState,
    apply_release,
    release_delta,
    renew,
)
from chalicelib.errors import ConflictError, DependencyError, NotFound
from chalicelib.metrics import count_metric
from chalicelib.ports import StateItem, StatePort

log = logging.getLogger("spillway.slots")

#: Key prefix of slot pool items: ``slots#<dependency>``.
KEY_PREFIX = "slots#"
_UNSEEN = object()
#: Operations that read the item first after this instance lost a compare-and-set race.
READ_FIRST_OPS = 8
#: Heartbeats per lease life: a running batch renews its lease every ``lease_s / 4`` seconds,
#: so three renewals in a row may be lost (or late) before the lease expires under it.
HEARTBEATS_PER_LEASE = 4


def slots_key(name: str) -> str:
    return KEY_PREFIX + name


@dataclass(frozen=True)
class SlotWait:
    """A refused acquire: hold the batch back ``wait_s`` seconds (float, >= the config's
    ``min_wait_s``, <= 900), then ask again with the same holder id. ``position`` is 1-based
    among live waiters (high before medium before low, then arrival; 0 when the state store was
    too contended to queue the caller); ``limit`` / ``in_use`` are slots at the decision."""

    position: int
    wait_s: float
    reason: str
    limit: int
    in_use: int


@dataclass
class SlotLease:
    """A granted lease of ``count`` slots for ``holder`` until ``expires_at`` (epoch s).
    Release it once with :meth:`release` (later calls do nothing)."""

    slots: SharedSlots
    holder: str
    priority: str
    count: int
    expires_at: float
    limit: int
    in_use: int
    state: SlotState = field(repr=False)
    released: bool = False
    _beating: threading.Event | None = field(default=None, repr=False)

    def keep_alive(self, interval_s: float | None = None) -> None:
        """Start the heartbeat: a daemon thread renewing the lease every ``interval_s``
        seconds (default ``lease_s / HEARTBEATS_PER_LEASE``) until :meth:`release`, or until a
        renewal finds the lease gone. A holder that dies stops beating with it."""
        if self._beating is not None or self.released:
            return
        interval = interval_s or self.slots.lease_s / HEARTBEATS_PER_LEASE
        stop = self._beating = threading.Event()

        def beat() -> None:
            while not stop.wait(interval):
                if not self.slots.renew(self):
                    return

        threading.Thread(target=beat, name=f"slot-heartbeat-{self.holder}", daemon=True).start()

    def renew(self) -> bool:
        """One heartbeat now (see :meth:`SharedSlots.renew`)."""
        return self.slots.renew(self)

    def release(self, *, samples: int = 0, latency_s: float = 0.0, failures: int = 0) -> None:
        """Stop the heartbeat and give the slots back, reporting ``samples`` database calls
        made under the lease, ``latency_s`` seconds in total, ``failures`` of them failed with a
        retryable dependency error (they feed the adaptive limit). Never raises a store error
        (see :meth:`SharedSlots.release`)."""
        if not self.released:
            self.released = True
            if self._beating is not None:
                self._beating.set()
            self.slots.release(self, samples=samples, latency_s=latency_s, failures=failures)


class SharedSlots:
    """The slot pool ``name`` shared through ``store``.

    ``bounds``: the adaptive limit's range (the tier's ``slot_min_limit..slot_max_limit``,
    :func:`chalicelib.core.concurrency.manager.for_plan`); a new pool starts at its max.
    ``config``: priority shares and wait bounds. ``lease_s``: seconds a lease lives unless
    released. ``count``: slots per lease (connections a batch holds: the pool size).
    ``algorithm``: :class:`~chalicelib.core.concurrency.limit.Aimd` (default) or ``Gradient2``.
    ``lift``: a :class:`~chalicelib.tier_lift.LiftView` (``bounds(base, now) -> Bounds``) whose
    active lift widens ``bounds``; None: ``bounds`` always.
    ``clock`` returns epoch seconds (shared across instances); ``jitter`` returns [0, 1).
    Thread-safe: a process's threads take turns on the item (the local runtime hosts several
    worker "instances" in one process), so only other processes race for it."""

    def __init__(self, name: str, store: StatePort, *, bounds: Bounds, lease_s: float,
                 config: SlotConfig = DEFAULT_SLOT_CONFIG, count: int = 1,
                 algorithm: Aimd | Gradient2 | None = None, lift: Any = None,
                 clock: Callable[[], float] = time.time,
                 jitter: Callable[[], float] = random.random, metrics: Any = None,
                 max_cas_attempts: int = 20, sleep: Callable[[float], None] = time.sleep):
        if lease_s <= 0 or count < 1:
            raise ValueError(f"lease_s must be > 0 and count >= 1, got {lease_s}, {count}")
        self.name, self.key, self.store = name, slots_key(name), store
        self.bounds, self.config, self.lease_s, self.count = bounds, config, lease_s, count
        self.algorithm = algorithm or Aimd()
        self.lift = lift
        self._bounds_now = bounds
        self.clock, self.jitter, self.metrics = clock, jitter, metrics
        self.max_cas_attempts = max_cas_attempts
        self._sleep = sleep
        self._item: Any = _UNSEEN
        self._read_first = 0
        self._lock = threading.Lock()

    def acquire(self, holder: str, priority: str, count: int | None = None
                ) -> SlotLease | SlotWait:
        """Ask for ``count`` (default: the pool's) slots for ``holder`` (a stable id for the
        batch) of ``priority`` (high / medium / low). Returns a :class:`SlotLease` or a
        :class:`SlotWait`. Raises ValueError for a bad priority or count and the store's
        :class:`~chalicelib.errors.DependencyError` / NotFound (the caller chooses its store
        failure policy); a compare-and-set lost ``max_cas_attempts`` times is a SlotWait of
        the config's ``min_wait_s`` (position 0)."""
        count = count or self.count
        now = self.clock()
        jitter = self.jitter()
        bounds = self.bounds_at(now)

        def step(state: SlotState) -> tuple[SlotState | None, list, Any]:
            result = decide(state, holder, priority, count, now, self.lease_s, self.algorithm,
                            bounds, self.config, jitter)
            if isinstance(result, Refused) and self._still_waiting(state, holder, now,
                                                                   result.wait_s):
                return None, [], result  # its place is kept already: a read, no write
            return result.state, [], result

        try:
            _, result = self._cas(step, read_first=self._is_waiter(holder))
        except ConflictError:
            count_metric(self.metrics, "SlotWaits")
            return SlotWait(0, self.config.min_wait_s, "state store contention", 0, 0)
        state = result.state
        self._gauges(state)
        if isinstance(result, Granted):
            return SlotLease(self, holder, priority, result.lease.count, result.lease.expires_at,
                             state.limit, state.used(), state)
        count_metric(self.metrics, "SlotWaits")
        return SlotWait(result.position, result.wait_s, result.reason, state.limit, state.used())

    def release(self, lease: SlotLease, *, samples: int = 0, latency_s: float = 0.0,
                failures: int = 0) -> None:
        """Remove ``lease`` from the pool and add the reported samples (see
        :meth:`SlotLease.release`). A compare-and-set lost every attempt is retried after
        short jittered pauses (``sleep``: 10, 40, 160 ms), then, like a store error, logged and counted (``SlotStoreFailures``), not raised: the lease expires by
        ``lease.expires_at`` instead."""
        delta = release_delta(lease.state, lease.holder, self.clock(), samples, latency_s,
                              failures, self.config)
        step = lambda state: (apply_release(state, delta, self.config), [], None)  # noqa: E731
        try:
            for backoff in (0.01, 0.04, 0.16, None):  # a lost release costs a whole lease_s
                try:
                    self._cas(step)
                    break
                except ConflictError:
                    if backoff is None:
                        raise
                    self._sleep(backoff * (1 + self.jitter()))
        except (DependencyError, NotFound, ConflictError) as exc:
            count_metric(self.metrics, "SlotStoreFailures")
            log.warning("slot release of %s not written (%s); it expires at %.0f",
                        lease.holder, exc, lease.expires_at)

    def renew(self, lease: SlotLease) -> bool:
        """Extend ``lease`` to ``lease_s`` from now (one compare-and-set; a heartbeat). True
        while the lease is held -- also when the store could not be written (logged, counted as
        ``SlotStoreFailures``; the next heartbeat tries again) --, False once it is gone
        (expired, or released by an operator: counted as ``SlotLeasesLost``; the batch goes
        on, and is not given the lease back)."""
        if lease.released:
            return False
        now = self.clock()

        def step(state: SlotState) -> tuple[SlotState | None, list, bool]:
            renewed = renew(state, lease.holder, now, self.lease_s)
            return renewed, [], renewed is not None  # None: gone, nothing to write

        try:
            _, held = self._cas(step)
        except (DependencyError, NotFound, ConflictError) as exc:
            count_metric(self.metrics, "SlotStoreFailures")
            log.warning("slot lease of %s not renewed (%s); it expires at %.0f",
                        lease.holder, exc, lease.expires_at)
            return True
        if not held:
            count_metric(self.metrics, "SlotLeasesLost")
            log.warning("slot lease of %s is gone (expired or released by an operator); its "
                        "batch goes on without it", lease.holder)
            return False
        lease.expires_at = max(lease.expires_at, now + self.lease_s)
        return True

    def read(self) -> SlotState:
        """The pool as stored now (one read; an absent item is an empty pool at the max
        limit). Store errors propagate."""
        item = self.store.get(self.key)
        self._item = item
        return self._decode(item.data if item else None)

    def bounds_at(self, now: float) -> Bounds:
        """The adaptive limit's bounds in force at ``now`` (epoch s): the lifted ones while a
        tier lift is active, else :attr:`bounds`."""
        self._bounds_now = self.lift.bounds(self.bounds, now) if self.lift else self.bounds
        return self._bounds_now

    # --- internals -------------------------------------------------------------------------
    def _decode(self, data: Any) -> SlotState:
        return SlotState.from_dict(data, default_limit=self._bounds_now.max_limit)

    def _remember(self, item: StateItem | None) -> None:
        self._item = item

    def _is_waiter(self, holder: str) -> bool:
        """Whether the last-seen item lists ``holder`` as a waiter (it was refused before)."""
        item = self._item
        return bool(item is not _UNSEEN and item is not None
                    and holder in ((item.data or {}).get("waiters") or {}))

    def _still_waiting(self, state: SlotState, holder: str, now: float, wait_s: float) -> bool:
        """Whether ``holder``'s place in ``state`` (as read) outlives its next wait by at least
        half the waiter TTL, so that refusing it again needs no write."""
        mine = next((w for w in state.waiters if w.holder == holder), None)
        return mine is not None and mine.expires_at >= now + wait_s + self.config.waiter_ttl_s / 2

    def _cas(self, fn: Callable[[SlotState], tuple], read_first: bool = False
             ) -> tuple[list, Any]:
        """CAS ``fn`` onto the item. The last-seen item is tried blind (one write when nobody
        else wrote meanwhile); after a lost race the next :data:`READ_FIRST_OPS` operations read
        first instead (a contended item: a blind write would mostly lose and cost a third
        request), then blind writes are tried again. ``read_first``: read this time anyway (a
        waiter asking again: the decision may need no write at all)."""
        with self._lock:  # this process's threads take turns rather than race each other
            return self._cas_locked(fn, read_first)

    def _cas_locked(self, fn: Callable[[SlotState], tuple], read_first: bool = False
                    ) -> tuple[list, Any]:
        item = self._item
        blind = item is not _UNSEEN and self._read_first <= 0 and not read_first
        self._read_first -= 1
        lost = []

        def pause(attempt: int) -> None:
            lost.append(attempt)
            self._backoff(attempt)

        try:
            return cas_update(self.store, self.key, fn, item=item if blind else False,
                              attempts=self.max_cas_attempts, on_item=self._remember,
                              decode=self._decode, pause=pause)
        finally:
            if lost:
                self._read_first = READ_FIRST_OPS

    def _backoff(self, attempt: int) -> None:
        """Full-jitter exponential backoff before re-reading a contended item: up to 5 ms
        doubled per lost race, at most 100 ms (so the racers spread out instead of re-reading
        together and losing again)."""
        self._sleep(self.jitter() * min(0.1, 0.005 * 2 ** (attempt - 1)))

    def _gauges(self, state: SlotState) -> None:
        if self.metrics is not None:
            self.metrics.add_metric(name="SlotLimit", unit="Count", value=state.limit)
            self.metrics.add_metric(name="SlotsInUse", unit="Count", value=state.used())

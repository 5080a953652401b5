"""The tier lift in the shared state (:class:`~chalicelib.ports.StatePort` item ``tier#lift``,
data :class:`~chalicelib.core.concurrency.lift.LiftState`): the workers' cached view of it
(:class:`LiftView`) and the scheduled collector's revert of an expired one
(:func:`revert_expired`). Operators start and end lifts with ``spillway tier lift``
(``spillway/ops/tier.py``); every writer goes through
:func:`chalicelib.breaker_item.cas_update`.

Cost: :class:`LiftView` reads the item at most once per ``cache_ttl_s`` (default
:data:`DEFAULT_CACHE_TTL_S`) per process, and only when the shared slots decide an acquire --
never per delivery: about ``1 / (cache_ttl_s x batches per second)`` GetItem per batch, at most
0.2 reads per second per busy worker instance with the default 5 s, nothing for an idle one. A
lift (or its end) therefore reaches every instance within ``cache_ttl_s``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from chalicelib.audit_record import record
from chalicelib.breaker_item import cas_update
from chalicelib.core.concurrency.lift import Lift, LiftState, effective_bounds, expire
from chalicelib.core.concurrency.limit import Bounds
from chalicelib.errors import DependencyError, NotFound
from chalicelib.ports import StatePort

log = logging.getLogger("spillway.tier_lift")

#: The lift's item key.
LIFT_KEY = "tier#lift"
#: Seconds a worker process trusts its last read of the lift.
DEFAULT_CACHE_TTL_S = 5.0


def read_lift(store: StatePort) -> LiftState:
    """The stored :class:`LiftState` (one read; absent: no lift). Store errors propagate."""
    item = store.get(LIFT_KEY)
    return LiftState.from_dict(item.data if item else None)


class LiftView:
    """A process's cached view of the lift. :meth:`bounds` gives the adaptive-limit bounds in
    force (:func:`~chalicelib.core.concurrency.lift.effective_bounds`), reading the item when
    the cache is older than ``cache_ttl_s`` seconds (``clock``: monotonic seconds for the cache;
    the lift's ``until`` is compared with the ``now`` passed in, epoch s). A store that cannot
    be read keeps the last view (none at first) for another ``cache_ttl_s``: a lift is an
    emergency aid, never a new way to fail. Thread-safe."""

    def __init__(self, store: StatePort, *, cache_ttl_s: float = DEFAULT_CACHE_TTL_S,
                 clock: Callable[[], float] = time.monotonic):
        self.store, self.cache_ttl_s, self.clock = store, cache_ttl_s, clock
        self._state = LiftState()
        self._loaded_at = -math.inf
        self._lock = threading.Lock()
        #: Reads of the item made so far (the cost, for tests and benchmarks).
        self.reads = 0

    def state(self) -> LiftState:
        """The lift as last read (re-read when the cache is stale)."""
        with self._lock:
            if self.clock() - self._loaded_at >= self.cache_ttl_s:
                self._loaded_at = self.clock()
                self.reads += 1
                try:
                    self._state = read_lift(self.store)
                except (DependencyError, NotFound) as exc:
                    log.warning("tier lift not read (%s); keeping the last view", exc)
            return self._state

    def bounds(self, base: Bounds, now: float) -> Bounds:
        """``base``, or the lifted bounds while a lift is active at ``now`` (epoch s)."""
        return effective_bounds(base, self.state(), now)


def revert_expired(store: StatePort, now: float, *, by: str = "collector") -> Lift | None:
    """Clear a lift whose ``until`` is past (compare-and-set) and write an audit record ``tier
    revert`` (by ``by``; details ``to``, ``from``, ``until``, ``lifted_at``, ``lifted_by``).
    Returns the reverted lift, or None when there was nothing to revert (none, or still
    active). Store errors propagate."""

    def fn(state: LiftState):
        new, lift = expire(state, now, by)
        return new, [], lift

    _, lift = cas_update(store, LIFT_KEY, fn, decode=LiftState.from_dict)
    if lift is not None:
        record(store, verb="tier revert", by=by,
               reason=f"lift to {lift.to} expired (until {lift.until:.0f})",
               details={"to": lift.to, "from": lift.from_tier, "until": lift.until,
                        "lifted_at": lift.at, "lifted_by": lift.by}, clock=lambda: now)
    return lift

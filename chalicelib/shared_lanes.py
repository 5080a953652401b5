"""Shared lane state: one :class:`~chalicelib.ports.StatePort` item per worker function (key
``lanes#<function>``, e.g. ``lanes#worker_high``) holding its
:class:`~chalicelib.core.concurrency.lanes.LanePool` -- the operator part (``disabled`` and
``reason`` per lane, set by ``spillway lanes disable|enable``) and the health part (each lane's
sliding window and ``ejected_until``) -- in the JSON form of
:func:`~chalicelib.core.concurrency.lanes.to_dict`, changed only by compare-and-set
(:func:`chalicelib.breaker_item.cas_update`, as the breaker and the slots are).

The decisions are the pure core's (:mod:`chalicelib.core.concurrency.lanes`); this module adds
the sharing and the caching, the way :mod:`chalicelib.shared_breaker` does:

* **Reads are cached** for ``cache_ttl_s`` (default 1 s); a write refreshes the cache for free.
  :meth:`SharedLanes.serving` (a lane's SQS poller asks it before each receive) and
  :meth:`SharedLanes.pick` (an invoker with one entry point) read only the cache.
* **Outcomes are aggregated** per lane and merged by CAS (:func:`~chalicelib.core.concurrency.
  lanes.tally`): a tally holding failures at most once per ``flush_interval_s`` (1 s), and at
  once when merging it would eject the lane; a tally of successes only, at most once per
  ``success_flush_interval_s`` (5 s). A lost race re-reads and re-applies (up to
  ``max_cas_attempts``).
* **Cost.** Per instance and worker function: about one read per ``cache_ttl_s`` while work
  flows plus at most one write per flush interval, whatever the delivery rate. Outcomes are
  recorded per *batch* (one invocation), so at BatchSize 10 and one batch per second per
  instance that is <= 1 read + 0.2 writes per 10 deliveries in steady state: measured over 60
  s of successes, 60 reads + 11 writes for 600 deliveries (0.12 requests per delivery) at 1
  batch/s, 48 + 11 for 6,000 (0.01) at 10 batches/s -- never one write per delivery. Where it
  runs: the local stack's lane pollers and any single-entry invoker read and record; a Lambda
  worker only records (:mod:`chalicelib.lane_outcomes`: no reads on the way, so 1 read + 11
  writes per 600 deliveries), and on AWS the collector switches each lane's own mapping to
  follow the item (:mod:`chalicelib.collector.lanes`).
* **Round-robin cursor.** :meth:`pick` keeps its cursor per instance (sharing it would cost a
  write per pick); the stored ``cursor`` is left as written.
* **Store failures** never stop work: a lane serves on its last-seen state (a fresh instance:
  every lane healthy), the tally is kept for the next flush, and ``LaneStoreFailures`` is
  counted (duck-typed Powertools ``metrics.add_metric``). ``LaneEjections`` counts ejections
  made by this instance's writes.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from chalicelib.breaker_item import cas_update
from chalicelib.core.concurrency import lanes as core
from chalicelib.core.concurrency.lanes import DEFAULT_LANE_CONFIG, LaneConfig, LanePool
from chalicelib.errors import ConflictError, DependencyError, NotFound
from chalicelib.metrics import count_metric
from chalicelib.ports import StateItem, StatePort

log = logging.getLogger("spillway.lanes")

#: Key prefix of lane items: ``lanes#<worker function>``.
KEY_PREFIX = "lanes#"
STORE_ERRORS: tuple[type[Exception], ...] = (DependencyError, NotFound)


def lanes_key(function: str) -> str:
    return KEY_PREFIX + function


def fit(data: dict | None, count: int, keep_stored: bool = False) -> LanePool:
    """The stored pool ``data`` fitted to ``count`` lanes (:func:`~chalicelib.core.concurrency.
    lanes.from_dict`); ``keep_stored``: at least as many lanes as are stored, so a writer that
    knows only its own lane (a Lambda worker: :mod:`chalicelib.lane_outcomes`) never drops the
    others' state."""
    stored = len((data or {}).get("lanes") or ()) if keep_stored else 0
    return core.from_dict(data, max(count, stored))


def update(store: StatePort, function: str, count: int,
           change: Callable[[LanePool], LanePool], *, item: StateItem | None | bool = False,
           attempts: int = 5, on_item: Callable[[StateItem | None], None] | None = None,
           keep_stored: bool = False) -> tuple[LanePool, LanePool]:
    """Compare-and-set ``change`` onto function ``function``'s lane item (``count`` lanes, the
    plan's; ``keep_stored``: see :func:`fit`); returns ``(before, after)`` of the application
    that stuck. Raises ConflictError after ``attempts`` lost races, NotFound for an unknown
    lane (from ``change``), store errors."""
    def fn(pool: LanePool) -> tuple:
        new = change(pool)
        return (new if new != pool else None), [], (pool, new)

    _, result = cas_update(store, lanes_key(function), fn, item=item, attempts=attempts,
                           on_item=on_item,
                           decode=lambda data: fit(data, count, keep_stored))
    return result


def read(store: StatePort, function: str, count: int) -> tuple[LanePool, int]:
    """The stored pool of ``function`` fitted to ``count`` lanes and the item's version (0: no
    item yet, every lane healthy)."""
    item = store.get(lanes_key(function))
    return core.from_dict(item.data if item else None, count), (item.version if item else 0)


class SharedLanes:
    """The lanes of worker function ``function`` (``count`` of them, ``lane-1..lane-count``)
    shared through ``store``. ``clock`` returns epoch seconds. Thread-safe; one per process
    and function (every lane's poller of that function shares it). ``keep_stored``: lanes
    stored beyond ``count`` are kept, not dropped (:func:`fit`; a Lambda worker's recorder,
    which knows only the lane it was invoked through)."""

    def __init__(self, function: str, count: int, store: StatePort,
                 config: LaneConfig = DEFAULT_LANE_CONFIG, *, clock: Callable[[], float] = time.time,
                 cache_ttl_s: float = 1.0, flush_interval_s: float = 1.0,
                 success_flush_interval_s: float = 5.0, max_cas_attempts: int = 5,
                 metrics: Any = None, keep_stored: bool = False):
        self.keep_stored = keep_stored
        self.function, self.count, self.store, self.config = function, count, store, config
        self.clock, self.cache_ttl_s, self.flush_interval_s = clock, cache_ttl_s, flush_interval_s
        self.success_flush_interval_s = max(success_flush_interval_s, flush_interval_s)
        self.max_cas_attempts = max_cas_attempts
        self.metrics = metrics
        self.names = tuple(lane.name for lane in LanePool.of(count).lanes)
        self._lock = threading.RLock()
        self._item: StateItem | None | bool = False
        self._pool = LanePool.of(count)
        self._loaded_at = -math.inf
        self._cursor = 0
        self._pending: dict[str, tuple[int, int]] = {}
        self._last_flush = clock()

    # --- what pollers and invokers ask ---------------------------------------------------------
    def pool(self) -> LanePool:
        """The cached pool (re-read when older than ``cache_ttl_s``; the last-seen one when the
        store fails)."""
        with self._lock:
            now = self.clock()
            if now - self._loaded_at >= self.cache_ttl_s:
                try:
                    self._remember(self.store.get(lanes_key(self.function)), now)
                except STORE_ERRORS:
                    self._store_failed(now)
            return self._pool

    def serving(self, lane: str) -> bool:
        """Whether ``lane`` takes work now (:func:`~chalicelib.core.concurrency.lanes.serving`):
        False while it is disabled, or ejected while another lane is healthy."""
        return core.serving(self.pool(), lane, self.clock())

    def paused(self, lane: str) -> bool:
        """``not serving(lane)``: what a lane's poller checks before each receive."""
        return not self.serving(lane)

    def pick(self) -> str | None:
        """The next lane for one invocation, round-robin over the serving ones (this
        instance's cursor; :func:`~chalicelib.core.concurrency.lanes.pick`). None when every
        lane is disabled."""
        pool = self.pool()
        with self._lock:
            lane, moved = core.pick(LanePool(pool.lanes, self._cursor), self.clock())
            self._cursor = moved.cursor
            return lane

    def record(self, lane: str, ok: bool) -> None:
        """Count one invocation (one batch) of ``lane``; merged into the item when due (see the
        module docstring). Raises NotFound for an unknown lane; never raises store errors."""
        if lane not in self.names:
            raise NotFound(f"{self.function} has no lane {lane!r}; lanes: {list(self.names)}")
        with self._lock:
            calls, errors = self._pending.get(lane, (0, 0))
            self._pending[lane] = (calls + 1, errors + (not ok))
            if self._flush_due(self.clock()):
                self.flush()

    def flush(self) -> None:
        """Merge the pending tallies now. Store errors and lost races keep them for later."""
        with self._lock:
            if not self._pending:
                return
            now = self.clock()
            pending = dict(self._pending)
            self._last_flush = now

            def merge(pool: LanePool) -> LanePool:
                for lane, (calls, errors) in pending.items():
                    pool = core.tally(pool, lane, calls, errors, now, self.config)
                return pool

            try:
                before, after = update(self.store, self.function, self.count, merge,
                                       item=self._item, attempts=self.max_cas_attempts,
                                       on_item=lambda item: self._remember(item, now),
                                       keep_stored=self.keep_stored)
            except STORE_ERRORS:
                self._store_failed(now)
                return
            except ConflictError:
                return
            self._pending = {}
            for old, new in zip(before.lanes, after.lanes, strict=True):
                if new.ejected_until > now and old.ejected_until != new.ejected_until:
                    log.warning("%s %s ejected until %.0f", self.function, new.name,
                                new.ejected_until)
                    count_metric(self.metrics, "LaneEjections")

    # --- internals ---------------------------------------------------------------------------
    def _flush_due(self, now: float) -> bool:
        elapsed = now - self._last_flush
        if not any(errors for _, errors in self._pending.values()):
            return elapsed >= self.success_flush_interval_s
        if elapsed >= self.flush_interval_s:
            return True
        merged = self._pool
        for lane, (calls, errors) in self._pending.items():
            merged = core.tally(merged, lane, calls, errors, now, self.config)
        return any(new.ejected_until > now >= old.ejected_until
                   for old, new in zip(self._pool.lanes, merged.lanes, strict=True))

    def _remember(self, item: StateItem | None, now: float) -> None:
        self._item = item
        self._pool = fit(item.data if item else None, self.count, self.keep_stored)
        self._loaded_at = now

    def _store_failed(self, now: float) -> None:
        count_metric(self.metrics, "LaneStoreFailures")
        self._loaded_at = now  # serve on the last-seen state; ask again after the TTL

"""A Lambda worker's side of the lanes: each invocation (one SQS batch) counts for or against
the lane it came through, so a lane that keeps failing -- a canary version that trips -- is
ejected in the shared lane item (:mod:`chalicelib.shared_lanes`) and, on AWS, its event source
mapping switched off by the collector (:mod:`chalicelib.collector.lanes`) until it recovers.

* **Which lane**: from ``context.invoked_function_arn``
  (:func:`~chalicelib.core.concurrency.lanes.lane_of_arn`): alias ``lane-k`` -> ``lane-k``,
  unqualified or ``$LATEST`` -> ``lane-1``, anything else (a version, another alias, the local
  stack's empty ARN: its pollers record for themselves) -> nothing recorded.
* **What counts** is the worker's to say (:meth:`chalicelib.worker.Worker.handle_batch`): a
  batch fails when a record failed for a dependency reason -- reported in
  ``batchItemFailures`` (a transient error: database, blob store, queue), held back because
  the breaker refused or the database was unreachable -- or the handler raised. A poison or
  malformed delivery is the payload's fault: dead-lettered, it leaves the batch ok. A batch
  held back whole because its slot lease was refused is the concurrency manager's doing and
  is not counted at all.
* **Cost**: aggregated by :class:`~chalicelib.shared_lanes.SharedLanes` (never a write per
  delivery): one read per cold start and lane, then at most one write per second while
  batches fail (at once when it ejects the lane) and one per 5 s while they succeed; no read
  on the way (the worker never asks :meth:`~chalicelib.shared_lanes.SharedLanes.serving`).
* **Fail-open**: a state-store error, or any other error here, never fails the batch; it is
  logged and counted (``LaneStoreFailures``).

One :class:`~chalicelib.shared_lanes.SharedLanes` per (function, lane) with ``count`` = k and
``keep_stored``: the worker does not know the plan's lane count at run time (the plan is a
packaging-time input, :mod:`chalicelib.tier_plan`), so it never drops the other lanes' state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from chalicelib.core.concurrency.lanes import DEFAULT_LANE_CONFIG, LaneConfig, lane_of_arn
from chalicelib.metrics import count_metric
from chalicelib.ports import StatePort
from chalicelib.shared_lanes import SharedLanes

log = logging.getLogger("spillway.lanes")


class LaneOutcomes:
    """Records batch outcomes per (worker function, lane) in ``store``. ``clock``: epoch s.
    Thread-safe; one per process."""

    def __init__(self, store: StatePort, config: LaneConfig = DEFAULT_LANE_CONFIG, *,
                 clock: Callable[[], float] = time.time, metrics: Any = None):
        self.store, self.config, self.clock, self.metrics = store, config, clock, metrics
        self._lanes: dict[tuple[str, str], SharedLanes] = {}
        self._lock = threading.Lock()

    def record(self, function: str, invoked_function_arn: str | None, ok: bool) -> str | None:
        """Count one batch of ``function`` (``worker_high``, the lane item's name) invoked as
        ``invoked_function_arn``; returns the lane counted, or None (not a lane ARN). Never
        raises."""
        lane = lane_of_arn(invoked_function_arn)
        if lane is None:
            return None
        try:
            self._shared(function, lane).record(lane, ok)
        except Exception as exc:  # noqa: BLE001 -- the lanes must never fail a batch
            log.warning("lane outcome of %s %s not recorded: %s", function, lane, exc)
            count_metric(self.metrics, "LaneStoreFailures")
        return lane

    def flush(self) -> None:
        """Merge every pending tally now (shutdown, tests). Never raises store errors."""
        for shared in list(self._lanes.values()):
            shared.flush()

    def _shared(self, function: str, lane: str) -> SharedLanes:
        key = (function, lane)
        with self._lock:
            if key not in self._lanes:
                self._lanes[key] = SharedLanes(
                    function, int(lane.removeprefix("lane-")), self.store, self.config,
                    clock=self.clock, metrics=self.metrics, keep_stored=True)
            return self._lanes[key]

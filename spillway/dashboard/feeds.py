"""Feeds pushed by the running stack into the dashboard (thread-safe, in-process).

* :class:`AckFeed` -- the edge calls :meth:`AckFeed.record` once per answered delivery with
  the acknowledgement latency (milliseconds) and the HTTP status; the sampler drains it once a
  step into an :class:`~spillway.dashboard.snapshot.AckTally`.
* :class:`SlotMeter` -- counts execution environments in use: wrap a worker handler with
  :meth:`SlotMeter.wrap` (or hold :meth:`SlotMeter.slot` around a call); read it with
  :meth:`SlotMeter.reading`.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

from spillway.dashboard.snapshot import AckTally, SlotReading

#: Latencies kept per step at most; beyond it every other one is dropped (a 1 s step at the
#: edge's ~1,200 req/s keeps them all).
MAX_LATENCIES_PER_STEP = 50_000


class AckFeed:
    """Acknowledgement latencies and outcomes of the edge, per sampling step."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latencies: list[float] = []
        self._accepted = self._rejected = 0
        self._accepted_total = self._rejected_total = 0

    def record(self, latency_ms: float, status: int = 202) -> None:
        """One answered request: ``latency_ms`` from the first byte read to the answer sent
        (milliseconds); ``status`` its HTTP status (2xx counts as accepted)."""
        accepted = 200 <= status < 300
        with self._lock:
            if len(self._latencies) < MAX_LATENCIES_PER_STEP:
                self._latencies.append(float(latency_ms))
            if accepted:
                self._accepted += 1
                self._accepted_total += 1
            else:
                self._rejected += 1
                self._rejected_total += 1

    def drain(self) -> AckTally:
        """What was recorded since the last drain (the sampler calls it once a step)."""
        with self._lock:
            latencies, self._latencies = self._latencies, []
            accepted, rejected = self._accepted, self._rejected
            self._accepted = self._rejected = 0
            totals = self._accepted_total, self._rejected_total
        return AckTally.of(latencies, accepted, rejected, *totals)


class SlotMeter:
    """How many of ``limit`` execution environments are busy right now."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._in_use = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the duration of the ``with`` block."""
        with self._lock:
            self._in_use += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_use -= 1

    def wrap(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        """``handler`` holding a slot while it runs (a Lambda handler ``(event, context)``)."""
        @functools.wraps(handler)
        def metered(*args: Any, **kwargs: Any) -> Any:
            with self.slot():
                return handler(*args, **kwargs)
        return metered

    def reading(self) -> SlotReading:
        with self._lock:
            return SlotReading(self._in_use, self.limit)

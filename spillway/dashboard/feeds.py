"""Feeds pushed by the running stack into the dashboard (thread-safe, in-process).

* :class:`AckFeed` -- the edge calls :meth:`AckFeed.record` once per answered delivery with
  the acknowledgement latency (milliseconds) and the HTTP status; the sampler drains it once a
  step into an :class:`~spillway.dashboard.snapshot.AckTally`; :meth:`AckFeed.take_peak` gives
  the most answers in progress at once since its last call (the edge's busiest moment).
* :class:`SlotMeter` -- counts execution environments in use: wrap a worker handler with
  :meth:`SlotMeter.wrap` (or hold :meth:`SlotMeter.slot` around a call); read it with
  :meth:`SlotMeter.reading` (in use now, and the most at once since the previous reading).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from spillway.dashboard.snapshot import AckTally, SlotReading, peak_overlap

#: Latencies kept per step at most; beyond it every other one is dropped (a 1 s step at the
#: edge's ~1,200 req/s keeps them all).
MAX_LATENCIES_PER_STEP = 50_000


class AckFeed:
    """Acknowledgement latencies and outcomes of the edge, per sampling step."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._latencies: list[float] = []
        self._spans: list[tuple[float, float]] = []
        self._accepted = self._rejected = 0
        self._accepted_total = self._rejected_total = 0

    def record(self, latency_ms: float, status: int = 202) -> None:
        """One answered request: ``latency_ms`` from the first byte read to the answer sent
        (milliseconds); ``status`` its HTTP status (2xx counts as accepted)."""
        accepted = 200 <= status < 300
        end = self._clock()
        with self._lock:
            if len(self._latencies) < MAX_LATENCIES_PER_STEP:
                self._latencies.append(float(latency_ms))
            if len(self._spans) < MAX_LATENCIES_PER_STEP:
                self._spans.append((end - latency_ms / 1000.0, end))
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

    def take_peak(self) -> int:
        """The most answers in progress at once among those recorded since the last call
        (each spans ``latency_ms`` before its record): the busiest moment of the execution
        environments that answered them. One reader only (the edge's slot reading)."""
        with self._lock:
            spans, self._spans = self._spans, []
        return peak_overlap(spans)


class SlotMeter:
    """How many of ``limit`` execution environments are busy right now."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._in_use = 0
        self._peak = 0
        self._started = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the duration of the ``with`` block."""
        with self._lock:
            self._in_use += 1
            self._started += 1
            self._peak = max(self._peak, self._in_use)
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
        """In use now, the most in use at once and the slots taken since the previous
        reading (one reader: the sampler)."""
        with self._lock:
            reading = SlotReading(self._in_use, self.limit, self._peak, self._started)
            self._peak, self._started = self._in_use, 0
        return reading

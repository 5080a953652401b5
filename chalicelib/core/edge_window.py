"""The edge's own figures over a window (pure; no I/O, no clock): requests, 5xx answers,
peak requests in flight and the p95 acknowledgement latency.

On the local stack one process hosts every edge copy, so the scheduled collector reads these
figures (:meth:`EdgeWindow.take`) where on AWS it asks CloudWatch (each Lambda instance has
its own process). Thread-safe: the local edge server answers from many threads.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

#: Latency samples kept per window; past it the newest replace the oldest (a bounded buffer).
MAX_SAMPLES = 10_000


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0 < q <= 1) of ``values`` by nearest rank; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass(frozen=True)
class WindowFigures:
    """One window: ``requests``, ``errors`` (HTTP >= 500), ``peak_in_flight`` and
    ``current_in_flight`` (requests), ``p95_latency_ms`` (None without requests) and
    ``error_rate_pct`` (percent of requests; None without requests)."""

    requests: int
    errors: int
    current_in_flight: int
    peak_in_flight: int
    p95_latency_ms: float | None
    error_rate_pct: float | None


class EdgeWindow:
    """Accumulates :meth:`started` / :meth:`finished` calls until :meth:`take`."""

    def __init__(self, max_samples: int = MAX_SAMPLES):
        self._lock = threading.Lock()
        self._max = max_samples
        self._in_flight = 0
        self._reset()

    def _reset(self) -> None:
        self._requests = self._errors = 0
        self._peak = self._in_flight
        self._latencies_ms: list[float] = []

    def started(self) -> int:
        """A request arrived; returns the requests in flight, this one included."""
        with self._lock:
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
            return self._in_flight

    def finished(self, status: int, latency_s: float) -> None:
        """A request was answered with HTTP ``status`` after ``latency_s`` seconds."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            self._requests += 1
            self._errors += status >= 500
            if len(self._latencies_ms) >= self._max:
                self._latencies_ms.pop(0)
            self._latencies_ms.append(latency_s * 1000.0)

    def take(self) -> WindowFigures:
        """The figures since the previous :meth:`take` (or creation); starts a new window."""
        with self._lock:
            p95 = percentile(self._latencies_ms, 0.95)
            rate = 100.0 * self._errors / self._requests if self._requests else None
            figures = WindowFigures(self._requests, self._errors, self._in_flight, self._peak,
                                    None if p95 is None else round(p95, 3),
                                    None if rate is None else round(rate, 3))
            self._reset()
            return figures

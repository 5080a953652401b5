"""Adaptive concurrency limit for the shared slots, after Netflix ``concurrency-limits``.

Pure: fed :class:`Sample` s (latency in seconds, ok or failed, slots in flight) and a clock;
the state is a small frozen dataclass (``to_dict`` / ``from_dict``) kept in the slot item's
``limiter`` field (:class:`~chalicelib.core.concurrency.slots.SlotState`), so it costs no extra
request: release adds the samples to the item's counters, and the next acquire, which reads and
writes the item anyway, folds them in with :func:`sample_from_counters`.

Two algorithms, one interface ``update(state, sample, now, bounds) -> state``:

* :class:`Aimd` (Netflix ``AIMDLimit``): a failed call, or one slower than ``timeout_s``,
  multiplies the limit by ``backoff_ratio`` (0.9); a healthy call with ``inflight * 2 >= limit``
  (the limit is actually in use) adds 1. Decreases are at most one per ``decrease_cooldown_s``,
  because a released batch reports its calls as one aggregated sample and many instances report
  the same slow spell.
* :class:`Gradient2` (Netflix ``Gradient2Limit``): ``gradient = clamp(tolerance * long_rtt /
  rtt, 0.5, 1)``; ``new = limit * gradient + queue_size``; smoothed ``limit * (1 - smoothing) +
  new * smoothing``. ``long_rtt`` is an exponential average over ``long_window`` samples, pulled
  down when it exceeds twice the sample's RTT; an app-limited sample (``inflight < limit / 2``)
  leaves the limit. A failed call backs off as in AIMD.

Either way the limit never leaves ``[bounds.min_limit, bounds.max_limit]`` -- the tier's slot
budget (:attr:`~chalicelib.core.concurrency.plan.TierPlan.slot_max_limit`). The slot pool uses
``int(limit)`` slots; the current limit is the metric to publish.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Sample:
    """One call (or a batch's calls aggregated): ``latency_s`` seconds (mean), ``ok`` False if
    any failed with a retryable dependency error, ``inflight`` slots held when it ran."""

    latency_s: float
    ok: bool
    inflight: int


@dataclass(frozen=True)
class Bounds:
    """``min_limit <= limit <= max_limit`` (slots); raises ValueError if not 1 <= min <= max."""

    min_limit: int
    max_limit: int

    def __post_init__(self) -> None:
        if not 1 <= self.min_limit <= self.max_limit:
            raise ValueError(f"limit bounds must satisfy 1 <= min <= max: {self}")

    def clamp(self, value: float) -> float:
        return min(max(value, float(self.min_limit)), float(self.max_limit))


@dataclass(frozen=True)
class LimitState:
    """``limit`` (float; the pool uses ``int``), ``long_rtt_s`` (Gradient2's long-term RTT, 0
    before the first sample), ``last_decrease_at`` (epoch s, AIMD cooldown)."""

    limit: float
    long_rtt_s: float = 0.0
    last_decrease_at: float = -math.inf

    @property
    def slots(self) -> int:
        return int(self.limit)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if math.isinf(self.last_decrease_at):
            data["last_decrease_at"] = None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, initial: float) -> LimitState:
        if not data:
            return cls(limit=initial)
        last = data.get("last_decrease_at")
        return cls(float(data["limit"]), float(data.get("long_rtt_s", 0.0)),
                   -math.inf if last is None else float(last))


@dataclass(frozen=True)
class Aimd:
    """Netflix AIMDLimit defaults: backoff 0.9; ``timeout_s`` is the slow-call threshold
    (seconds; Netflix's default is 5 s)."""

    timeout_s: float = 5.0
    backoff_ratio: float = 0.9
    decrease_cooldown_s: float = 1.0

    def update(self, state: LimitState, sample: Sample, now: float, bounds: Bounds) -> LimitState:
        if not sample.ok or sample.latency_s > self.timeout_s:
            return _decrease(state, self.backoff_ratio, self.decrease_cooldown_s, now, bounds)
        if sample.inflight * 2 >= state.limit:
            return replace(state, limit=bounds.clamp(state.limit + 1))
        return replace(state, limit=bounds.clamp(state.limit))


@dataclass(frozen=True)
class Gradient2:
    """Netflix Gradient2Limit defaults: tolerance 1.5, smoothing 0.2, long window 600 samples,
    queue size 4 (slots added each update so the limit can probe upward)."""

    tolerance: float = 1.5
    smoothing: float = 0.2
    long_window: int = 600
    queue_size: float = 4.0
    backoff_ratio: float = 0.9
    decrease_cooldown_s: float = 1.0

    def update(self, state: LimitState, sample: Sample, now: float, bounds: Bounds) -> LimitState:
        if not sample.ok:
            return _decrease(state, self.backoff_ratio, self.decrease_cooldown_s, now, bounds)
        rtt = max(sample.latency_s, 1e-6)
        long_rtt = rtt if state.long_rtt_s <= 0 else (
            state.long_rtt_s + (rtt - state.long_rtt_s) * 2 / (self.long_window + 1))
        if long_rtt / rtt > 2:
            long_rtt *= 0.95
        if sample.inflight < state.limit / 2:
            return replace(state, limit=bounds.clamp(state.limit), long_rtt_s=long_rtt)
        gradient = min(max(self.tolerance * long_rtt / rtt, 0.5), 1.0)
        new = state.limit * gradient + self.queue_size
        smoothed = state.limit * (1 - self.smoothing) + new * self.smoothing
        return replace(state, limit=bounds.clamp(smoothed), long_rtt_s=long_rtt)


def _decrease(state: LimitState, ratio: float, cooldown_s: float, now: float,
              bounds: Bounds) -> LimitState:
    if now - state.last_decrease_at < cooldown_s:
        return replace(state, limit=bounds.clamp(state.limit))
    return replace(state, limit=bounds.clamp(state.limit * ratio), last_decrease_at=now)


def sample_from_counters(samples: int, latency_s_sum: float, failures: int,
                         inflight: int) -> Sample | None:
    """One aggregated :class:`Sample` from a slot item's counters (None when ``samples`` is 0):
    mean latency, failed if any call failed."""
    if samples <= 0:
        return None
    return Sample(latency_s=latency_s_sum / samples, ok=failures == 0, inflight=inflight)

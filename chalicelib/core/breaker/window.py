"""The sliding window: outcome tallies (:class:`Tally`) kept as buckets of ``bucket_s`` seconds
(time window) or of whole flushed tallies (count window)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.core.breaker.config import BreakerConfig
from chalicelib.core.breaker.outcomes import Outcome

if TYPE_CHECKING:
    from chalicelib.core.breaker.state import BreakerState

Bucket = tuple[float, int, int, int]  # (start epoch s, calls, failures, slow)


@dataclass(frozen=True)
class Tally:
    """Counts of recorded calls: ``calls`` (not ignored), ``failures`` and ``slow`` among them."""

    calls: int = 0
    failures: int = 0
    slow: int = 0

    @classmethod
    def of(cls, outcomes: Iterable[Outcome]) -> Tally:
        tally = cls()
        for outcome in outcomes:
            tally = tally.add(outcome)
        return tally

    @classmethod
    def of_buckets(cls, buckets: Iterable[Bucket]) -> Tally:
        return sum((cls(c, f, s) for _, c, f, s in buckets), cls())

    def add(self, outcome: Outcome) -> Tally:
        if outcome is Outcome.IGNORED:
            return self
        failed = outcome in (Outcome.FAILURE, Outcome.SLOW_FAILURE)
        slow = outcome in (Outcome.SLOW_SUCCESS, Outcome.SLOW_FAILURE)
        return Tally(self.calls + 1, self.failures + failed, self.slow + slow)

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.calls + other.calls, self.failures + other.failures,
                     self.slow + other.slow)

    def __bool__(self) -> bool:
        return self.calls > 0


def merge_buckets(buckets: tuple[Bucket, ...], now: float, tally: Tally,
                  config: BreakerConfig) -> tuple[Bucket, ...]:
    """``tally`` added to the bucket holding ``now``, then the window pruned at ``now``."""
    start = now - (now % config.bucket_s)
    merged = [b for b in buckets if b[0] != start]
    old = next((b for b in buckets if b[0] == start), (start, 0, 0, 0))
    merged.append((start, old[1] + tally.calls, old[2] + tally.failures, old[3] + tally.slow))
    merged.sort()
    if config.window_type == "time":
        horizon = now - config.window_size
        return tuple(b for b in merged if b[0] > horizon)
    total = sum(b[1] for b in merged)
    while len(merged) > 1 and total - merged[0][1] >= config.window_size:
        total -= merged.pop(0)[1]
    return tuple(merged)


def window_rates(state: BreakerState, now: float, config: BreakerConfig) -> dict[str, float]:
    """Current window (pruned at ``now``): ``calls``, ``failures``, ``slow``, rates in %."""
    window = Tally.of_buckets(merge_buckets(state.buckets, now, Tally(), config))
    calls = window.calls
    return {"calls": calls, "failures": window.failures, "slow": window.slow,
            "failure_rate": 100.0 * window.failures / calls if calls else 0.0,
            "slow_call_rate": 100.0 * window.slow / calls if calls else 0.0}

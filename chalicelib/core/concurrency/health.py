"""Health of the concurrency manager: ``healthy`` / ``degraded`` / ``critical`` with reasons.

Inputs are one :class:`HealthInput` snapshot (an adapter fills it from the slot item, queue
depths and the breaker state); :func:`assess` is pure. Thresholds (:class:`HealthThresholds`),
chosen to match the README's alarms (concurrency > 80 % of its limit) and the original
strategy's error threshold (50 %):

=========================== ============ ============
signal                      degraded at  critical at
=========================== ============ ============
slot utilisation (used/lim) > 80 %       >= 100 % with waiters
refusal rate (refused/asks) > 10 %       > 50 %
queue depth / capacity      > 80 %       >= 100 %
circuit breaker             HALF_OPEN    OPEN / FORCED_OPEN
adaptive limit / max limit  < 50 %       --
=========================== ============ ============

The status is the worst signal; ``reasons`` lists every signal past a threshold with its numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

HEALTHY, DEGRADED, CRITICAL = "healthy", "degraded", "critical"
_ORDER = {HEALTHY: 0, DEGRADED: 1, CRITICAL: 2}


@dataclass(frozen=True)
class HealthThresholds:
    """Fractions in [0, 1]."""

    utilisation_degraded: float = 0.8
    refusal_degraded: float = 0.1
    refusal_critical: float = 0.5
    queue_degraded: float = 0.8
    queue_critical: float = 1.0
    limit_degraded: float = 0.5


@dataclass(frozen=True)
class HealthInput:
    """``used`` / ``limit`` / ``max_limit`` slots and ``waiters`` now; ``acquires`` and
    ``refusals`` over the recent window; ``queue_depths`` queue -> visible messages;
    ``queue_capacity`` (the tier's, per queue); ``breaker`` a circuit state name or None."""

    used: int
    limit: int
    max_limit: int
    waiters: int = 0
    acquires: int = 0
    refusals: int = 0
    queue_depths: Mapping[str, int] = field(default_factory=dict)
    queue_capacity: int = 100
    breaker: str | None = None


@dataclass(frozen=True)
class Health:
    """``status`` one of healthy / degraded / critical; ``reasons`` human-readable, with numbers."""

    status: str
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {"status": self.status, "reasons": list(self.reasons)}


def assess(snapshot: HealthInput, thresholds: HealthThresholds = HealthThresholds()) -> Health:
    """The health of ``snapshot`` under ``thresholds``."""
    found: list[tuple[str, str]] = []
    t = thresholds
    if snapshot.limit > 0:
        ratio = snapshot.used / snapshot.limit
        if ratio >= 1 and snapshot.waiters:
            found.append((CRITICAL, f"slots saturated: {snapshot.used}/{snapshot.limit} used, "
                                    f"{snapshot.waiters} waiting"))
        elif ratio > t.utilisation_degraded:
            found.append((DEGRADED, f"slot utilisation {ratio:.0%} > "
                                    f"{t.utilisation_degraded:.0%} of limit {snapshot.limit}"))
    elif snapshot.waiters:
        found.append((CRITICAL, f"slot limit 0 with {snapshot.waiters} waiting"))
    if snapshot.max_limit > 0 and snapshot.limit < t.limit_degraded * snapshot.max_limit:
        found.append((DEGRADED, f"adaptive limit {snapshot.limit} < {t.limit_degraded:.0%} of "
                                f"max {snapshot.max_limit} (database slow or failing)"))
    asks = snapshot.acquires + snapshot.refusals
    if asks:
        rate = snapshot.refusals / asks
        if rate > t.refusal_critical:
            found.append((CRITICAL, f"refusal rate {rate:.0%} > {t.refusal_critical:.0%}"))
        elif rate > t.refusal_degraded:
            found.append((DEGRADED, f"refusal rate {rate:.0%} > {t.refusal_degraded:.0%}"))
    for queue, depth in sorted(snapshot.queue_depths.items()):
        fill = depth / snapshot.queue_capacity
        if fill >= t.queue_critical:
            found.append((CRITICAL, f"queue {queue} depth {depth} >= capacity "
                                    f"{snapshot.queue_capacity}"))
        elif fill > t.queue_degraded:
            found.append((DEGRADED, f"queue {queue} depth {depth} > {t.queue_degraded:.0%} of "
                                    f"capacity {snapshot.queue_capacity}"))
    if snapshot.breaker in ("OPEN", "FORCED_OPEN"):
        found.append((CRITICAL, f"circuit breaker {snapshot.breaker}"))
    elif snapshot.breaker == "HALF_OPEN":
        found.append((DEGRADED, "circuit breaker HALF_OPEN"))
    status = max((level for level, _ in found), key=_ORDER.__getitem__, default=HEALTHY)
    return Health(status, tuple(reason for _, reason in found))

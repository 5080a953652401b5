"""The breaker's states (:class:`CircuitState`) and its whole shared state
(:class:`BreakerState`), with its JSON form (:meth:`BreakerState.to_dict` / ``from_dict``)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from chalicelib.core.breaker.window import Bucket, Tally


class CircuitState(enum.StrEnum):
    """The breaker's states (resilience4j names)."""

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"
    FORCED_OPEN = "FORCED_OPEN"
    FORCED_CLOSED = "FORCED_CLOSED"
    METRICS_ONLY = "METRICS_ONLY"
    DISABLED = "DISABLED"


S = CircuitState
#: States an operator sets (with reason, author and optional expiry); they never trip or probe.
MANUAL_STATES = frozenset({S.FORCED_OPEN, S.FORCED_CLOSED, S.METRICS_ONLY, S.DISABLED})


@dataclass(frozen=True)
class Forced:
    """Who set a manual state, why, when, and until when (None = until changed by hand)."""

    reason: str
    by: str
    at: float
    until: float | None = None


@dataclass(frozen=True)
class BreakerState:
    """The whole shared state of one breaker; JSON-serialisable via :meth:`to_dict`.

    ``open_until`` (epoch s) is set once per trip; ``lease_holder``/``lease_until`` name the one
    half-open prober; ``trip_times`` keeps the last ``trip_history`` trip instants.
    """

    state: CircuitState = S.CLOSED
    buckets: tuple[Bucket, ...] = ()
    open_until: float | None = None
    lease_holder: str | None = None
    lease_until: float | None = None
    half_open_successes: int = 0
    forced: Forced | None = None
    trips: int = 0
    trip_times: tuple[float, ...] = ()
    changed_at: float = 0.0
    consecutive_failures: int = 0
    #: The instance whose clock wrote ``open_until`` (None: a bound, nobody's clock); only it
    #: may half-open without waiting ``BreakerConfig.skew_margin_s`` past ``open_until``.
    opened_by: str | None = None

    def window(self) -> Tally:
        return Tally.of_buckets(self.buckets)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        data["buckets"] = [list(b) for b in self.buckets]
        data["trip_times"] = list(self.trip_times)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> BreakerState:
        if not data:
            return cls()
        forced = data.get("forced")
        return cls(
            state=CircuitState(data.get("state", "CLOSED")),
            buckets=tuple((float(b[0]), int(b[1]), int(b[2]), int(b[3]))
                          for b in data.get("buckets", ())),
            open_until=data.get("open_until"),
            lease_holder=data.get("lease_holder"),
            lease_until=data.get("lease_until"),
            half_open_successes=int(data.get("half_open_successes", 0)),
            forced=Forced(**forced) if forced else None,
            trips=int(data.get("trips", 0)),
            trip_times=tuple(data.get("trip_times", ())),
            changed_at=float(data.get("changed_at", 0.0)),
            consecutive_failures=int(data.get("consecutive_failures", 0)),
            opened_by=data.get("opened_by"),
        )

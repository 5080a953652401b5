"""Operator transitions on a breaker state, pure (no I/O, time passed in): :func:`force` a
manual state, :func:`reset` to CLOSED. Lambda never makes them, so they live with the
operator verbs; :mod:`spillway.ops.breaker` writes them to the shared store by
compare-and-set, with an audit record. The transitions themselves are checked against the
core's table (:data:`chalicelib.core.breaker.TRANSITIONS`)."""

from __future__ import annotations

from chalicelib.core.breaker.events import MANUAL, Event
from chalicelib.core.breaker.state import MANUAL_STATES, BreakerState, CircuitState, Forced
from chalicelib.core.breaker.transitions import IllegalTransition, transition

S = CircuitState


def force(state: BreakerState, to: CircuitState, now: float, *, reason: str, by: str,
          until: float | None = None) -> tuple[BreakerState, list[Event]]:
    """Operator: put the breaker in a manual state (FORCED_OPEN, FORCED_CLOSED, METRICS_ONLY,
    DISABLED) until ``until`` (epoch s; None = until changed by hand). Window kept."""
    if to not in MANUAL_STATES:
        raise IllegalTransition(f"{to.value} is not a manual state")
    new, event = transition(state, to, now, kind=MANUAL,
                            forced=Forced(reason=reason, by=by, at=now, until=until))
    return new, [event]


def reset(state: BreakerState, now: float) -> tuple[BreakerState, list[Event]]:
    """Operator: back to CLOSED with an empty window, from any state."""
    new, event = transition(state, S.CLOSED, now, kind=MANUAL, buckets=())
    return new, [event]

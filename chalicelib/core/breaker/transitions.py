"""The transition table and the transitions: :func:`decide` (may a call go ahead?),
:func:`record` (merge outcomes, maybe trip), :func:`expire` (time alone) and
:func:`transition` (one checked move). Pure; ``now`` is epoch seconds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib.core.breaker.config import DEFAULT_CONFIG, BreakerConfig
from chalicelib.core.breaker.events import (
    AUTO,
    MANUAL,
    CallNotPermitted,
    Event,
    StateTransition,
    Tripped,
)
from chalicelib.core.breaker.outcomes import Outcome
from chalicelib.core.breaker.state import MANUAL_STATES, BreakerState, CircuitState
from chalicelib.core.breaker.window import Tally, merge_buckets
from chalicelib.errors import SpillwayError

S = CircuitState


def _transition_table() -> dict[tuple[CircuitState, CircuitState], str]:
    table = {
        (S.CLOSED, S.OPEN): AUTO,          # failure or slow-call rate crossed its threshold
        (S.OPEN, S.HALF_OPEN): AUTO,       # open period over, a prober won the lease
        (S.HALF_OPEN, S.CLOSED): AUTO,     # permitted_calls_in_half_open probe successes
        (S.HALF_OPEN, S.OPEN): AUTO,       # one probe failure
    }
    for manual in MANUAL_STATES:
        table[(manual, S.CLOSED)] = AUTO  # forced state reached its expiry
    for source in CircuitState:
        for target in (*MANUAL_STATES, S.CLOSED):
            table.setdefault((source, target), MANUAL)  # force / reset by an operator
    return table


#: Every allowed ``(from, to)`` pair and who may make it: ``"auto"`` (the machine) or
#: ``"manual"`` (an operator via :func:`force` / :func:`reset`). OPEN -> CLOSED is manual only:
#: the machine always goes through HALF_OPEN.
TRANSITIONS: dict[tuple[CircuitState, CircuitState], str] = _transition_table()


class IllegalTransition(SpillwayError):
    """A transition not in :data:`TRANSITIONS` (a bug, never a runtime condition)."""


@dataclass(frozen=True)
class Decision:
    """Answer of :func:`decide`. ``retry_after_s`` (seconds) is set when not permitted.
    ``new_state`` is not None when the answer holds only once that state is written by
    compare-and-set (probe lease taken, forced state expired)."""

    permitted: bool
    is_probe: bool = False
    retry_after_s: float = 0.0
    new_state: BreakerState | None = None
    events: tuple[Event, ...] = field(default=())


def transition(state: BreakerState, to: CircuitState, now: float, *, kind: str = AUTO,
               **changes: Any) -> tuple[BreakerState, StateTransition]:
    """Move to ``to`` (checked against :data:`TRANSITIONS`); clears lease and half-open count.
    Raises :class:`IllegalTransition`."""
    allowed = TRANSITIONS.get((state.state, to))
    if allowed is None or (allowed == MANUAL and kind != MANUAL):
        raise IllegalTransition(f"{state.state.value} -> {to.value} ({kind}) is not allowed")
    base = {"lease_holder": None, "lease_until": None, "half_open_successes": 0,
            "opened_by": None, "forced": None, "open_until": None, "changed_at": now, "consecutive_failures": 0}
    new = replace(state, state=to, **{**base, **changes})
    return new, StateTransition(state.state, to, now, kind)


def expire(state: BreakerState, now: float) -> tuple[BreakerState, list[Event]]:
    """Apply time alone: a manual state past its ``until`` reverts to CLOSED (window cleared)."""
    forced = state.forced
    if state.state in MANUAL_STATES and forced and forced.until is not None and now >= forced.until:
        new, event = transition(state, S.CLOSED, now, buckets=())
        return new, [event]
    return state, []


def decide(state: BreakerState, now: float, instance_id: str,
           config: BreakerConfig = DEFAULT_CONFIG) -> Decision:
    """May ``instance_id`` call the dependency at ``now``? See :class:`Decision`."""
    current, events = expire(state, now)
    changed = current if events else None
    st = current.state
    if st in (S.CLOSED, S.FORCED_CLOSED, S.METRICS_ONLY, S.DISABLED):
        return Decision(True, new_state=changed, events=tuple(events))
    if st is S.FORCED_OPEN:
        until = current.forced.until if current.forced else None
        wait = config.wait_in_open_s if until is None else until - now
        return _refuse(current, now, wait, changed, events)
    if st is S.OPEN:
        # open_until is by the clock of the instance that tripped it: that instance may go at
        # open_until, every other one only skew_margin_s later (a clock up to that much fast
        # never half-opens before open_until in real time).
        margin = 0.0 if instance_id == current.opened_by else config.skew_margin_s
        ready_at = (current.open_until or 0.0) + margin
        if now < ready_at:
            return _refuse(current, now, ready_at - now, changed, events)
        new, event = transition(current, S.HALF_OPEN, now, open_until=current.open_until,
                                lease_holder=instance_id, lease_until=now + config.probe_lease_s)
        return Decision(True, is_probe=True, new_state=new, events=(*events, event))
    # HALF_OPEN
    lease_until = current.lease_until or 0.0
    if current.lease_holder == instance_id and now < lease_until:
        return Decision(True, is_probe=True, new_state=changed, events=tuple(events))
    if now < lease_until:
        # The probe usually decides within a few calls: come back soon, not at lease expiry.
        return _refuse(current, now, min(lease_until - now, config.half_open_retry_s),
                       changed, events)
    new = replace(current, lease_holder=instance_id, lease_until=now + config.probe_lease_s,
                  half_open_successes=0)
    return Decision(True, is_probe=True, new_state=new, events=tuple(events))


def _refuse(state: BreakerState, now: float, wait: float, changed: BreakerState | None,
            events: list[Event]) -> Decision:
    wait = max(0.0, wait)
    return Decision(False, retry_after_s=wait, new_state=changed,
                    events=(*events, CallNotPermitted(now, state.state, wait)))


def record(state: BreakerState, now: float, outcomes: Tally | Iterable[Outcome],
           config: BreakerConfig = DEFAULT_CONFIG, *, instance_id: str | None = None,
           probe: bool = False) -> tuple[BreakerState, list[Event]]:
    """Merge outcomes observed up to ``now`` into ``state``.

    CLOSED: added to the window; trips to OPEN (``open_until = now + wait_in_open_s``) when at
    least ``minimum_calls`` are in the window and the failure or slow-call rate reaches its
    threshold, or ``consecutive_failure_threshold`` failures came with no success between. FORCED_CLOSED / METRICS_ONLY: counted, never trip. HALF_OPEN: only outcomes of
    the lease holder's probes count (``probe=True`` and ``instance_id`` is the holder): one
    failure re-opens, ``permitted_calls_in_half_open`` successes close. OPEN, FORCED_OPEN,
    DISABLED, stale probes: ignored.
    """
    tally = outcomes if isinstance(outcomes, Tally) else Tally.of(outcomes)
    state, events = expire(state, now)
    if not tally:
        return state, events
    st = state.state
    if st is S.HALF_OPEN:
        if not probe or instance_id != state.lease_holder:
            return state, events
        if tally.failures:
            new, (trip, move) = _trip(state, now, config, Tripped(now, 100.0, 0.0, tally.calls),
                                      instance_id)
            return new, [*events, trip, move]
        successes = state.half_open_successes + tally.calls
        if successes >= config.permitted_calls_in_half_open:
            new, event = transition(state, S.CLOSED, now, buckets=())
            return new, [*events, event]
        return replace(state, half_open_successes=successes,
                       lease_until=now + config.probe_lease_s), events
    if st not in (S.CLOSED, S.FORCED_CLOSED, S.METRICS_ONLY):
        return state, events
    # Failures with no success flushed in between, by any instance: a sudden outage trips the
    # breaker even when the window is still full of the successes from before it.
    consecutive = 0 if tally.calls > tally.failures else state.consecutive_failures + tally.failures
    state = replace(state, buckets=merge_buckets(state.buckets, now, tally, config),
                    consecutive_failures=consecutive)
    if st is not S.CLOSED:
        return state, events
    window = state.window()
    if window.calls < config.minimum_calls:
        return state, events
    failure_rate = 100.0 * window.failures / window.calls
    slow_rate = 100.0 * window.slow / window.calls
    slow_trips = config.slow_call_rate_threshold < 100 and slow_rate >= config.slow_call_rate_threshold
    consecutive_trips = (config.consecutive_failure_threshold > 0
                         and consecutive >= config.consecutive_failure_threshold)
    if failure_rate >= config.failure_rate_threshold or slow_trips or consecutive_trips:
        new, (trip, move) = _trip(state, now, config,
                                  Tripped(now, failure_rate, slow_rate, window.calls),
                                  instance_id)
        return new, [*events, trip, move]
    return state, events


def _trip(state: BreakerState, now: float, config: BreakerConfig, tripped: Tripped,
          instance_id: str | None) -> tuple[BreakerState, tuple[Tripped, StateTransition]]:
    """Open for ``wait_in_open_s`` from ``now``, recording who wrote ``open_until``.

    A re-open from HALF_OPEN is computed from the stored ``open_until`` as well: the new period
    starts no later than ``open_until + skew_margin_s + probe_lease_s`` (a clock within the
    allowed skew half-opened by then, by the rule of :func:`decide`, and its probe lease ran
    out), so a clock running fast cannot push the new ``open_until`` further. When that bound
    applies the new ``open_until`` is nobody's clock reading (``opened_by`` None): every
    instance then waits the skew margin past it. After an idle open period the bound may lie
    in the past: the next call probes again (one probe per lease)."""
    history = (*state.trip_times, now)[-config.trip_history:] if config.trip_history else ()
    opened_at, opened_by = now, instance_id
    if state.state is S.HALF_OPEN and state.open_until is not None:
        latest = state.open_until + config.skew_margin_s + config.probe_lease_s
        if now > latest:
            opened_at, opened_by = latest, None
    new, move = transition(state, S.OPEN, now, buckets=(),
                           open_until=opened_at + config.wait_in_open_s,
                           trips=state.trips + 1, trip_times=history, opened_by=opened_by)
    return new, (tripped, move)

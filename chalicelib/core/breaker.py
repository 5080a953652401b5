"""Circuit breaker state machine: pure, no I/O, clock passed in (``now`` in epoch seconds).

Semantics follow resilience4j's ``CircuitBreaker`` (states, explicit transition table, sliding
window, failure-rate and slow-call-rate thresholds, minimum number of calls, half-open probes),
made *shareable*: the whole state is one serialisable :class:`BreakerState` that many Lambda
instances read and change by compare-and-set (see :mod:`chalicelib.breaker`).

Two pure functions drive it:

* :func:`decide` -- may a call go ahead now? Returns a :class:`Decision`; when the answer needs a
  state change (OPEN -> HALF_OPEN with a probe lease, a forced state expiring) the decision carries
  the new state, which the caller must write by compare-and-set before acting on it.
* :func:`record` -- merge call outcomes (a :class:`Tally`) into the state; returns the new state
  and the events (:class:`StateTransition`, :class:`Tripped`).

Defaults (:class:`BreakerConfig`) are the original strategy's numbers (DESIGN.md section 2c):
error threshold 50 % over a 60 s window, volume threshold 10 calls, open for 60 s, 3 successes
to close. Slow-call defaults are resilience4j's (60 s); slow-call tripping is off at 100 %.

Clock skew: the OPEN -> HALF_OPEN change needs ``now >= open_until + skew_margin_s`` by the
deciding instance's clock and keeps ``open_until`` unchanged; ``open_until`` is absolute and only
written when the breaker trips. Residual risk: an instance whose clock runs fast by ``d`` seconds
may half-open up to ``d - skew_margin_s`` seconds early (one probe, not a flood: the lease still
admits one prober).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from chalicelib.errors import (
    CircuitOpen,
    ConfigError,
    DependencyError,
    SpillwayError,
)


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

AUTO = "auto"
MANUAL = "manual"


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
class BreakerConfig:
    """Per-dependency settings. Seconds unless named otherwise; rates in percent (0-100].

    ``window_type`` ``"time"``: the window is the last ``window_size`` seconds, kept as buckets of
    ``bucket_s`` seconds (5 s buckets keep a DynamoDB item under 1 KB = 1 write unit); a bucket
    counts while its start is inside the window, so the window spans
    ``window_size - bucket_s`` to ``window_size`` seconds). ``"count"``: the window is about
    the last ``window_size`` calls (whole flushed tallies are dropped oldest-first while at
    least ``window_size`` calls remain).
    ``slow_call_rate_threshold`` 100 means slow calls never trip (off).
    ``consecutive_failure_threshold`` (the original strategy's "failure threshold 5"; 0 = off):
    that many failures flushed by any instances with no success in between also trip it, once
    ``minimum_calls`` are in the window. ``probe_lease_s``: how long
    the half-open prober owns the probe before another instance may take over (its lease renews
    with each probe success). ``half_open_retry_s``: the longest ``retry_after_s`` given to a
    caller refused while another instance probes. ``skew_margin_s``: extra seconds an instance's clock must be past
    ``open_until`` before it may half-open.
    """

    failure_rate_threshold: float = 50.0
    slow_call_rate_threshold: float = 100.0
    slow_call_duration_s: float = 60.0
    window_type: str = "time"
    window_size: int = 60
    bucket_s: float = 5.0
    minimum_calls: int = 10
    consecutive_failure_threshold: int = 5
    wait_in_open_s: float = 60.0
    permitted_calls_in_half_open: int = 3
    probe_lease_s: float = 30.0
    half_open_retry_s: float = 2.0
    skew_margin_s: float = 0.0
    trip_history: int = 10

    def __post_init__(self) -> None:
        checks = {
            "failure_rate_threshold": 0 < self.failure_rate_threshold <= 100,
            "slow_call_rate_threshold": 0 < self.slow_call_rate_threshold <= 100,
            "slow_call_duration_s": self.slow_call_duration_s > 0,
            "window_type": self.window_type in ("time", "count"),
            "window_size": self.window_size >= 1,
            "bucket_s": self.bucket_s > 0,
            "minimum_calls": self.minimum_calls >= 1,
            "consecutive_failure_threshold": self.consecutive_failure_threshold >= 0,
            "wait_in_open_s": self.wait_in_open_s > 0,
            "permitted_calls_in_half_open": self.permitted_calls_in_half_open >= 1,
            "probe_lease_s": self.probe_lease_s > 0,
            "half_open_retry_s": self.half_open_retry_s > 0,
            "skew_margin_s": self.skew_margin_s >= 0,
            "trip_history": self.trip_history >= 0,
        }
        for key, ok in checks.items():
            if not ok:
                raise ConfigError(f"breaker {key} is invalid: {getattr(self, key)!r}")


#: The original strategy's defaults (DESIGN.md section 2c).
DEFAULT_CONFIG = BreakerConfig()


# --- outcomes -------------------------------------------------------------------------------
class Outcome(enum.StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    SLOW_SUCCESS = "slow_success"
    SLOW_FAILURE = "slow_failure"
    IGNORED = "ignored"


def classify(exc: BaseException | None, duration_s: float, config: BreakerConfig) -> Outcome:
    """Classify one call that took ``duration_s`` seconds (``exc`` None: it succeeded).

    Only what says the dependency is unhealthy counts against it: a *retryable*
    :class:`~chalicelib.errors.DependencyError` -- :class:`~chalicelib.errors.Throttled`
    (connection exhaustion, throttling), :class:`~chalicelib.errors.DependencyUnavailable`
    (unreachable, timed out), or a plain ``DependencyError`` with ``retryable`` True -- is a
    FAILURE. Everything else is IGNORED (not counted, neither failure nor success):
    :class:`~chalicelib.errors.CircuitOpen` (the call was not made), non-retryable errors
    (``PermanentDependencyError``, ``DeliveryRejected``, ...: the request was wrong) and any
    other exception (``KeyError``, ``TypeError``, ``ConflictError``, ...: a bug in our code or
    a poison record, which must not open the breaker for everyone). Adapters translate vendor
    errors into ``DependencyError`` subclasses, so an untranslated exception is not evidence of
    an outage. ``duration_s >= slow_call_duration_s`` makes a success or failure slow."""
    slow = duration_s >= config.slow_call_duration_s
    if exc is None:
        return Outcome.SLOW_SUCCESS if slow else Outcome.SUCCESS
    if isinstance(exc, CircuitOpen):
        return Outcome.IGNORED
    if isinstance(exc, DependencyError) and exc.retryable:
        return Outcome.SLOW_FAILURE if slow else Outcome.FAILURE
    return Outcome.IGNORED


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


# --- events ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class StateTransition:
    from_state: CircuitState
    to_state: CircuitState
    at: float
    kind: str = AUTO


@dataclass(frozen=True)
class Tripped:
    """The breaker opened: rates in percent over ``calls`` calls of the window."""

    at: float
    failure_rate: float
    slow_call_rate: float
    calls: int


@dataclass(frozen=True)
class CallNotPermitted:
    at: float
    state: CircuitState
    retry_after_s: float


Event = StateTransition | Tripped | CallNotPermitted


# --- state ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Forced:
    """Who set a manual state, why, when, and until when (None = until changed by hand)."""

    reason: str
    by: str
    at: float
    until: float | None = None


Bucket = tuple[float, int, int, int]  # (start epoch s, calls, failures, slow)


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

    def window(self) -> Tally:
        return sum((Tally(c, f, s) for _, c, f, s in self.buckets), Tally())

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
        )


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


# --- transitions ----------------------------------------------------------------------------
def transition(state: BreakerState, to: CircuitState, now: float, *, kind: str = AUTO,
               **changes: Any) -> tuple[BreakerState, StateTransition]:
    """Move to ``to`` (checked against :data:`TRANSITIONS`); clears lease and half-open count.
    Raises :class:`IllegalTransition`."""
    allowed = TRANSITIONS.get((state.state, to))
    if allowed is None or (allowed == MANUAL and kind != MANUAL):
        raise IllegalTransition(f"{state.state.value} -> {to.value} ({kind}) is not allowed")
    base = {"lease_holder": None, "lease_until": None, "half_open_successes": 0,
            "forced": None, "open_until": None, "changed_at": now, "consecutive_failures": 0}
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
        ready_at = (current.open_until or 0.0) + config.skew_margin_s
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
            new, (trip, move) = _trip(state, now, config, Tripped(now, 100.0, 0.0, tally.calls))
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
    state = replace(state, buckets=_merge(state.buckets, now, tally, config),
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
                                  Tripped(now, failure_rate, slow_rate, window.calls))
        return new, [*events, trip, move]
    return state, events


def _trip(state: BreakerState, now: float, config: BreakerConfig,
          tripped: Tripped) -> tuple[BreakerState, tuple[Tripped, StateTransition]]:
    history = (*state.trip_times, now)[-config.trip_history:] if config.trip_history else ()
    new, move = transition(state, S.OPEN, now, buckets=(), open_until=now + config.wait_in_open_s,
                           trips=state.trips + 1, trip_times=history)
    return new, (tripped, move)


def _merge(buckets: tuple[Bucket, ...], now: float, tally: Tally,
           config: BreakerConfig) -> tuple[Bucket, ...]:
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
    pruned = _merge(state.buckets, now, Tally(), config)
    window = BreakerState(buckets=pruned).window()
    calls = window.calls
    return {"calls": calls, "failures": window.failures, "slow": window.slow,
            "failure_rate": 100.0 * window.failures / calls if calls else 0.0,
            "slow_call_rate": 100.0 * window.slow / calls if calls else 0.0}


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

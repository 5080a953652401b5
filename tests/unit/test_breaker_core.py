"""Unit tests of the pure breaker state machine: each transition, with explicit times."""

from __future__ import annotations

import pytest

from chalicelib.core.breaker import (
    TRANSITIONS,
    BreakerConfig,
    BreakerState,
    CallNotPermitted,
    CircuitState,
    IllegalTransition,
    Outcome,
    StateTransition,
    Tally,
    Tripped,
    classify_outcome,
    decide,
    expire,
    record,
    transition,
    window_rates,
)
from chalicelib.errors import (
    CircuitOpen,
    ConfigError,
    ConflictError,
    DependencyError,
    DependencyUnavailable,
    MalformedPayload,
    PermanentDependencyError,
    SignatureInvalid,
    Throttled,
)
from spillway.ops.breaker_manual import force, reset

S = CircuitState
CFG = BreakerConfig()
T0 = 1_000_000.0


def tripped_state(at: float = T0) -> BreakerState:
    state, _ = record(BreakerState(), at, Tally(10, 5, 0), CFG)
    assert state.state is S.OPEN
    return state


def half_open(holder: str = "a", at: float | None = None) -> BreakerState:
    opened = tripped_state()
    decision = decide(opened, at or opened.open_until, holder, CFG)
    assert decision.permitted and decision.is_probe
    return decision.new_state


def test_defaults_are_the_original_strategy():
    assert (CFG.failure_rate_threshold, CFG.window_size, CFG.minimum_calls, CFG.wait_in_open_s,
            CFG.permitted_calls_in_half_open) == (50.0, 60, 10, 60.0, 3)


@pytest.mark.parametrize("key,value", [("failure_rate_threshold", 0), ("window_type", "x"),
                                       ("minimum_calls", 0), ("wait_in_open_s", -1)])
def test_invalid_config_names_the_key(key, value):
    with pytest.raises(ConfigError, match=key):
        BreakerConfig(**{key: value})


def test_closed_permits_and_stays_closed_below_threshold():
    state, events = record(BreakerState(), T0, Tally(20, 9, 0), CFG)
    assert state.state is S.CLOSED and events == []
    assert decide(state, T0, "a", CFG).permitted


def test_closed_to_open_at_failure_rate_threshold():
    state, events = record(BreakerState(), T0, Tally(10, 5, 0), CFG)
    assert state.state is S.OPEN
    assert state.open_until == T0 + 60 and state.trips == 1 and state.trip_times == (T0,)
    assert isinstance(events[0], Tripped) and events[0].failure_rate == 50.0
    assert events[1] == StateTransition(S.CLOSED, S.OPEN, T0)


def test_no_trip_below_minimum_calls():
    state, _ = record(BreakerState(), T0, Tally(9, 9, 0), CFG)
    assert state.state is S.CLOSED


def test_slow_call_rate_trips_only_when_enabled():
    slow = Tally(10, 0, 10)
    assert record(BreakerState(), T0, slow, CFG)[0].state is S.CLOSED
    cfg = BreakerConfig(slow_call_rate_threshold=80, slow_call_duration_s=2)
    assert record(BreakerState(), T0, slow, cfg)[0].state is S.OPEN


def test_time_window_forgets_old_buckets():
    state, _ = record(BreakerState(), T0, Tally(9, 9, 0), CFG)
    state, _ = record(state, T0 + 61, Tally(1, 1, 0), CFG)
    assert state.state is S.CLOSED and state.window() == Tally(1, 1, 0)
    assert window_rates(state, T0 + 200, CFG)["calls"] == 0


def test_count_window_keeps_about_the_last_n_calls():
    cfg = BreakerConfig(window_type="count", window_size=10)
    state = BreakerState()
    for i in range(5):
        state, _ = record(state, T0 + i * 10, Tally(5, 0, 0), cfg)
    assert 10 <= state.window().calls < 15
    state, _ = record(state, T0 + 100, Tally(5, 5, 0), cfg)
    assert state.state is S.OPEN


def test_open_refuses_until_open_until_with_retry_after():
    state = tripped_state()
    decision = decide(state, T0 + 20, "a", CFG)
    assert not decision.permitted and decision.retry_after_s == pytest.approx(40)
    assert isinstance(decision.events[0], CallNotPermitted) and decision.new_state is None


def test_open_to_half_open_keeps_open_until_and_takes_lease():
    state = tripped_state()
    decision = decide(state, T0 + 60, "a", CFG)
    new = decision.new_state
    assert new.state is S.HALF_OPEN and new.open_until == state.open_until
    assert (new.lease_holder, new.lease_until) == ("a", T0 + 60 + CFG.probe_lease_s)
    assert decision.events == (StateTransition(S.OPEN, S.HALF_OPEN, T0 + 60),)


def test_skew_margin_delays_half_open():
    cfg = BreakerConfig(skew_margin_s=2)
    state = tripped_state()
    assert not decide(state, T0 + 61, "a", cfg).permitted
    assert decide(state, T0 + 62, "a", cfg).permitted


def test_half_open_one_prober_others_refused_until_lease_expires():
    state = half_open("a")
    assert decide(state, T0 + 61, "a", CFG).is_probe
    other = decide(state, T0 + 61, "b", CFG)
    # refused for the whole lease, but told to come back within half_open_retry_s (the probe
    # usually decides long before its 30 s lease runs out)
    assert not other.permitted and other.retry_after_s == pytest.approx(CFG.half_open_retry_s)
    assert not decide(state, T0 + 60 + CFG.probe_lease_s - 0.5, "b", CFG).permitted
    takeover = decide(state, T0 + 60 + CFG.probe_lease_s, "b", CFG)
    assert takeover.is_probe and takeover.new_state.lease_holder == "b"


def test_half_open_closes_after_n_probe_successes():
    state = half_open("a")
    for i in range(2):
        state, events = record(state, T0 + 61 + i, [Outcome.SUCCESS], CFG, instance_id="a",
                               probe=True)
        assert state.state is S.HALF_OPEN and events == []
    state, events = record(state, T0 + 63, [Outcome.SUCCESS], CFG, instance_id="a", probe=True)
    assert state.state is S.CLOSED and events == [StateTransition(S.HALF_OPEN, S.CLOSED, T0 + 63)]
    assert state.open_until is None and state.lease_holder is None and state.window() == Tally()


def test_half_open_failure_reopens_with_new_open_until():
    state = half_open("a")
    state, events = record(state, T0 + 61, [Outcome.FAILURE], CFG, instance_id="a", probe=True)
    assert state.state is S.OPEN and state.open_until == T0 + 121 and state.trips == 2
    assert events[-1] == StateTransition(S.HALF_OPEN, S.OPEN, T0 + 61)


def test_half_open_ignores_non_probe_and_stale_prober_outcomes():
    state = half_open("a")
    assert record(state, T0 + 61, [Outcome.FAILURE], CFG, instance_id="a")[0] == state
    assert record(state, T0 + 61, [Outcome.FAILURE], CFG, instance_id="b", probe=True)[0] == state


def test_open_ignores_outcomes_of_calls_started_before_the_trip():
    state = tripped_state()
    assert record(state, T0 + 1, Tally(100, 0, 0), CFG)[0] == state


@pytest.mark.parametrize("to,permitted", [(S.FORCED_OPEN, False), (S.FORCED_CLOSED, True),
                                          (S.METRICS_ONLY, True), (S.DISABLED, True)])
def test_forced_states_hold_then_revert_to_closed(to, permitted):
    state, events = force(BreakerState(), to, T0, reason="maintenance", by="ops", until=T0 + 30)
    assert events == [StateTransition(S.CLOSED, to, T0, "manual")]
    assert state.forced.reason == "maintenance" and state.forced.by == "ops"
    assert decide(state, T0 + 29, "a", CFG).permitted is permitted
    state, _ = record(state, T0 + 29, Tally(100, 100, 0), CFG)
    assert state.state is to
    decision = decide(state, T0 + 30, "a", CFG)
    assert decision.permitted and decision.new_state.state is S.CLOSED
    assert decision.events[0] == StateTransition(to, S.CLOSED, T0 + 30)


def test_forced_without_until_holds_forever_and_counts_metrics_only_calls():
    state, _ = force(BreakerState(), S.METRICS_ONLY, T0, reason="r", by="b")
    state, _ = record(state, T0 + 10**6, Tally(50, 50, 0), CFG)
    assert state.state is S.METRICS_ONLY and state.window().failures == 50
    assert expire(state, T0 + 10**7)[0] == state


def test_reset_is_manual_and_the_only_way_from_open_to_closed():
    assert TRANSITIONS[(S.OPEN, S.CLOSED)] == "manual"
    with pytest.raises(IllegalTransition):
        transition(tripped_state(), S.CLOSED, T0)
    state, events = reset(tripped_state(), T0 + 1)
    assert state.state is S.CLOSED and events[0].kind == "manual"


def test_force_rejects_automatic_states():
    with pytest.raises(IllegalTransition):
        force(BreakerState(), S.OPEN, T0, reason="r", by="b")


def test_serialisation_round_trip():
    state, _ = force(half_open("a"), S.FORCED_OPEN, T0 + 70, reason="r", by="b", until=T0 + 90)
    assert BreakerState.from_dict(state.to_dict()) == state
    assert BreakerState.from_dict(None) == BreakerState()


@pytest.mark.parametrize("exc,outcome", [
    (None, Outcome.SUCCESS),
    (Throttled("too many connections"), Outcome.FAILURE),
    (DependencyUnavailable("timeout"), Outcome.FAILURE),
    (DependencyError("queue 5xx"), Outcome.FAILURE),
    # not a (retryable) dependency error: a bug or a poison record says nothing about the
    # dependency's health (old spec: unknown exceptions counted as failures)
    (OSError("reset"), Outcome.IGNORED),
    (KeyError("number"), Outcome.IGNORED),
    (TypeError("NoneType"), Outcome.IGNORED),
    (SignatureInvalid("bad"), Outcome.IGNORED),
    (MalformedPayload("bad"), Outcome.IGNORED),
    (PermanentDependencyError("constraint"), Outcome.IGNORED),
    (ConflictError("lost race"), Outcome.IGNORED),
    (CircuitOpen("postgres", 3), Outcome.IGNORED),
])
def test_classify(exc, outcome):
    assert classify_outcome(exc, 0.1, CFG) is outcome


def test_classify_slow():
    cfg = BreakerConfig(slow_call_duration_s=2)
    assert classify_outcome(None, 2.0, cfg) is Outcome.SLOW_SUCCESS
    assert classify_outcome(Throttled("x"), 5.0, cfg) is Outcome.SLOW_FAILURE
    assert classify_outcome(KeyError("x"), 5.0, cfg) is Outcome.IGNORED
    assert classify_outcome(PermanentDependencyError("x"), 5.0, cfg) is Outcome.IGNORED
    assert Tally.of([Outcome.SLOW_FAILURE, Outcome.IGNORED, Outcome.SUCCESS]) == Tally(2, 1, 1)


# --- consecutive failures (the original strategy's "failure threshold 5") ------------------
def _after_healthy_minute() -> BreakerState:
    state, _ = record(BreakerState(), T0, Tally(calls=100, failures=0, slow=0), CFG)
    return state


def test_consecutive_failures_trip_a_window_full_of_earlier_successes():
    state = _after_healthy_minute()
    for i in range(CFG.consecutive_failure_threshold - 1):
        state, _ = record(state, T0 + 1 + i, Tally(calls=1, failures=1, slow=0), CFG)
        assert state.state is S.CLOSED  # 1..4 failures among 100 successes: rate far below 50 %
    state, events = record(state, T0 + 10, Tally(calls=1, failures=1, slow=0), CFG)
    assert state.state is S.OPEN
    assert any(isinstance(e, Tripped) for e in events)


def test_a_success_between_failures_resets_the_consecutive_count():
    state = _after_healthy_minute()
    state, _ = record(state, T0 + 1, Tally(calls=4, failures=4, slow=0), CFG)
    state, _ = record(state, T0 + 2, Tally(calls=1, failures=0, slow=0), CFG)
    assert state.consecutive_failures == 0
    state, _ = record(state, T0 + 3, Tally(calls=4, failures=4, slow=0), CFG)
    assert state.state is S.CLOSED


def test_consecutive_rule_can_be_switched_off():
    cfg = BreakerConfig(consecutive_failure_threshold=0)
    state, _ = record(BreakerState(), T0, Tally(calls=100, failures=0, slow=0), cfg)
    state, _ = record(state, T0 + 1, Tally(calls=20, failures=20, slow=0), cfg)
    assert state.state is S.CLOSED


def test_callers_refused_while_another_instance_probes_are_told_to_come_back_soon():
    cfg = BreakerConfig(probe_lease_s=30.0, half_open_retry_s=2.0)
    opened = BreakerState(state=S.OPEN, open_until=T0)
    probe = decide(opened, T0 + 1, "prober", cfg)
    assert probe.permitted and probe.is_probe
    other = decide(probe.new_state, T0 + 1.5, "other", cfg)
    assert not other.permitted
    assert other.retry_after_s == 2.0  # not the 29.5 s left on the prober's lease

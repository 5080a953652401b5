"""Property tests of the pure breaker state machine with a fake clock (hypothesis).

Several instances act on one linearised state (as compare-and-set makes them): they ask
:func:`decide`, write what it says, and :func:`record` outcomes, while time advances.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.core.breaker import (
    AUTO,
    MANUAL_STATES,
    TRANSITIONS,
    BreakerConfig,
    BreakerState,
    CircuitState,
    Outcome,
    StateTransition,
    Tally,
    Tripped,
    classify_outcome,
    decide,
    record,
)
from chalicelib.errors import (
    DeliveryRejected,
    DependencyUnavailable,
    MalformedPayload,
    PermanentDependencyError,
    SignatureInvalid,
)
from spillway.ops.breaker_manual import force

S = CircuitState
CFG = BreakerConfig(wait_in_open_s=10, probe_lease_s=3, minimum_calls=5, window_size=30)
INSTANCES = ["a", "b", "c"]

ops = st.lists(st.one_of(
    st.tuples(st.just("tick"), st.floats(0, 8)),
    st.tuples(st.just("call"), st.sampled_from(INSTANCES), st.sampled_from(list(Outcome))),
    st.tuples(st.just("batch"), st.sampled_from(INSTANCES), st.integers(0, 12),
              st.integers(0, 12)),
), max_size=80)


class World:
    """One shared state, a fake clock, and the transitions seen."""

    def __init__(self, config: BreakerConfig = CFG):
        self.config = config
        self.state = BreakerState()
        self.now = 1_000.0
        self.events: list = []

    def apply(self, new: BreakerState | None, events) -> None:
        if new is not None:
            self.state = new
        self.events.extend(events)

    def run(self, op) -> None:
        if op[0] == "tick":
            self.now += op[1]
        elif op[0] == "call":
            _, who, outcome = op
            before = self.state
            decision = decide(before, self.now, who, self.config)
            self.apply(decision.new_state, decision.events)
            if not decision.permitted:
                return
            if decision.is_probe:
                self.check_single_prober(before, who)
            self.apply(*record(self.state, self.now, [outcome], self.config, instance_id=who,
                               probe=decision.is_probe))
        else:
            _, who, ok, bad = op
            self.apply(*record(self.state, self.now, Tally(ok + bad, bad, 0), self.config,
                               instance_id=who))

    def check_single_prober(self, before: BreakerState, who: str) -> None:
        holder, until = before.lease_holder, before.lease_until
        if before.state is S.HALF_OPEN and holder != who:
            assert until is not None and until <= self.now, "two probers at once"
        assert self.state.lease_holder == who

    @classmethod
    def play(cls, script) -> World:
        world = cls()
        for op in script:
            world.run(op)
        return world

    def transitions(self) -> list[StateTransition]:
        return [e for e in self.events if isinstance(e, StateTransition)]


@settings(max_examples=300, deadline=None)
@given(ops)
def test_automatic_transitions_follow_the_table_and_never_skip_half_open(script):
    world = World.play(script)
    for move in world.transitions():
        assert TRANSITIONS.get((move.from_state, move.to_state)) == AUTO
        assert (move.from_state, move.to_state) != (S.OPEN, S.CLOSED)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_never_two_probers_and_probes_only_after_open_period(script):
    world = World()
    last_open_until = None
    for op in script:
        if world.state.state is S.OPEN:
            last_open_until = world.state.open_until
        world.run(op)
        if world.state.state is S.HALF_OPEN:
            assert world.now >= last_open_until
            assert world.state.open_until == last_open_until


@settings(max_examples=300, deadline=None)
@given(ops)
def test_no_trip_below_minimum_calls(script):
    world = World.play(script)
    trips = 0
    for event, following in zip(world.events, world.events[1:], strict=False):
        if isinstance(event, Tripped) and following.from_state is S.CLOSED:
            assert event.calls >= CFG.minimum_calls
            trips += 1
    assert trips == sum(1 for m in world.transitions() if m.from_state is S.CLOSED)


client_errors = st.sampled_from([SignatureInvalid("s"), MalformedPayload("m"),
                                 PermanentDependencyError("p"), DeliveryRejected("d")])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), client_errors), max_size=200), st.floats(0, 0.5))
def test_client_errors_never_trip(errors, step):
    world = World()
    for exc in errors:
        world.now += step
        world.run(("call", "a", classify_outcome(exc, 0.01, CFG)))
        assert world.state.state is S.CLOSED


bugs = st.sampled_from([KeyError("number"), TypeError("unhashable"), ValueError("bad"),
                        AttributeError("none"), IndexError("empty"), OSError("reset")])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), bugs), max_size=200), st.floats(0, 0.5),
       st.floats(0, 120))
def test_unknown_exceptions_never_trip(errors, step, duration):
    """A code bug or a poison record (KeyError, TypeError, ...) is ignored by the breaker,
    however many and however slow: only retryable dependency errors count as failures."""
    world = World()
    for exc in errors:
        world.now += step
        outcome = classify_outcome(exc, duration, CFG)
        assert exc is None or outcome is Outcome.IGNORED
        world.run(("call", "a", outcome))
        assert world.state.state is S.CLOSED


@settings(max_examples=100, deadline=None)
@given(st.lists(bugs, max_size=50), st.floats(0, 0.5))
def test_dependency_unavailable_still_trips(noise, step):
    """Ignored bugs in between do not dilute or reset the count: minimum_calls
    DependencyUnavailable failures in a row open the breaker."""
    world = World()
    failures = [DependencyUnavailable("db down")] * CFG.minimum_calls
    for exc in [*noise, *failures]:
        world.now += step
        world.run(("call", "a", classify_outcome(exc, 0.01, CFG)))
    assert world.state.state is S.OPEN


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(MANUAL_STATES)), st.floats(1, 100), ops)
def test_forced_states_hold_until_expiry_then_revert(target, duration, script):
    world = World()
    world.apply(*force(world.state, target, world.now, reason="drill", by="ops",
                       until=world.now + duration))
    until = world.now + duration
    for op in script:
        if op[0] == "tick" and world.now + op[1] >= until:
            continue
        world.run(op)
        assert world.state.state is target
        if op[0] == "call":
            permitted = decide(world.state, world.now, op[1], CFG).permitted
            assert permitted is (target is not S.FORCED_OPEN)
    world.now = until
    decision = decide(world.state, world.now, "a", CFG)
    assert decision.permitted and decision.new_state.state is S.CLOSED

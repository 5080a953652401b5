"""Adaptive slot limit with a fake clock: falls on slow or failed calls, recovers, stays in
bounds; folded into the slot item by the manager without extra requests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.core.concurrency.limit import (
    Aimd,
    Bounds,
    Gradient2,
    LimitState,
    Sample,
    sample_from_counters,
)
from chalicelib.core.concurrency.manager import adapt, decide, for_plan
from chalicelib.core.concurrency.plan import build_plan
from chalicelib.core.concurrency.slots import Granted, SlotState, acquire, release

BOUNDS = Bounds(min_limit=3, max_limit=20)


def feed(algorithm, state, samples, start=0.0, step=1.0):
    now = start
    for sample in samples:
        state = algorithm.update(state, sample, now, BOUNDS)
        now += step
    return state


@pytest.mark.parametrize("algorithm", [Aimd(), Gradient2()], ids=["aimd", "gradient2"])
def test_failures_lower_the_limit_and_health_brings_it_back(algorithm):
    state = LimitState(limit=20.0)
    failing = feed(algorithm, state, [Sample(0.05, False, 20)] * 5)
    assert failing.limit < 20 * 0.9 ** 4  # one decrease per second
    recovered = feed(algorithm, failing, [Sample(0.05, True, 20)] * 200, start=10.0)
    assert recovered.limit == 20.0


def test_aimd_backs_off_on_slow_calls_and_adds_one_per_healthy_call():
    aimd = Aimd(timeout_s=1.0)
    slow = aimd.update(LimitState(limit=10.0), Sample(1.5, True, 10), 0.0, BOUNDS)
    assert slow.limit == pytest.approx(9.0)
    healthy = aimd.update(slow, Sample(0.1, True, 9), 1.0, BOUNDS)
    assert healthy.limit == pytest.approx(10.0)


def test_aimd_decreases_once_per_cooldown_as_batches_report_together():
    aimd = Aimd(decrease_cooldown_s=1.0)
    state = LimitState(limit=10.0)
    for _ in range(5):
        state = aimd.update(state, Sample(0.1, False, 10), 100.0, BOUNDS)
    assert state.limit == pytest.approx(9.0)


def test_an_app_limited_limit_does_not_grow():
    for algorithm in (Aimd(), Gradient2()):
        state = feed(algorithm, LimitState(limit=8.0), [Sample(0.05, True, 1)] * 50)
        assert state.limit == 8.0


def test_gradient2_falls_when_latency_rises_against_the_long_term_rtt():
    g2 = Gradient2()
    steady = feed(g2, LimitState(limit=20.0), [Sample(0.02, True, 20)] * 100)
    assert steady.limit == 20.0
    spiked = feed(g2, steady, [Sample(0.2, True, 20)] * 10, start=200.0)
    assert spiked.limit < 14  # from 20, in ten samples
    calm = feed(g2, spiked, [Sample(0.02, True, 20)] * 200, start=300.0)
    assert calm.limit == 20.0


samples = st.lists(st.builds(Sample, latency_s=st.floats(0.0, 30.0), ok=st.booleans(),
                             inflight=st.integers(0, 40)), max_size=80)


@settings(max_examples=200, deadline=None)
@given(seq=samples, start=st.floats(3.0, 20.0), step=st.floats(0.0, 5.0),
       use_gradient=st.booleans())
def test_the_limit_never_leaves_its_bounds(seq, start, step, use_gradient):
    algorithm = Gradient2() if use_gradient else Aimd()
    state = LimitState(limit=start)
    now = 0.0
    for sample in seq:
        state = algorithm.update(state, sample, now, BOUNDS)
        assert BOUNDS.min_limit <= state.limit <= BOUNDS.max_limit
        now += step


def test_state_round_trips_and_counters_aggregate():
    state = LimitState(limit=7.5, long_rtt_s=0.03, last_decrease_at=12.0)
    assert LimitState.from_dict(state.to_dict(), initial=1.0) == state
    assert LimitState.from_dict(LimitState(4.0).to_dict(), initial=1.0) == LimitState(4.0)
    assert sample_from_counters(0, 0.0, 0, 3) is None
    assert sample_from_counters(4, 2.0, 1, 3) == Sample(0.5, False, 3)
    with pytest.raises(ValueError):
        Bounds(5, 4)


def test_released_failures_lower_the_shared_limit_at_the_next_acquire():
    plan = build_plan("free")
    bounds = Bounds(plan.slot_min_limit, plan.slot_max_limit)
    state = SlotState(limit=bounds.max_limit)
    for i in range(bounds.max_limit):
        state = acquire(state, f"b{i}", "high", 1, 0.0, 35.0).state
    state = release(state, "b0", 1.0, samples=10, latency_s=1.0, failures=3)
    result = decide(state, "next", "high", 1, 2.0, 35.0, Aimd(), bounds)
    assert result.state.limit == int(bounds.max_limit * 0.9)
    assert (result.state.samples, result.state.failures) == (0, 0)
    assert result.state.version == state.version + 1
    assert adapt(result.state, 3.0, Aimd(), bounds).limit == result.state.limit  # no samples


def test_the_limit_recovers_through_the_slot_item():
    bounds = Bounds(6, 10)
    state = SlotState(limit=10)
    for i in range(5):  # long batches keep the limit in use (inflight * 2 >= limit)
        state = acquire(state, f"long{i}", "high", 1, 0.0, 10_000.0).state
    now, lowest = 0.0, 10
    for round_ in range(40):
        result = decide(state, f"b{round_}", "high", 1, now, 35.0, Aimd(), bounds)
        assert isinstance(result, Granted)
        lowest = min(lowest, result.state.limit)
        state = release(result.state, f"b{round_}", now + 0.5, samples=1, latency_s=0.01,
                        failures=int(round_ < 5))
        now += 2.0
    assert lowest == 6  # 10 * 0.9 ** k, floored at the bound's minimum 6
    assert state.limit == 10


def test_for_plan_bounds_the_limit_by_the_tier_budget():
    for tier, maximum in (("free", 15), ("pro", 50), ("enterprise", 92)):
        bounds, config = for_plan(build_plan(tier))
        assert (bounds.min_limit, bounds.max_limit) == (3, maximum)
        assert config.shares == {"high": 0.5, "medium": 0.3, "low": 0.2}

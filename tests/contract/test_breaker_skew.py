"""Clock skew (issue 8 item 4), on every state store (memory, moto DynamoDB, PostgreSQL):
with one instance's clock 90 s ahead and the allowed skew (``skew_margin_s``) at 90 s, the
breaker neither half-opens before the stored ``open_until`` (in real time, the fake clock's)
nor pushes ``open_until`` past the open duration plus the allowed skew."""

from __future__ import annotations

import pytest

from chalicelib.core.breaker import BreakerConfig
from chalicelib.errors import CircuitOpen, DependencyUnavailable
from spillway.ops.breaker import status
from tests.contract.test_breaker_store import clock, fail, make, store  # noqa: F401 (fixtures)

SKEW_S = 90.0
CFG = BreakerConfig(wait_in_open_s=60, minimum_calls=10, probe_lease_s=30, skew_margin_s=SKEW_S)


def open_until(store) -> float:  # noqa: F811 -- the store fixture's value
    state = status(store, "postgres")
    assert state["state"] == "OPEN"
    return state["open_until"]


def test_a_fast_clock_never_half_opens_early_nor_extends_open_until(store, clock):  # noqa: F811
    tripper = make(store, clock, "tripper", config=CFG)
    fail(tripper, CFG.minimum_calls)
    first = open_until(store)
    fast = make(store, clock, "fast", skew=+SKEW_S, config=CFG)
    for step in (1.0, 29.0, 29.9):  # real time 1 s, 30 s, 59.9 s after the trip
        clock.advance(step)
        with pytest.raises(CircuitOpen):
            fast.try_acquire()  # by its own clock open_until passed long ago
        assert open_until(store) == first  # nor did the refusal move it
    clock.advance(first - clock())  # real time reaches the stored open_until
    permit = fast.try_acquire()
    assert permit.is_probe and clock() >= first
    permit.failure(DependencyUnavailable("still down"), 0.01)
    reopened = open_until(store)
    assert reopened <= clock() + CFG.wait_in_open_s + SKEW_S  # open duration + allowed skew
    # the instance that wrote the new open_until probes again after wait_in_open_s of real
    # time (its own clock is the one open_until is in), not before
    clock.advance(CFG.wait_in_open_s - 0.1)
    with pytest.raises(CircuitOpen):
        fast.try_acquire()
    clock.advance(0.1)
    assert fast.try_acquire().is_probe


def test_the_tripping_instance_probes_at_open_until_others_after_the_margin(store, clock):  # noqa: F811
    tripper = make(store, clock, "tripper", config=CFG)
    other = make(store, clock, "other", config=CFG)
    fail(tripper, CFG.minimum_calls)
    first = open_until(store)
    clock.advance(first - clock())
    with pytest.raises(CircuitOpen) as refused:
        other.try_acquire()
    assert refused.value.retry_after_s == pytest.approx(SKEW_S)
    assert tripper.try_acquire().is_probe


def test_a_late_probe_failure_reopens_from_the_stored_open_until(store, clock):  # noqa: F811
    """A fast prober that half-opens long after open_until (by its clock) cannot push the new
    open_until beyond open_until + margin + probe lease + open duration."""
    tripper = make(store, clock, "tripper", config=CFG)
    fail(tripper, CFG.minimum_calls)
    first = open_until(store)
    clock.advance(first - clock() + 200)  # nobody called for a while
    late = make(store, clock, "late", skew=+SKEW_S, config=CFG)
    late.try_acquire().failure(DependencyUnavailable("still down"), 0.01)
    assert open_until(store) == pytest.approx(
        first + SKEW_S + CFG.probe_lease_s + CFG.wait_in_open_s)

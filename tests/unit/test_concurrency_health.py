"""Health status transitions with their reasons."""

from __future__ import annotations

from chalicelib.core.concurrency.health import CRITICAL, DEGRADED, HEALTHY, HealthInput, assess
from chalicelib.core.concurrency.plan import build_plan

PLAN = build_plan("free")
BASE = dict(limit=PLAN.slot_max_limit, max_limit=PLAN.slot_max_limit,
            queue_capacity=PLAN.queue_capacity)


def test_a_day_of_load_goes_healthy_degraded_critical_and_back():
    quiet = assess(HealthInput(used=3, **BASE))
    busy = assess(HealthInput(used=13, acquires=100, refusals=2, **BASE))
    saturated = assess(HealthInput(used=15, waiters=4, acquires=40, refusals=60,
                                   queue_depths={"low": 120, "high": 10}, **BASE))
    drained = assess(HealthInput(used=2, acquires=100, **BASE))
    assert [h.status for h in (quiet, busy, saturated, drained)] == [
        HEALTHY, DEGRADED, CRITICAL, HEALTHY]
    assert quiet.reasons == () and drained.reasons == ()
    assert busy.reasons == ("slot utilisation 87% > 80% of limit 15",)
    assert saturated.reasons == ("slots saturated: 15/15 used, 4 waiting",
                                 "refusal rate 60% > 50%",
                                 "queue low depth 120 >= capacity 100")


def test_each_signal_degrades_on_its_own():
    cases = {
        "refusal rate 20% > 10%": HealthInput(used=0, acquires=80, refusals=20, **BASE),
        "queue high depth 90 > 80% of capacity 100": HealthInput(
            used=0, queue_depths={"high": 90}, **BASE),
        "circuit breaker HALF_OPEN": HealthInput(used=0, breaker="HALF_OPEN", **BASE),
        "adaptive limit 5 < 50% of max 15 (database slow or failing)": HealthInput(
            used=0, limit=5, max_limit=15, queue_capacity=100),
    }
    for reason, snapshot in cases.items():
        health = assess(snapshot)
        assert (health.status, health.reasons) == (DEGRADED, (reason,))


def test_an_open_breaker_is_critical_and_the_worst_signal_wins():
    health = assess(HealthInput(used=13, breaker="OPEN", **BASE))
    assert health.status == CRITICAL
    assert health.to_dict() == {"status": "critical", "reasons": [
        "slot utilisation 87% > 80% of limit 15", "circuit breaker OPEN"]}
    assert assess(HealthInput(used=0, breaker="CLOSED", **BASE)).status == HEALTHY

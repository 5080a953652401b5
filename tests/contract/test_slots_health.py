"""``spillway.ops.health``: the operators' slot status and health, read back from every state
store after real acquires (fake clock)."""

from __future__ import annotations

from chalicelib.shared_slots import SlotLease, SlotWait
from spillway.ops.health import health, slots_status
from tests.contract.conftest import FakeClock
from tests.contract.test_slots_store import pool, take


def test_slots_status_reports_leases_waiters_and_drops_expired_ones(state_backend):
    clock = FakeClock()
    assert slots_status(state_backend.port, "postgres", max_limit=3)[0]["exists"] is False
    slots = pool(state_backend.port, clock, max_limit=3)
    take(slots, "high", 2)
    take(slots, "low", 1)
    assert isinstance(slots.acquire("late", "medium"), SlotWait)
    clock.advance(5)
    (status,) = slots_status(state_backend.port, max_limit=3, clock=clock)
    assert status["name"] == "postgres" and status["exists"]
    assert (status["limit"], status["in_use"], status["waiters"]) == (3, 3, 1)
    assert status["in_use_by_priority"] == {"high": 2, "medium": 0, "low": 1}
    assert status["waiters_by_priority"]["medium"] == 1
    assert status["oldest_lease_s"] == 5.0
    clock.advance(100)  # every lease and the waiter expired: their holders died
    (status,) = slots_status(state_backend.port, "postgres", clock=clock)
    assert (status["in_use"], status["waiters"]) == (0, 0)


def test_health_goes_from_healthy_to_critical_with_reasons(state_backend):
    clock = FakeClock()
    slots = pool(state_backend.port, clock, max_limit=4)
    lease = slots.acquire("one", "high")
    assert isinstance(lease, SlotLease)
    (idle,) = slots_status(state_backend.port, "postgres", max_limit=4, clock=clock)
    calm = health(idle, queue_depths={"high": 3, "dlq": 500}, queue_capacity=100,
                  breaker_state="CLOSED")
    assert calm == {"status": "healthy", "reasons": []}  # the DLQ is no capacity signal

    take(slots, "high", 3, tag="more")
    assert isinstance(slots.acquire("waiting", "low"), SlotWait)
    (busy,) = slots_status(state_backend.port, "postgres", max_limit=4, clock=clock)
    report = health(busy, queue_depths={"high": 90, "low": 100}, queue_capacity=100,
                    breaker_state="HALF_OPEN")
    assert report["status"] == "critical"
    text = " | ".join(report["reasons"])
    assert "slots saturated: 4/4 used, 1 waiting" in text
    assert "queue low depth 100 >= capacity 100" in text
    assert "queue high depth 90" in text and "HALF_OPEN" in text

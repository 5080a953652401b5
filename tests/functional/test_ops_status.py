"""``spillway status``'s snapshot (``spillway.dashboard.local.status_snapshot`` with the status
sections of ``spillway/ops/status.py``) against the running app on each backend: queue depths,
the breaker's state, and the health computed from them against the tier's queue capacity."""

from __future__ import annotations

import json

from chalicelib import wiring
from chalicelib.ports import QUEUES
from spillway.commands.status import render
from spillway.dashboard.local import status_snapshot
from spillway.ops import breaker

BODY = {"action": "opened", "issue": {"number": 1}}  # an ``issues`` event: high priority


def test_status_shows_each_queues_depth_and_a_healthy_system(edge):
    edge.configure(BREAKER_ENABLED="true")
    reply = edge.post(BODY)
    assert reply.status == 202 and reply.body["priority"] == "high", reply.body
    found = status_snapshot()
    assert json.loads(json.dumps(found, allow_nan=False)) == found  # what --json prints
    assert found["labels"]["backend"] == edge.backend
    assert set(found["queues"]) == set(QUEUES)
    assert found["queues"]["high"]["total"] == 1
    assert found["breaker"]["state"] == "CLOSED"
    assert found["health"]["status"] == "healthy" and found["health"]["reasons"] == []
    assert found["health"]["assessed"] == ["queues", "breaker"]
    assert set(found["health"]["not_assessed"]) == {"slots", "refusals"}
    assert found["tier"]["name"] == "free" and found["health"]["queue_capacity"] == 100
    # locally the alarms are evaluated from the collector's rows in the application
    # database, which this edge-only environment does not have: it says so, with no state
    assert found["alarms"]["available"] is False and "DATABASE_URL" in found["alarms"]["reason"]


def test_a_forced_open_breaker_and_a_filling_queue_are_unhealthy(edge):
    edge.configure(BREAKER_ENABLED="true", SPILLWAY_TIER="free")
    breaker.force(wiring.get_state(), wiring.BREAKER_NAME, "FORCED_OPEN", reason="test",
                  by="pytest")
    queue = wiring.get_queue()
    for i in range(81):  # the free tier's queue capacity is 100: degraded above 80 %
        queue.send("medium", f"m{i}")
    found = status_snapshot()
    assert found["health"]["status"] == "critical"
    assert found["health"]["reasons"] == [
        "queue medium depth 81 > 80% of capacity 100", "circuit breaker FORCED_OPEN"]
    text = "\n".join(render(found))
    assert "breaker      FORCED_OPEN  trips 0  set by pytest: 'test', until changed by hand" in text
    assert "retry after" not in text  # a forced state has no retry time of its own


def test_status_shows_until_when_a_breaker_is_forced_for_a_while(edge):
    import time

    from spillway.commands.audited import when

    edge.configure(BREAKER_ENABLED="true")
    until = time.time() + 600
    breaker.force(wiring.get_state(), wiring.BREAKER_NAME, "FORCED_OPEN", reason="db upgrade",
                  by="ops", until=until)
    found = status_snapshot()
    assert found["breaker"]["forced"]["until"] == until
    assert f"set by ops: 'db upgrade', until {when(until)}" in "\n".join(render(found))


def test_status_says_why_a_disabled_breaker_is_not_assessed(edge):
    edge.configure(BREAKER_ENABLED="false")
    found = status_snapshot()
    assert found["breaker"] is None
    assert found["health"]["not_assessed"]["breaker"] == "breaker disabled"


def test_status_shows_each_worker_functions_lanes(edge):
    """A pro-tier stage: two lanes per worker function, each lane's state and its mapping's
    MaximumConcurrency; a disabled lane shows with its reason."""
    from chalicelib.tier_plan import stage_plan
    from spillway.commands.status import render
    from spillway.ops import lanes

    edge.configure(SPILLWAY_TIER="pro")
    plan = stage_plan()
    lanes.disable(wiring.get_state(), plan, "worker_high", "lane-2", reason="canary bad",
                  by="pytest")
    found = status_snapshot()
    section = found["lanes"]
    assert section["tier"] == "pro"
    by_name = {f["function"]: f for f in section["functions"]}
    assert set(by_name) == {w.name for w in plan.workers}
    high = by_name["worker_high"]
    assert [(x["lane"], x["state"], x["reason"]) for x in high["lanes"]] == [
        ("lane-1", "healthy", ""), ("lane-2", "disabled", "canary bad")]
    assert [x["maximum_concurrency"] for x in high["lanes"]] == [
        m.maximum_concurrency for m in plan.worker("worker_high").mappings]
    text = "\n".join(render(found))
    assert "lane-2 disabled (canary bad) max" in text and "worker_medium" in text


def test_status_shows_the_shared_database_slots_in_use_from_the_state_store(edge):
    """Not "not assessed": the slots a dead holder keeps are read from the state store, so
    ``spillway status`` shows them on the local stack and on AWS alike."""
    from chalicelib.shared_slots import SlotLease

    edge.configure(BREAKER_ENABLED="true", SLOTS_ENABLED="true", SLOT_MIN_LIMIT="3",
                   SLOT_MAX_LIMIT="4")
    lease = wiring.get_slots().acquire("high:dead0instance:1", "high")
    assert isinstance(lease, SlotLease)  # and its instance dies: never released
    found = status_snapshot()
    slots = found["db_slots"]
    assert (slots["in_use"], slots["limit"], slots["max_limit"]) == (1, 4, 4)
    assert [x["holder"] for x in slots["holders"]] == ["high:dead0instance:1"]
    assert "slots" in found["health"]["assessed"]
    assert "slots" not in found["health"]["not_assessed"]
    assert "db slots     1 in use of 4 (max 4), 0 waiting" in "\n".join(render(found))

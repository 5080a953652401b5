"""``spillway status``'s snapshot (``spillway.dashboard.local.status_snapshot`` with the status
sections of ``spillway/ops/status.py``) against the running app on each backend: queue depths,
the breaker's state, and the health computed from them against the tier's queue capacity."""

from __future__ import annotations

import json

from chalicelib import wiring
from chalicelib.ports import QUEUES
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


def test_status_says_why_a_disabled_breaker_is_not_assessed(edge):
    edge.configure(BREAKER_ENABLED="false")
    found = status_snapshot()
    assert found["breaker"] is None
    assert found["health"]["not_assessed"]["breaker"] == "breaker disabled"

"""``spillway status``'s data (spillway/ops/status.py) against the running app on each backend:
queue depths, the age of the oldest message, the breaker's state."""

from __future__ import annotations

import json

from chalicelib.ports import QUEUES
from spillway.ops.status import status

BODY = {"action": "opened", "issue": {"number": 1}}  # an ``issues`` event: high priority


def test_status_shows_each_queues_depth_and_oldest_age(edge):
    edge.configure(BREAKER_ENABLED="true")
    reply = edge.post(BODY)
    assert reply.status == 202 and reply.body["priority"] == "high", reply.body
    found = status()
    assert found["backend"] == edge.backend
    assert set(found["queues"]) == set(QUEUES)
    high = found["queues"]["high"]
    assert high["visible"] + high["in_flight"] + high["delayed"] == 1
    assert all(isinstance(q["oldest_age_s"], float) and q["oldest_age_s"] >= 0
               for q in found["queues"].values())
    assert found["breaker"]["state"] == "CLOSED"
    json.dumps(found)  # what ``spillway status --json`` prints


def test_status_leaves_out_a_disabled_breaker(edge):
    edge.configure(BREAKER_ENABLED="false")
    assert "breaker" not in status()

"""Lanes on the local stack (pro tier: two lanes per worker function, one event source mapping
each, sharing the function's reserved concurrency): an operator disables ``worker_high``'s
``lane-1`` with ``spillway --local lanes disable`` and its pollers stop while ``lane-2`` keeps
storing; then a broken version on ``lane-2`` (its handler raises, as a bad canary does) gets
the lane ejected by its error rate, and ``lane-1`` stores everything, the failed batches too
once their visibility timeout passes. Real edge, queues, workers and PostgreSQL; waits are
bounded by message counts, assertions on counts and states only."""

from __future__ import annotations

import json
import time

import pytest

from chalicelib import wiring
from chalicelib.ports import DLQ
from spillway.local.stack import LocalStack, StackOptions
from spillway.ops.ledger import ledger_counts_at
from spillway.paths import SAMPLES
from spillway.replay import iter_payloads, replay
from tests.e2e.test_operator_verbs_local_stack import OUTSIDE_SERVERS, spillway, workdir  # noqa: F401

pytestmark = pytest.mark.e2e
FN = "worker_high"


def wait_for(check, what: str, timeout_s: float = 120.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


def stored(stack, ids) -> int:
    return len(ledger_counts_at(stack.env["DATABASE_URL"], ids).per_delivery)


def send(stack, count: int) -> list[str]:
    issues = list(iter_payloads([SAMPLES / "issues"]))  # issues events: the high queue
    results = replay(issues, stack.url, stack.secret, repeat=-(-count // len(issues)))
    assert {r.status for r in results} == {202}, results[:3]
    return [r.delivery_id for r in results]


def broken(event, context):
    raise RuntimeError("canary version 1.4.0-rc1 crashes on start")


@pytest.mark.parametrize("backend", ["postgres", "aws"])
def test_a_disabled_lane_stops_polling_and_a_failing_lane_is_ejected(backend, workdir,  # noqa: F811
                                                                      monkeypatch):
    for key in OUTSIDE_SERVERS:
        monkeypatch.delenv(key, raising=False)
    options = StackOptions(backend=backend, workdir=workdir, tier="pro", handler_timeout_s=2,
                           env={"LANE_MINIMUM_CALLS": "2", "LANE_EJECT_S": "3600"})
    with LocalStack(options) as stack:
        lane1, lane2 = stack.mapping(FN, "lane-1"), stack.mapping(FN, "lane-2")
        assert lane1.limiter is lane2.limiter is stack.limiters[FN]  # one reserved concurrency
        assert lane1.maximum_concurrency + lane2.maximum_concurrency <= \
            stack.limiters[FN].capacity

        spillway(workdir, "lanes", "disable", FN, "lane-1", "--reason", "e2e: drain lane-1",
                 "--by", "e2e")
        wait_for(lambda: lane1.parked == lane1.maximum_concurrency, "lane-1's pollers parked")
        before = lane2.invocations
        first = send(stack, 15)
        wait_for(lambda: stored(stack, first) == len(first), "every delivery stored")
        assert lane1.invocations == 0 and lane2.invocations > before

        lane2.handler = broken  # a bad version published to lane-2's alias
        spillway(workdir, "lanes", "enable", FN, "lane-1", "--reason", "e2e: lane-1 back")
        wait_for(lambda: lane1.parked == 0, "lane-1 polling again")
        sent = list(first)

        def ejected():
            sent.extend(send(stack, 3))
            doc = json.loads(spillway(workdir, "lanes", "status", FN, "--json").stdout)
            states = {x["lane"]: x for x in doc["functions"][0]["lanes"]}
            return states if states["lane-2"]["state"] == "ejected" else None

        states = wait_for(ejected, "lane-2 ejected by its error rate")
        assert states["lane-1"]["state"] == "healthy"
        assert states["lane-2"]["errors"] >= 2 and states["lane-2"]["ejected_until"]
        wait_for(lambda: lane2.parked == lane2.maximum_concurrency, "lane-2's pollers parked")
        # the batches lane-2 failed come back after their visibility timeout: lane-1 stores them
        wait_for(lambda: stored(stack, sent) == len(sent), "every delivery stored", 180)
        assert wiring.get_queue().stats(DLQ).visible == 0

        text = spillway(workdir, "status").stdout
        assert "lane-2 ejected until" in text, text
        actions = json.loads(spillway(workdir, "audit", "--verb", "lanes", "--json").stdout)
        assert [(a["verb"], a["details"]["lane"]) for a in actions] == [
            ("lanes disable", "lane-1"), ("lanes enable", "lane-1")]

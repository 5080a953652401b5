"""Lane ejection on AWS, end to end on the moto server and a real PostgreSQL: the worker
handler of ``app.py`` invoked through alias ``lane-2`` (its context's ``invoked_function_arn``)
records its failing batches in the lane item (:mod:`chalicelib.lane_outcomes`); the scheduled
collector (``collect_metrics``) then switches lane-2's event source mapping off, leaves
lane-1's on, and -- once the ejection is over (the collector's clock injected) -- back on,
each switch audited. The mappings sit on a queue no other test uses (moto's mappings delete
what they "deliver", DESIGN.md 2b). Plus the worker side's cost on both state stores."""

from __future__ import annotations

import json
import os

import boto3
import pytest

from chalicelib import shared_lanes, wiring
from chalicelib.collector.wiring import build_collector
from chalicelib.core.concurrency import lanes as core
from chalicelib.core.concurrency.lanes import LaneConfig
from chalicelib.lane_outcomes import LaneOutcomes
from spillway.ops import audit
from tests.contract.conftest import FakeClock
from tests.contract.test_breaker_store import open_store
from tests.functional.conftest import ISSUE_PAYLOAD, corpus_payload
from tests.functional.test_lanes import Counting, lanes_on_dedicated_queue
from tests.functional.test_metrics_collector import scheduled_event
from tests.functional.test_worker_sqs import accepted

NAME = "spillway-lanesaws-worker_high"
ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{NAME}"
EJECT_S = 120


def _states(lam, uuids: dict[str, str]) -> dict[str, str]:
    return {lane: lam.get_event_source_mapping(UUID=u)["State"] for lane, u in uuids.items()}


@pytest.mark.parametrize("worker", ["aws"], indirect=True)
def test_failing_lane_2_is_switched_off_by_the_collector_and_back_on_after_eject_s(
        worker, tmp_path):
    lam, uuids = lanes_on_dedicated_queue(NAME, "lanesaws-dedicated")
    good_db = os.environ["DATABASE_URL"]
    worker.configure(LANE_MINIMUM_CALLS="3", LANE_EJECT_S=str(EJECT_S),
                     SPILLWAY_FUNCTIONS=json.dumps({"worker_high": NAME}))
    for _ in range(3):
        accepted(worker, corpus_payload(ISSUE_PAYLOAD), event="issues")
    messages = worker.receive("high", 3)
    for _ in range(3):
        worker.queue.send("high", "this is not an envelope", {"event": "issues"})
    poison = worker.receive("high", 3)
    # lane-2's code path meets an unreachable database (a dependency failure: the batch
    # fails); lane-1 only gets poison (the payload's fault: dead-lettered, the batch is ok)
    worker.configure(DATABASE_URL=f"host={tmp_path} dbname=nowhere user=nobody")
    for m in messages:
        response = worker.invoke_worker("high", [m], arn=f"{ARN}:lane-2")
        assert response["batchItemFailures"] == [{"itemIdentifier": m.message_id}]
    for m in poison:
        assert worker.invoke_worker("high", [m], arn=ARN) == {"batchItemFailures": []}
    assert worker.depths()["dlq"] == 3
    worker.configure(DATABASE_URL=good_db)  # a cold start: the pending tallies are written

    store = wiring.get_state()
    pool, _ = shared_lanes.read(store, "worker_high", 2)
    rows = {r["lane"]: r for r in core.status(pool, pool.lanes[1].ejected_until - EJECT_S)}
    assert (rows["lane-1"]["state"], rows["lane-1"]["calls"], rows["lane-1"]["errors"]) == (
        "healthy", 3, 0)
    assert (rows["lane-2"]["state"], rows["lane-2"]["calls"], rows["lane-2"]["errors"]) == (
        "ejected", 3, 3)
    assert _states(lam, uuids) == {"lane-1": "Enabled", "lane-2": "Enabled"}

    row = worker.client.lambda_.invoke("collect_metrics", scheduled_event(worker)).payload
    assert row["notes"]["lanes"] == "1 switched: eject worker_high lane-2"
    assert _states(lam, uuids) == {"lane-1": "Enabled", "lane-2": "Disabled"}
    again = worker.client.lambda_.invoke("collect_metrics", scheduled_event(worker)).payload
    assert again["notes"]["lanes"] == "0 switched"  # only mappings whose flag differs
    (eject,) = audit.list_actions(store, verb="lanes")
    assert (eject["verb"], eject["by"]) == ("lanes eject", "collector")
    assert eject["details"]["mappings"] == [uuids["lane-2"]]
    assert "3 of 3 batches failed" in eject["reason"]

    later = pool.lanes[1].ejected_until + 1  # the ejection is over
    row = build_collector(clock=lambda: later).run()
    assert row["notes"]["lanes"] == "1 switched: readmit worker_high lane-2"
    assert _states(lam, uuids) == {"lane-1": "Enabled", "lane-2": "Enabled"}
    readmit = audit.list_actions(store, verb="lanes readmit")[-1]
    assert (readmit["by"], readmit["details"]["mappings"]) == ("collector", [uuids["lane-2"]])
    assert [r["verb"] for r in audit.list_actions(store, verb="lanes")] == [
        "lanes eject", "lanes readmit"]


@pytest.fixture(params=["aws", "postgres"])
def store(request):
    return Counting(open_store(request.param, request))


def test_a_worker_knowing_only_its_lane_keeps_the_other_lanes_state(store):
    """A Lambda worker does not know the plan's lane count: recording lane-2 must not drop a
    lane-3 ejected by another instance."""
    clock = FakeClock()
    config = LaneConfig(minimum_calls=2, eject_s=60)
    three = LaneOutcomes(store, config, clock=clock)
    for _ in range(2):
        assert three.record("worker_low", f"{ARN}:lane-3", ok=False) == "lane-3"
    two = LaneOutcomes(store, config, clock=clock)
    assert two.record("worker_low", f"{ARN}:lane-2", ok=True) == "lane-2"
    assert two.record("worker_low", f"{ARN}:7", ok=False) is None  # a version: no lane
    two.flush()
    pool, _ = shared_lanes.read(store, "worker_low", 3)
    assert [r["state"] for r in core.status(pool, clock())] == ["healthy", "healthy", "ejected"]
    assert [r["calls"] for r in core.status(pool, clock())] == [0, 1, 2]


@pytest.mark.parametrize(("instances", "batches_per_s", "ok"),
                         [(1, 1, True), (1, 10, True), (1, 1, False), (2, 1, True), (2, 1, False)])
def test_worker_side_cost_per_delivery(store, instances, batches_per_s, ok):
    """60 s of batches of 10 deliveries per instance, every instance on lane-2 of one function
    (one item): the requests per delivery the README quotes (printed; bounded here)."""
    clock = FakeClock()
    outcomes = [LaneOutcomes(store, LaneConfig(minimum_calls=100_000), clock=clock)
                for _ in range(instances)]
    for _ in range(60 * batches_per_s):
        for each in outcomes:
            each.record("worker_medium", f"{ARN}:lane-2", ok=ok)
        clock.advance(1 / batches_per_s)
    deliveries = 60 * batches_per_s * 10 * instances
    print(f"\n{instances} instance(s) at {batches_per_s} batch/s ok={ok}: {store.gets} reads + "
          f"{store.puts} writes for {deliveries} deliveries = "
          f"{(store.gets + store.puts) / deliveries:.3f} per delivery")
    per_instance = 13 if ok else 61  # one write per 5 s (successes) or 1 s (failures)
    if instances == 1:
        assert store.gets == 1  # one read per cold start; none on the way (nothing conflicts)
        assert store.puts <= per_instance
    else:  # a flush after another instance's write loses the CAS once: one read, one write more
        assert store.puts <= 2 * instances * per_instance
        assert store.gets <= instances + store.puts


@pytest.mark.parametrize("worker", ["aws"], indirect=True)
def test_a_state_store_failure_never_fails_the_batch(worker, tmp_path):
    """The state table gone (a real DynamoDB error on the moto server) while a lane-2 batch
    fails and its tally is due at once (LANE_MINIMUM_CALLS=1): the batch's answer is the
    worker's own partial response, as without lanes."""
    accepted(worker, corpus_payload(ISSUE_PAYLOAD), event="issues")
    (message,) = worker.receive("high", 1)
    worker.configure(LANE_MINIMUM_CALLS="1",
                     DATABASE_URL=f"host={tmp_path} dbname=nowhere user=nobody")
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.delete_table(TableName=wiring.get_settings().state_table)
    response = worker.invoke_worker("high", [message], arn=f"{ARN}:lane-2")
    assert response["batchItemFailures"] == [{"itemIdentifier": message.message_id}]

"""The DLQ trap of issue 9, reproduced on the local Lambda runtime and shown absent.

When the sum of MaximumConcurrency over a function's event source mappings exceeds its reserved
concurrency, Lambda's pollers receive more batches than the function may run; the throttled
invocations are not run, their receives still count toward ``maxReceiveCount``, and valid
messages reach the dead-letter queue unprocessed (AWS re:Post "lambda-sqs-scaling"). Here: real
deliveries through the edge onto the real queue (moto SQS or the PostgreSQL queue, each with its
redrive policy), a real :class:`EventSourceMapping` per lane of the plan, the function's
:class:`ReservedConcurrency`, and ``app.worker_high`` storing into real PostgreSQL behind a
pause that makes it slower than the receives. A plan forced past validation
(:func:`derive`: reserved 2, mapping 10) dead-letters messages it never ran; the same traffic
under the valid plan (mapping 2 = reserved 2) stores every delivery exactly once. The runs are
bounded by message count (stored + dead-lettered = sent) and asserted on counts only.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections import Counter

import psycopg
import pytest

from chalicelib.core.concurrency.plan import PlanError, WorkerPlan, build_plan, derive, tier_knobs
from spillway.local.concurrency import ReservedConcurrency
from spillway.local.event_source import EventSourceMapping
from tests.functional.conftest import ISSUE_PAYLOAD, PREFIX, Harness, corpus_payload

FUNCTION = "worker_high"
RESERVED = 2
MESSAGES = 24
MAX_RECEIVE_COUNT = 2
#: Seconds the handler pauses before the real worker runs: longer than a receive, well under
#: the function timeout (1 s, so the plan's visibility timeout is its floor, 6 x 1 s).
HANDLER_PAUSE_S = 0.5
#: Batch size 2, no batching window, timeout 1 s: many small batches, a short visibility timeout.
SPEC = {FUNCTION: {"batch_size": 2, "window_s": 0, "timeout_s": 1}}
#: Upper bound on one run (a safety net against a hang; no assertion is made on time).
RUN_BOUND_S = 180


def knobs(mapping: int) -> dict:
    return {"functions": SPEC, "reserved_concurrency": {FUNCTION: RESERVED},
            "maximum_concurrency": {FUNCTION: mapping}}


def forced_plan() -> WorkerPlan:
    """Reserved concurrency 2, mappings summing to 10: past the rules via :func:`derive`."""
    return derive(tier_knobs("free", **knobs(10))).worker(FUNCTION)


def valid_plan() -> WorkerPlan:
    return build_plan("free", **knobs(RESERVED)).worker(FUNCTION)


def test_build_plan_refuses_the_forced_plan_naming_the_rule():
    with pytest.raises(PlanError) as refused:
        build_plan("free", **knobs(10))
    assert [v.rule for v in refused.value.violations] == ["mapping_sum_within_reserved"]
    assert ("mapping_sum_within_reserved: worker_high mappings sum MaximumConcurrency 10 > "
            "reserved concurrency 2") in str(refused.value)
    assert forced_plan().maximum_concurrency == 10 and forced_plan().reserved_concurrency == 2


def set_max_receive_count(worker: Harness, count: int) -> None:
    """The high queue's redrive threshold: the SQS RedrivePolicy (moto) or the PostgreSQL
    queue's ``MAX_RECEIVE_COUNT``."""
    if worker.backend == "postgres":
        worker.configure(MAX_RECEIVE_COUNT=str(count))
        return
    import boto3

    sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    url = sqs.get_queue_url(QueueName=f"{PREFIX}-high")["QueueUrl"]
    policy = json.loads(sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"])
    policy["maxReceiveCount"] = count
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(policy)})


def send_deliveries(worker: Harness) -> set[str]:
    payload = corpus_payload(ISSUE_PAYLOAD)  # issues/deleted: the high queue
    ids = set()
    for _ in range(MESSAGES):
        reply = worker.post(payload, event="issues", delivery=str(uuid.uuid4()))
        assert reply.status == 202, reply.body
        ids.add(reply.body["delivery"])
    assert worker.depths()["high"] == MESSAGES
    return ids


def ledger(worker: Harness) -> dict[str, int]:
    """``delivery_id -> attempts`` of the stored deliveries."""
    with psycopg.connect(worker.app_db) as conn:
        return dict(conn.execute("SELECT delivery_id, attempts FROM webhook_deliveries"))


def run_mappings(worker: Harness, plan: WorkerPlan) -> tuple[ReservedConcurrency, Counter]:
    """Run one mapping per lane of ``plan`` with the function's reserved concurrency until
    every sent message is stored or dead-lettered. Returns the limiter and how many times the
    handler saw each delivery id."""
    limiter = ReservedConcurrency(plan.name, plan.reserved_concurrency)
    handled: Counter = Counter()
    lock = threading.Lock()

    def slow_worker(event, context):
        time.sleep(HANDLER_PAUSE_S)
        with lock:
            handled.update(r["messageAttributes"]["delivery_id"]["stringValue"]
                           for r in event["Records"])
        return worker.app_module.worker_high(event, context)

    mappings = [EventSourceMapping(
        worker.queue, plan.spec.queue, slow_worker, function_name=plan.name,
        queue_arn=f"arn:aws:sqs:us-east-1:123456789012:{PREFIX}-{plan.spec.queue}",
        batch_size=plan.spec.batch_size, maximum_batching_window_s=plan.spec.window_s,
        maximum_concurrency=lane.maximum_concurrency,
        visibility_timeout_s=plan.visibility_timeout_s, timeout_s=plan.spec.timeout_s,
        wait_s=0.5, limiter=limiter, throttle_backoff_s=0.5) for lane in plan.mappings]
    bound = time.monotonic() + RUN_BOUND_S
    for mapping in mappings:
        mapping.start()
    try:
        while len(ledger(worker)) + worker.depths()["dlq"] < MESSAGES:
            if time.monotonic() > bound:
                pytest.fail(f"not drained: stored {len(ledger(worker))}, dead-lettered "
                            f"{worker.depths()['dlq']} of {MESSAGES}; {limiter.snapshot()}")
            time.sleep(0.2)
    finally:
        for mapping in mappings:
            mapping.stop()
    return limiter, handled


def dead_lettered(worker: Harness) -> set[str]:
    count = worker.depths()["dlq"]
    return {m.attributes["delivery_id"] for m in worker.receive("dlq", count)} if count else set()


def test_mappings_over_reserved_concurrency_dead_letter_valid_messages(worker):
    plan = forced_plan()
    assert plan.visibility_timeout_s == 6
    set_max_receive_count(worker, MAX_RECEIVE_COUNT)
    sent = send_deliveries(worker)

    limiter, handled = run_mappings(worker, plan)

    stored, dead = ledger(worker), dead_lettered(worker)
    assert limiter.throttles > 0 and limiter.peak <= RESERVED
    assert len(dead) > 0, f"no message dead-lettered; {limiter.snapshot()}"
    assert set(stored) | dead == sent and not set(stored) & dead
    assert not dead & set(handled), "a dead-lettered message was run by the handler"
    assert set(handled) == set(stored)
    assert worker.depths()["high"] == 0


def test_mappings_within_reserved_concurrency_store_everything_once(worker):
    plan = valid_plan()
    assert plan.maximum_concurrency == plan.reserved_concurrency == RESERVED
    set_max_receive_count(worker, MAX_RECEIVE_COUNT)
    sent = send_deliveries(worker)

    limiter, handled = run_mappings(worker, plan)

    assert limiter.throttles == 0 and limiter.in_flight == 0 and limiter.peak <= RESERVED
    assert worker.depths()["dlq"] == 0
    assert ledger(worker) == dict.fromkeys(sent, 1)
    assert handled == Counter(dict.fromkeys(sent, 1))
    assert worker.depths()["high"] == 0

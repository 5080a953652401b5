"""One lane rule on Lambda and on the local stack (issue 19): a local event source mapping
invokes the real worker through its lane's alias ARN, so a batch whose records fail for a
dependency reason (reported in ``batchItemFailures``, the handler returning normally) counts
against its lane exactly as on Lambda (:mod:`chalicelib.lane_outcomes`); the mapping itself
reports only a handler that raised. Real queue, state store and worker; the database is made
unreachable by pointing the worker at a socket folder with no server."""

from __future__ import annotations

import time

import pytest

from chalicelib import shared_lanes, wiring
from chalicelib.core.concurrency import lanes as core
from spillway.local.event_source import EventSourceMapping
from tests.functional.conftest import ISSUE_PAYLOAD, PREFIX, corpus_payload
from tests.functional.test_worker_sqs import accepted

#: Upper bound on waiting for the mapping's invocations (a deadline, not a measurement).
BOUND_S = 60.0


@pytest.mark.parametrize("worker", ["postgres"], indirect=True)
def test_failed_records_count_against_the_local_lane_as_on_lambda(worker, tmp_path):
    worker.configure(LANE_MINIMUM_CALLS="2", LANE_EJECT_S="3600")
    for _ in range(2):
        accepted(worker, corpus_payload(ISSUE_PAYLOAD), event="issues")
    worker.configure(DATABASE_URL=f"host={tmp_path} dbname=nowhere user=nobody")
    raised: list[bool] = []
    mapping = EventSourceMapping(
        worker.queue, "high", worker.app_module.worker_high, function_name="worker_high",
        queue_arn=f"arn:aws:sqs:us-east-1:123456789012:{PREFIX}-high", batch_size=1,
        maximum_concurrency=1, visibility_timeout_s=30, wait_s=0.5, timeout_s=10,
        lane="lane-2", on_outcome=raised.append)
    assert mapping.invoked_function_arn.endswith(":function:worker_high:lane-2")
    mapping.start()
    try:
        deadline = time.monotonic() + BOUND_S
        while mapping.invocations < 2:
            assert time.monotonic() < deadline, "the mapping did not invoke the worker twice"
            time.sleep(0.1)
    finally:
        mapping.stop()
    wiring.get_lanes().flush()

    pool, _ = shared_lanes.read(wiring.get_state(), "worker_high", 2)
    rows = {r["lane"]: r for r in core.status(pool, time.time())}
    assert rows["lane-2"]["calls"] >= 2 and rows["lane-2"]["errors"] == rows["lane-2"]["calls"]
    assert rows["lane-2"]["state"] == "ejected"
    assert raised == []  # no handler raised: the worker counted, not the poller

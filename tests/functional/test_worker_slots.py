"""The worker's lease per batch on the shared database slots, through ``app.py``'s handlers on
both backends: the slots in the real state store (DynamoDB on the moto server, or the PostgreSQL
backend's state table), the ledger in real PostgreSQL."""

from __future__ import annotations

import time

from chalicelib import wiring
from chalicelib.shared_slots import SharedSlots, SlotLease
from spillway.ops.health import system_health
from tests.functional.conftest import ISSUE_PAYLOAD, corpus_payload
from tests.functional.test_worker_sqs import accepted, failures, ledger


def _slots_on(worker, limit: int = 1) -> None:
    worker.configure(SLOTS_ENABLED="true", SLOT_MIN_LIMIT=str(limit),
                     SLOT_MAX_LIMIT=str(limit), SLOT_LEASE_S="35")


def _receive_within(worker, queue: str, count: int, deadline_s: float = 30.0) -> list:
    got: list = []
    end = time.monotonic() + deadline_s
    while len(got) < count and time.monotonic() < end:
        got += worker.queue.receive(queue, min(10, count - len(got)), 60, 0.5)
    assert len(got) == count, f"expected {count} messages on {queue}, got {len(got)}"
    return got


def test_second_batch_is_held_back_while_the_first_holds_the_only_slot(worker):
    second_ids = {accepted(worker, corpus_payload(ISSUE_PAYLOAD), event="issues")
                  for _ in range(3)}
    second = worker.receive("high", 3)
    _slots_on(worker, limit=1)
    # another Lambda instance (its own view of the pool) is in the middle of the first batch
    other = SharedSlots("postgres", wiring.get_state(), bounds=wiring.get_slots().bounds,
                        lease_s=35)
    lease = other.acquire("other-instance-batch", "high")
    assert isinstance(lease, SlotLease)

    response = worker.invoke_worker("high", second)
    assert failures(response) == set()  # nothing reported failed: no receive count burnt
    assert ledger(worker) == {}  # the database was not touched
    stats = worker.queue.stats("high")
    assert stats.delayed == 3 and worker.depths()["dlq"] == 0
    assert worker.queue.receive("high", 10, 60, 0.0) == []  # held back: delayed
    report = system_health(queue_capacity=3, max_limit=1)
    assert report["status"] == "critical"
    assert "slots saturated: 1/1 used, 1 waiting" in report["reasons"]
    assert "queue high depth 3 >= capacity 3" in report["reasons"]
    assert report["slots"]["waiters_by_priority"]["high"] == 1

    lease.release()  # the first batch is done
    again = _receive_within(worker, "high", 3)
    assert {m.attributes["delivery_id"] for m in again} == second_ids
    assert failures(worker.invoke_worker("high", again)) == set()
    rows = ledger(worker)
    assert second_ids <= set(rows)
    assert all(rows[d][3] == 1 for d in second_ids)  # stored on its first counted receive
    assert worker.depths()["dlq"] == 0
    assert wiring.get_slots().read().used() == 0


def test_the_lease_is_released_when_the_batch_fails(worker, tmp_path):
    accepted(worker, corpus_payload(ISSUE_PAYLOAD), event="issues")
    messages = worker.receive("high", 1)
    _slots_on(worker, limit=2)
    worker.configure(DATABASE_URL=f"host={tmp_path} dbname=nowhere user=nobody")
    response = worker.invoke_worker("high", messages)
    assert failures(response) == {messages[0].message_id}
    state = wiring.get_slots().read()
    assert state.used() == 0 and state.released == 1
    assert state.failures == 1  # fed to the adaptive limit

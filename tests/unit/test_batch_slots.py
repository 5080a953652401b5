"""Which lease a worker batch asks for (``chalicelib.batch_slots.batch_identity``)."""

from __future__ import annotations

import threading

from chalicelib.batch_slots import INSTANCE_ID, batch_identity
from chalicelib.core.envelope import Envelope


def _record(priority: str) -> dict:
    body, _ = Envelope(delivery_id="d-1", hook_id="7", event="push", action=None,
                       priority=priority, target="heavy", received_at=1.0,
                       payload_json="{}", payload_ref=None, body_bytes=2).to_message()
    return {"messageId": "m-1", "body": body}


def test_priority_queues_name_their_priority_and_the_holder_is_this_instance_thread():
    holder, priority = batch_identity({"Records": [_record("low")]}, "high")
    assert priority == "high"  # the queue decides, not the record
    assert holder == f"high:{INSTANCE_ID}:{threading.get_ident()}"


def test_other_queues_take_the_first_envelopes_priority_or_low_when_unreadable():
    assert batch_identity({"Records": [_record("medium")]}, "heavy")[1] == "medium"
    assert batch_identity({"Records": [{"messageId": "m", "body": "not json"}]},
                          "batch")[1] == "low"


def test_two_threads_running_at_once_never_share_a_holder():
    seen, both_running = [], threading.Barrier(2)

    def worker() -> None:
        both_running.wait()  # alive together, so their thread ids differ
        seen.append(batch_identity({}, "low")[0])
        both_running.wait()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == 2


def test_a_granted_batch_lease_beats_until_released_and_another_instance_id_is_another_holder():
    from chalicelib.batch_slots import acquire_for_batch, release_after_batch
    from chalicelib.core.concurrency.limit import Bounds
    from chalicelib.shared_slots import SharedSlots
    from tests.fakes import MemoryState

    slots = SharedSlots("postgres", MemoryState(), bounds=Bounds(2, 2), lease_s=20.0)
    event = {"Records": [_record("high")]}
    lease, wait = acquire_for_batch(slots, event, "high")
    assert wait is None and lease._beating is not None and not lease._beating.is_set()
    doomed, _ = acquire_for_batch(slots, event, "high", instance="killed0", heartbeat=False)
    assert doomed._beating is None and doomed.holder != lease.holder
    assert doomed.holder == f"high:killed0:{threading.get_ident()}"
    release_after_batch(lease, 0.1, 0)
    assert lease._beating.is_set() and [x.holder for x in slots.read().leases] == [doomed.holder]

"""QueuePort contract: SQS semantics that SqsQueue (moto) and PgQueue (PostgreSQL) both keep."""

from __future__ import annotations

import threading
import time

import pytest

from chalicelib.errors import NotFound, PermanentDependencyError
from chalicelib.ports import DLQ
from tests.contract.conftest import MAX_RECEIVE_COUNT

UNICODE = "héllo ✓ 🎉 日本語 — ünïcödé"


def test_send_receive_delete(queue_backend):
    q = queue_backend.port
    before = time.time()
    message_id = q.send("high", '{"n": 1}')
    [msg] = q.receive("high")
    assert (msg.queue, msg.message_id, msg.body, msg.receive_count) == \
        ("high", message_id, '{"n": 1}', 1)
    assert abs(msg.sent_at - before) < 300  # epoch seconds, not milliseconds
    q.delete("high", [msg.receipt_handle])
    assert q.receive("high") == []
    assert q.stats("high").total == 0


def test_received_message_is_invisible_until_its_visibility_timeout(queue_backend):
    q = queue_backend.port
    q.send("medium", "a")
    [first] = q.receive("medium", visibility_timeout_s=1)
    queue_backend.advance(1.5)
    [again] = q.receive("medium", visibility_timeout_s=30)
    assert again.message_id == first.message_id
    assert again.receive_count == 2
    assert again.receipt_handle != first.receipt_handle
    assert q.receive("medium") == []


def test_stale_receipt_handle_is_ignored(queue_backend):
    q = queue_backend.port
    q.send("low", "a")
    [first] = q.receive("low", visibility_timeout_s=0)
    [second] = q.receive("low", visibility_timeout_s=30)
    q.change_visibility("low", "not-a-handle", 0)
    q.delete("low", ["not-a-handle"])
    q.delete("low", [second.receipt_handle])
    q.delete("low", [second.receipt_handle, first.receipt_handle])  # both stale now
    assert q.stats("low").total == 0


def test_change_visibility_zero_makes_it_visible_now(queue_backend):
    q = queue_backend.port
    q.send("high", "a")
    [msg] = q.receive("high", visibility_timeout_s=300)
    assert q.receive("high") == []
    q.change_visibility("high", msg.receipt_handle, 0)
    [again] = q.receive("high")
    assert (again.message_id, again.receive_count) == (msg.message_id, 2)


def test_attributes_and_body_round_trip_unicode(queue_backend):
    q = queue_backend.port
    attrs = {"priority": "high", "event": "push", "note": UNICODE, "empty-ish": " "}
    q.send("high", UNICODE * 100, attrs)
    [msg] = q.receive("high")
    assert msg.body == UNICODE * 100
    assert dict(msg.attributes) == attrs


def test_send_without_attributes_gives_empty_mapping(queue_backend):
    q = queue_backend.port
    q.send("low", "x")
    [msg] = q.receive("low")
    assert dict(msg.attributes) == {}


def test_delay_hides_a_message(queue_backend):
    q = queue_backend.port
    q.send("low", "later", delay_s=1)
    assert q.receive("low") == []
    assert q.stats("low").delayed == 1
    queue_backend.advance(1.5)
    [msg] = q.receive("low")
    assert msg.body == "later"


def test_redrive_to_dlq_after_max_receive_count(queue_backend):
    q = queue_backend.port
    q.send("medium", "poison", {"priority": "medium"})
    for attempt in range(1, MAX_RECEIVE_COUNT + 1):
        [msg] = q.receive("medium", visibility_timeout_s=0)
        assert msg.receive_count == attempt
    assert q.receive("medium", visibility_timeout_s=0) == []  # the (max+1)-th attempt moves it
    [dead] = q.receive(DLQ)
    assert (dead.body, dict(dead.attributes)) == ("poison", {"priority": "medium"})
    assert q.stats("medium").total == 0


def test_dlq_redrive_by_priority_restarts_receive_count(queue_backend):
    q = queue_backend.port
    q.send("high", "poison", {"priority": "high"})
    for _ in range(MAX_RECEIVE_COUNT + 1):
        q.receive("high", visibility_timeout_s=0)
    assert q.stats(DLQ).visible == 1
    assert q.move(DLQ) == 1
    assert q.stats(DLQ).total == 0
    [msg] = q.receive("high")
    assert (msg.body, msg.receive_count) == ("poison", 1)


def test_move_without_destination_routes_by_priority_attribute(queue_backend):
    q = queue_backend.port
    q.send(DLQ, "h", {"priority": "high"})
    q.send(DLQ, "m", {"priority": "medium"})
    q.send(DLQ, "none")
    q.send(DLQ, "bogus", {"priority": "dlq"})
    assert q.move(DLQ) == 4
    assert [m.body for m in q.receive("high")] == ["h"]
    assert [m.body for m in q.receive("medium")] == ["m"]
    assert sorted(m.body for m in q.receive("low")) == ["bogus", "none"]


def test_move_without_destination_sends_target_queue_messages_back_to_their_own(queue_backend):
    """A heavy or batch message carries its priority too; a redrive (destination None)
    returns it to its own target queue, not to its priority's (chalicelib.core.queues
    target_queue, in Python for SQS and in SQL for PostgreSQL)."""
    q = queue_backend.port
    q.send(DLQ, "heavy-high", {"priority": "high", "target": "heavy"})
    q.send(DLQ, "batch-low", {"priority": "low", "target": "batch"})
    q.send(DLQ, "light-medium", {"priority": "medium", "target": "light"})
    q.send(DLQ, "odd-target", {"priority": "high", "target": "dlq"})
    assert q.move(DLQ) == 4
    assert [m.body for m in q.receive("heavy")] == ["heavy-high"]
    assert [m.body for m in q.receive("batch")] == ["batch-low"]
    assert [m.body for m in q.receive("medium")] == ["light-medium"]
    assert [m.body for m in q.receive("high")] == ["odd-target"]
    assert q.stats(DLQ).total == 0


def test_move_promotes_with_a_limit(queue_backend):
    q = queue_backend.port
    for i in range(5):
        q.send("low", f"m{i}", {"priority": "low"})
    assert q.move("low", "high", max_messages=2) == 2
    assert q.move("low", "high") == 3
    assert q.move("low", "high") == 0
    got = []
    while batch := q.receive("high"):
        got += batch
    assert sorted(m.body for m in got) == [f"m{i}" for i in range(5)]
    assert {m.receive_count for m in got} == {1}
    assert {m.attributes["priority"] for m in got} == {"low"}


def test_move_skips_in_flight_messages(queue_backend):
    q = queue_backend.port
    q.send("low", "busy")
    q.receive("low", visibility_timeout_s=300)
    assert q.move("low", "high") == 0
    assert q.stats("low").in_flight == 1


def test_stats_counts(queue_backend):
    q = queue_backend.port
    for i in range(3):
        q.send("medium", f"m{i}")
    q.send("medium", "delayed", delay_s=60)
    q.receive("medium", max_messages=1, visibility_timeout_s=300)
    stats = q.stats("medium")
    assert (stats.visible, stats.in_flight, stats.delayed, stats.total) == (2, 1, 1, 4)
    assert stats.oldest_age_s >= 0.0
    assert q.stats("high").total == 0


def test_oldest_age_on_postgres_is_real(queue_backend):
    if queue_backend.kind == "aws":
        pytest.skip("SQS has no oldest-age queue attribute (CloudWatch metric only)")
    q = queue_backend.port
    q.send("low", "old")
    queue_backend.advance(42)
    assert q.stats("low").oldest_age_s == pytest.approx(42, abs=0.01)


def test_purge(queue_backend):
    q = queue_backend.port
    for i in range(3):
        q.send("low", f"m{i}")
    q.receive("low", max_messages=1)
    q.purge("low")
    assert q.stats("low").total == 0
    assert q.receive("low") == []


def test_receive_returns_at_most_max_messages(queue_backend):
    q = queue_backend.port
    for i in range(12):
        q.send("high", f"m{i}")
    got = []
    while batch := q.receive("high", max_messages=10):
        assert len(batch) <= 10
        got += batch
    assert sorted(m.body for m in got) == sorted(f"m{i}" for i in range(12))


def test_oversize_send_is_rejected_not_truncated(queue_backend):
    q = queue_backend.port
    with pytest.raises(PermanentDependencyError):
        q.send("low", "x" * (q.max_message_bytes + 1))
    with pytest.raises(PermanentDependencyError):  # attributes count toward the limit
        q.send("low", "x" * (q.max_message_bytes - 10), {"priority": "low"})
    assert q.stats("low").total == 0
    big = "é" * 200_000  # 400 KB of UTF-8: below every backend's limit
    q.send("low", big)
    [msg] = q.receive("low")
    assert msg.body == big


def test_nul_character_is_rejected(queue_backend):
    with pytest.raises(PermanentDependencyError):
        queue_backend.port.send("low", "a\x00b")


def test_unknown_queue_is_not_found(queue_backend):
    with pytest.raises(NotFound):
        queue_backend.port.send("urgent", "x")


def test_long_poll_returns_a_message_sent_while_waiting(queue_backend):
    q = queue_backend.port
    sender = threading.Timer(0.3, q.send, args=("high", "late"))
    sender.start()
    try:
        got = q.receive("high", wait_s=10)
        if not got:  # a slow machine: the poll may end between the send and its visibility
            got = q.receive("high", wait_s=10)
    finally:
        sender.join()
    assert [m.body for m in got] == ["late"]


def test_concurrent_receivers_get_every_message(queue_backend):
    """Four receivers drain 40 messages: each is received; on PostgreSQL by exactly one."""
    from concurrent.futures import ThreadPoolExecutor

    q = queue_backend.port
    for i in range(40):
        q.send("low", f"m{i}")

    def drain(_: int) -> list[str]:
        got: list[str] = []
        while batch := q.receive("low", max_messages=5, visibility_timeout_s=300):
            got += [m.body for m in batch]
        return got

    with ThreadPoolExecutor(4) as pool:
        results = [body for part in pool.map(drain, range(4)) for body in part]
    expected = {f"m{i}" for i in range(40)}
    if queue_backend.kind == "aws":
        # SQS standard queues deliver at least once: "occasionally more than one copy of a
        # message is delivered" (AWS SQS docs, standard queues, at-least-once delivery), and
        # moto under load does hand one message to two receivers now and then. Workers are
        # idempotent per delivery for that reason; here: nothing lost, nothing invented.
        assert set(results) == expected
    else:
        # The PostgreSQL queue (FOR UPDATE SKIP LOCKED) promises exactly one receiver.
        assert sorted(results) == sorted(expected)


# --- filtered move and peek (the redrive filters: spillway redrive --event/--since/--error) ---
def _dead_letters(q) -> dict[str, str]:
    """Six DLQ messages: (event, error) pairs; returns body -> event."""
    letters = {"i1": ("issues", "ValueError: bad payload"), "i2": ("issues", None),
               "p1": ("push", "ValueError: BAD payload"), "p2": ("push", "TypeError: x"),
               "i3": ("issues", "TypeError: y"), "n1": (None, "ValueError: bad")}
    for body, (event, error) in letters.items():
        attrs = {"priority": "high" if event == "issues" else "low"}
        if event:
            attrs["event"] = event
        if error:
            attrs["error"] = error
        q.send(DLQ, body, attrs)
    return {body: event for body, (event, _) in letters.items()}


def _bodies(q, queue: str) -> list[str]:
    got = []
    while batch := q.receive(queue, visibility_timeout_s=300):
        got += [m.body for m in batch]
    return sorted(got)


def test_peek_lists_matching_messages_and_moves_nothing(queue_backend):
    from chalicelib.ports import MessageFilter

    q = queue_backend.port
    _dead_letters(q)
    peeked = q.peek(DLQ, match=MessageFilter(event="issues"))
    assert sorted(m.body for m in peeked) == ["i1", "i2", "i3"]
    assert all(m.attributes["event"] == "issues" for m in peeked)
    # Nothing moved and nothing left hidden: all six are visible again right away.
    assert q.stats(DLQ).visible == 6 and q.stats("high").total == 0
    assert len(q.peek(DLQ, max_messages=2)) == 2
    assert _bodies(q, DLQ) == ["i1", "i2", "i3", "n1", "p1", "p2"]


def test_filtered_move_takes_only_matches_and_leaves_the_rest_visible(queue_backend):
    from chalicelib.ports import MessageFilter

    q = queue_backend.port
    _dead_letters(q)
    assert q.move(DLQ, None, 100, match=MessageFilter(event="issues")) == 3
    assert q.stats(DLQ).visible == 3  # the others were not left in flight
    assert _bodies(q, "high") == ["i1", "i2", "i3"]
    # --error is a case-insensitive substring of the dead-letter reason; no reason: no match.
    assert q.move(DLQ, None, 100, match=MessageFilter(error="bad payload")) == 1
    assert _bodies(q, "low") == ["p1"]
    assert _bodies(q, DLQ) == ["n1", "p2"]


def test_filtered_move_respects_max_and_since(queue_backend):
    from chalicelib.ports import MessageFilter

    q = queue_backend.port
    _dead_letters(q)
    assert q.move(DLQ, "medium", 2, match=MessageFilter(event="issues")) == 2
    assert q.stats(DLQ).visible == 4
    future = time.time() + 3600
    assert q.peek(DLQ, match=MessageFilter(since=future)) == []
    assert q.move(DLQ, "medium", 100, match=MessageFilter(since=future)) == 0
    past = time.time() - 3600
    assert len(q.peek(DLQ, match=MessageFilter(since=past, event="push"))) == 2
    assert len(_bodies(q, "medium")) == 2 and len(_bodies(q, DLQ)) == 4

"""The SQS worker handlers of ``app.py``, invoked directly with SQS events built from messages
that really went through the edge and the queue (moto server or the PostgreSQL queue), storing
into a migrated PostgreSQL application database. Each record has its own messageId (``chalice.test``'s event
generator repeats one id, which would hide partial-batch bugs)."""

from __future__ import annotations

import copy
import json
import uuid

import psycopg

from tests.functional.conftest import ISSUE_PAYLOAD, PR_PAYLOAD, Harness, corpus_payload


def accepted(worker: Harness, payload: dict, *, event: str = "pull_request",
             delivery: str | None = None) -> str:
    """Send ``payload`` through the edge; returns its delivery id."""
    reply = worker.post(payload, event=event, delivery=delivery or str(uuid.uuid4()))
    assert reply.status == 202, reply.body
    return reply.body["delivery"]


def ledger(worker: Harness) -> dict[str, tuple]:
    """``delivery_id -> (event, action, priority, attempts, sanitized, payload)``."""
    with psycopg.connect(worker.app_db) as conn:
        rows = conn.execute("SELECT delivery_id, event, action, priority, attempts, sanitized, "
                            "payload FROM webhook_deliveries").fetchall()
    return {r[0]: r[1:] for r in rows}


def failures(response: dict) -> set[str]:
    return {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}


def test_batch_is_stored_in_the_ledger(worker):
    pr = corpus_payload(PR_PAYLOAD)
    issue = corpus_payload(ISSUE_PAYLOAD)
    ids = [accepted(worker, pr), accepted(worker, issue, event="issues")]
    messages = worker.receive("high", 2)
    assert failures(worker.invoke_worker("high", messages)) == set()
    rows = ledger(worker)
    assert set(rows) == set(ids)
    assert rows[ids[0]][:4] == ("pull_request", "closed", "high", 1)
    assert rows[ids[0]][5] == pr
    assert rows[ids[1]][:3] == ("issues", "deleted", "high")
    with psycopg.connect(worker.app_db) as conn:
        (title,) = conn.execute("SELECT title FROM pull_requests WHERE id = %s",
                                (pr["pull_request"]["id"],)).fetchone()
    assert title == pr["pull_request"]["title"]


def test_partial_batch_response_names_only_the_failing_record(worker):
    """One record hits a transient database error (its ledger row is locked by another
    transaction: ``lock_not_available``); only it is reported, the others are stored."""
    payload = corpus_payload(ISSUE_PAYLOAD)
    ids = [accepted(worker, payload, event="issues") for _ in range(3)]
    messages = worker.receive("high", 3)
    blocked = next(m for m in messages if m.attributes["delivery_id"] == ids[1])
    with psycopg.connect(worker.app_db) as holder:  # an open transaction holding the key
        holder.execute(
            "INSERT INTO webhook_deliveries (hook_id, delivery_id, event, priority, "
            "received_at, payload, payload_bytes) VALUES (%s, %s, 'issues', 'high', now(), "
            "'{}', 2)", (blocked.attributes["hook_id"], ids[1]))
        response = worker.invoke_worker("high", messages)
        assert failures(response) == {blocked.message_id}
        holder.rollback()
    assert set(ledger(worker)) == {ids[0], ids[2]}
    assert worker.depths()["dlq"] == 0
    # the retry (SQS brings it back after the backoff) stores it
    response = worker.invoke_worker("high", [blocked], receive_count=2)
    assert failures(response) == set()
    rows = ledger(worker)
    assert set(rows) == set(ids) and rows[ids[1]][3] == 2


def test_garbage_body_is_dead_lettered_with_its_reason(worker):
    good = accepted(worker, corpus_payload(ISSUE_PAYLOAD), event="issues")
    worker.queue.send("high", "this is not an envelope", {"event": "issues"})
    messages = worker.receive("high", 2)
    assert failures(worker.invoke_worker("high", messages)) == set()
    assert set(ledger(worker)) == {good}
    (dead,) = worker.receive("dlq", 1)
    assert dead.body == "this is not an envelope"
    assert "envelope" in dead.attributes["error"]
    assert dead.attributes["event"] == "issues"


def test_missing_claim_check_blob_is_dead_lettered_not_retried(worker):
    """A claim-check reference whose object is gone can never be processed: the record goes to
    the DLQ with its reason at once (no receive count burnt on retries), the rest is stored."""
    from chalicelib import wiring
    from chalicelib.core.envelope import parse_envelope

    good = accepted(worker, corpus_payload(ISSUE_PAYLOAD), event="issues")
    lost = accepted(worker, corpus_payload(ISSUE_PAYLOAD), event="issues")
    messages = worker.receive("high", 2)
    lost_msg = next(m for m in messages if m.attributes["delivery_id"] == lost)
    blobs = wiring.get_blobs()
    ref = blobs.put(f"gone/{lost}", lost_msg.body.encode())
    blobs.delete(ref)
    envelope = parse_envelope(lost_msg.body).with_claim_check(ref)
    body, attributes = envelope.to_message()
    worker.queue.send("high", body, attributes)
    worker.queue.delete("high", [lost_msg.receipt_handle])
    messages = [m for m in messages if m is not lost_msg] + worker.receive("high", 1)
    assert failures(worker.invoke_worker("high", messages)) == set()
    assert set(ledger(worker)) == {good}
    (dead,) = worker.receive("dlq", 1)
    assert dead.attributes["delivery_id"] == lost
    assert "NotFound" in dead.attributes["error"]


def test_redelivered_message_stores_once(worker):
    delivery = accepted(worker, corpus_payload(ISSUE_PAYLOAD), event="issues")
    (message,) = worker.receive("high", 1)
    assert failures(worker.invoke_worker("high", [message])) == set()
    # SQS is at-least-once: the same message again (e.g. its delete was lost)
    assert failures(worker.invoke_worker("high", [message], receive_count=2)) == set()
    rows = ledger(worker)
    assert list(rows) == [delivery] and rows[delivery][3] == 1
    assert worker.depths()["dlq"] == 0


def test_nul_character_is_sanitized_not_dead_lettered(worker):
    payload = copy.deepcopy(corpus_payload(ISSUE_PAYLOAD))
    payload["issue"]["title"] = "before\u0000after"
    delivery = accepted(worker, payload, event="issues")
    messages = worker.receive("high", 1)
    assert failures(worker.invoke_worker("high", messages)) == set()
    row = ledger(worker)[delivery]
    assert row[4] is True  # sanitized
    assert row[5]["issue"]["title"] == "before\ufffdafter"
    assert worker.depths()["dlq"] == 0


def test_older_delivery_does_not_move_a_pull_request_back(worker):
    base = corpus_payload(PR_PAYLOAD)
    newer, older = copy.deepcopy(base), copy.deepcopy(base)
    newer["pull_request"].update(title="newer title", updated_at="2030-01-02T00:00:00Z",
                                 state="closed")
    older["pull_request"].update(title="older title", updated_at="2030-01-01T00:00:00Z",
                                 state="open")
    accepted(worker, newer)
    assert failures(worker.invoke_worker("high", worker.receive("high", 1))) == set()
    accepted(worker, older)  # arrives (and is received) later, but describes an earlier state
    assert failures(worker.invoke_worker("high", worker.receive("high", 1))) == set()
    assert len(ledger(worker)) == 2
    with psycopg.connect(worker.app_db) as conn:
        title, state, updated = conn.execute(
            "SELECT title, state, updated_at FROM pull_requests WHERE id = %s",
            (base["pull_request"]["id"],)).fetchone()
    assert (title, state) == ("newer title", "closed")
    assert updated.isoformat().startswith("2030-01-02")


def test_payload_stored_exactly_as_sent(worker):
    """The ledger keeps the document itself (jsonb), not a re-encoding of it."""
    payload = corpus_payload(PR_PAYLOAD)
    delivery = accepted(worker, payload)
    assert failures(worker.invoke_worker("high", worker.receive("high", 1))) == set()
    assert json.dumps(ledger(worker)[delivery][5], sort_keys=True) == json.dumps(
        payload, sort_keys=True)


def test_unreachable_database_holds_back_the_rest_of_the_batch(worker, tmp_path):
    """The first record meets an unreachable database (reported failed, retried later); the
    other records are not tried against it: they are re-sent with a delay (held back), so one
    batch costs one connection timeout, not one per record, and burns no receive counts."""
    ids = [accepted(worker, corpus_payload(ISSUE_PAYLOAD), event="issues") for _ in range(3)]
    messages = worker.receive("high", 3)
    worker.configure(DATABASE_URL=f"host={tmp_path} dbname=nowhere user=nobody",
                     RETRY_BASE_S="30")
    response = worker.invoke_worker("high", messages)
    assert failures(response) == {messages[0].message_id}
    assert worker.depths()["dlq"] == 0
    assert worker.queue.receive("high", 10, 60, 0.0) == []  # held back: delayed, not visible
    stats = worker.queue.stats("high")
    assert stats.delayed == 2
    assert {m.attributes["delivery_id"] for m in messages[1:]} == set(ids) - {
        messages[0].attributes["delivery_id"]}


def test_database_url_can_come_from_an_ssm_secure_string(worker):
    """On AWS the workers read the database URL from SSM (``DATABASE_URL_PARAM``), so the
    password is not in the function's environment."""
    import boto3
    import pytest

    if worker.backend != "aws":
        pytest.skip("SSM is part of the aws backend")
    boto3.client("ssm").put_parameter(Name="/spillway/test/database-url", Type="SecureString",
                                      Value=worker.app_db)
    delivery = accepted(worker, corpus_payload(ISSUE_PAYLOAD), event="issues")
    messages = worker.receive("high", 1)
    worker.configure(DATABASE_URL="", DATABASE_URL_PARAM="/spillway/test/database-url")
    assert failures(worker.invoke_worker("high", messages)) == set()
    assert set(ledger(worker)) == {delivery}


def test_claim_check_that_is_not_utf8_is_dead_lettered_at_once(worker):
    """A claim-check blob that is not UTF-8 JSON can never be stored: straight to the DLQ with
    its reason (no retries), and the rest of the batch is stored, not held back."""
    from chalicelib import wiring
    from chalicelib.core.envelope import parse_envelope

    good = accepted(worker, corpus_payload(ISSUE_PAYLOAD), event="issues")
    bad = accepted(worker, corpus_payload(ISSUE_PAYLOAD), event="issues")
    messages = worker.receive("high", 2)
    bad_msg = next(m for m in messages if m.attributes["delivery_id"] == bad)
    ref = wiring.get_blobs().put(f"garbled/{bad}", b"\xff\xfe{not utf-8")
    body, attributes = parse_envelope(bad_msg.body).with_claim_check(ref).to_message()
    worker.queue.send("high", body, attributes)
    worker.queue.delete("high", [bad_msg.receipt_handle])
    batch = worker.receive("high", 1) + [m for m in messages if m is not bad_msg]
    assert failures(worker.invoke_worker("high", batch)) == set()
    assert set(ledger(worker)) == {good}
    (dead,) = worker.receive("dlq", 1)
    assert dead.attributes["delivery_id"] == bad
    assert "UTF-8" in dead.attributes["error"]


def test_v1_and_v2_messages_in_one_batch_are_both_stored(worker):
    """Messages queued by an edge before message v2 (one JSON object, the payload escaped into
    a string) are stored exactly like v2 ones (a header line, then the payload as sent), in
    the same batch: an upgrade loses nothing queued."""
    import dataclasses

    from chalicelib.core.envelope import parse_envelope

    old = accepted(worker, corpus_payload(ISSUE_PAYLOAD), event="issues")
    new = accepted(worker, corpus_payload(ISSUE_PAYLOAD), event="issues")
    messages = worker.receive("high", 2)
    old_msg = next(m for m in messages if m.attributes["delivery_id"] == old)
    assert old_msg.body.count("\n") >= 1  # v2 from today's edge
    envelope = parse_envelope(old_msg.body)
    v1 = json.dumps({"v": 1, **dataclasses.asdict(envelope)}, separators=(",", ":"))
    worker.queue.send("high", v1, dict(old_msg.attributes))
    worker.queue.delete("high", [old_msg.receipt_handle])
    messages = [m for m in messages if m is not old_msg] + worker.receive("high", 1)
    assert failures(worker.invoke_worker("high", messages)) == set()
    rows = ledger(worker)
    assert set(rows) == {old, new}
    assert rows[old][5] == rows[new][5] == corpus_payload(ISSUE_PAYLOAD)

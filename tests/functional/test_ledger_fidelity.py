"""Ledger fidelity (issue 18 item 5): the ledger keeps the body as GitHub sent it, numbers
with every digit (no float on the way), strings exact; only NUL and lone surrogates are
replaced, and flagged. Through the store (one delivery and a batch) and end to end (edge,
queue, worker)."""

from __future__ import annotations

import json
import uuid

import psycopg

from chalicelib.worker_batch import store_fields
from tests.functional import test_pg_store_batch
from tests.functional.conftest import PR_PAYLOAD, corpus_payload

make_store = test_pg_store_batch.make_store

#: What must come back digit for digit (a float would give 3.141592653589793, 1.2345678901234568e+29
#: and 1.1).
EXACT = {"pi": "3.141592653589793238462643383279", "big": "123456789012345678901234567890",
         "price": "1.10"}


def body_text(extra: str = "") -> str:
    """A pull_request payload's JSON text with the numbers of :data:`EXACT` written in."""
    base = json.dumps(corpus_payload(PR_PAYLOAD), separators=(",", ":"))
    fields = ",".join(f'"{k}":{v}' for k, v in EXACT.items())
    return base[:-1] + f',"numbers":{{{fields}}}{extra}}}'


def ledger_numbers(url: str, delivery_id: str) -> tuple[dict[str, str], bool, str]:
    """``({name: digits}, sanitized, note)`` of the stored delivery."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT payload->'numbers'->>'pi', payload->'numbers'->>'big', "
            "payload->'numbers'->>'price', sanitized, payload->>'note' "
            "FROM webhook_deliveries WHERE delivery_id = %s", (delivery_id,)).fetchone()
    return dict(zip(EXACT, row[:3], strict=True)), row[3], row[4]


def delivery(text: str, delivery_id: str) -> dict:
    return {"hook_id": "h1", "delivery_id": delivery_id, "event": "pull_request",
            "action": "closed", "priority": "high", "received_at": 1_780_000_000.0,
            "receive_count": 1, "payload": json.loads(text), "payload_bytes": len(text),
            "payload_text": text}


def test_the_ledger_keeps_every_digit_through_store_and_store_batch(make_store):
    store, url = make_store("t_fidelity")
    text = body_text()
    assert store.store(**delivery(text, "one")) is True
    assert store.store_batch([delivery(text, "b1"), delivery(text, "b2")]) == [True, True]
    for delivery_id in ("one", "b1", "b2"):
        assert ledger_numbers(url, delivery_id) == (EXACT, False, None)


def test_only_nul_and_lone_surrogates_are_replaced_and_flagged(make_store):
    store, url = make_store("t_fidelity_nul")
    text = body_text(r',"note":"a\u0000b\ud800c\\u0000\ud83d\ude00"')
    assert store.store_batch([delivery(text, "n1"), delivery(body_text(), "n2")]) == [True, True]
    numbers, sanitized, note = ledger_numbers(url, "n1")
    assert (numbers, sanitized) == (EXACT, True)
    assert note == "a\ufffdb\ufffdc\\u0000\U0001f600"
    assert ledger_numbers(url, "n2") == (EXACT, False, None)


def test_a_delivery_keeps_every_digit_from_the_edge_to_the_ledger(worker):
    ids = []
    for _ in range(2):  # two records: the batch path
        ids.append(str(uuid.uuid4()))
        reply = worker.post(body_text().encode("utf-8"), event="pull_request", delivery=ids[-1])
        assert reply.status == 202, reply.body
    messages = worker.receive("high", 2)
    response = worker.invoke_worker("high", messages)
    assert not response.get("batchItemFailures")
    for delivery_id in ids:
        assert ledger_numbers(worker.app_db, delivery_id) == (EXACT, False, None)


def test_the_store_gets_the_message_text_not_a_re_encoding():
    from chalicelib.core.envelope import parse_envelope

    text = body_text()
    body = json.dumps({"v": 1, "delivery_id": "d", "hook_id": "h", "event": "pull_request",
                       "action": "closed", "priority": "high", "target": "light",
                       "received_at": 1.0, "payload_json": text, "payload_ref": None,
                       "body_bytes": len(text)})
    envelope = parse_envelope(body)
    fields = store_fields(envelope, json.loads(text), 1)
    assert fields["payload_text"] == text


def test_a_claim_checked_delivery_keeps_every_digit(worker):
    """A payload fetched from its claim check (too big for the queue) reaches the ledger as the
    text GitHub sent too, alone and in a batch: the worker hands the fetched text to the store
    instead of re-encoding the parsed payload (which would give 3.141592653589793)."""
    from chalicelib import wiring
    from chalicelib.core.envelope import parse_envelope

    ids = [str(uuid.uuid4()) for _ in range(2)]
    for delivery_id in ids:
        reply = worker.post(body_text().encode("utf-8"), event="pull_request", delivery=delivery_id)
        assert reply.status == 202, reply.body
    for message in worker.receive("high", 2):
        envelope = parse_envelope(message.body)
        ref = wiring.get_blobs().put(f"fidelity/{envelope.delivery_id}",
                                     envelope.payload_json.encode("utf-8"))
        body, attributes = envelope.with_claim_check(ref).to_message()
        worker.queue.send("high", body, attributes)
        worker.queue.delete("high", [message.receipt_handle])
    checked = worker.receive("high", 2)
    assert all(parse_envelope(m.body).payload_ref for m in checked)
    assert not worker.invoke_worker("high", checked).get("batchItemFailures")
    for delivery_id in ids:
        assert ledger_numbers(worker.app_db, delivery_id) == (EXACT, False, None)

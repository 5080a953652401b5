"""Blank ids (issue 8 item 3): an envelope whose ``delivery_id`` is empty, whitespace or not
printable ASCII breaks the edge's rule for ``X-GitHub-Delivery``
(:func:`chalicelib.core.delivery.id_problem`) and goes to the DLQ with its reason, on both
backends, through the worker handler; its neighbours in the batch are stored."""

from __future__ import annotations

import json

import pytest

from chalicelib.core.envelope import parse_envelope
from chalicelib.errors import MalformedPayload
from tests.functional.conftest import ISSUE_PAYLOAD, corpus_payload
from tests.functional.test_worker_sqs import accepted, failures, ledger


@pytest.mark.parametrize("bad_id", ["", "   ", "\t", "caf\u00e9", "x" * 201])
def test_an_envelope_with_an_unusable_delivery_id_is_dead_lettered(worker, bad_id):
    good = accepted(worker, corpus_payload(ISSUE_PAYLOAD), event="issues")
    other = accepted(worker, corpus_payload(ISSUE_PAYLOAD), event="issues")
    messages = worker.receive("high", 2)
    victim = next(m for m in messages if m.attributes["delivery_id"] == other)
    head, _, payload = victim.body.partition("\n")  # a v2 message: header line, payload
    record = json.loads(head)
    record["delivery_id"] = bad_id  # as a buggy producer or a hand-made redrive would send it
    body = json.dumps(record) + "\n" + payload
    with pytest.raises(MalformedPayload, match="delivery_id"):
        parse_envelope(body)
    worker.queue.send("high", body, {"event": "issues"})
    worker.queue.delete("high", [victim.receipt_handle])
    messages = [m for m in messages if m is not victim] + worker.receive("high", 1)
    assert failures(worker.invoke_worker("high", messages)) == set()
    assert set(ledger(worker)) == {good}  # nothing stored under the bad id, neighbour stored
    (dead,) = worker.receive("dlq", 1)
    assert json.loads(dead.body.partition("\n")[0])["delivery_id"] == bad_id
    assert "delivery_id" in dead.attributes["error"]
    assert "bad envelope" in dead.attributes["error"]

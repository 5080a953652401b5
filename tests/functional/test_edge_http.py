"""The edge route through ``chalice.test.Client`` on both backends (moto server / PostgreSQL).

Every bad input is answered with its status and a JSON error body naming the problem, and
leaves no trace: nothing enqueued, and no dedup record (the same delivery, sent correctly
afterwards, is accepted as new, not answered as a duplicate).
"""

from __future__ import annotations

import json
import os
import uuid

import pytest

from chalicelib.core.envelope import parse_envelope
from chalicelib.ports import QUEUES
from tests.functional.conftest import (
    CORPUS,
    OMIT,
    PING_PAYLOAD,
    PR_PAYLOAD,
    PUSH_PAYLOAD,
    SECRET,
    Harness,
    compact,
    corpus_payload,
    sign,
)

#: A small, valid delivery body (an ``issues`` event is high priority).
SMALL = {"action": "opened", "issue": {"id": 1, "number": 1, "title": "hello"}}
FORM_DELIVERY = CORPUS / "_captured-deliveries" / "gidgethub-ping-form-urlencoded"


def error_message(reply) -> str:
    """The human-readable part of a JSON error body (ours: ``message``; Chalice's: ``Message``)."""
    assert isinstance(reply.body, dict), f"error body is not a JSON object: {reply.body!r}"
    message = reply.body.get("message") or reply.body.get("Message")
    assert isinstance(message, str) and message, reply.body
    return message


def assert_left_no_trace(edge: Harness, delivery: str, hook: str = "1001") -> None:
    """Nothing queued anywhere; the same (hook, delivery) is then accepted as a new delivery."""
    assert edge.depths() == dict.fromkeys(QUEUES, 0)
    again = edge.post(SMALL, delivery=delivery, hook=hook)
    assert again.status == 202, again.body
    assert again.body.get("queued") is True and "duplicate" not in again.body, again.body


def assert_rejected(edge: Harness, reply, status: int, *words: str, delivery: str) -> None:
    assert reply.status == status, reply.body
    message = error_message(reply).lower()
    for word in words:
        assert word.lower() in message, f"{word!r} not in error message {message!r}"
    if isinstance(reply.body, dict) and "error" in reply.body:
        assert reply.body["error"], reply.body
    assert_left_no_trace(edge, delivery)


# --- bad inputs: one test each ------------------------------------------------------------------
BODY = compact(SMALL)
BAD_SIGNATURES = {
    "missing": (OMIT, "missing"),
    "non_hex": ("sha256=" + "zz" * 32, "hexadecimal"),
    "wrong_length": ("sha256=" + "ab" * 10, "64 hex digits"),
    "non_ascii": ("sha256=" + "é" * 64, "non-ASCII"),
    "wrong_prefix": ("sha1=" + "ab" * 20, "sha256="),
    "wrong_secret": (sign(BODY, "not-" + SECRET), "does not match"),
    "other_body": (sign(b'{"action":"closed"}'), "does not match"),
}


@pytest.mark.parametrize("case", sorted(BAD_SIGNATURES))
def test_bad_signature_is_401(edge, case):
    signature, word = BAD_SIGNATURES[case]
    delivery = str(uuid.uuid4())
    reply = edge.post(BODY, delivery=delivery, signature=signature)
    assert_rejected(edge, reply, 401, word, delivery=delivery)
    assert reply.body["error"] == "invalid_signature"


def test_missing_event_header_is_400(edge):
    delivery = str(uuid.uuid4())
    reply = edge.post(BODY, delivery=delivery, event=OMIT)
    assert_rejected(edge, reply, 400, "X-GitHub-Event", "missing", delivery=delivery)


def test_missing_delivery_header_is_400(edge):
    reply = edge.post(BODY, X_GitHub_Delivery=OMIT)
    assert reply.status == 400, reply.body
    assert "x-github-delivery" in error_message(reply).lower()
    assert edge.depths() == dict.fromkeys(QUEUES, 0)


def test_non_json_body_is_400(edge):
    delivery = str(uuid.uuid4())
    reply = edge.post(b"this is { not json", delivery=delivery)
    assert_rejected(edge, reply, 400, "not valid JSON", delivery=delivery)


def test_json_array_is_400(edge):
    delivery = str(uuid.uuid4())
    reply = edge.post(b'[{"action":"opened"}]', delivery=delivery)
    assert_rejected(edge, reply, 400, "object", delivery=delivery)


def test_body_over_max_body_bytes_is_413(edge):
    edge.configure(MAX_BODY_BYTES="4096")
    big = compact({"action": "opened", "padding": "x" * 5000})
    delivery = str(uuid.uuid4())
    reply = edge.post(big, delivery=delivery)
    assert_rejected(edge, reply, 413, "4096", delivery=delivery)
    assert reply.body["error"] == "payload_too_large"


def test_unsupported_content_type_is_415(edge):
    delivery = str(uuid.uuid4())
    reply = edge.post(BODY, delivery=delivery, content_type="text/plain")
    assert_rejected(edge, reply, 415, "text/plain", delivery=delivery)


# --- good inputs --------------------------------------------------------------------------------
def test_corpus_payload_is_queued_once_with_attributes(edge):
    payload = corpus_payload(PR_PAYLOAD)
    delivery = str(uuid.uuid4())
    reply = edge.post(payload, event="pull_request", delivery=delivery, hook="4242")
    assert reply.status == 202, reply.body
    assert reply.body["delivery"] == delivery
    assert reply.body["priority"] == "high"
    assert reply.body["queued"] is True
    assert edge.depths() == {"high": 1, "medium": 0, "low": 0, "heavy": 0, "batch": 0, "dlq": 0}
    (message,) = edge.receive("high", 1)
    assert message.attributes["event"] == "pull_request"
    assert message.attributes["action"] == "closed"
    assert message.attributes["delivery_id"] == delivery
    assert message.attributes["hook_id"] == "4242"
    assert message.attributes["priority"] == "high"
    assert float(message.attributes["received_at"]) > 1_700_000_000  # epoch seconds
    envelope = parse_envelope(message.body)
    assert json.loads(envelope.payload_json) == payload


def test_redelivery_is_a_duplicate_and_not_queued_again(edge):
    delivery = str(uuid.uuid4())
    first = edge.post(SMALL, delivery=delivery)
    assert first.status == 202, first.body
    again = edge.post(SMALL, delivery=delivery)
    assert 200 <= again.status < 300, again.body
    assert again.body["duplicate"] is True
    assert again.body["queued"] is False  # the answer says what happened this time
    assert again.body["delivery"] == delivery
    assert edge.depths()["high"] == 1


def test_same_delivery_id_for_another_hook_is_a_new_delivery(edge):
    delivery = str(uuid.uuid4())
    assert edge.post(SMALL, delivery=delivery, hook="1").status == 202
    other = edge.post(SMALL, delivery=delivery, hook="2")
    assert other.status == 202, other.body
    assert "duplicate" not in other.body
    assert edge.depths()["high"] == 2


def test_ping_is_accepted(edge):
    payload = corpus_payload(PING_PAYLOAD)
    reply = edge.post(payload, event="ping")
    assert 200 <= reply.status < 300, reply.body
    assert edge.depths()["low"] == 1


def test_unknown_event_type_is_queued(edge):
    reply = edge.post({"action": "teleported", "thing": {"id": 7}}, event="future_event_2031")
    assert reply.status == 202, reply.body
    assert reply.body["queued"] is True
    (message,) = edge.receive(reply.body["priority"], 1)
    assert message.attributes["event"] == "future_event_2031"


def test_json_with_charset_is_accepted(edge):
    reply = edge.post(SMALL, content_type="application/json; charset=utf-8")
    assert reply.status == 202, reply.body


def test_form_urlencoded_capture_is_accepted(edge):
    if not FORM_DELIVERY.is_dir():
        pytest.skip(f"captured delivery not found under {FORM_DELIVERY}")
    headers = json.loads((FORM_DELIVERY / "headers.json").read_text())
    body = (FORM_DELIVERY / "body.x-www-form-urlencoded.txt").read_bytes().rstrip(b"\r\n")
    reply = edge.post(body, event=headers["x-github-event"],
                      delivery=headers["x-github-delivery"], content_type=headers["content-type"])
    assert reply.status == 202, reply.body
    (message,) = edge.receive(reply.body["priority"], 1)
    payload = json.loads(parse_envelope(message.body).payload_json)
    assert payload["zen"] == "Keep it logically awesome."
    assert payload["hook_id"] == 13736792


def test_unicode_payload_survives_the_queue(edge):
    payload = {"action": "opened", "issue": {
        "id": 99, "title": "emoji 🎉🧪, RTL שלום עולם مرحبا, NUL \u0000 inside",
        "body": "combining e\u0301 and astral 𝄞"}}
    reply = edge.post(payload)
    assert reply.status == 202, reply.body
    (message,) = edge.receive("high", 1)
    assert json.loads(parse_envelope(message.body).payload_json) == payload


def test_payload_bigger_than_sqs_limit(edge):
    """aws: through the S3 claim check (the message carries a reference, the object holds the
    payload). postgres: its queue takes up to 100 MiB, so the payload travels inline."""
    base = corpus_payload(PUSH_PAYLOAD)
    commit = (base.get("commits") or [{"id": "0" * 40, "message": "m"}])[0]
    commits = [{**commit, "id": f"{i:040x}", "message": f"commit {i} " + "m" * 1000}
               for i in range(1400)]
    payload = {**base, "commits": commits}
    body = compact(payload)
    assert 1_400_000 < len(body) < 6_000_000
    reply = edge.post(body, event="push")
    assert reply.status == 202, reply.body
    assert reply.body["claim_check"] is (edge.backend == "aws")
    # a push of 1400 commits is heavy: its own queue, still high priority
    assert (reply.body["target"], reply.body["queue"], reply.body["priority"]) == \
        ("heavy", "heavy", "high")
    (message,) = edge.receive("heavy", 1)
    envelope = parse_envelope(message.body)
    if edge.backend != "aws":
        assert json.loads(envelope.payload_json) == payload
        return
    assert envelope.payload_json is None and envelope.payload_ref.startswith("s3://")

    import boto3  # the aws_env fixture points it at the moto server

    s3 = boto3.client("s3")
    bucket = os.environ["CLAIM_CHECK_BUCKET"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert len(keys) == 1 and envelope.payload_ref.endswith(keys[0])
    stored = s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read()
    assert json.loads(stored) == payload


def _break_the_dedup_store(edge: Harness) -> None:
    if edge.backend == "aws":
        import boto3

        boto3.client("dynamodb").delete_table(TableName="spillway-idempotency")
    else:
        import psycopg

        with psycopg.connect(os.environ["QUEUE_DATABASE_URL"], autocommit=True) as conn:
            conn.execute("DROP TABLE idempotency_records")


def test_a_failed_dedup_store_does_not_lose_the_delivery(edge):
    """Dedup only saves work (the workers are idempotent on the same key): when its store
    fails, the delivery is still accepted and queued, once."""
    _break_the_dedup_store(edge)
    reply = edge.post(SMALL, event="issues", delivery=str(uuid.uuid4()))
    assert reply.status == 202, reply.body
    assert reply.body["queued"] is True
    assert edge.depths()["high"] == 1


def test_an_unavailable_secret_is_a_json_503_not_a_crash(edge):
    """The secret comes from SSM on AWS; if it cannot be read (missing, throttled), the edge
    answers 503 with a JSON error and stores nothing -- GitHub shows the delivery as failed."""
    edge.configure(GITHUB_WEBHOOK_SECRET="",
                   GITHUB_WEBHOOK_SECRET_PARAM="/spillway/test/no-such-parameter")
    reply = edge.post(SMALL, event="issues", delivery=str(uuid.uuid4()))
    assert reply.status == 503, reply.body
    assert reply.body["error"] == "unavailable" and "secret" in reply.body["message"]
    assert sum(edge.depths().values()) == 0

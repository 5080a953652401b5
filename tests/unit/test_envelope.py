"""Envelope: corpus roundtrip, hostile characters, attributes never empty, garbage rejected."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.core.classify import Classification, classify
from chalicelib.core.delivery import Delivery
from chalicelib.core.envelope import (
    MAX_ATTRIBUTE_CHARS,
    Envelope,
    build_envelope,
    parse_envelope,
)
from chalicelib.core.queues import message_bytes
from chalicelib.errors import MalformedPayload
from tests.corpus import CORPUS

GUID = "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def delivery_of(payload_json: str, *, event: str = "issues", action: str | None = "opened",
                hook_id: str = "292430182") -> Delivery:
    return Delivery(event=event, action=action, delivery_id=GUID, hook_id=hook_id,
                    payload_json=payload_json, payload={}, body_bytes=len(payload_json),
                    received_at=1_700_000_000.125)


def envelope_of(payload_json: str = "{}", **kwargs) -> Envelope:
    return build_envelope(delivery_of(payload_json, **kwargs), Classification("high", "light"))


def sqs_accepts(text: str) -> bool:
    """SQS's allowed characters (AWS SQS SendMessage API reference)."""
    return all(c in "\t\n\r" or 0x20 <= ord(c) <= 0xD7FF or 0xE000 <= ord(c) <= 0xFFFD
               or ord(c) >= 0x10000 for c in text)


def assert_roundtrips(envelope: Envelope) -> tuple[str, dict[str, str]]:
    body, attributes = envelope.to_message()
    assert body.isascii() and sqs_accepts(body)
    assert parse_envelope(body) == envelope
    assert all(value and sqs_accepts(value) for value in attributes.values()), attributes
    return body, attributes


def test_build_envelope_copies_the_delivery_and_classification():
    delivery = delivery_of('{"action":"opened"}')
    envelope = build_envelope(delivery, Classification("medium", "batch"))
    assert envelope == Envelope(
        delivery_id=GUID, hook_id="292430182", event="issues", action="opened",
        priority="medium", target="batch", received_at=1_700_000_000.125,
        payload_json='{"action":"opened"}', payload_ref=None, body_bytes=19,
    )
    assert envelope.idempotency_key == delivery.idempotency_key == f"292430182:{GUID}"


def test_message_attributes():
    body, attributes = assert_roundtrips(envelope_of())
    assert attributes == {
        "event": "issues", "action": "opened", "delivery_id": GUID, "hook_id": "292430182",
        "priority": "high", "target": "light", "received_at": "1700000000.125",
    }
    assert json.loads(body)["v"] == 1


@pytest.mark.parametrize(("action", "hook_id"), [(None, ""), ("", "")])
def test_empty_attributes_are_omitted(action, hook_id):
    _, attributes = assert_roundtrips(envelope_of(action=action, hook_id=hook_id))
    assert "action" not in attributes and "hook_id" not in attributes


def test_hostile_action_attribute_is_made_sqs_safe_and_bounded():
    action = "x\x00y\ud800z" + "a" * 1000
    envelope = envelope_of(action=action)
    _, attributes = assert_roundtrips(envelope)
    assert attributes["action"].startswith("x\ufffdy\ufffdz")
    assert len(attributes["action"]) == MAX_ATTRIBUTE_CHARS
    assert parse_envelope(envelope.to_message()[0]).action == action  # the body is exact


def test_every_corpus_payload_roundtrips():
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        pytest.skip(f"payload corpus not found at {CORPUS} (set SPILLWAY_CORPUS)")
    for line in manifest.read_text("utf-8").splitlines()[1:]:
        path, event, action = line.split("\t")[:3]
        text = json.dumps(json.loads((CORPUS / path).read_text("utf-8")), separators=(",", ":"))
        delivery = delivery_of(text, event=event, action=action or None)
        envelope = build_envelope(delivery, classify(event, delivery.action, len(text)))
        body, attributes = assert_roundtrips(envelope)
        assert parse_envelope(body).payload_json == text, path
        assert ("action" in attributes) == bool(action), path
        # the documented cost of embedding the document as a string: well under +25 %
        assert message_bytes(body) < 1.25 * len(text) + 500, path


hostile_chars = st.one_of(
    st.characters(),
    st.integers(0x00, 0x1F).map(chr),
    st.integers(0xD800, 0xDFFF).map(chr),  # lone surrogates
    st.sampled_from(["\ufffe", "\uffff", "\x7f", "\u2028", '"', "\\"]),
)


def split_surrogate_pairs(text: str) -> str:
    """``text`` with a space between each high surrogate and a low one following it."""
    return re.sub("([\ud800-\udbff])(?=[\udc00-\udfff])", "\\1 ", text)


hostile_text = st.text(alphabet=hostile_chars, max_size=200).map(split_surrogate_pairs)


@given(payload=hostile_text, action=st.none() | hostile_text)
def test_control_characters_and_lone_surrogates_survive(payload, action):
    envelope = envelope_of(payload, action=action)
    body, attributes = assert_roundtrips(envelope)
    assert parse_envelope(body).payload_json == payload
    assert message_bytes(body) == len(body)


def test_escaped_nul_and_lone_surrogate_in_the_document_survive():
    text = '{"a":"\\u0000","b":"\\ud800","c":"\x00\x1f"}'
    assert parse_envelope(assert_roundtrips(envelope_of(text))[0]).payload_json == text


def test_a_surrogate_pair_of_code_points_comes_back_as_one_character():
    # JSON cannot tell "\ud83c\udf89" from U+1F389; decoded UTF-8 never holds surrogates.
    body, _ = envelope_of("\ud83c\udf89").to_message()
    assert parse_envelope(body).payload_json == "\U0001f389"


def test_non_ascii_costs_escapes():
    text = json.dumps({"body": "é🎉"}, ensure_ascii=False)
    body, _ = assert_roundtrips(envelope_of(text))
    assert "\\u00e9" in body and "\\ud83c\\udf89" in body


def test_claim_check():
    envelope = envelope_of('{"big":"' + "x" * 10_000 + '"}')
    checked = envelope.with_claim_check("s3://bucket/292430182/" + GUID)
    assert checked.payload_json is None
    assert checked.payload_ref == "s3://bucket/292430182/" + GUID
    assert checked.delivery_id == envelope.delivery_id and checked.body_bytes == 10_010
    body, _ = assert_roundtrips(checked)
    assert message_bytes(body) < 500


def test_message_bytes_counts_utf8_and_attributes():
    assert message_bytes("é") == 2
    assert message_bytes("ab", {"event": "push"}) == 2 + len("event") + len("String") + 4


@pytest.mark.parametrize(
    "changes",
    [{"payload_ref": "ref"}, {"payload_json": None}, {"payload_json": None, "payload_ref": ""},
     {"priority": "urgent"}, {"target": "gpu"}, {"received_at": float("nan")}],
    ids=["both", "neither", "empty-ref", "priority", "target", "nan-time"],
)
def test_invalid_envelopes_cannot_be_built(changes):
    import dataclasses

    with pytest.raises(ValueError):
        dataclasses.replace(envelope_of(), **changes)


def valid_record() -> dict:
    return json.loads(envelope_of().to_message()[0])


@pytest.mark.parametrize(
    "body",
    ["", "not json", "[]", "null", '"s"', "[" * 100_000, '{"v":1,"received_at":NaN}'],
    ids=["empty", "text", "array", "null", "string", "deep", "nan"],
)
def test_garbage_is_malformed(body):
    with pytest.raises(MalformedPayload):
        parse_envelope(body)


@pytest.mark.parametrize(
    "changes",
    [{"v": 2}, {"v": True}, {"v": None}, {"delivery_id": None}, {"event": 5},
     {"action": 5}, {"priority": "urgent"}, {"target": None}, {"received_at": "now"},
     {"received_at": True}, {"received_at": 10**400}, {"body_bytes": -1}, {"body_bytes": 1.5},
     {"payload_json": None}, {"payload_ref": "ref"}],
)
def test_invalid_records_are_malformed(changes):
    record = {**valid_record(), **changes}
    with pytest.raises(MalformedPayload):
        parse_envelope(json.dumps(record))


@pytest.mark.parametrize("name", ["delivery_id", "hook_id", "payload_ref", "received_at", "v"])
def test_missing_fields_are_malformed(name):
    record = valid_record()
    del record[name]
    with pytest.raises(MalformedPayload):
        parse_envelope(json.dumps(record))


def test_unknown_fields_are_ignored():
    record = {**valid_record(), "added_later": {"x": 1}}
    assert parse_envelope(json.dumps(record)) == envelope_of()

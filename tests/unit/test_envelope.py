"""Envelope: corpus roundtrip, hostile characters, attributes never empty, garbage rejected;
v2 messages (header line + raw payload) and v1 messages (one JSON object) both read."""

from __future__ import annotations

import dataclasses
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


def v1_body(envelope: Envelope) -> str:
    """The message an edge before v2 wrote for ``envelope``."""
    return json.dumps({"v": 1, **dataclasses.asdict(envelope)}, separators=(",", ":"))


def assert_roundtrips(envelope: Envelope) -> tuple[str, dict[str, str]]:
    body, attributes = envelope.to_message()
    assert sqs_accepts(body) and body.partition("\n")[0].isascii()
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
    header = json.loads(body.partition("\n")[0])
    assert header["v"] == 2 and body.endswith("\n{}")
    fields = {f.name for f in dataclasses.fields(Envelope)}
    assert set(header) == {"v"} | fields - {"payload_json"}  # every field but the text


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
        # v2 carries the document as sent: the header is all it adds
        assert body.endswith("\n" + text), path
        assert message_bytes(body) < len(text.encode("utf-8")) + 500, path
        assert parse_envelope(v1_body(envelope)) == envelope, path  # v1 still reads


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
    assert message_bytes(body) == len(body.encode("utf-8"))


def test_escaped_nul_and_lone_surrogate_in_the_document_survive():
    text = '{"a":"\\u0000","b":"\\ud800","c":"\x00\x1f"}'
    assert parse_envelope(assert_roundtrips(envelope_of(text))[0]).payload_json == text


def test_a_surrogate_pair_of_code_points_comes_back_as_one_character():
    # JSON cannot tell "\ud83c\udf89" from U+1F389; decoded UTF-8 never holds surrogates.
    body, _ = envelope_of("\ud83c\udf89").to_message()
    assert parse_envelope(body).payload_json == "\U0001f389"


def test_non_ascii_travels_as_sent():
    text = json.dumps({"body": "é🎉"}, ensure_ascii=False)
    body, _ = assert_roundtrips(envelope_of(text))
    assert body.endswith("\n" + text)


@pytest.mark.parametrize("char", ["\ufffe", "\uffff"])
def test_json_text_sqs_refuses_travels_as_v1(char):
    """Valid JSON from strict UTF-8 can hold U+FFFE/U+FFFF raw; SQS refuses both."""
    text = '{"a":"' + char + '"}'
    envelope = envelope_of(text)
    body, _ = envelope.to_message(strict_json=True)
    assert sqs_accepts(body) and body.isascii() and json.loads(body)["v"] == 1
    assert parse_envelope(body).payload_json == text


def test_every_character_sqs_refuses_is_one_strict_json_may_not_hold_but_two():
    """The edge's cheap check (two substring searches) is exact for the text it sends:
    JSON text decoded from strict UTF-8 holds no surrogate, and no control character but
    tab, LF and CR, raw -- so of the characters SQS refuses only U+FFFE and U+FFFF remain."""
    from chalicelib.core.delivery import loads_strict

    refused = [c for c in map(chr, range(0x110000)) if not sqs_accepts(c)]
    holdable = []
    for c in refused:
        try:
            raw = ('"' + c + '"').encode("utf-8")
        except UnicodeEncodeError:  # a surrogate: never in text decoded from UTF-8
            continue
        try:
            loads_strict(raw.decode("utf-8"))
        except ValueError:
            continue
        holdable.append(c)
    assert holdable == ["\ufffe", "\uffff"]


def test_v1_and_v2_read_the_same_envelope():
    envelope = envelope_of('{"action":"opened","n":3.141592653589793238462643383279}')
    v2, _ = envelope.to_message()
    assert v2.count("\n") == 1
    assert parse_envelope(v2) == parse_envelope(v1_body(envelope)) == envelope
    # a v1 message written by hand with line feeds (indent) still reads as v1
    indented = json.dumps({"v": 1, **dataclasses.asdict(envelope)}, indent=2)
    assert parse_envelope(indented) == envelope


def test_v2_claim_check_carries_no_text():
    checked = envelope_of().with_claim_check("ref")
    body, _ = checked.to_message()
    assert body.endswith("\n") and parse_envelope(body) == checked
    with pytest.raises(MalformedPayload):
        parse_envelope(body + "{}")


def test_v2_payload_text_is_taken_as_is():
    header = envelope_of().to_message()[0].partition("\n")[0]
    assert parse_envelope(header + "\n").payload_json == ""
    assert parse_envelope(header + "\nnot json\n{}").payload_json == "not json\n{}"


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
    return json.loads(v1_body(envelope_of()))


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
    header = json.loads(envelope_of().to_message()[0].partition("\n")[0])
    assert parse_envelope(json.dumps({**header, "added_later": 1}) + "\n{}") == envelope_of()


@pytest.mark.parametrize(
    "changes",
    [{"v": 3}, {"delivery_id": None}, {"payload_ref": 5}, {"body_bytes": -1}, {"target": "gpu"}],
)
def test_invalid_v2_headers_are_malformed(changes):
    header = json.loads(envelope_of().to_message()[0].partition("\n")[0])
    with pytest.raises(MalformedPayload):
        parse_envelope(json.dumps({**header, **changes}) + "\n{}")

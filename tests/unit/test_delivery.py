"""parse_delivery: one test per bad input, form-urlencoded, unicode, and the whole corpus."""

from __future__ import annotations

import csv
import json

import pytest

from chalicelib.core.delivery import MAX_JSON_DEPTH, Delivery, parse_delivery
from chalicelib.core.signature import sign
from chalicelib.errors import (
    InvalidHeader,
    MalformedPayload,
    MissingHeader,
    PayloadTooLarge,
    SignatureInvalid,
    UnsupportedMediaType,
)
from tests.corpus import CORPUS

SECRET = "test-secret"
CAP = 1_000_000
NOW = 1_700_000_000.25

GUID = "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def request(body: bytes, *, secret: str = SECRET, **overrides: str | None):
    """GitHub-like headers for ``body`` signed with ``secret``; ``overrides`` replace or (with
    None) drop headers, named with underscores (``X_GitHub_Event``)."""
    headers = {
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": GUID,
        "X-GitHub-Hook-ID": "292430182",
        "X-GitHub-Hook-Installation-Target-Type": "repository",
        "X-GitHub-Hook-Installation-Target-ID": "79929171",
        "X-Hub-Signature-256": sign(secret, body),
        "User-Agent": "GitHub-Hookshot/044aadd",
        "Content-Type": "application/json",
    }
    for name, value in overrides.items():
        name = name.replace("_", "-")
        headers.pop(name, None)
        if value is not None:
            headers[name] = value
    return headers, body


def parse(headers, body, **kwargs) -> Delivery:
    options = {"secret": SECRET, "max_body_bytes": CAP, "received_at": NOW, **kwargs}
    return parse_delivery(headers, body, **options)


def test_a_json_delivery_parses():
    body = b'{"action":"opened","issue":{"number":1}}'
    delivery = parse(*request(body))
    assert delivery.event == "issues"
    assert delivery.action == "opened"
    assert delivery.delivery_id == GUID
    assert delivery.hook_id == "292430182"
    assert delivery.payload_json == body.decode()
    assert delivery.payload == {"action": "opened", "issue": {"number": 1}}
    assert delivery.body_bytes == len(body)
    assert delivery.received_at == NOW
    assert delivery.idempotency_key == f"292430182:{GUID}"


def test_lowercase_headers_and_absent_optional_ones():
    body = b'{"zen":"Keep it logically awesome."}'
    headers, _ = request(body, X_GitHub_Hook_ID=None, X_GitHub_Hook_Installation_Target_Type=None,
                         X_GitHub_Hook_Installation_Target_ID=None)
    delivery = parse({k.lower(): v for k, v in headers.items()}, body)
    assert delivery.action is None
    assert delivery.hook_id == ""
    assert delivery.idempotency_key == f":{GUID}"


@pytest.mark.parametrize("action", [5, None, ["opened"], {"x": 1}])
def test_a_non_string_action_becomes_none(action):
    body = json.dumps({"action": action}).encode()
    assert parse(*request(body)).action is None


@pytest.mark.parametrize(
    "content_type",
    [None, "", "application/json", "application/json; charset=utf-8", "Application/JSON",
     "application/json;charset=UTF-8"],
)
def test_json_content_types(content_type):
    body = b'{"a":1}'
    assert parse(*request(body, Content_Type=content_type)).payload == {"a": 1}


def test_trailing_newline_and_whitespace_are_fine():
    body = b'{"action":"created"}\n'
    delivery = parse(*request(body))
    assert delivery.payload_json == '{"action":"created"}\n'
    assert delivery.body_bytes == len(body)


def test_delivery_repr_does_not_dump_the_payload():
    delivery = parse(*request(b'{"secret_stuff":"' + b"x" * 1000 + b'"}'))
    assert "secret_stuff" not in repr(delivery)


def test_deliveries_hash_and_compare_by_value_despite_the_dict_field():
    body = b'{"action":"opened"}'
    first, again = parse(*request(body)), parse(*request(body))
    other = parse(*request(body, X_GitHub_Delivery="8a1e4c2e-cc78-11e3-81ab-4c9367dc0958"))
    assert first is not again and first == again and hash(first) == hash(again)
    assert first != other
    assert len({first, again, other}) == 2
    assert {first: "seen"}[again] == "seen" and other not in {first: "seen"}


# --- rejections, in order ----------------------------------------------------------------------


def test_oversize_body_is_rejected_before_the_signature():
    body = b'{"a":"' + b"x" * 100 + b'"}'
    headers, _ = request(body, X_Hub_Signature_256=None)
    with pytest.raises(PayloadTooLarge) as info:
        parse(headers, body, max_body_bytes=len(body) - 1)
    assert info.value.status == 413
    assert parse(*request(body), max_body_bytes=len(body)).payload["a"] == "x" * 100


def test_missing_signature():
    with pytest.raises(SignatureInvalid, match="missing") as info:
        parse(*request(b"{}", X_Hub_Signature_256=None))
    assert info.value.status == 401


def test_malformed_signature():
    with pytest.raises(SignatureInvalid, match="sha256="):
        parse(*request(b"{}", X_Hub_Signature_256="md5=abc"))


def test_wrong_signature():
    with pytest.raises(SignatureInvalid, match="does not match"):
        parse(*request(b"{}", secret="not-the-secret"))


def test_signature_is_checked_before_the_other_headers_and_the_body():
    headers, _ = request(b"garbage", secret="wrong", X_GitHub_Event=None, Content_Type="text/xml")
    with pytest.raises(SignatureInvalid):
        parse(headers, b"garbage")


@pytest.mark.parametrize("name", ["X_GitHub_Event", "X_GitHub_Delivery"])
@pytest.mark.parametrize("value", [None, "", "  "])
def test_missing_required_header(name, value):
    with pytest.raises(MissingHeader, match="missing") as info:
        parse(*request(b"{}", **{name: value}))
    assert (info.value.status, info.value.code) == (400, "missing_header")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X_GitHub_Event", "pull request"),
        ("X_GitHub_Event", "issues\r\nX-Injected: 1"),
        ("X_GitHub_Event", "évènement"),
        ("X_GitHub_Event", "e" * 101),
        ("X_GitHub_Event", "push;drop"),
        ("X_GitHub_Delivery", "abc\x00def"),
        ("X_GitHub_Delivery", "abc\x7fdef"),
        ("X_GitHub_Delivery", "d" * 201),
        ("X_GitHub_Delivery", "gü1d"),
        ("X_GitHub_Hook_ID", "1:2"),
        ("X_GitHub_Hook_ID", "12\t34"),
        ("X_GitHub_Hook_Installation_Target_Type", "repo\nsitory"),
    ],
)
def test_invalid_header_values(name, value):
    """A header that is present but unusable is invalid, not missing: same 400, its own code."""
    with pytest.raises(InvalidHeader, match="invalid") as info:
        parse(*request(b"{}", **{name: value}))
    assert (info.value.status, info.value.code) == (400, "invalid_header")
    assert not isinstance(info.value, MissingHeader)


@pytest.mark.parametrize("event", ["ping", "some_future_event", "projects_v2.item", "a-b", "X1"])
def test_unknown_but_safe_event_names_are_accepted(event):
    assert parse(*request(b"{}", X_GitHub_Event=event)).event == event


def test_header_values_of_exactly_the_limit_are_accepted():
    delivery = parse(*request(b"{}", X_GitHub_Delivery="d" * 200, X_GitHub_Event="e" * 100))
    assert delivery.delivery_id == "d" * 200


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "multipart/form-data; boundary=x", "application/jsonx",
     "application/vnd.github+json"],
)
def test_bad_content_type(content_type):
    with pytest.raises(UnsupportedMediaType) as info:
        parse(*request(b"{}", Content_Type=content_type))
    assert info.value.status == 415


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"{", b'{"a":1}{"b":2}', b"\xef\xbb\xbf{}",
     b'{"a":"raw\ncontrol"}'],
    ids=["empty", "text", "truncated", "two-documents", "bom", "raw-control-char"],
)
def test_not_json(body):
    with pytest.raises(MalformedPayload, match="not valid JSON"):
        parse(*request(body))


@pytest.mark.parametrize("body", [b"[]", b'[{"action":"x"}]', b"1", b'"s"', b"null", b"true"])
def test_json_that_is_not_an_object(body):
    with pytest.raises(MalformedPayload, match="must be an object"):
        parse(*request(body))


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_rejected(constant):
    with pytest.raises(MalformedPayload, match="not valid JSON"):
        parse(*request(f'{{"a":{constant}}}'.encode()))


@pytest.mark.parametrize(
    "body",
    [b"\xff{}", b'{"a":"\xc3"}', b'{"a":"\xed\xa0\x80"}', b'{"a":"\xc0\xaf"}'],
    ids=["invalid-start", "truncated-sequence", "encoded-surrogate", "overlong"],
)
def test_invalid_utf8(body):
    with pytest.raises(MalformedPayload, match="UTF-8"):
        parse(*request(body))


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000, b'{"a":' * 100_000, b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"],
    ids=["unclosed-arrays", "unclosed-objects", "balanced-arrays"],
)
def test_hostile_deep_nesting_is_malformed_not_a_crash(body):
    with pytest.raises(MalformedPayload, match="nests"):
        parse(*request(body))


def test_nesting_just_within_the_limit_is_accepted_and_beyond_is_not():
    def nested(depth: int) -> bytes:  # depth counts the outer object
        return b'{"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"

    assert parse(*request(nested(MAX_JSON_DEPTH))).payload["a"] is not None
    with pytest.raises(MalformedPayload, match=f"deeper than {MAX_JSON_DEPTH}"):
        parse(*request(nested(MAX_JSON_DEPTH + 1)))


def test_duplicate_keys_keep_the_last():
    assert parse(*request(b'{"action":"a","action":"b"}')).action == "b"


# --- unicode -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["🎉 shipped 👩🏽‍💻", "مرحبا بالعالم", "שלום \u202e", "日本語", "nul \u0000 inside", "\U0001f600",
     "tab\tnewline\n", "\u2028\u2029"],
)
def test_unicode_payloads_parse(text):
    for ensure_ascii in (True, False):
        document = json.dumps({"action": "created", "comment": {"body": text}},
                              ensure_ascii=ensure_ascii)
        delivery = parse(*request(document.encode("utf-8")))
        assert delivery.payload["comment"]["body"] == text
        assert delivery.payload_json == document


def test_escaped_nul_and_lone_surrogate_escapes_parse():
    body = b'{"a":"\\u0000","b":"\\ud800"}'
    delivery = parse(*request(body))
    assert delivery.payload == {"a": "\x00", "b": "\ud800"}
    assert delivery.payload_json == body.decode()


# --- form-urlencoded ---------------------------------------------------------------------------

CAPTURED = CORPUS / "_captured-deliveries" / "gidgethub-ping-form-urlencoded"


def captured_form_delivery() -> tuple[dict[str, str], bytes]:
    if not CAPTURED.is_dir():
        pytest.skip(f"captured delivery not found at {CAPTURED}")
    headers = json.loads((CAPTURED / "headers.json").read_text("utf-8"))
    body = (CAPTURED / "body.x-www-form-urlencoded.txt").read_bytes()
    body = body[:-1] if body.endswith(b"\n") else body  # added when saved, not sent (README)
    headers["x-hub-signature-256"] = sign(SECRET, body)
    return headers, body


def test_captured_form_urlencoded_ping():
    headers, body = captured_form_delivery()
    delivery = parse(headers, body)
    assert delivery.event == "ping"
    assert delivery.delivery_id == "44840d80-36a8-11e7-89d0-954e94e187c2"
    assert delivery.hook_id == ""
    assert delivery.action is None
    assert delivery.payload["zen"] == "Keep it logically awesome."
    assert delivery.payload["hook_id"] == 13736792
    # the decoded document is GitHub's compact serialization (README)
    assert delivery.payload_json == json.dumps(delivery.payload, separators=(",", ":"),
                                               ensure_ascii=False)
    assert delivery.body_bytes == len(body)


def test_form_signature_covers_the_whole_form_body():
    headers, body = captured_form_delivery()
    with pytest.raises(SignatureInvalid):
        parse(headers, body + b"&extra=1")


def form(document: str, **fields: str) -> bytes:
    from urllib.parse import urlencode

    return urlencode({"payload": document, **fields}).encode("ascii")


def test_form_with_unicode_and_other_fields():
    document = json.dumps({"action": "created", "body": "🎉 + & = %"}, ensure_ascii=False)
    body = form(document, other="ignored")
    delivery = parse(*request(body, Content_Type="application/x-www-form-urlencoded"))
    assert delivery.payload_json == document
    assert delivery.action == "created"


FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("body", "message", "content_type"),
    [
        (b"", "no 'payload' field", f"{FORM}; charset=utf-8"),
        (b"other=1", "no 'payload' field", f"{FORM}; charset=utf-8"),
        (b"payloa=%7B%7D", "no 'payload' field", f"{FORM}; charset=utf-8"),
        (b"Payload=%7B%7D", "no 'payload' field", f"{FORM}; charset=utf-8"),
        (b"payload=%7B%7D&payload=%7B%7D", "more than one", FORM),
        (b"payload=%FF%7B%7D", "malformed", FORM),
        (b"payload=%5B%5D", "must be an object", FORM),
        (b"payload=not+json", "not valid JSON", FORM),
        (b"&".join(b"f%d=1" % i for i in range(200)) + b"&payload=%7B%7D", "malformed", FORM),
    ],
    ids=["empty", "other-field", "misspelt", "wrong-case",
         "two-payloads", "bad-utf8-escape", "array", "not-json", "too-many-fields"],
)
def test_bad_form_payloads(body, message, content_type):
    with pytest.raises(MalformedPayload, match=message):
        parse(*request(body, Content_Type=content_type))


# --- the corpus --------------------------------------------------------------------------------


def corpus_rows() -> list[dict[str, str]]:
    """Rows of the corpus manifest (path, event, action, bytes, sha256)."""
    if not (CORPUS / "MANIFEST.tsv").is_file():
        pytest.skip(f"payload corpus not found at {CORPUS} (set SPILLWAY_CORPUS)")
    with open(CORPUS / "MANIFEST.tsv", encoding="utf-8", newline="") as manifest:
        return list(csv.DictReader(manifest, delimiter="\t"))


def test_every_corpus_payload_parses():
    rows = corpus_rows()
    assert len(rows) > 200
    for row in rows:
        document = json.loads((CORPUS / row["path"]).read_text("utf-8"))
        body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        assert len(body) == int(row["bytes"]), row["path"]
        delivery = parse(*request(body, X_GitHub_Event=row["event"]))
        assert delivery.event == row["event"]
        assert delivery.action == (row["action"] or None), row["path"]
        assert delivery.payload == document
        assert delivery.payload_json.encode("utf-8") == body

"""The envelope: what travels on the work queues, as message text plus message attributes.

**v2** (written since issue 18): a header line -- compact ASCII JSON, ``"v": 2`` and every field
but the payload (``payload_ref`` set for a claim check) -- then ``"\n"``, then the payload as
the JSON document text GitHub sent, **not re-escaped**::

    {"v":2,"delivery_id":"...","hook_id":"...",...,"payload_ref":null,"body_bytes":1234}\n{"action":...}

A JSON header never holds a raw line feed, so the first ``"\n"`` ends it. SQS accepts only
``#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF`` (AWS SQS ``SendMessage``
API reference). Text the edge accepted is valid JSON decoded from strict UTF-8, so it holds no
surrogate and no raw control character but tab, CR and LF; the two non-characters U+FFFE and
U+FFFF are the only characters it may hold that SQS rejects. A payload holding either (or, when
the envelope was built from anything but such text, any rejected character) travels as a **v1**
message instead (:meth:`Envelope.to_message`), so nothing is ever refused.

**v1** (still read: messages queued across an upgrade, and the fallback above): one JSON object
``"v": 1`` carrying the payload as a JSON *string* (``payload_json``), serialised with
``ensure_ascii=True`` -- every non-ASCII character becomes a ``\\uXXXX`` escape, so any string
is accepted by SQS, at the cost of escaping the payload once more (each ``"`` and ``\\``
doubles, about +10-15 % for GitHub JSON; non-ASCII 6 bytes, 12 outside the BMP).

Either way :attr:`Envelope.payload_json` is the document text exactly as GitHub sent it.
Measure sizes with :func:`chalicelib.core.queues.message_bytes` (the header counts).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.core.classify import TARGETS, Classification
from chalicelib.core.delivery import Delivery, id_problem, idempotency_key, loads_strict
from chalicelib.core.queues import PRIORITIES
from chalicelib.errors import MalformedPayload

try:  # a compiled wheel; without it the standard library writes every header
    from orjson import dumps as _orjson_dumps
except ImportError:  # pragma: no cover
    _orjson_dumps = None

#: Version of the envelope written, as ``"v"`` (:data:`V1` only for text SQS would refuse).
ENVELOPE_VERSION = 2
#: The single-JSON-object version, still read and written as the fallback.
V1 = 1
#: Longest message attribute value we send (characters); longer values are cut. Attributes are
#: routing hints; the body is authoritative.
MAX_ATTRIBUTE_CHARS = 256


@dataclass(frozen=True)
class Envelope:
    """One queued delivery.

    ``received_at`` is epoch seconds; ``body_bytes`` the raw request body size in bytes.
    Exactly one of ``payload_json`` (the JSON document text) and ``payload_ref`` (a claim-check
    reference from :class:`~chalicelib.ports.BlobPort`) is set; construction raises ValueError
    otherwise, or when ``priority``/``target`` are not known values.
    """

    delivery_id: str
    hook_id: str
    event: str
    action: str | None
    priority: str
    target: str
    received_at: float
    payload_json: str | None = dataclasses.field(repr=False)
    payload_ref: str | None
    body_bytes: int

    def __post_init__(self) -> None:
        if (self.payload_json is None) == (self.payload_ref is None):
            raise ValueError("exactly one of payload_json and payload_ref must be set")
        if not math.isfinite(self.received_at):
            raise ValueError(f"received_at must be finite, got {self.received_at!r}")
        if self.payload_ref == "":
            raise ValueError("payload_ref must not be empty")
        if self.priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {PRIORITIES}, got {self.priority!r}")
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {self.target!r}")

    @property
    def idempotency_key(self) -> str:
        """``"<hook_id>:<delivery_id>"``, the same as :attr:`Delivery.idempotency_key`."""
        return idempotency_key(self.hook_id, self.delivery_id)

    def with_claim_check(self, ref: str) -> Envelope:
        """A copy carrying ``ref`` (a claim-check reference) instead of the payload text."""
        return dataclasses.replace(self, payload_json=None, payload_ref=ref)

    def to_message(self, *, strict_json: bool = False) -> tuple[str, dict[str, str]]:
        """``(body, attributes)`` for :meth:`~chalicelib.ports.QueuePort.send`.

        ``body`` is a v2 message (header line + payload text), or v1 compact ASCII JSON when
        the payload holds a character SQS rejects (see the module docstring). Pass
        ``strict_json=True`` when ``payload_json`` is known to be JSON text decoded from strict
        UTF-8 (the edge's :func:`~chalicelib.core.delivery.parse_delivery` checked it): the
        check for such characters is then two substring searches (:func:`sqs_safe_text`)
        instead of a scan of every character (:data:`_SQS_REJECTED`). ``attributes`` (string message attributes):
        ``event``, ``action``, ``delivery_id``, ``hook_id``, ``priority``, ``target``,
        ``received_at`` (``str`` of the float). Empty values are omitted (SQS rejects them), so
        ``action`` is absent when None or ``""`` and ``hook_id`` when ``""``. Values are cut to
        :data:`MAX_ATTRIBUTE_CHARS` and characters SQS rejects become U+FFFD.
        """
        payload = self.payload_json
        if payload is None or (sqs_safe_text(payload) if strict_json
                               else _SQS_REJECTED.search(payload) is None):
            body = _header_line({
                "v": ENVELOPE_VERSION, "delivery_id": self.delivery_id,
                "hook_id": self.hook_id, "event": self.event, "action": self.action,
                "priority": self.priority, "target": self.target,
                "received_at": self.received_at, "payload_ref": self.payload_ref,
                "body_bytes": self.body_bytes}) + "\n" + (payload or "")
        else:
            # Every field is a scalar: no need for dataclasses.asdict's recursive deep copy.
            body = _dumps({"v": V1, **{name: getattr(self, name) for name in _FIELDS}})
        raw = {
            "event": self.event,
            "action": self.action,
            "delivery_id": self.delivery_id,
            "hook_id": self.hook_id,
            "priority": self.priority,
            "target": self.target,
            "received_at": str(float(self.received_at)),
        }
        attributes = {name: _sqs_safe(value)[:MAX_ATTRIBUTE_CHARS] for name, value in raw.items()
                      if value}
        return body, attributes


def build_envelope(delivery: Delivery, cls: Classification) -> Envelope:
    """The envelope for ``delivery`` classified as ``cls``, carrying the payload text inline."""
    return Envelope(
        delivery_id=delivery.delivery_id,
        hook_id=delivery.hook_id,
        event=delivery.event,
        action=delivery.action,
        priority=cls.priority,
        target=cls.target,
        received_at=float(delivery.received_at),
        payload_json=delivery.payload_json,
        payload_ref=None,
        body_bytes=delivery.body_bytes,
    )


#: The envelope's field names, in declaration order (the body's key order).
_FIELDS = tuple(f.name for f in dataclasses.fields(Envelope))


def _dumps(record: Mapping[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=True, separators=(",", ":"), allow_nan=False)


def _header_line(header: Mapping[str, Any]) -> str:
    """``header`` as compact ASCII JSON: by orjson when every string in it is printable ASCII
    (its output is then ASCII, and no character needs escaping beyond what both escape),
    else by :func:`_dumps`. Both read back to the same values."""
    if _orjson_dumps is not None and all(
            type(v) is not str or (v.isascii() and v.isprintable()) for v in header.values()):
        return _orjson_dumps(header).decode("ascii")
    return _dumps(header)

def sqs_safe_text(text: str) -> bool:
    """True if ``text``, JSON text decoded from strict UTF-8, holds no character SQS rejects:
    such text can only hold U+FFFE or U+FFFF of them (see the module docstring). Any other
    text may hold more: check it with :data:`_SQS_REJECTED`."""
    return "\uffff" not in text and "\ufffe" not in text
_STR_FIELDS = ("delivery_id", "hook_id", "event", "priority", "target")
_OPTIONAL_STR_FIELDS = ("action", "payload_json", "payload_ref")


def parse_envelope(body: str) -> Envelope:
    """The envelope encoded in ``body`` (text from :meth:`Envelope.to_message`): v2 (a header
    line, then the payload text) or v1 (one JSON object, no line feed).

    Unknown extra fields are ignored (forward compatibility). Raises
    :class:`~chalicelib.errors.MalformedPayload` when the header (v2) or ``body`` (v1) is not
    JSON, not an object, has another version, or misses or mistypes a field, when a v2 claim
    check also carries payload text, or when ``delivery_id`` (or a non-empty
    ``hook_id``) breaks the edge's rule for ids (:func:`chalicelib.core.delivery.id_problem`:
    non-blank, printable ASCII, bounded length; ``hook_id`` without ``:``).
    """
    head, newline, payload = body.partition("\n")
    record: Any = _v2_header(head) if newline else None
    version = ENVELOPE_VERSION if record is not None else V1
    if record is None:
        try:
            record = loads_strict(body)
        except ValueError as exc:
            raise MalformedPayload(f"envelope is not valid JSON: {exc}") from None
    if not isinstance(record, dict):
        raise MalformedPayload(f"envelope must be a JSON object, got {type(record).__name__}")
    if type(record.get("v")) is not int or record["v"] != version:
        raise MalformedPayload(f"envelope version {record.get('v')!r} is not supported")
    try:
        fields: dict[str, Any] = {name: _typed(record, name, str) for name in _STR_FIELDS}
        for name in _OPTIONAL_STR_FIELDS:
            if version == V1 or name != "payload_json":
                fields[name] = _typed(record, name, (str, type(None)))
        if version != V1:
            if fields["payload_ref"] is not None and payload:
                raise ValueError("a claim check carries no payload text")
            fields["payload_json"] = None if fields["payload_ref"] is not None else payload
        try:
            fields["received_at"] = float(_typed(record, "received_at", (int, float)))
        except OverflowError:
            raise ValueError("field 'received_at' is out of range") from None
        _check_ids(fields)
        fields["body_bytes"] = _typed(record, "body_bytes", int)
        if fields["body_bytes"] < 0:
            raise ValueError("body_bytes must be >= 0")
        return Envelope(**fields)
    except ValueError as exc:
        raise MalformedPayload(f"envelope is invalid: {exc}") from None


def _v2_header(head: str) -> dict[str, Any] | None:
    """``head`` parsed when it is a v2 header (a JSON object with ``"v": 2``), else None (the
    message is then read whole, as v1: a v1 body written by hand may hold line feeds)."""
    if not head.startswith("{"):
        return None
    try:
        record = loads_strict(head)
    except ValueError:
        return None
    if isinstance(record, dict) and type(record.get("v")) is int and record["v"] == 2:
        return record
    return None


def _check_ids(fields: Mapping[str, Any]) -> None:
    problem = id_problem(fields["delivery_id"])
    if problem is not None:
        raise ValueError(f"field 'delivery_id' is {problem}" if problem == "blank"
                         else f"field 'delivery_id' is invalid: {problem}")
    hook_id = fields["hook_id"]
    if hook_id and (":" in hook_id or id_problem(hook_id) is not None):
        raise ValueError(f"field 'hook_id' is invalid: {hook_id[:40]!r}")


def _typed(record: Mapping[str, Any], name: str, types: type | tuple[type, ...]) -> Any:
    if name not in record:
        raise ValueError(f"field {name!r} is missing")
    value = record[name]
    if isinstance(value, bool) or not isinstance(value, types):
        raise ValueError(f"field {name!r} has type {type(value).__name__}")
    return value


#: One character SQS rejects: anything outside #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD |
#: #x10000-#x10FFFF (AWS SQS ``SendMessage`` API reference).
_SQS_REJECTED = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _sqs_safe(value: str) -> str:
    """``value`` with every character SQS rejects replaced by U+FFFD."""
    if (value.isascii() and value.isprintable()) or _SQS_REJECTED.search(value) is None:
        return value
    return _SQS_REJECTED.sub("\ufffd", value)

"""The envelope: what travels on the work queues, as JSON text plus message attributes.

The body is a JSON object (schema version ``"v": 1``) that carries the payload as a JSON
*string* (``payload_json``), so the worker receives the exact document text GitHub sent, or a
claim-check reference (``payload_ref``) when the payload was stored in a blob store because the
message would exceed the queue's size limit.

The body is serialised with ``ensure_ascii=True``: every non-ASCII character becomes a ``\\uXXXX``
escape. SQS accepts only ``#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF``
(AWS SQS ``SendMessage`` API reference), so a raw control character or lone surrogate would be
rejected; escaped, any string is accepted. Size cost: the payload text is escaped once more
(each ``"`` and ``\\`` doubles, about +10-15 % for GitHub JSON), and a non-ASCII character costs
6 bytes (12 outside the BMP) instead of its 2-4 UTF-8 bytes. Measure with :func:`chalicelib.core.queues.message_bytes`.

Every string survives the roundtrip exactly, control characters and lone surrogates included,
with one exception JSON cannot express: a ``str`` holding a high surrogate directly followed
by a low one comes back as the single character the pair encodes. Text decoded from UTF-8 (as
:func:`~chalicelib.core.delivery.parse_delivery` produces) never holds surrogate code points.
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

#: Version of the envelope body schema, written as ``"v"``.
ENVELOPE_VERSION = 1
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

    def to_message(self) -> tuple[str, dict[str, str]]:
        """``(body, attributes)`` for :meth:`~chalicelib.ports.QueuePort.send`.

        ``body`` is compact ASCII JSON text. ``attributes`` (string message attributes):
        ``event``, ``action``, ``delivery_id``, ``hook_id``, ``priority``, ``target``,
        ``received_at`` (``str`` of the float). Empty values are omitted (SQS rejects them), so
        ``action`` is absent when None or ``""`` and ``hook_id`` when ``""``. Values are cut to
        :data:`MAX_ATTRIBUTE_CHARS` and characters SQS rejects become U+FFFD.
        """
        # Every field is a scalar: no need for dataclasses.asdict's recursive deep copy.
        record = {"v": ENVELOPE_VERSION, **{name: getattr(self, name) for name in _FIELDS}}
        body = json.dumps(record, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
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
_STR_FIELDS = ("delivery_id", "hook_id", "event", "priority", "target")
_OPTIONAL_STR_FIELDS = ("action", "payload_json", "payload_ref")


def parse_envelope(body: str) -> Envelope:
    """The envelope encoded in ``body`` (text from :meth:`Envelope.to_message`).

    Unknown extra fields are ignored (forward compatibility). Raises
    :class:`~chalicelib.errors.MalformedPayload` when ``body`` is not JSON, not an object, has
    another version, or misses or mistypes a field, or when ``delivery_id`` (or a non-empty
    ``hook_id``) breaks the edge's rule for ids (:func:`chalicelib.core.delivery.id_problem`:
    non-blank, printable ASCII, bounded length; ``hook_id`` without ``:``).
    """
    try:
        record = loads_strict(body)
    except ValueError as exc:
        raise MalformedPayload(f"envelope is not valid JSON: {exc}") from None
    if not isinstance(record, dict):
        raise MalformedPayload(f"envelope must be a JSON object, got {type(record).__name__}")
    if type(record.get("v")) is not int or record["v"] != ENVELOPE_VERSION:
        raise MalformedPayload(f"envelope version {record.get('v')!r} is not supported")
    try:
        fields: dict[str, Any] = {name: _typed(record, name, str) for name in _STR_FIELDS}
        for name in _OPTIONAL_STR_FIELDS:
            fields[name] = _typed(record, name, (str, type(None)))
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
    if _SQS_REJECTED.search(value) is None:
        return value
    return _SQS_REJECTED.sub("\ufffd", value)

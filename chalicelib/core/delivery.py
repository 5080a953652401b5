"""Parse one GitHub webhook delivery from request headers and raw body bytes (sans I/O).

What GitHub sends (GitHub Docs, "Webhook events and payloads", "Delivery headers"):
``X-GitHub-Event``, ``X-GitHub-Delivery`` (a GUID, the same on a redelivery),
``X-GitHub-Hook-ID``, ``X-GitHub-Hook-Installation-Target-Type`` / ``-ID`` (validated, not kept),
``X-Hub-Signature-256`` and a ``Content-Type`` of ``application/json`` (the body is the JSON
document) or ``application/x-www-form-urlencoded`` (the body is ``payload=<urlencoded JSON>``).

:func:`parse_delivery` checks, in this order, so an unauthenticated caller learns nothing
beyond "too large" or "bad signature":

1. body size       -> :class:`~chalicelib.errors.PayloadTooLarge` (413)
2. signature       -> :class:`~chalicelib.errors.SignatureInvalid` (401)
3. GitHub headers  -> :class:`~chalicelib.errors.MissingHeader` (400, absent or blank) or
   :class:`~chalicelib.errors.InvalidHeader` (400, present but unusable)
4. Content-Type    -> :class:`~chalicelib.errors.UnsupportedMediaType` (415)
5. payload         -> :class:`~chalicelib.errors.MalformedPayload` (400)
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from chalicelib.core.signature import verify_signature
from chalicelib.errors import (
    InvalidHeader,
    MalformedPayload,
    MissingHeader,
    PayloadTooLarge,
    UnsupportedMediaType,
)

#: Longest accepted value of a GitHub header (characters). Real values are short: a GUID is 36.
MAX_HEADER_CHARS = 200
#: Deepest accepted JSON nesting (arrays + objects). GitHub payloads nest about 10 deep; the cap
#: keeps hostile documents from exhausting a worker's stack (Python's recursion limit is 1000,
#: PostgreSQL's ``max_stack_depth`` 2 MB) after the edge accepted them.
MAX_JSON_DEPTH = 256

_EVENT_RE = re.compile(r"[A-Za-z0-9_.\-]{1,100}")
_JSON = "application/json"
_FORM = "application/x-www-form-urlencoded"


def idempotency_key(hook_id: str, delivery_id: str) -> str:
    """``"<hook_id>:<delivery_id>"``: a delivery GUID is shared by every hook subscribed to the
    event, and repeated on a redelivery, so (hook, GUID) names one delivery to one hook."""
    return f"{hook_id}:{delivery_id}"


@dataclass(frozen=True)
class Delivery:
    """One authenticated, parsed delivery.

    ``hook_id`` is ``""`` when ``X-GitHub-Hook-ID`` is absent. ``payload_json`` is the JSON
    document text exactly as received (for form bodies: the decoded ``payload`` field);
    ``payload`` is its parse (a dict; :func:`loads_fast`: an integer beyond 64 bits may be a
    float -- only classification reads it). ``action`` is the payload's top-level ``action`` when it
    is a string, else None. ``body_bytes`` is the raw body length in bytes; ``received_at`` is
    epoch seconds.
    """

    event: str
    action: str | None
    delivery_id: str
    hook_id: str
    payload_json: str = field(repr=False)
    payload: dict[str, Any] = field(repr=False, compare=False)
    body_bytes: int
    received_at: float

    @property
    def idempotency_key(self) -> str:
        """``"<hook_id>:<delivery_id>"`` (see :func:`idempotency_key`)."""
        return idempotency_key(self.hook_id, self.delivery_id)


def parse_delivery(headers: Mapping[str, str], body: bytes, *,
                   secret: str | bytes | Sequence[str | bytes],
                   max_body_bytes: int, received_at: float) -> Delivery:
    """Authenticate and parse a delivery.

    ``headers`` are matched case-insensitively; ``body`` is the raw request body (bytes);
    ``secret`` the webhook secret, or the tuple of secrets accepted during a rotation
    (:func:`~chalicelib.core.signature.accepted_secrets`);
    ``max_body_bytes`` is the size cap in bytes; ``received_at`` is epoch seconds (from the
    caller's clock). Raises the :class:`~chalicelib.errors.DeliveryRejected` subclasses listed
    in the module docstring, in that order.
    """
    if len(body) > max_body_bytes:
        raise PayloadTooLarge(f"body is {len(body)} bytes; the limit is {max_body_bytes}")
    lowered = {str(k).lower(): v for k, v in headers.items()}
    verify_signature(secret, body, lowered.get("x-hub-signature-256"))

    event = _header(lowered, "X-GitHub-Event", required=True)
    if not _EVENT_RE.fullmatch(event):
        raise InvalidHeader(f"X-GitHub-Event is invalid: {event!r}")
    delivery_id = _header(lowered, "X-GitHub-Delivery", required=True)
    hook_id = _header(lowered, "X-GitHub-Hook-ID") or ""
    if ":" in hook_id:  # keeps "<hook_id>:<delivery_id>" unambiguous
        raise InvalidHeader(f"X-GitHub-Hook-ID is invalid: {hook_id!r}")
    # Not kept (nothing reads them), but a malformed one is still refused as before.
    for name in ("X-GitHub-Hook-Installation-Target-Type", "X-GitHub-Hook-Installation-Target-ID"):
        _header(lowered, name)

    payload_json = _document_text(lowered.get("content-type"), body)
    # Equal lengths mean an ASCII JSON body (a form body's text is shorter; non-ASCII text is
    # shorter than its UTF-8): the text is then the body's bytes, where brackets count faster.
    payload = _parse_object(payload_json, body if len(payload_json) == len(body) else None)
    action = payload.get("action")
    return Delivery(
        event=event,
        action=action if isinstance(action, str) else None,
        delivery_id=delivery_id,
        hook_id=hook_id,
        payload_json=payload_json,
        payload=payload,
        body_bytes=len(body),
        received_at=received_at,
    )


def _header(lowered: Mapping[str, str], name: str, *, required: bool = False) -> str | None:
    """The stripped value of header ``name``; None if absent or blank (MissingHeader if
    ``required``). Values must be printable ASCII of at most MAX_HEADER_CHARS characters
    (InvalidHeader otherwise)."""
    raw = lowered.get(name.lower())
    value = raw.strip(" \t") if isinstance(raw, str) else None
    if not value:
        if required:
            raise MissingHeader(f"{name} header is missing")
        return None
    problem = id_problem(value)
    if problem is not None:
        raise InvalidHeader(f"{name} is invalid: {problem}")
    return value


def id_problem(value: str) -> str | None:
    """Why ``value`` is not a usable id (``X-GitHub-Delivery``, ``X-GitHub-Hook-ID``, an
    envelope's ``delivery_id``), or None when it is: the one rule for every place an id enters.
    An id is non-blank, at most :data:`MAX_HEADER_CHARS` characters, printable ASCII."""
    if not value.strip():
        return "blank"
    if len(value) > MAX_HEADER_CHARS:
        return f"longer than {MAX_HEADER_CHARS} characters"
    if not (value.isascii() and value.isprintable()):
        return "only printable ASCII characters are allowed"
    return None


def _document_text(content_type: str | None, body: bytes) -> str:
    """The JSON document text carried by ``body`` under ``content_type``."""
    media_type = (content_type or "").split(";", 1)[0].strip(" \t").lower()
    if media_type not in ("", _JSON, _FORM):
        raise UnsupportedMediaType(
            f"Content-Type {media_type!r} is not supported; use {_JSON} or {_FORM}"
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedPayload(
            f"body is not valid UTF-8: {exc.reason} at byte {exc.start}"
        ) from None
    if media_type != _FORM:
        return text
    try:
        fields = parse_qs(text, keep_blank_values=True, encoding="utf-8", errors="strict",
                          max_num_fields=100)
    except (ValueError, UnicodeDecodeError) as exc:  # too many fields, bad percent-encoding
        raise MalformedPayload(f"form body is malformed: {exc}") from None
    values = fields.get("payload")
    if not values:
        raise MalformedPayload("form body has no 'payload' field")
    if len(values) > 1:
        raise MalformedPayload("form body has more than one 'payload' field")
    return values[0]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses to inf, which jsonb refuses as "Infinity"
        raise ValueError(f"number {text[:40]} is out of range for a double")
    return value


try:  # a compiled wheel: without it (an unsupported platform) the standard parser does it all
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover
    _orjson_loads = None

#: One decoder for every call: ``json.loads`` with hooks builds a new decoder each time.
_STRICT_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def loads_strict(text: str) -> Any:
    """``json.loads`` that also rejects ``NaN``/``Infinity`` and numbers that overflow a double
    (``1e400``) -- PostgreSQL jsonb refuses them once Python has turned them into ``inf``.

    Raises ValueError for any invalid input, including nesting deep enough to exhaust the
    parser's recursion (RecursionError is turned into ValueError).
    """
    if text.startswith("\ufeff"):  # what json.loads says; the decoder itself does not check
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    try:
        return _STRICT_DECODER.decode(text)
    except RecursionError:
        raise ValueError("JSON nests too deeply to parse") from None


def loads_fast(text: str) -> Any:
    """:func:`loads_strict`'s accept/reject decision, parsed by ``orjson`` when it accepts the
    text (about 2x faster on GitHub payloads). orjson refuses what :func:`loads_strict` refuses
    (NaN/Infinity, raw control characters in strings, ``1e400``, a BOM, invalid JSON); where
    it refuses, :func:`loads_strict` decides -- lone surrogate escapes, nesting past 1024
    levels, integers past about 309 digits. One difference in *values*, never in decisions:
    orjson (3.13) reads an integer beyond 64 bits as the nearest float. Use it where only the
    decision and the shape matter (the edge's classification); the workers store the text.
    Raises ValueError like :func:`loads_strict`."""
    if _orjson_loads is not None:
        try:
            return _orjson_loads(text)
        except ValueError:  # orjson.JSONDecodeError: the standard parser decides
            pass
    return loads_strict(text)


def _parse_object(text: str, raw: bytes | None = None) -> dict[str, Any]:
    """Parse ``text`` as a JSON object: no NaN/Infinity, at most MAX_JSON_DEPTH deep. ``raw``:
    ``text`` encoded as UTF-8, when the caller has it (only its brackets are counted)."""
    try:
        value = loads_fast(text)
    except ValueError as exc:  # JSONDecodeError is a ValueError
        raise MalformedPayload(f"body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise MalformedPayload(f"JSON payload must be an object, got {type(value).__name__}")
    # Counting brackets is cheap and bounds the depth; walk the tree only when it might exceed.
    brackets = (raw.count(b"{") + raw.count(b"[")) if raw is not None else (
        text.count("{") + text.count("["))
    if brackets > MAX_JSON_DEPTH and _too_deep(value, MAX_JSON_DEPTH):
        raise MalformedPayload(f"JSON nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def _too_deep(root: Any, limit: int) -> bool:
    """True if ``root`` has containers nested more than ``limit`` deep (iterative walk)."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False

"""The edge's event formats: one adapter from what a front hands Lambda to the edge's
``handle(headers, body)`` and back (one job: event formats; no I/O of its own).

Fronts (``front`` in the tier plan, :data:`chalicelib.core.concurrency.plan.FRONTS`):

* ``rest`` -- API Gateway REST API: Chalice's own route in ``app.py`` (v1 proxy event); this
  module is not used there, but reads a v1 event too (an HTTP API may be set to payload 1.0).
* ``http`` -- API Gateway HTTP API, payload format 2.0 (AWS API Gateway docs, "Working with
  AWS Lambda proxy integrations for HTTP APIs").
* ``function-url`` -- a Lambda function URL: the same payload format 2.0 (AWS Lambda docs,
  "Invoking Lambda function URLs", request and response payloads).

Payload 2.0 as both send it: ``version`` ``"2.0"``; ``rawPath``; ``requestContext.http.method``;
``headers`` with **lower-cased** names and repeated headers joined by commas; ``cookies`` as
their own list (never in ``headers``); ``body`` a string, **base64** when ``isBase64Encoded``
(binary or non-text content types; GitHub's JSON usually arrives as text, so the text is
encoded back to UTF-8 bytes -- the bytes the signature was made over). The answer is
``{"statusCode", "headers", "body", "isBase64Encoded": false}``; cookies are never set.

Routes (the same as the REST API's): ``POST /webhooks/github`` -> the edge, ``GET /health``
-> liveness, anything else 404 (unknown path) or 405 (known path, other method), as JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

WEBHOOK_PATH = "/webhooks/github"
HEALTH_PATH = "/health"
_JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Request:
    """One HTTP request as a front delivered it: ``method`` upper-case, ``path`` without the
    stage, ``headers`` (names as sent: lower-case for payload 2.0), ``body`` the raw bytes."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class BadEvent(ValueError):
    """The event is not an HTTP request this module can read (e.g. a body that is flagged
    base64 but is not)."""


def request_from_event(event: Mapping[str, Any]) -> Request:
    """The :class:`Request` in a payload 2.0 (HTTP API, function URL) or 1.0 (REST / HTTP API
    v1 proxy) event. Raises :class:`BadEvent` for a body flagged base64 that does not decode or
    an event with no HTTP method."""
    if event.get("version") == "2.0":
        http = (event.get("requestContext") or {}).get("http") or {}
        method, path = http.get("method"), event.get("rawPath") or http.get("path") or "/"
        headers = dict(event.get("headers") or {})
    else:
        method, path = event.get("httpMethod"), event.get("path") or "/"
        multi = event.get("multiValueHeaders") or {}
        headers = {k: ",".join(v) for k, v in multi.items() if v} or dict(
            event.get("headers") or {})
    if not method:
        raise BadEvent("not an HTTP request event: no method")
    return Request(str(method).upper(), _without_stage(event, str(path)), headers, _body(event))


def _without_stage(event: Mapping[str, Any], path: str) -> str:
    """``path`` without a leading named stage (``/prod/webhooks/github`` on an HTTP API stage
    other than ``$default``)."""
    stage = (event.get("requestContext") or {}).get("stage")
    if stage and stage != "$default" and path.startswith(f"/{stage}/"):
        return path[len(stage) + 1:]
    return path


def _body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadEvent(f"body flagged base64 does not decode: {exc}") from None
    return body.encode("utf-8", "surrogatepass")


def response(status: int, body: Mapping[str, Any], headers: Mapping[str, str] = ()) -> dict:
    """The payload 2.0 (and 1.0) answer: ``{"statusCode", "headers", "body", "isBase64Encoded"}``
    with a JSON ``body`` and ``Content-Type: application/json``."""
    return {"statusCode": status, "headers": {**_JSON, **dict(headers)},
            "body": json.dumps(body, separators=(",", ":")), "isBase64Encoded": False}


def handle_event(event: Mapping[str, Any], *, webhook: Callable[[Mapping[str, str], bytes], Any],
                 health: Callable[[], Mapping[str, Any]]) -> dict:
    """Route one front event: ``POST /webhooks/github`` -> ``webhook(headers, body)`` (an object
    with ``status``, ``body``, ``headers``: :class:`chalicelib.edge.EdgeResponse`), ``GET
    /health`` -> ``health()``; 400 for an unreadable event, 404 / 405 otherwise. Returns the
    front's answer (:func:`response`)."""
    try:
        request = request_from_event(event)
    except BadEvent as exc:
        return response(400, {"error": "bad_request", "message": str(exc)})
    routes = {WEBHOOK_PATH: "POST", HEALTH_PATH: "GET"}
    wanted = routes.get(request.path.rstrip("/") or "/")
    if wanted is None:
        return response(404, {"error": "not_found", "message": f"no route {request.path}"})
    if request.method != wanted:
        return response(405, {"error": "method_not_allowed",
                              "message": f"{request.path} takes {wanted}"}, {"Allow": wanted})
    if request.path.rstrip("/") == HEALTH_PATH:
        return response(200, health())
    result = webhook(request.headers, request.body)
    return response(result.status, result.body, result.headers)

"""The event-format adapter (``chalicelib/fronts.py``): HTTP API payload 2.0, function URL
(payload 2.0 with base64 bodies, lower-cased headers, cookies apart) and REST v1 events reach
the edge as the same headers and raw body bytes, and the edge's answer comes back in the
front's response shape. The edge here is the real :class:`chalicelib.edge.Edge` on in-memory
ports (tests/fakes.py), so a signature made over the bytes GitHub sent must verify."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from chalicelib import fronts
from chalicelib.core.concurrency.plan import FRONTS, PlanError, build_plan
from chalicelib.core.concurrency.render import chalice_stage_config, edge_function

SECRET = "front-secret"
BODY = json.dumps({"action": "opened", "zen": "caf\u00e9 \u2603", "number": 1}).encode()


def _signed_headers(body: bytes = BODY) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"x-github-event": "issues", "x-github-delivery": "d-1", "x-github-hook-id": "7",
            "x-hub-signature-256": f"sha256={digest}", "content-type": "application/json"}


def _v2(body: bytes | None, *, b64: bool, method: str = "POST", path: str = "/webhooks/github",
        headers: dict | None = None, **extra) -> dict:
    """An event as an HTTP API (payload 2.0) or a function URL sends it."""
    text = None if body is None else (base64.b64encode(body).decode() if b64 else body.decode())
    return {"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
            "cookies": ["session=abc"], "headers": headers if headers is not None else
            _signed_headers(body or b""), "requestContext": {"http": {"method": method,
                                                                    "path": path}},
            "body": text, "isBase64Encoded": b64, **extra}


class _ListQueue:
    """The part of the queue port the edge's send uses, keeping what was sent."""

    max_message_bytes = 1 << 20

    def __init__(self):
        self.sent: list[tuple[str, str]] = []

    def send(self, queue, body, attributes=None):
        self.sent.append((queue, body))


class _Recorder:
    """Stands in for ``wiring.handle_webhook``: records what the edge would get."""

    def __init__(self):
        self.calls: list[tuple[dict, bytes]] = []

    def __call__(self, headers, body):
        self.calls.append((dict(headers), body))
        from chalicelib.edge import EdgeResponse

        return EdgeResponse(202, {"queued": True}, {"X-Extra": "1"})


@pytest.mark.parametrize("b64", [False, True], ids=["text-body", "base64-body"])
def test_payload_2_reaches_the_edge_as_the_bytes_github_signed(b64):
    edge = _Recorder()
    answer = fronts.handle_event(_v2(BODY, b64=b64), webhook=edge, health=dict)
    ((headers, body),) = edge.calls
    assert body == BODY  # exactly the signed bytes, whether the front base64-encoded them
    assert headers["x-github-delivery"] == "d-1"
    assert "cookie" not in headers  # cookies travel apart in payload 2.0, never to the edge
    assert answer["statusCode"] == 202 and json.loads(answer["body"]) == {"queued": True}
    assert answer["headers"]["Content-Type"] == "application/json"
    assert answer["headers"]["X-Extra"] == "1" and answer["isBase64Encoded"] is False


def test_a_real_edge_verifies_the_signature_through_the_adapter():
    from chalicelib.edge import Edge
    from tests.fakes import MemoryDedup

    queue = _ListQueue()
    edge = Edge(queue=queue, blobs=None, secret=lambda: SECRET, max_body_bytes=1 << 20,
                dedup=MemoryDedup())
    answer = fronts.handle_event(_v2(BODY, b64=True), webhook=edge.handle, health=dict)
    assert answer["statusCode"] == 202, answer["body"]
    assert len(queue.sent) == 1
    tampered = _v2(BODY, b64=True)
    tampered["body"] = base64.b64encode(BODY + b" ").decode()
    assert fronts.handle_event(tampered, webhook=edge.handle, health=dict)["statusCode"] == 401


def test_rest_v1_events_join_repeated_headers_and_decode_base64():
    event = {"httpMethod": "POST", "path": "/webhooks/github",
             "headers": {"X-GitHub-Delivery": "last-only"},
             "multiValueHeaders": {k: [v] for k, v in _signed_headers().items()},
             "body": base64.b64encode(BODY).decode(), "isBase64Encoded": True,
             "requestContext": {"stage": "prod"}}
    request = fronts.request_from_event(event)
    assert request.method == "POST" and request.body == BODY
    assert request.headers["x-github-delivery"] == "d-1"


def test_a_named_stage_prefix_is_stripped_from_the_path():
    event = _v2(BODY, b64=False, path="/prod/webhooks/github",
                requestContext={"stage": "prod", "http": {"method": "POST"}})
    assert fronts.request_from_event(event).path == "/webhooks/github"


def test_health_not_found_wrong_method_and_bad_base64_are_json_answers():
    edge = _Recorder()
    health = fronts.handle_event(_v2(None, b64=False, method="GET", path="/health", headers={}),
                                 webhook=edge, health=lambda: {"status": "ok"})
    assert health["statusCode"] == 200 and json.loads(health["body"]) == {"status": "ok"}
    assert fronts.handle_event(_v2(BODY, b64=False, path="/nope"), webhook=edge,
                               health=dict)["statusCode"] == 404
    wrong = fronts.handle_event(_v2(BODY, b64=False, method="GET"), webhook=edge, health=dict)
    assert wrong["statusCode"] == 405 and wrong["headers"]["Allow"] == "POST"
    bad = _v2(BODY, b64=True)
    bad["body"] = "%%% not base64 %%%"
    assert fronts.handle_event(bad, webhook=edge, health=dict)["statusCode"] == 400
    assert edge.calls == []  # none of these reached the edge


def test_the_front_knob_picks_the_edge_function_and_refuses_unknown_fronts():
    assert FRONTS == ("rest", "http", "function-url")
    assert edge_function(build_plan("pro")) == "api_handler"
    for front in ("http", "function-url"):
        plan = build_plan("pro", front=front)
        assert edge_function(plan) == "edge"
        config = chalice_stage_config(plan)["lambda_functions"]
        assert config["edge"]["reserved_concurrency"] == plan.edge_concurrency
        assert "api_handler" not in config
    with pytest.raises(PlanError, match="front must be one of"):
        build_plan("pro", front="grpc")

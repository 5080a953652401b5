"""The local API Gateway in front of the app copies (``spillway/local/edge_server.py``), over
a real socket: what a webhook sender meets before any handler runs."""

from __future__ import annotations

import json
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from tests.functional.conftest import ISSUE_PAYLOAD, compact, corpus_payload, sign


@pytest.fixture
def server(edge):
    from spillway.local.edge_server import EdgeServer

    srv = EdgeServer(concurrency=2, throttle_after_s=5.0).start()
    yield srv
    srv.stop()


def raw_request(url: str, head: str, body: bytes = b"") -> tuple[int, dict]:
    """Send ``head`` (request line + headers, CRLF-separated, no final blank line) and
    ``body`` over a fresh socket; returns (status, JSON body)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=20) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n\r\n" + body)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        header_blob, _, rest = data.partition(b"\r\n\r\n")
        lines = header_blob.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next(int(v) for k, _, v in (ln.partition(":") for ln in lines[1:])
                      if k.lower() == "content-length")
        while len(rest) < length:
            rest += sock.recv(65536)
    return status, json.loads(rest[:length] or b"{}")


def delivery_head(body: bytes, *, signature: str, extra: str = "", length: bool = True) -> str:
    head = (f"POST /webhooks/github HTTP/1.1\r\nHost: localhost\r\n"
            f"Content-Type: application/json\r\nX-GitHub-Event: issues\r\n"
            f"X-GitHub-Delivery: {uuid.uuid4()}\r\nX-GitHub-Hook-ID: 42\r\n"
            f"X-Hub-Signature-256: {signature}\r\nConnection: close")
    if length:
        head += f"\r\nContent-Length: {len(body)}"
    return head + extra


def test_content_length_over_the_gateway_limit_is_refused_without_reading(server):
    head = delivery_head(b"", signature="sha256=" + "0" * 64, length=False)
    status, body = raw_request(server.url, head + "\r\nContent-Length: 50000000")
    assert status == 413 and "Too Long" in body["message"]


def test_chunked_body_is_decoded_before_the_signature_is_checked(server, edge):
    body = compact(corpus_payload(ISSUE_PAYLOAD))
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(c), c)
                       for c in (body[:100], body[100:5000], body[5000:])) + b"0\r\n\r\n"
    head = delivery_head(body, signature=sign(body), length=False,
                         extra="\r\nTransfer-Encoding: chunked")
    status, reply = raw_request(server.url, head, chunked)
    assert status == 202, reply
    assert edge.depths()["high"] == 1


def test_repeated_header_keeps_the_last_value_as_api_gateway_does(server, edge):
    body = compact(corpus_payload(ISSUE_PAYLOAD))
    head = delivery_head(body, signature=sign(body),
                         extra="\r\nX-Hub-Signature-256: sha256=" + "0" * 64)
    status, reply = raw_request(server.url, head, body)
    assert status == 401, reply
    assert edge.depths()["high"] == 0


def test_a_burst_of_connections_is_answered_not_reset(server):
    body = compact(corpus_payload(ISSUE_PAYLOAD))

    def one(_):
        return raw_request(server.url, delivery_head(body, signature=sign(body)), body)[0]

    with ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(one, range(40)))
    assert statuses.count(202) == 40


def raw_exchange(url: str, request: bytes) -> tuple[int, str, dict]:
    """Send ``request`` as is and read until the server closes; returns (status, the
    Content-Type, the JSON body). The socket timeout (20 s) is below the server's read
    timeout (30 s): a server that waits for more instead of answering fails the test."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=20) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return int(lines[0].split()[1]), headers.get("content-type", ""), json.loads(body)


@pytest.mark.parametrize(("request_bytes", "status", "error"), [
    pytest.param(b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431,
                 "request_header_fields_too_large", id="oversized-header"),
    pytest.param(b"GET /health HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(150))
                 + b"\r\n", 431, "request_header_fields_too_large", id="too-many-headers"),
    pytest.param(b"\x16\x03\x01\x02\x00garbage\r\n\r\n", 400, "bad_request", id="garbage-line"),
    pytest.param(b"GET / HTTP/9.9\r\n\r\n", 505, "http_version_not_supported",
                 id="unknown-version"),
    pytest.param(b"GET /health\r\n", 505, "http_version_not_supported", id="http-0.9"),
])
def test_malformed_requests_get_a_json_error_at_once(server, request_bytes, status, error):
    """What http.server answers with an HTML page (and, for HTTP/0.9, not at all until the
    client gives up) is refused in JSON, as every other error (README), and closed."""
    got, content_type, body = raw_exchange(server.url, request_bytes)
    assert (got, body["error"]) == (status, error), body
    assert content_type == "application/json" and body["message"]


def test_the_ack_feed_counts_deliveries_not_health_checks(edge):
    """The dashboard's accepted count and ack latency come from the ack feed: a ``GET /health``
    is not a delivery (it moved "accepted" by one; found by a fresh user)."""
    import urllib.request

    from spillway.dashboard.feeds import AckFeed
    from spillway.local.edge_server import EdgeServer

    acks = AckFeed()
    srv = EdgeServer(concurrency=2, throttle_after_s=5.0, ack_feed=acks).start()
    try:
        with urllib.request.urlopen(srv.url.rstrip("/") + "/health", timeout=20) as answer:
            assert answer.status == 200
        body = compact(corpus_payload(ISSUE_PAYLOAD))
        status, _ = raw_request(srv.url, delivery_head(body, signature=sign(body)), body)
        assert status == 202
    finally:
        srv.stop()
    tally = acks.drain()
    assert (tally.accepted, tally.rejected) == (1, 0)


def test_a_client_that_resets_leaves_no_traceback(server, capfd):
    """A connection reset mid-answer (SO_LINGER 0, as a crashed or impatient sender) is the
    client's business: no socketserver traceback on stderr, and the server keeps answering
    (3,000 resets printed 2,987 tracebacks; found by an adversarial run)."""
    import struct
    import time
    import urllib.request

    parts = urlsplit(server.url)
    for _ in range(20):
        sock = socket.create_connection((parts.hostname, parts.port), timeout=20)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    time.sleep(1.0)  # let the handler threads meet the resets
    with urllib.request.urlopen(server.url.rstrip("/") + "/health", timeout=20) as answer:
        assert answer.status == 200
    assert "Traceback" not in capfd.readouterr().err

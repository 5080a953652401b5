"""replay.Sender: the connection class follows the URL scheme; a broken connection is closed
before it is replaced. Local HTTP server on 127.0.0.1 only, no internet."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib.core.signature import verify_signature
from spillway.replay import Payload, Sender

SECRET = "replay-secret"
PAYLOAD = Payload(event="issues", source="issues/opened.json", body=b'{"action":"opened"}')


@pytest.mark.parametrize(
    ("url", "cls", "host", "port"),
    [
        ("https://abc123.execute-api.eu-west-1.amazonaws.com/api/webhook",
         http.client.HTTPSConnection, "abc123.execute-api.eu-west-1.amazonaws.com", 443),
        ("HTTPS://example.test:8443/hook", http.client.HTTPSConnection, "example.test", 8443),
        ("http://127.0.0.1/webhook", http.client.HTTPConnection, "127.0.0.1", 80),
        ("http://localhost:8000/", http.client.HTTPConnection, "localhost", 8000),
    ],
)
def test_connection_class_and_default_port_follow_the_scheme(url, cls, host, port):
    conn = Sender(url, SECRET)._conn()  # created lazily: nothing is connected yet
    assert type(conn) is cls
    assert (conn.host, conn.port, conn.sock) == (host, port, None)


@pytest.mark.parametrize("url", ["ftp://example.test/hook", "localhost:8000/hook",
                                 "example.test/hook", "http:///no-host", "ws://x/"])
def test_other_schemes_are_rejected_naming_the_url(url):
    with pytest.raises(ValueError) as info:
        Sender(url, SECRET)
    assert url in str(info.value)


def test_bad_port_is_a_value_error_naming_the_url():
    with pytest.raises(ValueError, match="http://h:99999/"):
        Sender("http://h:99999/", SECRET)


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server = self.server
        server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        if len(server.requests) <= server.garble:
            self.wfile.write(b"NOT-HTTP\r\n\r\n")  # the client gets BadStatusLine
            self.close_connection = True
            return
        reply = json.dumps({"accepted": True}).encode()
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.requests, httpd.garble = [], 0
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_http_delivery_is_signed_and_keeps_the_query(server):
    sender = Sender(f"http://127.0.0.1:{server.server_port}/hook?token=1", SECRET, hook_id="42")
    result = sender.send(PAYLOAD, delivery_id="d-1")
    assert (result.status, result.response) == (202, {"accepted": True})
    path, headers, body = server.requests[0]
    assert (path, body) == ("/hook?token=1", PAYLOAD.body)
    assert (headers["x-github-event"], headers["x-github-delivery"],
            headers["x-github-hook-id"]) == ("issues", "d-1", "42")
    verify_signature(SECRET, body, headers["x-hub-signature-256"])


def test_broken_connection_is_closed_before_a_fresh_one_is_used(server):
    server.garble = 1
    sender = Sender(f"http://127.0.0.1:{server.server_port}/hook", SECRET)
    first = sender._conn()
    result = sender.send(PAYLOAD)
    assert result.status == 202  # the retry on a fresh connection went through
    assert len(server.requests) == 2
    assert first.sock is None  # closed, not left to the garbage collector
    assert sender._conn() is not first

"""The handler most teams write first: verify the signature and INSERT the delivery inside
the request, then answer 200; any database error answers 500. Served by a threaded HTTP
server held to the same concurrency cap as Spillway's edge: ``concurrency`` slots, each with
its own database connection (as each warm Lambda would hold one); a request that waits
:data:`THROTTLE_AFTER_S` for a slot is answered 429, as the local API Gateway does.

Its table has no unique key on the delivery id (the first version's schema), so a delivery
stored twice would show as a duplicate.
"""

from __future__ import annotations

import json
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg

from chalicelib.core.signature import verify_signature
from chalicelib.errors import SignatureInvalid

#: Seconds a request waits for a free slot before it is answered 429 (as
#: ``spillway.local.edge_server.EdgeServer``'s default).
THROTTLE_AFTER_S = 5.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS naive_webhooks (
    id          bigserial   PRIMARY KEY,
    delivery_id text        NOT NULL,
    event       text        NOT NULL,
    payload     jsonb       NOT NULL,
    stored_at   timestamptz NOT NULL DEFAULT clock_timestamp()
)
"""
INSERT = "INSERT INTO naive_webhooks (delivery_id, event, payload) VALUES (%s, %s, %s::jsonb)"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet: the benchmark prints its own progress
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        slots: queue.Queue = self.server.slots
        try:
            slot = slots.get(timeout=THROTTLE_AFTER_S)
        except queue.Empty:
            self._reply(429, {"message": "Rate Exceeded."})
            return
        try:
            self._reply(*self._handle(slot, body))
        finally:
            slots.put(slot)

    def _handle(self, slot: dict, body: bytes) -> tuple[int, dict]:
        try:
            verify_signature(self.server.secret, body, self.headers.get("x-hub-signature-256"))
        except SignatureInvalid as exc:
            return 401, {"message": str(exc)}
        delivery_id = self.headers.get("x-github-delivery", "")
        try:
            if slot.get("conn") is None or slot["conn"].closed:
                slot["conn"] = psycopg.connect(self.server.url, connect_timeout=5)
            with slot["conn"].transaction():
                slot["conn"].execute(INSERT, (delivery_id, self.headers.get("x-github-event", ""),
                                              body.decode("utf-8")))
        except psycopg.Error as exc:
            conn, slot["conn"] = slot.get("conn"), None
            if conn is not None:
                conn.close()
            return 500, {"message": type(exc).__name__}
        return 200, {"stored": delivery_id}

    def _reply(self, status: int, doc: dict) -> None:
        raw = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


class NaiveServer:
    """Serves ``POST /webhooks/github`` on 127.0.0.1 (any free port) into database ``url``
    with ``concurrency`` slots; :meth:`start` creates the table, ``url`` of the endpoint is
    :attr:`endpoint` after it."""

    def __init__(self, database_url: str, secret: str, concurrency: int = 10):
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.url, self._server.secret = database_url, secret
        self._server.slots = queue.Queue()
        for _ in range(concurrency):
            self._server.slots.put({})
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/webhooks/github"

    def start(self) -> NaiveServer:
        with psycopg.connect(self._server.url, autocommit=True) as conn:
            conn.execute(SCHEMA)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="naive-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        while not self._server.slots.empty():
            conn = self._server.slots.get_nowait().get("conn")
            if conn is not None:
                conn.close()

"""A local API Gateway in front of N isolated copies of the Chalice app.

Each copy is ``app.py`` imported under its own module name, so each has its own
``app.current_request`` -- exactly like N warm Lambda execution environments. N is the edge
function's reserved concurrency: when all N are busy for ``throttle_after_s`` a request is
answered 429, as a throttled Lambda behind API Gateway is.

Every answer is reported to the server's ``ack_feed`` when one is set (anything with
``record(latency_ms, status)``, e.g. the dashboard's ``AckFeed``): the acknowledgement latency
from the request's entry (its headers read) to the response sent, milliseconds, and the HTTP
status. :meth:`EdgeServer.in_use` reads the busy execution environments.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

from chalice.config import Config
from chalice.local import ChaliceRequestHandler, LocalGateway, LocalGatewayException

from spillway.paths import APP_FILE


def load_app_copy(index: int, app_file: Path = APP_FILE) -> ModuleType:
    """Import ``app.py`` afresh as module ``spillway_app_<index>`` (one "execution environment").

    Each copy's ``Chalice(app_name="spillway")`` gives the shared ``spillway`` logger a plain
    stdout handler and level ERROR; on Lambda the cold start's ``logs.setup()`` runs after
    the import and undoes that, but here the wiring (and its cold start) is shared by every
    copy, so it is run again after each import: JSON lines on stderr, once each, at
    ``LOG_LEVEL``."""
    from chalicelib import logs

    spec = importlib.util.spec_from_file_location(f"spillway_app_{index}", app_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    logs.setup()
    return module


#: API Gateway's payload limit, bytes (AWS API Gateway quotas): bigger requests are refused
#: with 413 before any Lambda runs, without reading the body.
GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024
#: Seconds a client may take to send its request line, headers and body.
READ_TIMEOUT_S = 30


#: The ``error`` code of the gateway's own JSON answers, by HTTP status (the app's answers
#: carry the app's codes): README "Every error body is JSON".
GATEWAY_ERRORS = {400: "bad_request", 408: "request_timeout", 413: "payload_too_large",
                  414: "request_line_too_long", 429: "throttled",
                  431: "request_header_fields_too_large", 501: "not_implemented",
                  505: "http_version_not_supported"}


def _error_code(body: bytes | str | None) -> str:
    """The ``error`` of a JSON error body, else ``"error"``."""
    try:
        return str(json.loads(body or b"{}").get("error") or "error")
    except (ValueError, AttributeError):
        return "error"


_log = logging.getLogger("spillway.local.edge_server")


class _BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class _Handler(ChaliceRequestHandler):
    """Chalice's request handler in front of a pool of app copies, with the parts of API
    Gateway a webhook sender meets: the 10 MB payload limit (checked on Content-Length before
    reading), chunked request bodies, last-value-wins for repeated headers, and 429 when every
    execution environment is busy. The body is read *before* a copy is taken, so slow senders
    never hold an execution environment."""

    timeout = READ_TIMEOUT_S

    def __init__(self, request, client_address, server):  # http.server's signature
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)

    def log_message(self, format, *args):  # quiet: the demo prints its own progress
        pass

    def parse_request(self) -> bool:
        """http.server's parsing, minus what API Gateway never does: HTTP/0.9 (a request
        line without a version, which would wait for headers that never come) is refused at
        once, and headers not sent within :data:`READ_TIMEOUT_S` get a 408; every refusal is
        JSON (:meth:`send_error`)."""
        self._entered_at = time.perf_counter()
        words = self.raw_requestline.split()
        if len(words) == 2:
            self.command, self.request_version = None, "HTTP/1.1"
            self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
            self.send_error(505, "HTTP/0.9 is not supported; send HTTP/1.0 or HTTP/1.1")
            return False
        try:
            return super().parse_request()
        except TimeoutError:
            self.send_error(408, f"request headers not received within {READ_TIMEOUT_S} s")
            return False

    def send_error(self, code: int, message: str | None = None, explain: str | None = None):
        """http.server's refusals (garbage request line, 414, 431, too many headers, 501)
        as the README promises every error: ``{"error": code, "message": ...}`` in JSON, not
        an HTML page; the connection is closed."""
        self.close_connection = True
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":  # not parsed yet: else no status line is sent
            self.request_version = "HTTP/1.1"
        text = message or self.responses.get(code, ("Error",))[0]
        body = json.dumps({"error": GATEWAY_ERRORS.get(code, "bad_request"),
                           "message": text}).encode()
        self.send_response(code)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(body)
        feed = self.server.ack_feed
        if feed is not None and hasattr(self, "_entered_at"):
            feed.record((time.perf_counter() - self._entered_at) * 1000.0, code)

    def _read_body(self) -> bytes | None:
        try:
            return self._read_body_within_timeout()
        except TimeoutError:
            raise _BadRequest(408, f"request body not received within {READ_TIMEOUT_S} s "
                                   "of silence") from None

    def _read_body_within_timeout(self) -> bytes | None:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return self._read_chunked()
        raw = self.headers.get("content-length", "0").strip() or "0"
        if not raw.isdigit():
            raise _BadRequest(400, "invalid Content-Length")
        length = int(raw)
        if length > GATEWAY_MAX_BODY_BYTES:
            raise _BadRequest(413, "Request Too Long")
        body = self.rfile.read(length) if length else None
        if body is not None and len(body) < length:
            raise _BadRequest(400, "body shorter than Content-Length")
        return body

    def _read_chunked(self) -> bytes:
        chunks, total = [], 0
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                raise _BadRequest(400, "invalid chunk size") from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            total += size
            if total > GATEWAY_MAX_BODY_BYTES:
                raise _BadRequest(413, "Request Too Long")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(8)  # the CRLF after the chunk

    def _send_http_response(self, code, headers, body) -> None:
        super()._send_http_response(code, headers, body)
        elapsed_ms = (time.perf_counter() - self._entered_at) * 1000.0
        feed = self.server.ack_feed
        if feed is not None and self.command == "POST":  # a delivery, not GET /health
            feed.record(elapsed_ms, code)
        deliveries = self.server.delivery_feed
        if deliveries is not None and self.path.startswith("/webhooks/"):
            deliveries.answered(code, {k.lower(): v for k, v in self.headers.items()},
                                elapsed_ms, None if 200 <= code < 300 else _error_code(body))

    def _generic_handle(self) -> None:
        self._entered_at = time.perf_counter()
        try:
            body = self._read_body()
        except _BadRequest as exc:
            self.close_connection = True
            self._reply(exc.status, {"error": GATEWAY_ERRORS.get(exc.status, "bad_request"),
                                     "message": exc.message})
            return
        # API Gateway keeps the last value of a repeated header (names are case-insensitive).
        headers = {name.lower(): value for name, value in self.headers.items()}
        headers.pop("transfer-encoding", None)
        pool: queue.Queue = self.server.gateways
        try:
            gateway = pool.get(timeout=self.server.throttle_after_s)
        except queue.Empty:
            self._reply(429, {"message": "Rate Exceeded.", "error": "throttled"})
            return
        try:
            response = gateway.handle_request(method=self.command, path=self.path,
                                              headers=headers, body=body)
        except LocalGatewayException as exc:
            self._send_error_response(exc)
            return
        finally:
            pool.put(gateway)
        out_headers = response["headers"].copy()
        out_headers.update(response["multiValueHeaders"])
        response = self._handle_binary(response)
        self._send_http_response(response["statusCode"], out_headers, response["body"])

    def _reply(self, status: int, body: dict) -> None:
        self._send_http_response(status, {"Content-Type": "application/json"},
                                 json.dumps(body).encode())

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 resets bursts of connections

    def handle_error(self, request, client_address) -> None:
        """A client that went away mid-answer (reset, broken pipe) is the client's business: one
        debug line, not socketserver's traceback on stderr (3,000 resets printed 2,987); any
        other error is logged once, as an error with its traceback."""
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError,
                            TimeoutError)):
            _log.debug("client %s went away: %s", client_address, exc)
            return
        _log.exception("local API Gateway: error answering %s", client_address)


class EdgeServer:
    """Serves the Chalice routes on ``http://host:port`` with ``concurrency`` app copies.

    ``timeout_s`` is the edge Lambda timeout (seconds). Start with :meth:`start`; ``url`` is
    then the base URL.
    """

    def __init__(self, *, concurrency: int = 10, host: str = "127.0.0.1", port: int = 0,
                 timeout_s: int = 10, throttle_after_s: float = 5.0, ack_feed=None):
        self._server = _Server((host, port), _Handler)
        self._server.ack_feed = ack_feed
        #: A :class:`~spillway.local.delivery_feed.DeliveryFeed` told of each webhook answer
        #: (None: nobody).
        self._server.delivery_feed = None
        self.concurrency = concurrency
        self._server.gateways = queue.Queue()
        self._server.throttle_after_s = throttle_after_s
        config = Config.create(chalice_stage="local", app_name="spillway",
                               lambda_timeout=timeout_s, lambda_memory_size=512,
                               function_name="api_handler")
        for i in range(concurrency):
            self._server.gateways.put(LocalGateway(load_app_copy(i).app, config))
        self._thread: threading.Thread | None = None

    @property
    def delivery_feed(self):
        """Told of each webhook answer (``answered(status, headers, ms, error)``), or None."""
        return self._server.delivery_feed

    @delivery_feed.setter
    def delivery_feed(self, feed) -> None:
        self._server.delivery_feed = feed

    @property
    def ack_feed(self):
        """Where each answer's ``(latency_ms, status)`` goes (None: nowhere)."""
        return self._server.ack_feed

    @ack_feed.setter
    def ack_feed(self, feed) -> None:
        self._server.ack_feed = feed

    def in_use(self):
        """The execution environments answering a request right now, as the dashboard's
        ``SlotReading(in_use, limit)`` (limit: the reserved concurrency)."""
        from spillway.dashboard.snapshot import SlotReading

        return SlotReading(self.concurrency - self._server.gateways.qsize(), self.concurrency)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> EdgeServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="edge-server",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

"""The dashboard's HTTP server (standard library only), bound to the loopback interface.

Routes: ``/`` the page (``static/index.html``), ``/static/<file>`` its scripts, styles and the
vendored uPlot, ``/api/status`` the sampler's snapshot as JSON (``Cache-Control: no-store``).
Anything else is 404; only GET and HEAD are served.

Only the loopback names of the port it listens on are answered (``Host: 127.0.0.1:PORT``,
``localhost:PORT``, ``[::1]:PORT``, and the host it was started on): any other ``Host`` --
a DNS-rebinding page that resolved its own name to 127.0.0.1 -- gets 421 Misdirected Request
with a JSON error, so a web page cannot read the recent deliveries.
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from spillway.dashboard.sampler import Sampler

STATIC = Path(__file__).resolve().parent / "static"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format, *args):  # quiet: the stack prints its own lines
        pass

    def do_GET(self) -> None:
        host = self.headers.get("Host", "")
        if host.lower() not in self.server.allowed_hosts:
            body = json.dumps({"error": "misdirected request: this dashboard answers only "
                               f"{sorted(self.server.allowed_hosts)}, not Host {host!r}"})
            self._send(HTTPStatus.MISDIRECTED_REQUEST, "application/json", body.encode())
            return
        path = urlsplit(self.path).path
        if path == "/api/status":
            body = json.dumps(self.server.sampler.snapshot(), allow_nan=False).encode()
            self._send(HTTPStatus.OK, "application/json", body, cache="no-store")
        elif path in ("/", "/index.html"):
            self._file("index.html")
        elif path.startswith("/static/"):
            self._file(path.removeprefix("/static/"))
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", b"not found\n")

    do_HEAD = do_GET

    def _file(self, name: str) -> None:
        file = STATIC / name
        # Only the files shipped in static/ (no subfolders, no "..").
        if "/" in name or name.startswith(".") or not file.is_file() \
                or file.suffix not in TYPES:
            self._send(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", b"not found\n")
            return
        self._send(HTTPStatus.OK, TYPES[file.suffix], file.read_bytes(), cache="no-cache")

    def _send(self, status: HTTPStatus, ctype: str, body: bytes, cache: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        if cache:
            self.send_header("Cache-Control", cache)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    sampler: Sampler
    allowed_hosts: frozenset[str]


#: Names of the loopback interface a browser on this machine may use in ``Host``.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """The ``Host`` header values answered by a server started on ``host``:``port``: the
    loopback names and ``host`` itself (IPv6 in brackets), each with the port, lower case."""
    bound = f"[{host}]" if ":" in host else host
    return frozenset(f"{name}:{port}".lower() for name in (*LOOPBACK_NAMES, bound))


class DashboardServer:
    """A running dashboard: ``url`` (``http://127.0.0.1:PORT/``), :meth:`stop`."""

    def __init__(self, sampler: Sampler, port: int = 0, host: str = "127.0.0.1"):
        self.sampler = sampler
        self._server = _Server((host, port), _Handler)
        self._server.sampler = sampler
        self._server.allowed_hosts = allowed_hosts(host, self.port)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="dashboard-http", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._server.server_address[0]}:{self.port}/"

    def start(self) -> DashboardServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (the sampler is stopped by its owner)."""
        self._server.shutdown()
        self._server.server_close()


def serve(sampler: Sampler, port: int = 0, host: str = "127.0.0.1") -> DashboardServer:
    """Serve ``sampler``'s snapshots and the page on ``host:port`` (port 0: any free port) in
    a daemon thread; returns the started server. Raises ``OSError`` when the port is taken.
    Bound to the loopback interface by default: the page shows delivery metadata."""
    return DashboardServer(sampler, port, host).start()

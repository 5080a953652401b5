"""A local API Gateway in front of N isolated copies of the Chalice app.

Each copy is ``app.py`` imported under its own module name, so each has its own
``app.current_request`` -- exactly like N warm Lambda execution environments. N is the edge
function's reserved concurrency: when all N are busy for ``throttle_after_s`` a request is
answered 429, as a throttled Lambda behind API Gateway is.
"""

from __future__ import annotations

import importlib.util
import json
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

from chalice.config import Config
from chalice.local import ChaliceRequestHandler, LocalGateway

APP_FILE = Path(__file__).resolve().parents[2] / "app.py"


def load_app_copy(index: int, app_file: Path = APP_FILE) -> ModuleType:
    """Import ``app.py`` afresh as module ``spillway_app_<index>`` (one "execution environment")."""
    spec = importlib.util.spec_from_file_location(f"spillway_app_{index}", app_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Handler(ChaliceRequestHandler):
    """Chalice's request handler, with the gateway taken from a pool per request."""

    def __init__(self, request, client_address, server):  # noqa: D401 - http.server signature
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)

    def log_message(self, format, *args):  # quiet: the demo prints its own progress
        pass

    def _generic_handle(self) -> None:
        pool: queue.Queue = self.server.gateways
        try:
            gateway = pool.get(timeout=self.server.throttle_after_s)
        except queue.Empty:
            self.rfile.read(int(self.headers.get("content-length", "0") or 0))
            body = json.dumps({"message": "Rate Exceeded.", "error": "throttled"}).encode()
            self._send_http_response(429, {"Content-Type": "application/json"}, body)
            return
        try:
            self.local_gateway = gateway
            super()._generic_handle()
        finally:
            pool.put(gateway)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle


class EdgeServer:
    """Serves the Chalice routes on ``http://host:port`` with ``concurrency`` app copies.

    ``timeout_s`` is the edge Lambda timeout (seconds). Start with :meth:`start`; ``url`` is
    then the base URL.
    """

    def __init__(self, *, concurrency: int = 10, host: str = "127.0.0.1", port: int = 0,
                 timeout_s: int = 10, throttle_after_s: float = 5.0):
        self._concurrency = concurrency
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._server.gateways = queue.Queue()
        self._server.throttle_after_s = throttle_after_s
        config = Config.create(chalice_stage="local", app_name="spillway",
                               lambda_timeout=timeout_s, lambda_memory_size=512,
                               function_name="api_handler")
        for i in range(concurrency):
            self._server.gateways.put(LocalGateway(load_app_copy(i).app, config))
        self._thread: threading.Thread | None = None

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

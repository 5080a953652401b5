"""Send GitHub webhook payloads to a Spillway endpoint as signed deliveries.

PATH layout as in the GitHub payload corpus: ``<event>/<name>.json``, the folder name is the
``X-GitHub-Event``. ``MANIFEST.tsv``, ``schema.json``, ``README.md`` and folders starting with
``_`` are not payloads. Each payload is serialised once as compact JSON (what GitHub puts on
the wire), signed (HMAC-SHA256, ``X-Hub-Signature-256``) and sent exactly as signed, with a
fresh ``X-GitHub-Delivery`` GUID.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from chalicelib.core.signature import sign

NOT_PAYLOADS = {"MANIFEST.tsv", "schema.json", "README.md"}


@dataclass(frozen=True)
class Payload:
    """One payload to send: ``event`` (header value), ``source`` (file), ``body`` (bytes)."""

    event: str
    source: str
    body: bytes


@dataclass(frozen=True)
class SendResult:
    delivery_id: str
    event: str
    source: str
    status: int  # HTTP status, 0 when the request itself failed
    response: dict
    elapsed_s: float


def iter_payloads(paths: Iterable[Path | str]) -> Iterator[Payload]:
    """Payload files under each path (a corpus folder, an event folder or one file), sorted.
    A file that is not a JSON document is reported by raising ``ValueError`` naming it."""
    for root in map(Path, paths):
        if root.is_file():
            files = [root]
        else:
            files = sorted(p for p in root.rglob("*.json") if _is_payload(root, p))
        for f in files:
            try:
                doc = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ValueError(f"{f}: not a JSON payload ({exc})") from None
            body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            yield Payload(event=f.parent.name, source=str(f), body=body)


def _is_payload(root: Path, path: Path) -> bool:
    rel = path.relative_to(root).parts
    return path.name not in NOT_PAYLOADS and not any(part.startswith("_") for part in rel)


#: URL scheme -> (connection class, default port).
_SCHEMES: dict[str, tuple[type[http.client.HTTPConnection], int]] = {
    "http": (http.client.HTTPConnection, 80),
    "https": (http.client.HTTPSConnection, 443),
}


class Sender:
    """Signs and POSTs deliveries to ``url`` over keep-alive connections (one per thread).

    ``url``: ``http://`` (default port 80) or ``https://`` (default port 443, TLS with the
    system's certificate store, as a deployed API Gateway stage needs); its path and query are
    the request target. Any other scheme, or a URL without a host, raises ``ValueError`` naming
    the URL. ``timeout_s``: seconds for connect and for each read.
    """

    def __init__(self, url: str, secret: str, *, hook_id: str | None = None,
                 timeout_s: float = 30.0):
        parts = urlsplit(url)
        scheme = _SCHEMES.get(parts.scheme.lower())
        if scheme is None or not parts.hostname:
            raise ValueError(f"replay URL must be http:// or https:// with a host: {url!r}")
        self._conn_class, default_port = scheme
        try:
            self._host, self._port = parts.hostname, parts.port or default_port
        except ValueError as exc:  # a port that is not a number, or out of range
            raise ValueError(f"replay URL has a bad port: {url!r}") from exc
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._secret = secret
        self._hook_id = hook_id or str(uuid.uuid4().int % 10**9)
        self._timeout_s = timeout_s
        self._local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        """This thread's connection (``HTTPSConnection`` for https), created on first use."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._conn_class(self._host, self._port, timeout=self._timeout_s)
            self._local.conn = conn
        return conn

    def _drop_conn(self) -> None:
        """Close and forget this thread's connection (its socket would otherwise leak)."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def send(self, payload: Payload, delivery_id: str | None = None) -> SendResult:
        delivery_id = delivery_id or str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/spillway-replay",
            "X-GitHub-Event": payload.event,
            "X-GitHub-Delivery": delivery_id,
            "X-GitHub-Hook-ID": self._hook_id,
            "X-Hub-Signature-256": sign(self._secret, payload.body),
        }
        started = time.perf_counter()
        for attempt in (1, 2):  # a stale keep-alive connection gets one fresh retry
            try:
                conn = self._conn()
                conn.request("POST", self._path, body=payload.body, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"raw": raw[:200].decode("utf-8", "replace")}
                return SendResult(delivery_id, payload.event, payload.source, resp.status,
                                  body if isinstance(body, dict) else {"body": body},
                                  time.perf_counter() - started)
            except (OSError, http.client.HTTPException) as exc:
                self._drop_conn()
                if attempt == 2:
                    return SendResult(delivery_id, payload.event, payload.source, 0,
                                      {"error": str(exc)}, time.perf_counter() - started)
        raise AssertionError("unreachable")


def replay(payloads: list[Payload], url: str, secret: str, *, concurrency: int = 8,
           repeat: int = 1, on_result: Callable[[SendResult], None] | None = None
           ) -> list[SendResult]:
    """Send every payload ``repeat`` times (fresh delivery ids) with ``concurrency`` threads.

    Interrupted (Ctrl-C in the calling thread, or any error raised there), nothing more is
    sent: the deliveries not started are dropped, the ones in flight finish, and the
    interruption propagates."""
    sender = Sender(url, secret)
    work = [p for _ in range(repeat) for p in payloads]
    results: list[SendResult] = []
    lock = threading.Lock()
    stop = threading.Event()

    def one(p: Payload) -> None:
        if stop.is_set():
            return
        r = sender.send(p)
        with lock:
            results.append(r)
        if on_result is not None:
            on_result(r)

    pool = ThreadPoolExecutor(max_workers=max(1, concurrency))
    try:
        for _ in pool.map(one, work):
            pass
    except BaseException:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    return results

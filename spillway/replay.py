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


class Sender:
    """Signs and POSTs deliveries over keep-alive connections (one per thread)."""

    def __init__(self, url: str, secret: str, *, hook_id: str | None = None,
                 timeout_s: float = 30.0):
        parts = urlsplit(url)
        self._host, self._port = parts.hostname, parts.port or 80
        self._path = parts.path or "/"
        self._secret = secret
        self._hook_id = hook_id or str(uuid.uuid4().int % 10**9)
        self._timeout_s = timeout_s
        self._local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout_s)
            self._local.conn = conn
        return conn

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
                self._local.conn = None
                if attempt == 2:
                    return SendResult(delivery_id, payload.event, payload.source, 0,
                                      {"error": str(exc)}, time.perf_counter() - started)
        raise AssertionError("unreachable")


def replay(payloads: list[Payload], url: str, secret: str, *, concurrency: int = 8,
           repeat: int = 1, on_result: Callable[[SendResult], None] | None = None
           ) -> list[SendResult]:
    """Send every payload ``repeat`` times (fresh delivery ids) with ``concurrency`` threads."""
    sender = Sender(url, secret)
    work = [p for _ in range(repeat) for p in payloads]
    results: list[SendResult] = []
    lock = threading.Lock()

    def one(p: Payload) -> None:
        r = sender.send(p)
        with lock:
            results.append(r)
        if on_result is not None:
            on_result(r)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        list(pool.map(one, work))
    return results

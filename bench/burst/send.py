"""The burst's sender: every delivery of the corpus ``repeat`` times (fresh GUIDs, same signed
bodies), spread evenly over ``duration_s`` seconds (open loop: a slow answer never delays the
next send, as GitHub's deliveries do not wait for each other), one new connection per delivery
and no retry (GitHub never retries a failed delivery by itself, /work/shared/DESIGN.md).

Each answer becomes an :class:`Ack`: when it was sent (s from the run's start), the HTTP status
(0 when the request failed or took longer than GitHub's 10 s timeout) and the acknowledgement
latency (ms).
"""

from __future__ import annotations

import http.client
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from bench.corpus import SignedDelivery, renamed

#: GitHub waits this long for an answer before it records a failed delivery (seconds).
GITHUB_TIMEOUT_S = 10.0
#: Most sends in flight at once (threads), whatever the rate; past it a send starts late
#: (``Ack.sent_at`` says when it really went).
MAX_IN_FLIGHT = 1024


@dataclass(frozen=True)
class Ack:
    """One delivery's answer: ``delivery_id``; ``sent_at`` (s from the run's start);
    ``status`` (HTTP, 0 = failed or timed out); ``ack_ms`` (ms from send to answer)."""

    delivery_id: str
    sent_at: float
    status: int
    ack_ms: float


def burst(corpus: Sequence[SignedDelivery], repeat: int) -> list[SignedDelivery]:
    """``corpus`` ``repeat`` times over, each copy with a fresh delivery GUID."""
    return [renamed(d) for _ in range(repeat) for d in corpus]


def post(url: str, delivery: SignedDelivery, timeout_s: float = GITHUB_TIMEOUT_S
         ) -> tuple[int, float]:
    """POST ``delivery`` to ``url`` (http://host:port/path) on a new connection:
    ``(status, ack_ms)``, status 0 when it failed or took longer than ``timeout_s``."""
    parts = urlsplit(url)
    started = time.perf_counter()
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout_s)
    try:
        conn.request("POST", parts.path or "/", body=delivery.body, headers=delivery.headers)
        resp = conn.getresponse()
        resp.read()
        status = resp.status
    except (OSError, http.client.HTTPException):
        status = 0
    finally:
        conn.close()
    return status, (time.perf_counter() - started) * 1000.0


def send_burst(deliveries: Sequence[SignedDelivery], url: str, *, duration_s: float,
               t0: float, on_ack: Callable[[Ack], None] | None = None,
               timeout_s: float = GITHUB_TIMEOUT_S) -> list[Ack]:
    """Send ``deliveries`` to ``url``, the i-th at ``t0 + i * duration_s / len`` (``t0``:
    ``time.perf_counter()`` of the run's start). Returns one :class:`Ack` per delivery, in
    sending order. Bounded: ``len(deliveries)`` requests, each at most ``timeout_s``."""
    n = len(deliveries)
    acks: list[Ack | None] = [None] * n
    gap = duration_s / n if n else 0.0
    lock = threading.Lock()
    cursor = iter(range(n))

    def worker() -> None:
        while True:
            with lock:
                i = next(cursor, None)
            if i is None:
                return
            delay = t0 + i * gap - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent_at = time.perf_counter() - t0
            status, ack_ms = post(url, deliveries[i], timeout_s)
            ack = Ack(deliveries[i].headers["X-GitHub-Delivery"], sent_at, status, ack_ms)
            acks[i] = ack
            if on_ack is not None:
                on_ack(ack)

    # Enough threads that no send waits for a free one: every answer comes within timeout_s.
    needed = math.ceil((n / duration_s if duration_s else n) * (timeout_s + 1)) + 16
    threads = [threading.Thread(target=worker, name=f"burst-send-{k}", daemon=True)
               for k in range(min(MAX_IN_FLIGHT, n, needed))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [a for a in acks if a is not None]

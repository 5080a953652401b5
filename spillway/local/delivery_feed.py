"""One short line per delivery for ``spillway local``, as a webhook forwarder prints them: each
answer of the edge to a webhook (accepted or refused, with its status) and each delivery a
worker stored, read back from the ledger.

The edge server calls :meth:`DeliveryFeed.answered` after each webhook answer; the event source
mappings call :meth:`DeliveryFeed.handled` with the records of each batch the handler returned
and did not report failed. Those are stored, duplicates, held back or dead-lettered: a thread
looks them up in the ledger (one primary-key query per tick, never on the poller's path) and
prints ``stored`` for each row written since its batch started; the others are the workers'
log lines to tell (a WARNING or ERROR). Lines go to ``say`` (``print`` by default) from the
feed's own thread only: a terminal or pipe nobody reads blocks that thread, never the edge or
the pollers (lines beyond :data:`MAX_PENDING` are dropped). The feed never raises into them,
and a ledger it cannot reach costs lines, not deliveries.

Operator tooling only; never shipped to Lambda.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from chalicelib.core.envelope import parse_envelope
from chalicelib.ports import QueueMessage
from spillway.terminal import printable

log = logging.getLogger("spillway.local")

#: Seconds between two ledger look-ups.
TICK_S = 0.5
#: Records waiting for a look-up at most (more are dropped: lines, not deliveries).
MAX_PENDING = 10_000

_STORED_SQL = """
SELECT l.delivery_id, l.event, l.action,
       extract(epoch FROM l.processed_at - l.received_at)::float8
FROM webhook_deliveries l
JOIN unnest(%(hooks)s::text[], %(ids)s::text[], %(since)s::float8[]) AS b(hook_id, delivery_id,
                                                                          since)
  ON l.hook_id = b.hook_id AND l.delivery_id = b.delivery_id
WHERE l.processed_at >= to_timestamp(b.since)
ORDER BY l.processed_at
"""


class DeliveryFeed:
    """Prints a line per webhook answer and per stored delivery. ``database_url``: the
    application database (libpq URL). Start with :meth:`start`, stop with :meth:`stop`."""

    def __init__(self, database_url: str, say: Callable[[str], None] = print,
                 clock: Callable[[], float] = time.time):
        self.database_url, self.say, self.clock = database_url, say, clock
        self._pending: list[tuple[str, str, float]] = []
        self._lines: collections.deque[str] = collections.deque(maxlen=MAX_PENDING)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn = None

    def answered(self, status: int, headers: Mapping[str, str], elapsed_ms: float,
                 error: str | None = None) -> None:
        """The edge answered one webhook: ``status`` (HTTP), the request's ``headers``
        (lower-case names), ``elapsed_ms`` from its headers read to the answer, ``error``
        (the body's ``error`` code when refused)."""
        verdict = "accepted" if 200 <= status < 300 else "refused "
        tail = f"{elapsed_ms:.0f} ms" if error is None else error
        event = printable(headers.get("x-github-event", "?"), limit=80)
        delivery = printable(headers.get("x-github-delivery", "-"), limit=80)
        self._lines.append(f"  {verdict} {status}  {event:<14} {delivery}  {tail}")

    def handled(self, messages: Iterable[QueueMessage], started_at: float) -> None:
        """Records a worker took off the queue (stored, duplicate, held back or
        dead-lettered) in a batch invoked at ``started_at`` (epoch s): looked up on the
        next tick."""
        found = []
        for message in messages:
            with contextlib.suppress(Exception):  # an unreadable one is the worker's to log
                envelope = parse_envelope(message.body)
                found.append((envelope.hook_id, envelope.delivery_id, started_at))
        with self._lock:
            self._pending.extend(found[:max(0, MAX_PENDING - len(self._pending))])

    def start(self) -> DeliveryFeed:
        self._thread = threading.Thread(target=self._run, name="delivery-feed", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            self._print_lines()
            with self._lock:
                batch, self._pending = self._pending, []
            if batch:
                self._look_up(batch)
            self._print_lines()

    def _print_lines(self) -> None:
        while self._lines and not self._stop.is_set():
            self._say(self._lines.popleft())

    def _look_up(self, batch: list[tuple[str, str, float]]) -> None:
        import psycopg

        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.database_url, autocommit=True,
                                             connect_timeout=2)
            rows = self._conn.execute(_STORED_SQL, {
                "hooks": [b[0] for b in batch], "ids": [b[1] for b in batch],
                "since": [b[2] for b in batch]}).fetchall()
        except Exception as exc:  # noqa: BLE001 -- the database down: the breaker's story
            log.debug("delivery feed: ledger look-up failed: %s", exc)
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
            return
        for delivery_id, event, action, wait_s in rows:
            name = printable(f"{event}.{action}" if action else event, limit=80)
            self._lines.append(f"  stored       {name:<14} {delivery_id}  "
                               f"{wait_s:.1f} s after acceptance")

    def _say(self, line: str) -> None:
        with contextlib.suppress(Exception):
            self.say(line)

"""PostgreSQL adapter for :class:`~chalicelib.ports.QueuePort` (the ``postgres`` backend).

Messages live in ``queue_messages`` (``migrations/queue``). A receive is one statement that
claims rows with ``FOR UPDATE SKIP LOCKED``, so any number of workers can poll one queue without
blocking each other or receiving the same message twice within a visibility timeout.

Time: every instant (sent, visible-at) comes from the injected clock ``now`` (epoch seconds),
never from the database clock, so tests move time without sleeping. All processes sharing the
queue database must therefore have synchronised clocks (one machine, or NTP).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from chalicelib.adapters.postgres.pool import pooled
from chalicelib.core.queues import DEFAULT_PRIORITY, TARGET_QUEUES, check_message
from chalicelib.errors import NotFound
from chalicelib.ports import DLQ, PRIORITIES, QUEUES, MessageFilter, QueueMessage, QueueStats

#: Largest message accepted by :meth:`PgQueue.send`, bytes (body + attributes, counted as SQS
#: does). Far above SQS's 1 MiB: no claim check is needed below it, but it is a real limit.
PG_MAX_MESSAGE_BYTES = 100 * 2**20
#: NOTIFY channel: ``send`` and ``move`` notify it with the queue name; long polls LISTEN.
CHANNEL = "spillway_queue"
#: Longest a long poll sleeps between two attempts, seconds (delays and visibility timeouts
#: elapse without a notification).
POLL_INTERVAL_S = 0.25
#: SQS limits kept for parity: receive batch 1..10, long poll <= 20 s.
MAX_BATCH = 10
MAX_WAIT_S = 20.0

_COLUMNS = """m.queue, m.message_id::text AS message_id, m.receipt_handle::text AS receipt_handle,
    m.body, m.attributes, m.receive_count, extract(epoch FROM m.sent_at)::float8 AS sent_at"""

# Claim up to n visible messages; those already received max_receive_count times go to the DLQ
# (keeping their receive count, as SQS does), the others are delivered.
_RECEIVE = f"""
WITH picked AS (
    SELECT id, receive_count FROM queue_messages
    WHERE queue = %(queue)s AND visible_at <= to_timestamp(%(now)s)
    ORDER BY visible_at, id LIMIT %(n)s FOR UPDATE SKIP LOCKED
), dead AS (
    UPDATE queue_messages m SET queue = '{DLQ}', receipt_handle = NULL,
        visible_at = to_timestamp(%(now)s)
    FROM picked p
    WHERE m.id = p.id AND %(queue)s <> '{DLQ}' AND p.receive_count >= %(max_receives)s
    RETURNING m.id
)
UPDATE queue_messages m SET receipt_handle = gen_random_uuid(),
    visible_at = to_timestamp(%(now)s + %(vt)s), receive_count = m.receive_count + 1
FROM picked p
WHERE m.id = p.id AND (%(queue)s = '{DLQ}' OR p.receive_count < %(max_receives)s)
RETURNING {_COLUMNS}, m.id
"""

_STATS = """
SELECT count(*) FILTER (WHERE visible_at <= to_timestamp(%(now)s)) AS visible,
       count(*) FILTER (WHERE visible_at > to_timestamp(%(now)s)
                        AND receipt_handle IS NOT NULL) AS in_flight,
       count(*) FILTER (WHERE visible_at > to_timestamp(%(now)s)
                        AND receipt_handle IS NULL) AS delayed,
       extract(epoch FROM min(sent_at))::float8 AS oldest
FROM queue_messages WHERE queue = %(queue)s
"""

_PRIORITY_LIST = ", ".join(f"'{p}'" for p in PRIORITIES)
_TARGET_LIST = ", ".join(f"'{t}'" for t in TARGET_QUEUES)
# chalicelib.core.queues.target_queue in SQL: a message goes back to its own work queue.
_OWN_QUEUE = f"""CASE WHEN m.attributes->>'target' IN ({_TARGET_LIST}) THEN m.attributes->>'target'
                      WHEN m.attributes->>'priority' IN ({_PRIORITY_LIST})
                      THEN m.attributes->>'priority' ELSE '{DEFAULT_PRIORITY}' END"""
# The rule of chalicelib.core.message_filter.MessageFilter in SQL (NULL parameter: any); the
# case folding is ASCII only, as the Python side's.
_UPPER, _LOWER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"
_MATCH = f"""
    (%(event)s::text IS NULL OR attributes->>'event' = %(event)s::text)
    AND (%(since)s::float8 IS NULL OR sent_at >= to_timestamp(%(since)s::float8))
    AND (%(error)s::text IS NULL OR strpos(translate(attributes->>'error', '{_UPPER}', '{_LOWER}'),
                                          translate(%(error)s::text, '{_UPPER}', '{_LOWER}')) > 0)
"""
_PEEK = f"""
SELECT queue, message_id::text AS message_id, '' AS receipt_handle, body, attributes,
       receive_count, extract(epoch FROM sent_at)::float8 AS sent_at
FROM queue_messages
WHERE queue = %(source)s AND visible_at <= to_timestamp(%(now)s) AND {_MATCH}
ORDER BY visible_at, id LIMIT %(n)s
"""
_MOVE = f"""
WITH moved AS (
    UPDATE queue_messages m SET
        queue = coalesce(%(dest)s, {_OWN_QUEUE}),
        receive_count = 0, receipt_handle = NULL
    WHERE m.id IN (SELECT id FROM queue_messages
                   WHERE queue = %(source)s AND visible_at <= to_timestamp(%(now)s)
                         AND {_MATCH}
                   ORDER BY visible_at, id LIMIT %(n)s FOR UPDATE SKIP LOCKED)
    RETURNING m.queue
)
SELECT queue, count(*) AS n, pg_notify('{CHANNEL}', queue) FROM moved GROUP BY queue
"""


class PgQueue:
    """:class:`~chalicelib.ports.QueuePort` over PostgreSQL (``SKIP LOCKED`` queue).

    ``pool``: a ``psycopg_pool.ConnectionPool`` on the queue database (``migrations/queue``
    applied). ``max_receive_count``: the redrive policy -- the (max+1)-th receive attempt moves
    the message to :data:`DLQ` instead of delivering it, as SQS does. ``now``: clock, epoch
    seconds. ``max_message_bytes``: send limit, bytes. Errors: psycopg errors become
    :mod:`chalicelib.errors` (``pool.translate_pg_error``); an unknown queue name raises :class:`NotFound`.
    """

    def __init__(self, pool: Any, *, max_receive_count: int = 5,
                 now: Callable[[], float] = time.time,
                 max_message_bytes: int = PG_MAX_MESSAGE_BYTES):
        self._pool = pool
        self.max_receive_count = max_receive_count
        self._now = now
        self.max_message_bytes = max_message_bytes

    @staticmethod
    def _check_queue(queue: str) -> str:
        if queue not in QUEUES:
            raise NotFound(f"unknown queue {queue!r}; known: {list(QUEUES)}")
        return queue

    def send(self, queue: str, body: str, attributes: Mapping[str, str] | None = None,
             delay_s: int = 0) -> str:
        """Insert one message visible after ``delay_s`` seconds and NOTIFY long pollers;
        returns its id (a UUID). Raises :class:`~chalicelib.errors.PermanentDependencyError`
        above :attr:`max_message_bytes` or for U+0000."""
        self._check_queue(queue)
        check_message(body, attributes, self.max_message_bytes)
        now = self._now()
        with pooled(self._pool) as conn:
            row = conn.execute(
                f"""WITH ins AS (
                        INSERT INTO queue_messages (queue, body, attributes, sent_at, visible_at)
                        VALUES (%s, %s, %s, to_timestamp(%s), to_timestamp(%s))
                        RETURNING message_id)
                    SELECT message_id::text, pg_notify('{CHANNEL}', %s) FROM ins""",
                (queue, body, Jsonb(dict(attributes or {})), now, now + delay_s, queue),
            ).fetchone()
        return row[0]

    def _receive_once(self, conn: Any, queue: str, n: int, vt: int) -> list[QueueMessage]:
        cur = conn.cursor(row_factory=dict_row)
        rows = cur.execute(_RECEIVE, {"queue": queue, "now": self._now(), "n": n, "vt": vt,
                                      "max_receives": self.max_receive_count}).fetchall()
        rows.sort(key=lambda r: r.pop("id"))
        return [QueueMessage(**r) for r in rows]

    def receive(self, queue: str, max_messages: int = 10, visibility_timeout_s: int = 30,
                wait_s: float = 0.0) -> list[QueueMessage]:
        """Claim up to ``max_messages`` (1..10) visible messages for ``visibility_timeout_s``
        seconds. When none is ready and ``wait_s`` > 0 (≤ 20), LISTEN for sends and retry
        every :data:`POLL_INTERVAL_S` s until something arrives or ``wait_s`` (real time)
        passes."""
        self._check_queue(queue)
        n = max(1, min(MAX_BATCH, max_messages))
        vt = int(visibility_timeout_s)
        wait_s = max(0.0, min(MAX_WAIT_S, wait_s))
        if wait_s <= 0:
            with pooled(self._pool) as conn:
                return self._receive_once(conn, queue, n, vt)
        deadline = time.monotonic() + wait_s
        with pooled(self._pool) as conn:
            autocommit = conn.autocommit
            conn.autocommit = True
            try:
                conn.execute(f"LISTEN {CHANNEL}")
                while True:
                    messages = self._receive_once(conn, queue, n, vt)
                    remaining = deadline - time.monotonic()
                    if messages or remaining <= 0:
                        return messages
                    for _ in conn.notifies(timeout=min(POLL_INTERVAL_S, remaining),
                                           stop_after=1):
                        pass
            finally:
                conn.execute("UNLISTEN *")
                conn.autocommit = autocommit

    def delete(self, queue: str, receipt_handles: Sequence[str]) -> None:
        """Delete by receipt handle; stale (re-received or deleted) and malformed handles are
        ignored."""
        self._check_queue(queue)
        handles = [h for h in receipt_handles if _is_uuid(h)]
        if not handles:
            return
        with pooled(self._pool) as conn:
            conn.execute("DELETE FROM queue_messages WHERE queue = %s"
                         " AND receipt_handle = ANY(%s::uuid[])", (queue, handles))

    def change_visibility(self, queue: str, receipt_handle: str, timeout_s: int) -> None:
        """Make the message visible ``timeout_s`` seconds from now; a stale handle is
        ignored."""
        self._check_queue(queue)
        if not _is_uuid(receipt_handle):
            return
        with pooled(self._pool) as conn:
            conn.execute("UPDATE queue_messages SET visible_at = to_timestamp(%s)"
                         " WHERE queue = %s AND receipt_handle = %s::uuid",
                         (self._now() + timeout_s, queue, receipt_handle))

    def stats(self, queue: str) -> QueueStats:
        """Exact counts; ``oldest_age_s`` is now minus the oldest ``sent_at`` (seconds)."""
        self._check_queue(queue)
        now = self._now()
        with pooled(self._pool) as conn:
            row = conn.cursor(row_factory=dict_row).execute(
                _STATS, {"queue": queue, "now": now}).fetchone()
        oldest = row.pop("oldest")
        return QueueStats(queue=queue, oldest_age_s=0.0 if oldest is None
                          else max(0.0, now - oldest), **row)

    def move(self, source: str, destination: str | None = None, max_messages: int = 1000,
             *, match: MessageFilter | None = None) -> int:
        """One UPDATE re-queues up to ``max_messages`` visible messages of ``source`` (oldest
        first) that ``match`` takes (all when None) to ``destination``, or with None to each
        one's own work queue (``chalicelib.core.queues.target_queue``: ``heavy`` / ``batch`` by its
        ``target`` attribute, else its ``priority``, ``low`` when absent); receive counts restart at 0;
        ``sent_at`` is kept. Atomic: no duplicate; the others are not touched."""
        self._check_queue(source)
        if destination is not None:
            self._check_queue(destination)
        with pooled(self._pool) as conn:
            rows = conn.execute(_MOVE, {"dest": destination, **self._filter(source, match),
                                        "n": max_messages}).fetchall()
        return sum(row[1] for row in rows)

    def peek(self, queue: str, max_messages: int = 1000, *,
             match: MessageFilter | None = None) -> list[QueueMessage]:
        """One SELECT of up to ``max_messages`` visible messages of ``queue`` that ``match``
        takes, oldest first; nothing is claimed or changed (``receipt_handle`` is ``""``)."""
        self._check_queue(queue)
        with pooled(self._pool) as conn:
            rows = conn.cursor(row_factory=dict_row).execute(
                _PEEK, {**self._filter(queue, match), "n": max_messages}).fetchall()
        return [QueueMessage(**row) for row in rows]

    def _filter(self, source: str, match: MessageFilter | None) -> dict[str, Any]:
        match = match or MessageFilter()
        return {"source": source, "now": self._now(), "event": match.event,
                "since": match.since, "error": match.error}

    def purge(self, queue: str) -> None:
        """Delete every message of ``queue``."""
        self._check_queue(queue)
        with pooled(self._pool) as conn:
            conn.execute("DELETE FROM queue_messages WHERE queue = %s", (queue,))


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True

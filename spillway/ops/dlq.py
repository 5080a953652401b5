"""What waits in the dead-letter queue, and why (``spillway dlq``, ``spillway replay``).

Looking must not cost a message its redrive: on the ``postgres`` backend the DLQ rows are read
from the ``queue_messages`` table (no receive, no receive count); on SQS a message can only be
seen by receiving it, so each is received once with a short visibility timeout
(:data:`PEEK_VISIBILITY_S`, so one look never sees a message twice), never deleted, and made
visible again at once when the look ends; its ``ApproximateReceiveCount`` goes up by one
(harmless: the DLQ has no redrive policy of its own).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from chalicelib.ports import DLQ

#: Seconds a peeked SQS message stays invisible (SQS minimum is 0; long enough to page through
#: the DLQ without seeing a message twice in one look).
PEEK_VISIBILITY_S = 5
#: Reason given to a message the worker did not annotate: the SQS redrive policy moved it after
#: maxReceiveCount failed receives (transient failures that never ended).
REDRIVE_REASON = "receive count exceeded maxReceiveCount (retried until the redrive policy moved it)"


@dataclass(frozen=True)
class DeadLetter:
    """One message in the DLQ: ``sent_at`` epoch seconds (when it entered the DLQ on postgres,
    the original send on SQS), ``receive_count`` as the queue reports it."""

    message_id: str
    delivery_id: str | None
    event: str | None
    priority: str | None
    reason: str
    receive_count: int
    sent_at: float


def _letter(message_id: str, attributes, receive_count: int, sent_at: float) -> DeadLetter:
    return DeadLetter(message_id=str(message_id), delivery_id=attributes.get("delivery_id"),
                      event=attributes.get("event"), priority=attributes.get("priority"),
                      reason=attributes.get("error") or REDRIVE_REASON,
                      receive_count=int(receive_count or 0), sent_at=float(sent_at or 0.0))


def dead_letters(queue, *, backend: str, queue_pool=None, limit: int = 1000
                 ) -> tuple[list[DeadLetter], str]:
    """Up to ``limit`` messages of the DLQ and how they were read (a sentence for the user).
    ``backend`` ``postgres`` reads the table through ``queue_pool`` (the queue database's
    ``psycopg_pool.ConnectionPool``); ``aws`` peeks through ``queue`` (a
    :class:`~chalicelib.ports.QueuePort`). Queue errors raise :mod:`chalicelib.errors`."""
    if backend == "postgres":
        from chalicelib.adapters.postgres.pool import pooled

        with pooled(queue_pool) as conn:
            rows = conn.execute(
                "SELECT message_id, attributes, receive_count,"
                " EXTRACT(EPOCH FROM sent_at)::float8 FROM queue_messages"
                " WHERE queue = %s ORDER BY id LIMIT %s", (DLQ, limit)).fetchall()
        return [_letter(*row) for row in rows], "read from the queue table (nothing received)"
    expected = min(limit, queue.stats(DLQ).total)
    seen: dict[str, DeadLetter] = {}
    receipts: list[str] = []
    deadline = time.monotonic() + PEEK_VISIBILITY_S - 1
    while len(seen) < expected and time.monotonic() < deadline:
        batch = queue.receive(DLQ, 10, PEEK_VISIBILITY_S, 0.0)
        if not batch:
            break
        for m in batch:
            receipts.append(m.receipt_handle)
            seen.setdefault(m.message_id, _letter(m.message_id, m.attributes, m.receive_count,
                                                  m.sent_at))
    for receipt in receipts:  # visible again now, for the next look or a redrive
        queue.change_visibility(DLQ, receipt, 0)
    how = ("peeked: each message received once and made visible again, not deleted (its "
           "receive count went up by one)")
    if len(seen) < expected:
        how += f"; saw {len(seen)} of {expected} (SQS returns a sample per receive)"
    return list(seen.values()), how


def by_reason(letters: list[DeadLetter]) -> list[tuple[str, int]]:
    """``(reason, count)`` pairs, most frequent first."""
    return Counter(letter.reason for letter in letters).most_common()


def dead_letters_of_environment(limit: int = 1000) -> tuple[list[DeadLetter], str]:
    """:func:`dead_letters` of the backend the environment configures (``chalicelib.wiring``)."""
    from chalicelib import wiring

    settings = wiring.get_settings()
    pool = wiring.get_queue_pool() if settings.backend == "postgres" else None
    return dead_letters(wiring.get_queue(), backend=settings.backend, queue_pool=pool,
                        limit=limit)

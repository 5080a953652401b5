"""The runbook's queue verbs, audited: :func:`redrive` (dead-letter queue back to the priority
queues, filtered and paced) and :func:`promote` (a lower queue's work to ``high``). Each move
writes one audit record (:mod:`spillway.ops.audit`) with who, why and what moved, also when
it fails part-way (``details.error``); a dry run moves nothing and writes nothing.

Over :class:`~chalicelib.ports.QueuePort` (``move``/``peek`` with a
:class:`~chalicelib.ports.MessageFilter`): the filter runs in the adapter (in SQL on the
postgres backend; receive, move the matches, make the others visible again on SQS).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from chalicelib.errors import ConfigError
from chalicelib.ports import DLQ, MessageFilter, QueueMessage, QueuePort, StatePort
from spillway.ops import audit

#: Largest chunk a paced redrive moves before it sleeps (one SQS batch).
PACE_CHUNK = 10


def preview(queue: QueuePort, *, match: MessageFilter, max_messages: int) -> list[dict]:
    """What :func:`redrive` would move, moving nothing: up to ``max_messages`` DLQ messages
    ``match`` takes, as ``{"message_id", "event", "action", "delivery_id", "priority",
    "error", "sent_at" (epoch s), "receive_count"}`` (absent attributes are None)."""
    return [_describe(m) for m in queue.peek(DLQ, max_messages, match=match)]


def redrive(queue: QueuePort, store: StatePort, *, match: MessageFilter, max_messages: int,
            by: str, reason: str, rate_per_s: float | None = None,
            clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
            progress: Callable[[int], None] | None = None) -> dict:
    """Move up to ``max_messages`` DLQ messages that ``match`` takes back to their priority
    queues, at most ``rate_per_s`` messages a second (None: as fast as the backend goes; in
    chunks of up to :data:`PACE_CHUNK`, sleeping between them), calling ``progress(moved so
    far)`` after each chunk. Returns the audit record (``details``: ``source``, ``filter``,
    ``max``, ``rate_per_s``, ``moved``, and ``error`` if a move failed, which is re-raised).
    Raises :class:`~chalicelib.errors.ConfigError` for ``max_messages`` < 1 or a rate <= 0."""
    if max_messages < 1:
        raise ConfigError(f"--max must be at least 1, got {max_messages}")
    if rate_per_s is not None and rate_per_s <= 0:
        raise ConfigError(f"--rate must be positive, got {rate_per_s:g}/s")
    details: dict[str, Any] = {"source": DLQ, "destination": "by priority",
                               "filter": match.to_dict(), "max": max_messages,
                               "rate_per_s": rate_per_s, "moved": 0}
    started = clock()
    with _audited(store, "redrive", by, reason, details, clock) as entry:
        while details["moved"] < max_messages:
            want = max_messages - details["moved"]
            if rate_per_s is not None:
                want = min(want, PACE_CHUNK, max(1, int(rate_per_s)))
            moved = queue.move(DLQ, None, want, match=match)
            details["moved"] += moved
            if progress is not None:
                progress(details["moved"])
            if moved < want or rate_per_s is None or details["moved"] >= max_messages:
                break
            # Pace: the next chunk starts no earlier than moved / rate after the start.
            wait = started + details["moved"] / rate_per_s - clock()
            if wait > 0:
                sleep(wait)
    return entry


def promote(queue: QueuePort, store: StatePort, *, source: str, max_messages: int, by: str,
            reason: str, clock: Callable[[], float] = time.time) -> dict:
    """Move up to ``max_messages`` visible messages of ``source`` (``medium`` or ``low``) to
    ``high``; returns the audit record (``details``: ``source``, ``destination``, ``max``,
    ``moved``). Raises :class:`~chalicelib.errors.ConfigError` for ``max_messages`` < 1."""
    if max_messages < 1:
        raise ConfigError(f"--max must be at least 1, got {max_messages}")
    details: dict[str, Any] = {"source": source, "destination": "high", "max": max_messages,
                               "moved": 0}
    with _audited(store, "promote", by, reason, details, clock) as entry:
        details["moved"] = queue.move(source, "high", max_messages)
    return entry


@contextlib.contextmanager
def _audited(store: StatePort, verb: str, by: str, reason: str, details: dict[str, Any],
             clock: Callable[[], float]) -> Iterator[dict]:
    """Run the block, then write its audit record with ``details`` as the block left them
    (``error`` added if it raised, then re-raised). Yields the dict the record fills."""
    entry: dict = {}
    try:
        yield entry
    except Exception as exc:
        details["error"] = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        entry.update(audit.record(store, verb=verb, by=by, reason=reason, details=details,
                                  clock=clock))


def _describe(msg: QueueMessage) -> dict:
    attrs = msg.attributes
    return {"message_id": msg.message_id, "event": attrs.get("event"),
            "action": attrs.get("action"), "delivery_id": attrs.get("delivery_id"),
            "priority": attrs.get("priority"), "error": attrs.get("error"),
            "sent_at": msg.sent_at, "receive_count": msg.receive_count}

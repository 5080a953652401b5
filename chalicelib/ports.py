"""Ports: the interfaces the core talks to, each with an AWS adapter and a PostgreSQL adapter.

Two backends sit behind these ports (see ``DESIGN.md`` section 1):

* ``aws``      -- SQS + DynamoDB + S3 (the moto server stands in locally);
* ``postgres`` -- a single-node backend keeping queues, state and blobs in PostgreSQL.

The contract test suite in ``tests/contract/`` is the definition of the semantics; both adapters
must pass it. Times are in **seconds** (float epoch seconds for instants) unless a name says
otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.core.message_filter import MessageFilter
from chalicelib.core.queues import (
    DLQ,
    PRIORITIES,
    QUEUES,
    TARGET_QUEUES,
    WORK_QUEUES,
    queue_for,
    queue_name,
)

__all__ = ["DLQ", "PRIORITIES", "QUEUES", "TARGET_QUEUES", "WORK_QUEUES", "queue_for",
           "queue_name", "MessageFilter", "QueueMessage",
           "QueueStats",
           "QueuePort", "StateItem", "StatePort", "BlobPort"]

@dataclass(frozen=True)
class QueueMessage:
    """One received message.

    ``attributes`` are the string message attributes (SQS ``MessageAttributes`` with
    ``DataType=String``). ``receive_count`` is 1 on the first receive (SQS
    ``ApproximateReceiveCount``). ``sent_at`` is epoch seconds.
    """

    queue: str
    message_id: str
    receipt_handle: str
    body: str
    attributes: Mapping[str, str]
    receive_count: int
    sent_at: float


@dataclass(frozen=True)
class QueueStats:
    """Depth of one queue: ``visible`` (ready), ``in_flight`` (received, not deleted),
    ``delayed`` (sent with a delay not yet elapsed) and ``oldest_age_s`` (seconds since the
    oldest message was sent, 0.0 when empty)."""

    queue: str
    visible: int
    in_flight: int
    delayed: int
    oldest_age_s: float = 0.0

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed


class QueuePort(Protocol):
    """The five work queues (the priority trio, ``heavy``, ``batch``) plus the dead-letter queue.

    Semantics (SQS standard queues): at-least-once delivery; a received message is invisible
    for ``visibility_timeout_s`` and reappears unless deleted; every receive increments
    ``receive_count``; a message received more than ``max_receive_count`` times moves to
    :data:`DLQ` (redrive policy) instead of being delivered again.
    """

    #: Largest message body accepted by :meth:`send`, in bytes. Bigger payloads go through a
    #: claim check (:class:`BlobPort`). SQS: 1 MiB (AWS SQS quotas, 2026).
    max_message_bytes: int

    def send(self, queue: str, body: str, attributes: Mapping[str, str] | None = None,
             delay_s: int = 0) -> str:
        """Enqueue ``body`` on ``queue``; returns the message id. ``delay_s`` 0..900
        (SQS DelaySeconds limit). Raises :class:`~chalicelib.errors.DependencyError`."""
        ...

    def receive(self, queue: str, max_messages: int = 10, visibility_timeout_s: int = 30,
                wait_s: float = 0.0) -> list[QueueMessage]:
        """Receive up to ``max_messages`` (1..10) visible messages, hiding them for
        ``visibility_timeout_s``. Waits up to ``wait_s`` (long polling, ≤ 20) when empty."""
        ...

    def delete(self, queue: str, receipt_handles: Sequence[str]) -> None:
        """Delete received messages. Unknown or stale handles are ignored."""
        ...

    def change_visibility(self, queue: str, receipt_handle: str, timeout_s: int) -> None:
        """Make a received message visible again after ``timeout_s`` (0 = now)."""
        ...

    def stats(self, queue: str) -> QueueStats:
        """Depth and age of the oldest message of ``queue``."""
        ...

    def move(self, source: str, destination: str | None = None, max_messages: int = 1000,
             *, match: MessageFilter | None = None) -> int:
        """Move up to ``max_messages`` visible messages from ``source`` to ``destination``
        (promote to ``high``, or redrive the DLQ). With ``destination=None`` each message goes
        back to the queue named by its ``priority`` attribute (DLQ redrive). With ``match``
        only the messages it matches move; the others stay in ``source``, visible again by the
        time the call returns. Receive counts start again at 0. Returns how many were moved."""
        ...

    def peek(self, queue: str, max_messages: int = 1000, *,
             match: MessageFilter | None = None) -> list[QueueMessage]:
        """Up to ``max_messages`` visible messages of ``queue`` that ``match`` takes (all when
        None), oldest first as far as the backend orders them, left in the queue and visible
        again by the time the call returns (a dry run of :meth:`move`). ``receipt_handle`` of
        what is returned is no longer valid."""
        ...

    def purge(self, queue: str) -> None:
        """Delete every message of ``queue`` (tests and operators only)."""
        ...


@dataclass(frozen=True)
class StateItem:
    """One item of shared state. ``version`` starts at 1 and grows by one on every write;
    ``expires_at`` (epoch seconds or None) is checked in code, never trusted to TTL deletion
    (DynamoDB TTL deletes "within days", AWS DynamoDB docs)."""

    key: str
    version: int
    data: Mapping[str, Any] = field(default_factory=dict)
    expires_at: float | None = None

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now


class StatePort(Protocol):
    """Shared state (circuit breaker items and their audit records) changed only by
    compare-and-set. ``data`` must be JSON-serialisable."""

    def get(self, key: str) -> StateItem | None:
        """The item, or None if absent. Expired items are returned (callers decide)."""
        ...

    def put(self, key: str, data: Mapping[str, Any], *, expected_version: int | None,
            expires_at: float | None = None) -> StateItem:
        """Write ``data`` if the stored version equals ``expected_version``
        (``None`` = the item must not exist). Returns the new item (version + 1).
        Raises :class:`~chalicelib.errors.ConflictError` when the condition fails."""
        ...

    def delete(self, key: str, *, expected_version: int | None = None) -> None:
        """Delete the item (only at ``expected_version`` when given; ConflictError otherwise).
        Deleting an absent item without a version is not an error."""
        ...

    def scan(self, prefix: str) -> list[StateItem]:
        """All items whose key starts with ``prefix`` (operator tooling, small sets only)."""
        ...


class BlobPort(Protocol):
    """Claim-check storage for payloads larger than the queue's message limit."""

    def put(self, key: str, data: bytes) -> str:
        """Store ``data``; returns a reference string to put in the message."""
        ...

    def get(self, ref: str) -> bytes:
        """Fetch what :meth:`put` stored. Raises :class:`~chalicelib.errors.NotFound`."""
        ...

    def delete(self, ref: str) -> None:
        ...

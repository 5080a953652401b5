"""Rules both queue adapters share (no I/O, no vendor imports): message size as SQS counts it,
what a queue refuses to store, and where a dead-letter redrive sends a message."""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.core.classify import DEFAULT_PRIORITY
from chalicelib.core.envelope import message_bytes
from chalicelib.errors import PermanentDependencyError
from chalicelib.ports import PRIORITIES


def check_message(body: str, attributes: Mapping[str, str] | None, limit: int) -> None:
    """Reject a message over ``limit`` bytes (as SQS counts them: see
    :func:`chalicelib.core.envelope.message_bytes`) or containing U+0000
    (neither SQS nor PostgreSQL text/jsonb stores it) with :class:`PermanentDependencyError`,
    before any I/O: never truncate."""
    size = message_bytes(body, attributes)
    if size > limit:
        raise PermanentDependencyError(f"message of {size} bytes exceeds the {limit}-byte limit")
    if "\x00" in body or any("\x00" in k or "\x00" in v for k, v in (attributes or {}).items()):
        raise PermanentDependencyError("message contains U+0000, which queues cannot store")


def target_queue(attributes: Mapping[str, str]) -> str:
    """Where a redriven message goes back to: its ``priority`` attribute if that names a
    priority queue, else the classification's default priority (``low``)."""
    priority = attributes.get("priority", "")
    return priority if priority in PRIORITIES else DEFAULT_PRIORITY

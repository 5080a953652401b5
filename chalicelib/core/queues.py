"""The queues as the domain sees them (pure: no I/O, no vendor imports): the three priority
queues and the dead-letter queue, their physical names, message size as SQS counts it, what a
queue refuses to store, and where a dead-letter redrive sends a message.

Both queue adapters (:mod:`chalicelib.adapters.aws.sqs_queue`,
:mod:`chalicelib.adapters.postgres.queue`) apply these rules; :mod:`chalicelib.ports`
re-exports the names. May import: the standard library and :mod:`chalicelib.errors` only.
"""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.errors import PermanentDependencyError

#: The three priority queues, in the order workers prefer them, plus the dead-letter queue.
PRIORITIES: tuple[str, ...] = ("high", "medium", "low")
DLQ = "dlq"
QUEUES: tuple[str, ...] = (*PRIORITIES, DLQ)

#: Priority of events the classification does not list (unknown events included), and where a
#: redriven message without a valid ``priority`` attribute goes back to.
DEFAULT_PRIORITY = "low"


def queue_name(prefix: str, queue: str) -> str:
    """The physical name of logical ``queue`` (one of :data:`QUEUES`): ``<prefix>-<queue>``,
    as ``infra/template.yaml`` names them."""
    return f"{prefix}-{queue}"


def message_bytes(body: str, attributes: Mapping[str, str] | None = None) -> int:
    """Size in bytes that counts against the queue's message limit: the UTF-8 length of
    ``body`` plus, for each attribute, its name, its data type (``"String"``) and its value
    (AWS SQS quotas: attributes count toward the message size)."""
    # An ASCII str (every to_message body) is its own UTF-8: len() is the size, no copy.
    size = len(body) if body.isascii() else len(body.encode("utf-8", "surrogatepass"))
    for name, value in (attributes or {}).items():
        size += sum(len(s.encode("utf-8", "surrogatepass")) for s in (name, "String", value))
    return size


def check_message(body: str, attributes: Mapping[str, str] | None, limit: int) -> None:
    """Reject a message over ``limit`` bytes (as SQS counts them: see
    :func:`message_bytes`) or containing U+0000
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

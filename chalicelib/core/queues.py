"""The queues as the domain sees them (pure: no I/O, no vendor imports): the three priority
queues (target ``light``), the two target queues ``heavy`` and ``batch``, and the dead-letter
queue; which queue a delivery goes to (:func:`queue_for`), their physical names, message size as
SQS counts it, what a queue refuses to store, and where a dead-letter redrive sends a message.

Both queue adapters (:mod:`chalicelib.adapters.aws.sqs_queue`,
:mod:`chalicelib.adapters.postgres.queue`) apply these rules; :mod:`chalicelib.ports`
re-exports the names. May import: the standard library and :mod:`chalicelib.errors` only.
"""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.errors import PermanentDependencyError

#: The three priority queues, in the order workers prefer them (target ``light``).
PRIORITIES: tuple[str, ...] = ("high", "medium", "low")
#: The queues of the non-light targets, named after them (``chalicelib.core.concurrency.routing``
#: ``TARGETS``): one worker function each (``worker_heavy``, ``worker_batch``). Their messages
#: still carry their ``priority`` attribute (slot leases, metrics).
TARGET_QUEUES: tuple[str, ...] = ("heavy", "batch")
LIGHT_TARGET = "light"
#: Every queue a worker function consumes.
WORK_QUEUES: tuple[str, ...] = (*PRIORITIES, *TARGET_QUEUES)
DLQ = "dlq"
#: Every queue: the work queues plus the dead-letter queue.
QUEUES: tuple[str, ...] = (*WORK_QUEUES, DLQ)

#: Priority of events the classification does not list (unknown events included), and where a
#: redriven message without a valid ``priority`` attribute goes back to.
DEFAULT_PRIORITY = "low"


def queue_for(priority: str, target: str) -> str:
    """The work queue of a delivery classified ``priority`` / ``target``: a ``light`` one goes
    to its priority queue (``high`` / ``medium`` / ``low``), a ``heavy`` or ``batch`` one to the
    queue named after its target. Raises ValueError for an unknown priority or target."""
    if priority not in PRIORITIES:
        raise ValueError(f"priority must be one of {PRIORITIES}, got {priority!r}")
    if target == LIGHT_TARGET:
        return priority
    if target in TARGET_QUEUES:
        return target
    raise ValueError(f"target must be one of {(LIGHT_TARGET, *TARGET_QUEUES)}, got {target!r}")


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
    """Where a redriven message goes back to: its own work queue, from its ``target`` and
    ``priority`` attributes (:func:`queue_for`): ``heavy`` / ``batch`` for those targets, else
    its priority queue. A missing or unknown priority counts as the default (``low``), a
    missing or unknown target as ``light``; never raises."""
    target = attributes.get("target", "")
    if target in TARGET_QUEUES:
        return target
    priority = attributes.get("priority", "")
    return priority if priority in PRIORITIES else DEFAULT_PRIORITY

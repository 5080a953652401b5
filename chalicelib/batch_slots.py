"""The worker's lease per batch on the shared database slots (:mod:`chalicelib.shared_slots`).

:func:`acquire_for_batch` runs before a batch touches PostgreSQL: it asks for the batch's slots
under the batch's priority and either returns the lease (release it after the batch, also on
errors: :func:`release_after_batch`) or the hold-back delay for the whole batch. Cost: one lease
per batch, whatever its size. While the batch runs the lease's heartbeat renews it
(:meth:`~chalicelib.shared_slots.SlotLease.keep_alive`, every quarter of its short life): a
batch may run as long as its function timeout, and an instance that dies stops renewing, so its
slots come back within ``lease_s`` (:data:`~chalicelib.core.concurrency.plan.SLOT_LEASE_S`).
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

from chalicelib.core.concurrency.slot_state import PRIORITY_ORDER
from chalicelib.core.envelope import parse_envelope
from chalicelib.errors import DependencyError, NotFound
from chalicelib.metrics import count_metric
from chalicelib.shared_slots import SharedSlots, SlotLease

log = logging.getLogger("spillway.worker")


#: This execution environment's id, drawn at cold start.
INSTANCE_ID = uuid.uuid4().hex[:12]


def batch_identity(event: dict, queue: str, instance: str = INSTANCE_ID) -> tuple[str, str]:
    """``(holder, priority)`` of an SQS batch (Lambda's event shape).

    The holder is this instance (and thread: the local runtime hosts several "instances" in
    one process) on ``queue``. An instance runs one batch at a time, so the id is unique among
    leases in flight, and it is what comes back: the messages of a held-back batch are re-sent
    and regrouped by SQS (new message ids, other batches, maybe another instance), but this
    instance asks again with its next batch of the same queue a moment later and so keeps its
    place among the waiters (a per-batch id would leave a stale waiter behind instead).
    The priority is the queue's when it is one (high / medium / low), else the first record's
    envelope's (the heavy / batch queues carry every priority); ``low`` when unreadable.
    ``instance``: this execution environment's id (another one only to stand for a different
    instance, as ``--chaos holder-kill`` does for the instances it kills)."""
    holder = f"{queue}:{instance}:{threading.get_ident()}"
    if queue in PRIORITY_ORDER:
        return holder, queue
    records = event.get("Records") or []
    try:
        return holder, parse_envelope(records[0].get("body", "")).priority
    except Exception:  # an unusable message: the worker dead-letters it
        return holder, "low"


def acquire_for_batch(slots: SharedSlots | None, event: dict, queue: str,
                      metrics: Any = None, *, instance: str = INSTANCE_ID,
                      heartbeat: bool = True) -> tuple[SlotLease | None, float | None]:
    """``(lease, None)`` when granted (its heartbeat started unless ``heartbeat`` is False),
    ``(None, wait_s)`` when refused (hold the whole batch back ``wait_s`` seconds),
    ``(None, None)`` when there are no slots or the state store cannot be read (fail open, as
    the circuit breaker: the slots must not become a second single point of failure; counted as
    ``SlotStoreFailures``). ``instance``: see :func:`batch_identity`."""
    if slots is None or not event.get("Records"):
        return None, None
    holder, priority = batch_identity(event, queue, instance)
    try:
        got = slots.acquire(holder, priority)
    except (DependencyError, NotFound) as exc:
        log.warning("slot acquire for %s failed open: %s", holder, exc)
        count_metric(metrics, "SlotStoreFailures")
        return None, None
    if isinstance(got, SlotLease):
        if heartbeat:
            got.keep_alive()
        return got, None
    log.info("batch %s (%s) held back %.1f s: slot queue position %d, %s", holder, priority,
             got.wait_s, got.position, got.reason)
    return None, got.wait_s


def release_after_batch(lease: SlotLease | None, duration_s: float, failures: int) -> None:
    """Release ``lease`` reporting the batch as one database sample: ``duration_s`` seconds of
    work under the lease and whether any call failed (``failures`` retryable database errors),
    which feed the adaptive limit. Nothing for no lease; never raises a store error."""
    if lease is not None:
        lease.release(samples=1, latency_s=duration_s, failures=failures)

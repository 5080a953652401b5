"""What ``spillway status`` and the demo read from a running system: queue depths, the age of
each queue's oldest message, and the database circuit breaker's state; and the queue
database's pool for housekeeping. Several requests each: operators only, never the Lambda's
health route."""

from __future__ import annotations

from typing import Any

from chalicelib import wiring
from chalicelib.ports import QUEUES
from chalicelib.settings import get_settings
from spillway.ops import breaker


def queue_pool():
    """The postgres backend's ``psycopg_pool.ConnectionPool`` on ``QUEUE_DATABASE_URL`` (the
    process's own, from the wiring). Raises :class:`~chalicelib.errors.ConfigError` when no
    URL is set."""
    return wiring.get_queue_pool()


def breaker_status() -> dict | None:
    """Operator view of the database breaker (see :func:`spillway.ops.breaker.status`), or
    None when ``BREAKER_ENABLED`` is off."""
    if not get_settings().breaker_enabled:
        return None
    return breaker.status(wiring.get_state(), wiring.BREAKER_NAME)


def status() -> dict:
    """``{"backend", "queues": {name: {"visible", "in_flight", "delayed", "oldest_age_s"}},
    "breaker": {"state", "trips", "retry_after_s"}}`` (``breaker`` absent when disabled;
    ``oldest_age_s`` in seconds, 0.0 when the backend cannot tell: SQS). Raises the queue's
    and state store's errors (:mod:`chalicelib.errors`)."""
    queue = wiring.get_queue()
    out: dict[str, Any] = {"backend": get_settings().backend, "queues": {}}
    for name in QUEUES:
        stats = queue.stats(name)
        out["queues"][name] = {"visible": stats.visible, "in_flight": stats.in_flight,
                               "delayed": stats.delayed, "oldest_age_s": stats.oldest_age_s}
    found = breaker_status()
    if found is not None:
        out["breaker"] = {k: found.get(k) for k in ("state", "trips", "retry_after_s")}
    return out

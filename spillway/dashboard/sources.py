"""Source readers for the dashboard's sampler: each a zero-argument callable doing the I/O of
one reading, built from the ports and stores the stack already has.

* :func:`queue_reader` -- depths of every queue (:data:`~chalicelib.ports.QUEUES`) from a
  :class:`~chalicelib.ports.QueuePort` (SQS on the emulator or PostgreSQL);
* :func:`breaker_reader` -- the shared circuit breaker, from a callable returning
  :func:`spillway.ops.breaker.status`'s dict (``spillway.ops.status.breaker_status``) or None;
* :class:`PgLedger` -- the ledger (``webhook_deliveries``, ``migrations/app``): rows stored
  and the last deliveries stored;
* :func:`reserved_concurrency_reader` -- a local worker function's executions (its
  :class:`~spillway.local.concurrency.ReservedConcurrency`);
* :func:`remote_slots_reader` -- the slots another process's dashboard serves (how
  ``spillway --local status`` reads the stack's concurrency).

Errors propagate: the sampler records them under the source's name and goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from chalicelib.ports import QUEUES, QueuePort, QueueStats
from spillway.dashboard.snapshot import BreakerReading, LedgerReading, LedgerRow, SlotReading

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from spillway.local.concurrency import ReservedConcurrency

#: Last deliveries shown, and how many of the most recently received rows they are picked
#: from (bounded by the ``received_at`` index, so the read stays cheap on a large ledger).
RECENT_ROWS = 15
RECENT_SCAN = 500

_RECENT_SQL = """
WITH latest AS (
    SELECT hook_id, delivery_id, event, action, priority, attempts, status, received_at,
           processed_at
    FROM webhook_deliveries ORDER BY received_at DESC LIMIT %(scan)s
), last AS (
    SELECT * FROM latest ORDER BY processed_at DESC LIMIT %(n)s
)
SELECT l.delivery_id, l.event, l.action, d.payload->'repository'->>'full_name', l.priority,
       l.attempts, l.status, extract(epoch FROM l.received_at)::float8,
       extract(epoch FROM l.processed_at)::float8
FROM last l JOIN webhook_deliveries d USING (hook_id, delivery_id)
ORDER BY l.processed_at DESC
"""


def queue_reader(queue: QueuePort) -> Callable[[], dict[str, QueueStats]]:
    """Reads ``queue.stats`` of every queue (:data:`~chalicelib.ports.QUEUES`: high, medium,
    low, heavy, batch and the DLQ; six requests)."""
    def read() -> dict[str, QueueStats]:
        return {name: queue.stats(name) for name in QUEUES}
    return read


def breaker_reader(status: Callable[[], Mapping[str, Any] | None]
                   ) -> Callable[[], BreakerReading | None]:
    """Adapts ``status()`` (a :func:`spillway.ops.breaker.status` dict, None when the breaker is
    disabled) to a :class:`BreakerReading`."""
    def read() -> BreakerReading | None:
        data = status()
        return None if data is None else BreakerReading.from_status(data)
    return read


class PgLedger:
    """Reads the ledger through ``pool`` (a ``psycopg_pool.ConnectionPool`` on the application
    database, e.g. :func:`chalicelib.adapters.postgres.pool.make_pool` of ``DATABASE_URL``).
    Raises the pool's translated errors (:mod:`chalicelib.errors`)."""

    def __init__(self, pool: ConnectionPool, recent: int = RECENT_ROWS):
        self._pool = pool
        self._recent = recent

    def __call__(self) -> LedgerReading:
        from chalicelib.adapters.postgres.pool import pooled

        with pooled(self._pool) as conn:
            (total,) = conn.execute("SELECT count(*) FROM webhook_deliveries").fetchone()
            rows = conn.execute(_RECENT_SQL, {"scan": RECENT_SCAN, "n": self._recent}).fetchall()
        return LedgerReading(int(total), tuple(LedgerRow(*row) for row in rows))


def reserved_concurrency_reader(limiter: ReservedConcurrency) -> Callable[[], SlotReading]:
    """Reads ``limiter`` (:meth:`~spillway.local.concurrency.ReservedConcurrency.take_interval`:
    one reader) as a :class:`SlotReading`: executions now, the most at once and the
    invocations since the previous read, out of the reserved concurrency."""
    def read() -> SlotReading:
        i = limiter.take_interval()
        return SlotReading(i["in_flight"], i["reserved_concurrency"], i["peak"],
                           i["invocations"])
    return read


def remote_slots_reader(status_url: str, timeout_s: float = 2.0
                        ) -> Callable[[], dict[str, SlotReading]]:
    """Reads the ``slots`` of the snapshot served at ``status_url`` (another dashboard's
    ``http://127.0.0.1:PORT/api/status``). Raises ``OSError`` (``URLError``) when it does not
    answer within ``timeout_s`` seconds, ``ValueError`` for a body that is not a snapshot."""
    import json
    import urllib.request

    def read() -> dict[str, SlotReading]:
        with urllib.request.urlopen(status_url, timeout=timeout_s) as resp:  # noqa: S310
            slots = json.load(resp)["slots"]
        return {name: SlotReading(int(v["in_use"]), v.get("limit"), v.get("peak"),
                                  v.get("started")) for name, v in slots.items()}
    return read

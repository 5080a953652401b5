"""Source readers for the dashboard's sampler: each a zero-argument callable doing the I/O of
one reading, built from the ports and stores the stack already has.

* :func:`queue_reader` -- depths of every queue (:data:`~chalicelib.ports.QUEUES`) from a
  :class:`~chalicelib.ports.QueuePort` (SQS on the emulator or PostgreSQL);
* :func:`breaker_reader` -- the shared circuit breaker, from a callable returning
  :func:`spillway.ops.breaker.status`'s dict (``spillway.ops.status.breaker_status``) or None;
* :class:`PgLedger` -- the ledger (``webhook_deliveries``, ``migrations/app``): rows stored
  and the last deliveries stored.

Errors propagate: the sampler records them under the source's name and goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from chalicelib.ports import QUEUES, QueuePort, QueueStats
from spillway.dashboard.snapshot import BreakerReading, LedgerReading, LedgerRow

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

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

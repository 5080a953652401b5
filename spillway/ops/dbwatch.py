"""What the demo measures in the application database itself: how many connections the
application held at once (sampled from ``pg_stat_activity``) and each priority's wait from
enqueue to stored (the ledger's ``received_at`` -> ``processed_at``, ``migrations/app``)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import psycopg

from chalicelib.core.queues import PRIORITIES

#: ``application_name`` of an operator's monitoring connection (e.g. ``spillway bench burst``
#: polling a backlog): the sampler leaves those out, as it leaves out its own.
MONITOR_APP_NAME = "spillway-monitor"

#: Client connections to the sampler's database, except its own and monitoring ones
#: (PostgreSQL docs, "pg_stat_activity": ``backend_type`` 'client backend' are client
#: connections).
_CONNECTIONS_SQL = f"""
SELECT count(*) FROM pg_stat_activity
 WHERE datname = current_database() AND backend_type = 'client backend'
   AND pid <> pg_backend_pid() AND application_name <> '{MONITOR_APP_NAME}'
"""

_WAITS_SQL = """
SELECT priority,
       percentile_cont(0.95) WITHIN GROUP (
           ORDER BY extract(epoch FROM processed_at - received_at)) * 1000
  FROM webhook_deliveries
 WHERE delivery_id = ANY(%s)
 GROUP BY priority
"""

class ConnectionSampler(threading.Thread):
    """Samples the application database's client connections every ``interval_s`` seconds
    on one connection of its own (not counted) until :meth:`stop`; ``peak`` is the most seen at
    once (connections). Use as a context manager around the run. A failed sample (the database
    restarting under chaos) is skipped and the connection reopened at the next one."""

    def __init__(self, url: str, interval_s: float = 0.05):
        super().__init__(name="db-connection-sampler", daemon=True)
        self.url, self.interval_s = url, interval_s
        self.peak = 0
        self.samples = 0
        self._halt = threading.Event()

    def __enter__(self) -> ConnectionSampler:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def run(self) -> None:
        conn = None
        while not self._halt.is_set():
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.url, autocommit=True, connect_timeout=2)
                (count,) = conn.execute(_CONNECTIONS_SQL).fetchone()
                self.peak = max(self.peak, int(count))
                self.samples += 1
            except psycopg.Error:
                if conn is not None:
                    conn.close()
                conn = None
            self._halt.wait(self.interval_s)
        if conn is not None:
            conn.close()


def p95_wait_ms(url: str, delivery_ids: Sequence[str]) -> dict[str, float | None]:
    """``{"high": ms, "medium": ms, "low": ms}``: the 95th percentile of enqueue -> stored
    (milliseconds; the edge's ``received_at`` to the worker's ``processed_at``) over the ledger
    rows of ``delivery_ids``, per priority; None for a priority with no row. Raises psycopg's
    errors."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(_WAITS_SQL, (list(delivery_ids),)).fetchall()
    found = {priority: round(float(ms), 1) for priority, ms in rows}
    return {p: found.get(p) for p in PRIORITIES}

"""What each system's database holds per delivery id: rows and when the first was written,
read after the run (:class:`bench.burst.summary.Stored`). Every connection here is a
monitoring one (``application_name`` :data:`spillway.ops.dbwatch.MONITOR_APP_NAME`), which the
connection sampler leaves out."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from bench.burst.summary import Stored
from spillway.ops.dbwatch import MONITOR_APP_NAME


def monitor_connect(url: str, timeout_s: int = 2) -> psycopg.Connection:
    """An autocommit connection to ``url`` that the connection sampler does not count.
    Raises psycopg's errors (the database down)."""
    return psycopg.connect(url, autocommit=True, connect_timeout=timeout_s,
                           application_name=MONITOR_APP_NAME)


def stored(url: str, table: str, time_column: str, delivery_ids: Sequence[str],
           t0_epoch: float) -> dict[str, Stored]:
    """Rows per delivery id of ``delivery_ids`` in ``table`` (its ``delivery_id`` column)
    and the first row's ``time_column`` as seconds after ``t0_epoch`` (Unix time of the run's
    start; same machine, same clock). ``table`` and ``time_column`` are trusted names.
    Raises psycopg's errors."""
    query = (f"SELECT delivery_id, count(*), extract(epoch FROM min({time_column})) "
             f"FROM {table} WHERE delivery_id = ANY(%s) GROUP BY delivery_id")
    with monitor_connect(url, timeout_s=10) as conn:
        rows = conn.execute(query, (list(delivery_ids),)).fetchall()
    return {d: Stored(int(n), float(at) - t0_epoch) for d, n, at in rows}


def count(url: str, query: str) -> int:
    """The one number ``query`` selects, over a monitoring connection; -1 when the database
    cannot answer (down, or restarting)."""
    try:
        with monitor_connect(url) as conn:
            return int(conn.execute(query).fetchone()[0])
    except psycopg.Error:
        return -1

"""``worker_vs_naive`` and ``worker_vs_copy``: deliveries stored per second on one database
connection by the worker's store, ÷ two baselines on the same rows, same server, same run.

* **worker** -- :class:`chalicelib.appdb.AppDatabase` on a pool of one
  connection, exactly as the worker calls it: ``store(**fields)`` once per delivery (the ledger
  row plus the normalized rows). If the store has a batch entry point (``store_batch`` or
  ``store_many``, taking a list of those field dicts), it is measured too, in batches of
  :data:`BATCH` (an SQS batch), and the better of the two is the figure.
* **naive** -- the ledger row only, one ``INSERT`` per delivery in its own transaction
  (autocommit), the same columns and ``jsonb`` payload.
* **copy** -- ``COPY webhook_deliveries FROM STDIN`` of the same ledger rows, one transaction:
  the physical floor of getting those rows in.

The server is an embedded PostgreSQL (pgserver, as ``tests/conftest.py`` starts it; started by
``bench.run``) with ``migrations/app`` applied. Every repetition truncates the tables and uses fresh delivery ids;
repetitions of the three contenders are interleaved and each figure is the median.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.corpus import HOOK_ID, SignedDelivery
from bench.report import Figure
from chalicelib.core.classify import priority_for

#: Records per SQS batch (the worker mappings' batch size, ``app.WORKER_SCALING``).
BATCH = 10
#: Entry points of a batch store, looked up in this order.
BATCH_METHODS = ("store_batch", "store_many")

_LEDGER_COLUMNS = ("hook_id", "delivery_id", "event", "action", "priority", "received_at",
                   "attempts", "payload", "payload_bytes")
_NAIVE_SQL = (f"INSERT INTO webhook_deliveries ({', '.join(_LEDGER_COLUMNS)}) "
              "VALUES (%s, %s, %s, %s, %s, to_timestamp(%s), %s, %s::jsonb, %s)")


def store_fields(corpus: list[SignedDelivery]) -> list[dict[str, Any]]:
    """The keyword arguments the worker passes to ``store`` for each corpus delivery (fresh
    delivery ids each call)."""
    out = []
    for i, d in enumerate(corpus):
        payload = json.loads(d.body)
        action = payload.get("action") if isinstance(payload.get("action"), str) else None
        out.append({"hook_id": HOOK_ID, "delivery_id": str(uuid.uuid4()), "event": d.event,
                    "action": action, "priority": priority_for(d.event, action),
                    "received_at": 1.7e9 + i, "receive_count": 1, "payload": payload,
                    "payload_bytes": len(d.body)})
    return out


def _ledger_row(f: dict[str, Any]) -> tuple:
    return (f["hook_id"], f["delivery_id"], f["event"], f["action"], f["priority"],
            f["received_at"], f["receive_count"],
            json.dumps(f["payload"], ensure_ascii=False, separators=(",", ":")),
            f["payload_bytes"])


def _truncate(url: str) -> None:
    import psycopg

    from chalicelib.core.normalize import KEYS

    tables = ", ".join(f'"{t}"' for t in ("webhook_deliveries", *KEYS))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {tables}")
        conn.execute("VACUUM ANALYZE")


def _time(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class Contenders:
    """The three ways of storing the rows, each on its own single connection to ``url``."""

    def __init__(self, url: str):
        import psycopg

        from chalicelib.adapters.postgres.pool import make_pool
        from chalicelib.appdb import AppDatabase

        self.url = url
        self.pool = make_pool(url, min_size=1, max_size=1)
        self.store = AppDatabase(self.pool)
        self.conn = psycopg.connect(url, autocommit=True)
        self.batch = next((getattr(self.store, m) for m in BATCH_METHODS
                           if callable(getattr(self.store, m, None))), None)

    def close(self) -> None:
        self.conn.close()
        self.pool.close()

    def worker_single(self, fields: list[dict]) -> float:
        def go():
            for f in fields:
                self.store.store(**f)
        return _time(go)

    def worker_batch(self, fields: list[dict]) -> float:
        def go():
            for i in range(0, len(fields), BATCH):
                self.batch(fields[i:i + BATCH])
        return _time(go)

    def naive(self, fields: list[dict]) -> float:
        rows = [_ledger_row(f) for f in fields]

        def go():
            with self.conn.cursor() as cur:
                for row in rows:
                    cur.execute(_NAIVE_SQL, row)
        return _time(go)

    def copy(self, fields: list[dict]) -> float:
        from datetime import UTC, datetime

        rows = [(*r[:5], datetime.fromtimestamp(r[5], tz=UTC), *r[6:]) for r in map(
            _ledger_row, fields)]

        def go():
            with self.conn.transaction(), self.conn.cursor() as cur, cur.copy(
                    f"COPY webhook_deliveries ({', '.join(_LEDGER_COLUMNS)}) FROM STDIN") as cp:
                for row in rows:
                    cp.write_row(row)
        return _time(go)


def run(corpus: list[SignedDelivery], url: str, *, repetitions: int = 5) -> list[Figure]:
    """Measure on the migrated (``migrations/app``), otherwise unused database at ``url``;
    returns ``[worker_vs_naive, worker_vs_copy]``. The tables are truncated."""
    c = Contenders(url)
    try:
        runs: dict[str, list[float]] = {"worker_single": [], "naive": [], "copy": []}
        if c.batch is not None:
            runs["worker_batch"] = []
        c.worker_single(store_fields(corpus))  # warm up caches and the server
        for rep in range(repetitions):
            print(f"  worker db: repetition {rep + 1}/{repetitions}", file=sys.stderr,
                  flush=True)
            for name in runs:
                _truncate(url)
                seconds = getattr(c, name)(store_fields(corpus))
                runs[name].append(len(corpus) / seconds)
    finally:
        c.close()
    rate = {name: statistics.median(r) for name, r in runs.items()}
    best = max(("worker_single", "worker_batch"), key=lambda n: rate.get(n, 0.0))
    detail = {f"{name}_deliveries_per_s": round(r, 1) for name, r in rate.items()}
    detail.update({"figure_uses": best, "repetitions": repetitions,
                   "deliveries_per_repetition": len(corpus), "connections": 1,
                   "store_ms_per_delivery": 1000.0 / rate[best],
                   "batch_entry_point": c.batch.__name__ if c.batch is not None else None})
    return [
        Figure("worker_vs_naive", rate[best] / rate["naive"],
               f"one INSERT of the ledger row per transaction = 1, "
               f"{rate['naive']:.0f} deliveries/s", "x", {**detail, "goal": 2.0}),
        Figure("worker_vs_copy", rate[best] / rate["copy"],
               f"COPY of the ledger rows = 1, {rate['copy']:.0f} deliveries/s", "x",
               {**detail, "goal": 0.5}),
    ]

"""``worker_vs_naive``, ``worker_vs_naive_b50``, ``worker_vs_copy`` and
``worker_cpu_us_per_delivery``: deliveries stored per second on one database connection by the
worker's store, ÷ two baselines on the same rows, same server, same run; and the ledger's
payload storage compared (``ledger_<storage>_b50_vs_naive``).

* **worker** -- :class:`chalicelib.appdb.AppDatabase` on a pool of one
  connection, exactly as the worker calls it: ``store(**fields)`` once per delivery (the ledger
  row plus the normalized rows), the body's text as ``payload_text``. If the store has a batch
  entry point (``store_batch`` or ``store_many``, taking a list of those field dicts), it is
  measured too, in batches of :data:`BATCH` (an SQS batch) and :data:`BATCH_LARGE`; the
  better of one-at-a-time and :data:`BATCH` is ``worker_vs_naive``, :data:`BATCH_LARGE` is
  ``worker_vs_naive_b50`` (and ``worker_vs_copy_b50``). ``worker_cpu_us_per_delivery``: this process's CPU time
  (``time.process_time``) per delivery storing in batches of :data:`BATCH` (the worker's
  Python: sanitising, normalising, folding, encoding parameters; the server's CPU is not in it).
* **naive** -- the strongest simple handler: one ``INSERT`` of the ledger row per delivery in
  its own transaction (autocommit), the body's raw text cast to ``jsonb`` by the server (no
  Python encode), into its own table (:data:`NAIVE_TABLE`: the ledger's columns, keys and
  indexes, default ``jsonb`` storage whatever the ledger uses).
* **copy** -- ``COPY webhook_deliveries FROM STDIN`` of the same ledger rows, one transaction:
  the physical floor of getting those rows in.

Storage (:data:`STORAGES`): the ledger's ``payload`` column set to each storage the server
supports, the worker in batches of :data:`BATCH_LARGE` and :data:`BATCH`; per delivery: the
rate ÷ naive, WAL bytes (``pg_current_wal_lsn`` before and after), table bytes
(``pg_total_relation_size`` of the ledger: heap, TOAST and indexes) and CPU time of the server
process behind the store's connection (``/proc``; steadier than rates on a loaded machine) and
of the worker. The migrated storage is
restored afterwards.

The server is an embedded PostgreSQL (pgserver, as ``tests/conftest.py`` starts it; started by
``bench.run``) with ``migrations/app`` applied. Every repetition truncates the tables and uses
fresh delivery ids; repetitions of the contenders are interleaved and each figure is the median.
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.corpus import HOOK_ID, SignedDelivery
from bench.report import Figure
from chalicelib.core.classify import priority_for

#: Records per SQS batch (the worker mappings' batch size, ``app.WORKER_SCALING``).
BATCH = 10
#: The larger batch measured (``worker_vs_naive_b50``).
BATCH_LARGE = 50
#: Entry points of a batch store, looked up in this order.
BATCH_METHODS = ("store_batch", "store_many")
#: The naive handler's own table.
NAIVE_TABLE = "naive_deliveries"
#: Ledger payload storages compared: name -> the ``ALTER TABLE`` that selects it.
STORAGES = {
    "pglz": "ALTER COLUMN payload SET STORAGE EXTENDED, ALTER COLUMN payload SET COMPRESSION pglz",
    "lz4": "ALTER COLUMN payload SET STORAGE EXTENDED, ALTER COLUMN payload SET COMPRESSION lz4",
    "uncompressed": "ALTER COLUMN payload SET STORAGE EXTERNAL",
}

_LEDGER_COLUMNS = ("hook_id", "delivery_id", "event", "action", "priority", "received_at",
                   "attempts", "payload", "payload_bytes")
_NAIVE_SQL = (f"INSERT INTO {NAIVE_TABLE} ({', '.join(_LEDGER_COLUMNS)}) "
              "VALUES (%s, %s, %s, %s, %s, to_timestamp(%s), %s, %s::jsonb, %s)")


def store_fields(corpus: list[SignedDelivery]) -> list[dict[str, Any]]:
    """The keyword arguments the worker passes to ``store`` for each corpus delivery (fresh
    delivery ids each call)."""
    import json

    out = []
    for i, d in enumerate(corpus):
        text = d.body.decode("utf-8")
        payload = json.loads(text)
        action = payload.get("action") if isinstance(payload.get("action"), str) else None
        out.append({"hook_id": HOOK_ID, "delivery_id": str(uuid.uuid4()), "event": d.event,
                    "action": action, "priority": priority_for(d.event, action),
                    "received_at": 1.7e9 + i, "receive_count": 1, "payload": payload,
                    "payload_bytes": len(d.body), "payload_text": text})
    return out


def _ledger_row(f: dict[str, Any]) -> tuple:
    return (f["hook_id"], f["delivery_id"], f["event"], f["action"], f["priority"],
            f["received_at"], f["receive_count"], f["payload_text"], f["payload_bytes"])


def _truncate(url: str) -> None:
    import psycopg

    from chalicelib.core.normalize import KEYS

    tables = ", ".join(f'"{t}"' for t in ("webhook_deliveries", NAIVE_TABLE, *KEYS))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {tables}")
        conn.execute("VACUUM ANALYZE")


def _time(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class Contenders:
    """The ways of storing the rows, each on its own single connection to ``url``; each
    method stores ``fields`` and returns ``(wall seconds, this process's CPU seconds)``."""

    def __init__(self, url: str):
        import psycopg

        from chalicelib.adapters.postgres.pool import make_pool
        from chalicelib.appdb import AppDatabase

        self.url = url
        self.pool = make_pool(url, min_size=1, max_size=1)
        self.store = AppDatabase(self.pool)
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute(f"CREATE TABLE IF NOT EXISTS {NAIVE_TABLE} (LIKE webhook_deliveries "
                          "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)")
        self.batch = next((getattr(self.store, m) for m in BATCH_METHODS
                           if callable(getattr(self.store, m, None))), None)

    def close(self) -> None:
        self.conn.close()
        self.pool.close()

    def worker_single(self, fields: list[dict]) -> tuple[float, float]:
        def go():
            for f in fields:
                self.store.store(**f)
        return _time(go)

    def _batches(self, fields: list[dict], size: int) -> tuple[float, float]:
        def go():
            for i in range(0, len(fields), size):
                self.batch(fields[i:i + size])
        return _time(go)

    def worker_batch(self, fields: list[dict]) -> tuple[float, float]:
        return self._batches(fields, BATCH)

    def worker_batch_large(self, fields: list[dict]) -> tuple[float, float]:
        return self._batches(fields, BATCH_LARGE)

    def naive(self, fields: list[dict]) -> tuple[float, float]:
        rows = [_ledger_row(f) for f in fields]

        def go():
            with self.conn.cursor() as cur:
                for row in rows:
                    cur.execute(_NAIVE_SQL, row)
        return _time(go)

    def copy(self, fields: list[dict]) -> tuple[float, float]:
        from datetime import UTC, datetime

        rows = [(*r[:5], datetime.fromtimestamp(r[5], tz=UTC), *r[6:]) for r in map(
            _ledger_row, fields)]

        def go():
            with self.conn.transaction(), self.conn.cursor() as cur, cur.copy(
                    f"COPY webhook_deliveries ({', '.join(_LEDGER_COLUMNS)}) FROM STDIN") as cp:
                for row in rows:
                    cp.write_row(row)
        return _time(go)

    def storage_supported(self, storage: str) -> bool:
        """Whether the server accepts ``storage`` (``lz4`` needs a server built with it)."""
        import psycopg

        try:
            with self.conn.transaction(force_rollback=True):
                self.conn.execute(f"ALTER TABLE webhook_deliveries {STORAGES[storage]}")
        except psycopg.Error:
            return False
        return True

    def ledger_storage(self) -> tuple[str, str]:
        """The ledger payload's ``(storage, compression)`` letters as migrated."""
        return self.conn.execute(
            "SELECT attstorage, coalesce(nullif(attcompression, ''), 'd') FROM pg_attribute "
            "WHERE attrelid = 'webhook_deliveries'::regclass AND attname = 'payload'").fetchone()

    def set_storage(self, storage: str | tuple[str, str]) -> None:
        """Select one of :data:`STORAGES`, or restore ``(storage, compression)`` letters."""
        if isinstance(storage, str):
            self.conn.execute(f"ALTER TABLE webhook_deliveries {STORAGES[storage]}")
            return
        kind = {"x": "EXTENDED", "e": "EXTERNAL", "m": "MAIN", "p": "PLAIN"}[storage[0]]
        method = {"p": "pglz", "l": "lz4", "d": "default"}[storage[1]]
        self.conn.execute(f"ALTER TABLE webhook_deliveries ALTER COLUMN payload SET STORAGE "
                          f"{kind}, ALTER COLUMN payload SET COMPRESSION {method}")

    def wal_lsn(self) -> str:
        return self.conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]

    def wal_bytes_since(self, lsn: str) -> int:
        return int(self.conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)",
                                     (lsn,)).fetchone()[0])

    def server_cpu_s(self) -> float | None:
        """CPU seconds used so far by the server process behind the store's one pooled
        connection (``/proc/<pid>/stat``: utime + stime), or None where that is not
        readable (not Linux, another host)."""
        import os

        from chalicelib.adapters.postgres.pool import pooled

        with pooled(self.pool) as conn:
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def ledger_bytes(self) -> int:
        return self.conn.execute(
            "SELECT pg_total_relation_size('webhook_deliveries')").fetchone()[0]


def _time(fn: Callable[[], None]) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - start, time.process_time() - cpu


def run(corpus: list[SignedDelivery], url: str, *, repetitions: int = 5) -> list[Figure]:
    """Measure on the migrated (``migrations/app``), otherwise unused database at ``url``;
    returns ``worker_vs_naive``, ``worker_vs_naive_b50``, ``worker_vs_copy``,
    ``worker_vs_copy_b50``, ``worker_cpu_us_per_delivery`` and one ``ledger_<storage>_b50_vs_naive`` per storage the
    server supports. The tables are truncated."""
    n = len(corpus)
    c = Contenders(url)
    try:
        names = ["worker_single", "naive", "copy"]
        if c.batch is not None:
            names += ["worker_batch", "worker_batch_large"]
        runs: dict[str, list[float]] = {name: [] for name in names}
        cpu: list[float] = []
        c.worker_single(store_fields(corpus))  # warm up caches and the server
        for rep in range(repetitions):
            print(f"  worker db: repetition {rep + 1}/{repetitions}", file=sys.stderr,
                  flush=True)
            for name in names:
                _truncate(url)
                seconds, cpu_s = getattr(c, name)(store_fields(corpus))
                runs[name].append(n / seconds)
                if name == "worker_batch":
                    cpu.append(cpu_s / n)
        storages = _storages(c, url, corpus, repetitions) if c.batch is not None else {}
    finally:
        c.close()
    rate = {name: statistics.median(r) for name, r in runs.items()}
    best = max(("worker_single", "worker_batch"), key=lambda n: rate.get(n, 0.0))
    detail = {f"{name}_deliveries_per_s": round(r, 1) for name, r in rate.items()}
    detail.update({"figure_uses": best, "repetitions": repetitions,
                   "deliveries_per_repetition": n, "connections": 1,
                   "store_ms_per_delivery": 1000.0 / rate[best],
                   "batch_entry_point": c.batch.__name__ if c.batch is not None else None})
    naive = f"one INSERT of the raw body into jsonb per transaction = 1, {rate['naive']:.0f} " \
            "deliveries/s"
    figures = [Figure("worker_vs_naive", rate[best] / rate["naive"], naive, "x",
                      {**detail, "goal": 1.2, "batch": BATCH})]
    if "worker_batch_large" in rate:
        figures.append(Figure("worker_vs_naive_b50", rate["worker_batch_large"] / rate["naive"],
                              naive, "x", {**detail, "goal": 2.0, "batch": BATCH_LARGE}))
    copy = f"COPY of the ledger rows = 1, {rate['copy']:.0f} deliveries/s"
    figures.append(Figure("worker_vs_copy", rate[best] / rate["copy"], copy, "x",
                          {**detail, "goal": 0.5}))
    if "worker_batch_large" in rate:
        figures.append(Figure("worker_vs_copy_b50", rate["worker_batch_large"] / rate["copy"],
                              copy, "x", {**detail, "batch": BATCH_LARGE}))
    if cpu:
        figures.append(Figure("worker_cpu_us_per_delivery", statistics.median(cpu) * 1e6,
                              f"this process's CPU time storing in batches of {BATCH}, "
                              "server excluded", "us", {"per_repetition_us": [
                                  round(x * 1e6, 1) for x in cpu]}))
    for storage, m in storages.items():
        figures.append(Figure(
            f"ledger_{storage}_b50_vs_naive", m["b50_deliveries_per_s"] / rate["naive"],
            f"naive = 1; batch {BATCH}: {m['b10_deliveries_per_s'] / rate['naive']:.2f}x; "
            f"per delivery {m['wal_bytes']:.0f} WAL bytes, {m['table_bytes']:.0f} ledger bytes"
            f"{_cpu(m)}"
            f"{' (as migrated)' if m['migrated'] else ''}", "x", m))
    return figures


def _cpu(m: dict[str, Any]) -> str:
    """``, N us server CPU + M us worker CPU`` of one storage's batch-50 runs."""
    server = "?" if m["server_cpu_us"] is None else f"{m['server_cpu_us']:.0f}"
    return f", {server} us server CPU + {m['client_cpu_us']:.0f} us worker CPU"


def _storages(c: Contenders, url: str, corpus: list[SignedDelivery],
              repetitions: int) -> dict[str, dict[str, Any]]:
    """Per supported storage: the worker's rate in batches of :data:`BATCH_LARGE` and
    :data:`BATCH` (medians, deliveries/s), WAL and ledger bytes per delivery (of the
    :data:`BATCH_LARGE` runs, medians), and whether it is the migrated one."""
    migrated = c.ledger_storage()
    supported = [s for s in STORAGES if c.storage_supported(s)]
    samples: dict[str, dict[str, list[float]]] = {
        s: {"b50": [], "b10": [], "wal": [], "table": [], "server_cpu": [], "client_cpu": []}
        for s in supported}
    n = len(corpus)
    try:
        for rep in range(repetitions):
            print(f"  ledger storage: repetition {rep + 1}/{repetitions}", file=sys.stderr,
                  flush=True)
            for storage in supported:
                c.set_storage(storage)
                _truncate(url)
                lsn, server = c.wal_lsn(), c.server_cpu_s()
                seconds, cpu_s = c.worker_batch_large(store_fields(corpus))
                after = c.server_cpu_s()
                if server is not None and after is not None:
                    samples[storage]["server_cpu"].append((after - server) / n)
                samples[storage]["client_cpu"].append(cpu_s / n)
                samples[storage]["wal"].append(c.wal_bytes_since(lsn) / n)
                samples[storage]["table"].append(c.ledger_bytes() / n)
                samples[storage]["b50"].append(n / seconds)
                _truncate(url)
                seconds, _ = c.worker_batch(store_fields(corpus))
                samples[storage]["b10"].append(n / seconds)
    finally:
        c.set_storage(migrated)
    as_migrated = {"pglz": ("x", "p"), "lz4": ("x", "l"), "uncompressed": ("e", "d")}
    return {s: {"b50_deliveries_per_s": statistics.median(m["b50"]),
                "b10_deliveries_per_s": statistics.median(m["b10"]),
                "wal_bytes": statistics.median(m["wal"]),
                "table_bytes": statistics.median(m["table"]),
                "server_cpu_us": statistics.median(m["server_cpu"]) * 1e6
                if m["server_cpu"] else None,
                "client_cpu_us": statistics.median(m["client_cpu"]) * 1e6,
                "migrated": migrated == as_migrated[s]
                or (s == "pglz" and migrated == ("x", "d"))}
            for s, m in samples.items()}


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.worker_db``: only the worker's figures, on its own embedded
    PostgreSQL."""
    import argparse
    import tempfile

    from bench.corpus import corpus_path, deliveries
    from spillway.local.embedded import EmbeddedPostgres
    from spillway.migrate import migrate

    parser = argparse.ArgumentParser(prog="python -m bench.worker_db",
                                     description="Only the worker's database figures, on an embedded PostgreSQL.")
    parser.add_argument("--corpus", type=Path, default=None,
                        help="payload folder (default: ../shared/github-webhooks, else the "
                             "bundled samples)")
    parser.add_argument("--repetitions", type=int, default=5,
                        help="interleaved repetitions (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.repetitions < 1:
        parser.error("--repetitions must be at least 1")
    corpus = deliveries(args.corpus or corpus_path())
    pg = EmbeddedPostgres(tempfile.mkdtemp(prefix="spillway-bench-pg-")).start()
    try:
        url = pg.create_database("bench_store")
        migrate(url, "app")
        for figure in run(corpus, url, repetitions=args.repetitions):
            print(figure.line(), flush=True)
    finally:
        pg.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

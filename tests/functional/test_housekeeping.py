"""spillway.housekeeping on a migrated queue database: every table cleared in bounded batches,
counts returned, live rows kept; and the ``spillway db housekeep`` subcommand."""

from __future__ import annotations

import argparse
import json

import pytest

from chalicelib.adapters.postgres.blob import PgBlob
from chalicelib.adapters.postgres.state import PgState
from spillway.housekeeping import housekeep, register

NOW = 1_900_000_000.0


@pytest.fixture
def pool(pg_url):
    from psycopg_pool import ConnectionPool

    from spillway.migrate import migrate

    migrate(pg_url, "queue")
    with ConnectionPool(pg_url, min_size=1, max_size=2, open=True) as p:
        yield p


def _seed(pool, *, expired: int, live: int) -> None:
    """``expired`` and ``live`` rows in each table (as of NOW)."""
    state, blobs = PgState(pool), PgBlob(pool)
    with pool.connection() as conn:
        for i in range(expired + live):
            gone = i < expired
            conn.execute("INSERT INTO idempotency_records (id, status, expiration)"
                         " VALUES (%s, 'COMPLETED', %s)",
                         (f"f#{i}", int(NOW) + (-60 if gone else 3600)))
            state.put(f"audit:{i}", {"i": i}, expected_version=None,
                      expires_at=NOW + (-60 if gone else 3600))
            blobs.put(f"b{i}", b"x")
            created = NOW - (15 if gone else 13) * 86_400
            conn.execute("UPDATE blobs SET created_at = to_timestamp(%s) WHERE key = %s",
                         (created, f"b{i}"))


def _counts(pool) -> dict[str, int]:
    with pool.connection() as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("blobs", "idempotency_records", "queue_state")}


def test_housekeep_clears_every_table_in_batches(pool):
    _seed(pool, expired=5, live=2)
    assert housekeep(pool, now=lambda: NOW, batch=2) == {
        "idempotency_records": 5, "blobs": 5, "queue_state": 5}
    assert _counts(pool) == {"blobs": 2, "idempotency_records": 2, "queue_state": 2}
    assert housekeep(pool, now=lambda: NOW) == {
        "idempotency_records": 0, "blobs": 0, "queue_state": 0}


def test_batch_of_exactly_the_backlog_and_blob_retention(pool):
    _seed(pool, expired=3, live=1)
    counts = housekeep(pool, now=lambda: NOW, batch=3, blob_retention_days=12)
    assert counts == {"idempotency_records": 3, "blobs": 4, "queue_state": 3}
    with pytest.raises(ValueError, match="at least 1"):
        housekeep(pool, now=lambda: NOW, batch=0)


def test_migration_indexes_the_housekeeping_queries(pool):
    with pool.connection() as conn:
        names = {r[0] for r in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename IN ('blobs', 'queue_state')")}
    assert {"blobs_created_at", "queue_state_expires_at"} <= names


def test_db_housekeep_subcommand(pool, capsys):
    _seed(pool, expired=2, live=1)
    parser = argparse.ArgumentParser(prog="spillway")
    db = parser.add_subparsers(dest="command").add_parser("db")
    register(db.add_subparsers(dest="db_command"), lambda: pool, clock=lambda: NOW)
    args = parser.parse_args(["db", "housekeep", "--batch", "1", "--blob-days", "14"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out) == {
        "blobs": 2, "idempotency_records": 2, "queue_state": 2}
    assert _counts(pool) == {"blobs": 1, "idempotency_records": 1, "queue_state": 1}

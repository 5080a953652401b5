"""Housekeeping of the postgres backend, the stand-in for DynamoDB TTL and the S3 lifecycle
rule, on a migrated queue database.

* ``housekeep()`` of each adapter: expired rows go, live rows stay, counts are returned, one
  call deletes at most ``limit``;
* ``spillway.housekeeping.housekeep``: every table cleared in bounded batches, and the
  ``spillway db housekeep`` subcommand.
"""

from __future__ import annotations

import argparse
import json
import time

import pytest

from chalicelib.adapters.postgres.blob import PgBlob
from chalicelib.adapters.postgres.idempotency import PgIdempotencyLayer
from chalicelib.adapters.postgres.state import PgState
from chalicelib.errors import NotFound
from spillway.commands import db as db_command
from spillway.housekeeping import housekeep

NOW = 1_900_000_000.0
DAY = 86_400.0


@pytest.fixture
def queue_pool(pg_url):
    """A connection pool on a fresh database with ``migrations/queue`` applied."""
    from psycopg_pool import ConnectionPool

    from spillway.migrate import migrate

    migrate(pg_url, "queue")
    with ConnectionPool(pg_url, min_size=1, max_size=2, open=True) as p:
        yield p


def _state_keys(pool) -> list[str]:
    with pool.connection() as conn:
        return [r[0] for r in conn.execute("SELECT key FROM queue_state ORDER BY key")]


def test_state_housekeep_deletes_expired_items_only(queue_pool):
    s = PgState(queue_pool)
    s.put("audit:old", {"n": 1}, expected_version=None, expires_at=NOW - 1)
    s.put("audit:due", {"n": 2}, expected_version=None, expires_at=NOW)  # expired(NOW) is True
    s.put("lease:live", {"n": 3}, expected_version=None, expires_at=NOW + 0.5)
    s.put("breaker:db", {"state": "closed"}, expected_version=None)  # no expiry: kept forever
    assert s.housekeep(NOW) == 2
    assert _state_keys(queue_pool) == ["breaker:db", "lease:live"]
    assert s.housekeep(NOW) == 0
    assert s.housekeep(NOW + 10 * 365 * DAY) == 1
    assert _state_keys(queue_pool) == ["breaker:db"]


def test_state_housekeep_is_bounded_by_limit(queue_pool):
    s = PgState(queue_pool)
    for i in range(5):
        s.put(f"audit:{i}", {}, expected_version=None, expires_at=NOW - i)
    assert [s.housekeep(NOW, limit=2) for _ in range(4)] == [2, 2, 1, 0]
    with pytest.raises(ValueError, match="at least 1"):
        s.housekeep(NOW, limit=0)


def _age_blob(pool, key: str, days: float) -> None:
    with pool.connection() as conn:
        conn.execute("UPDATE blobs SET created_at = clock_timestamp() - %s * interval '1 day'"
                     " WHERE key = %s", (days, key))


def test_blob_housekeep_deletes_blobs_older_than_14_days(queue_pool):
    b = PgBlob(queue_pool)
    old, edge, new = (b.put(k, k.encode()) for k in ("old", "edge", "new"))
    _age_blob(queue_pool, "old", 15)
    _age_blob(queue_pool, "edge", 13.9)
    now = time.time()
    assert b.housekeep(now) == 1
    with pytest.raises(NotFound):
        b.get(old)
    assert (b.get(edge), b.get(new)) == (b"edge", b"new")
    assert b.housekeep(now, older_than_days=13) == 1  # a shorter retention, as asked
    assert b.get(new) == b"new"
    assert b.housekeep(now + 15 * DAY, limit=1) == 1  # the clock moved: "new" is old now
    assert b.housekeep(now + 15 * DAY) == 0


def _insert_record(pool, key: str, expiration: int, status: str = "COMPLETED") -> None:
    with pool.connection() as conn:
        conn.execute("INSERT INTO idempotency_records (id, status, expiration) VALUES (%s, %s, %s)",
                     (key, status, expiration))


def _record_ids(pool) -> list[str]:
    with pool.connection() as conn:
        return [r[0] for r in conn.execute("SELECT id FROM idempotency_records ORDER BY id")]


def test_idempotency_housekeep_deletes_expired_records_only(queue_pool):
    layer = PgIdempotencyLayer(queue_pool)
    _insert_record(queue_pool, "f#expired", int(NOW) - 1)
    _insert_record(queue_pool, "f#inprogress-expired", int(NOW) - 100, status="INPROGRESS")
    _insert_record(queue_pool, "f#now", int(NOW))  # Powertools: expired only when < now
    _insert_record(queue_pool, "f#live", int(NOW) + 4 * int(DAY))
    assert layer.housekeep(NOW, limit=1) == 1
    assert layer.housekeep(NOW) == 1
    assert _record_ids(queue_pool) == ["f#live", "f#now"]
    assert layer.housekeep(NOW) == 0


def test_a_delivery_is_new_again_after_its_record_was_housekept(queue_pool):
    from chalicelib.dedup import IN_PROGRESS, NEW, fingerprint, verdict

    layer = PgIdempotencyLayer(queue_pool)
    validation = fingerprint("0" * 64)

    def claim(now: float) -> str:
        done = layer.claim("delivery#d-1", validation=validation, now=now, in_progress_s=5,
                           ttl_s=3600)
        return verdict(done, validation, now)

    now = time.time()
    assert claim(now) == NEW
    assert layer.housekeep(now) == 0  # a live record is kept: still deduplicates
    assert claim(now + 1) == IN_PROGRESS
    assert layer.housekeep(now + 3601) == 1
    assert claim(now + 3602) == NEW  # the record is gone: the delivery is new again


# --- spillway.housekeeping: every table at once, and `spillway db housekeep` -------------------
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


def test_housekeep_clears_every_table_in_batches(queue_pool):
    _seed(queue_pool, expired=5, live=2)
    assert housekeep(queue_pool, now=lambda: NOW, batch=2) == {
        "idempotency_records": 5, "blobs": 5, "queue_state": 5}
    assert _counts(queue_pool) == {"blobs": 2, "idempotency_records": 2, "queue_state": 2}
    assert housekeep(queue_pool, now=lambda: NOW) == {
        "idempotency_records": 0, "blobs": 0, "queue_state": 0}


def test_batch_of_exactly_the_backlog_and_blob_retention(queue_pool):
    _seed(queue_pool, expired=3, live=1)
    counts = housekeep(queue_pool, now=lambda: NOW, batch=3, blob_retention_days=12)
    assert counts == {"idempotency_records": 3, "blobs": 4, "queue_state": 3}
    with pytest.raises(ValueError, match="at least 1"):
        housekeep(queue_pool, now=lambda: NOW, batch=0)


def test_migration_indexes_the_housekeeping_queries(queue_pool):
    with queue_pool.connection() as conn:
        names = {r[0] for r in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename IN ('blobs', 'queue_state')")}
    assert {"blobs_created_at", "queue_state_expires_at"} <= names


def test_db_housekeep_subcommand(queue_pool, capsys):
    _seed(queue_pool, expired=2, live=1)
    parser = argparse.ArgumentParser(prog="spillway")
    db_command.register(parser.add_subparsers(dest="command"), pool_factory=lambda: queue_pool,
                        clock=lambda: NOW)
    args = parser.parse_args(["db", "housekeep", "--batch", "1", "--blob-days", "14"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out) == {
        "blobs": 2, "idempotency_records": 2, "queue_state": 2}
    assert _counts(queue_pool) == {"blobs": 1, "idempotency_records": 1, "queue_state": 1}

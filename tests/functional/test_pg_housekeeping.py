"""housekeep() of the postgres adapters: the stand-in for DynamoDB TTL and the S3 lifecycle
rule. Expired rows go, live rows stay, counts are returned, one call deletes at most ``limit``."""

from __future__ import annotations

import time

import pytest
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

from chalicelib.adapters.pg_blob import PgBlob
from chalicelib.adapters.pg_idempotency import PgIdempotencyLayer
from chalicelib.adapters.pg_state import PgState
from chalicelib.errors import NotFound

NOW = 1_900_000_000.0
DAY = 86_400.0


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


class LambdaContext:
    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def test_function_runs_again_after_its_record_was_housekept(queue_pool):
    layer = PgIdempotencyLayer(queue_pool)
    config = IdempotencyConfig(event_key_jmespath="delivery", expires_after_seconds=3600)
    config.register_lambda_context(LambdaContext())
    calls: list[str] = []

    @idempotent_function(data_keyword_argument="event", persistence_store=layer, config=config)
    def handle(event: dict) -> dict:
        calls.append(event["delivery"])
        return {"n": len(calls)}

    handle(event={"delivery": "d-1"})
    assert layer.housekeep(time.time()) == 0  # a live record is kept: still deduplicates
    handle(event={"delivery": "d-1"})
    assert calls == ["d-1"]
    assert layer.housekeep(time.time() + 3601) == 1
    handle(event={"delivery": "d-1"})  # the record is gone: the delivery is new again
    assert calls == ["d-1", "d-1"]

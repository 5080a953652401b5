"""AppDatabase.store_batch against a real, migrated PostgreSQL: one transaction per batch,
the same rows as storing one delivery at a time, per-delivery outcomes (issue 11 item 1)."""

from __future__ import annotations

import socket

import psycopg
import pytest

from chalicelib.adapters.postgres.pool import make_pool
from chalicelib.appdb import AppDatabase
from chalicelib.core.normalize import KEYS
from chalicelib.errors import DependencyUnavailable, PermanentDependencyError
from spillway.migrate import migrate
from tests.unit.test_normalize import corpus

T0 = 1_780_000_000.0  # arbitrary fixed epoch seconds; no clock is read


def fields(event: str, payload, delivery_id: str, **over) -> dict:
    f = {"hook_id": "h1", "delivery_id": delivery_id, "event": event,
         "action": payload.get("action") if isinstance(payload, dict) else None,
         "priority": "medium", "received_at": T0, "receive_count": 1, "payload": payload,
         "payload_bytes": 100}
    f.update(over)
    return f


def corpus_fields() -> list[dict]:
    return [fields(event, payload, f"d{i}", received_at=T0 + i)
            for i, (_, event, payload) in enumerate(corpus())]


@pytest.fixture
def make_store(pg_url, pg):
    """``make_store(name)`` -> (AppDatabase, url) on a fresh migrated database."""
    pools, admin = [], pg if isinstance(pg, str) else pg.url

    def make(name: str):
        from tests.conftest import _with_dbname

        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        url = _with_dbname(admin, name)
        migrate(url)
        pools.append(make_pool(url, max_size=1))
        return AppDatabase(pools[-1]), url

    yield make
    for p in pools:
        p.close()


def table_digest(url: str) -> dict[str, str]:
    """md5 of every table's rows, ordered by key: equal digests mean equal contents."""
    out = {}
    with psycopg.connect(url) as conn:
        for table in ("webhook_deliveries", *KEYS):
            key = "hook_id, delivery_id" if table == "webhook_deliveries" else ", ".join(
                KEYS[table])
            # processed_at is the server's clock_timestamp() when stored: left out
            row = "(t.*)::text" if table != "webhook_deliveries" else \
                "jsonb_strip_nulls(to_jsonb(t) - 'processed_at')::text"
            out[table] = conn.execute(
                f"SELECT md5(coalesce(string_agg({row}, '|' ORDER BY {key}), '')) "
                f"FROM {table} t").fetchone()[0]
    return out


def test_a_batch_stores_the_same_rows_as_one_at_a_time(make_store):
    batched, batched_url = make_store("t_batch_a")
    single, single_url = make_store("t_batch_b")
    deliveries = corpus_fields()
    assert deliveries, "corpus missing"
    outcomes = []
    for i in range(0, len(deliveries), 10):
        outcomes += batched.store_batch(deliveries[i:i + 10])
    assert outcomes == [True] * len(deliveries)
    for d in deliveries:
        assert single.store(**d) is True
    assert table_digest(batched_url) == table_digest(single_url)
    # redelivered: nothing stored twice, no row changes
    before = table_digest(batched_url)
    assert batched.store_batch(deliveries[:10]) == [False] * 10
    assert table_digest(batched_url) == before


def test_a_delivery_twice_in_one_batch_is_stored_once(make_store):
    store, url = make_store("t_batch_c")
    d = corpus_fields()[0]
    assert store.store_batch([d, dict(d)]) == [True, False]
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM webhook_deliveries").fetchone()[0] == 1


def test_one_bad_delivery_never_fails_its_neighbours(make_store):
    store, url = make_store("t_batch_d")
    good = corpus_fields()[:3]
    # attempts is an integer column: 2**40 aborts the batch's transaction in PostgreSQL
    bad = {**corpus_fields()[3], "receive_count": 2 ** 40}
    broken = {**corpus_fields()[4]}
    del broken["payload_bytes"]  # cannot even be prepared
    outcomes = store.store_batch([good[0], bad, good[1], broken, good[2]])
    assert outcomes[0] is True and outcomes[2] is True and outcomes[4] is True
    assert isinstance(outcomes[1], PermanentDependencyError)
    assert isinstance(outcomes[3], TypeError)
    with psycopg.connect(url) as conn:
        ids = {r[0] for r in conn.execute("SELECT delivery_id FROM webhook_deliveries")}
    assert ids == {good[0]["delivery_id"], good[1]["delivery_id"], good[2]["delivery_id"]}


def test_an_unreachable_database_costs_one_failure_and_leaves_the_rest_unattempted():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pool = make_pool(f"postgresql://x@127.0.0.1:{port}/x", max_size=1, timeout_s=0.5)
    try:
        outcomes = AppDatabase(pool).store_batch(corpus_fields()[:4])
    finally:
        pool.close()
    assert isinstance(outcomes[0], DependencyUnavailable)
    assert outcomes[1:] == [None, None, None]


def test_every_order_of_a_batch_of_ties_ends_in_the_documented_row(make_store):
    import itertools

    from tests.functional.test_order_ties import _pr_deliveries

    store, url = make_store("t_batch_e")
    for n, order in enumerate(itertools.permutations(range(4))):
        pr_id = 6_000_000 + n
        ds = _pr_deliveries(pr_id)
        batch = [fields("pull_request", ds[i][1], ds[i][0], received_at=ds[i][2])
                 for i in order]
        assert store.store_batch(batch) == [True] * 4
        with psycopg.connect(url) as conn:
            state, = conn.execute("SELECT state FROM pull_requests WHERE id = %s",
                                  (pr_id,)).fetchone()
        assert state == "closed", order

"""AppDatabase and the pool against a real, migrated PostgreSQL (no mocks)."""

from __future__ import annotations

import copy
import json
import threading
import uuid

import psycopg
import pytest

from chalicelib.adapters.postgres.pool import make_pool, pooled, translate_pg_error
from chalicelib.appdb import AppDatabase
from chalicelib.errors import DependencyUnavailable, PermanentDependencyError, Throttled
from spillway.migrate import migrate
from spillway.ops.ledger import ledger_counts
from tests.unit.test_normalize import corpus

T0 = 1_780_000_000.0  # an arbitrary fixed epoch (seconds); no clock is read


@pytest.fixture
def app_url(pg_url):
    migrate(pg_url)
    return pg_url


@pytest.fixture
def pool(app_url):
    p = make_pool(app_url, max_size=2)
    yield p
    p.close()


@pytest.fixture
def store(pool):
    return AppDatabase(pool)


def put(store: AppDatabase, event: str, payload, *, delivery_id: str | None = None,
        hook_id: str = "h1", received_at: float = T0, receive_count: int = 1,
        payload_bytes: int | None = None) -> bool:
    if payload_bytes is None:
        payload_bytes = len(json.dumps(payload, ensure_ascii=False).encode("utf-8", "replace"))
    return store.store(
        hook_id=hook_id, delivery_id=delivery_id or str(uuid.uuid4()), event=event,
        action=payload.get("action") if isinstance(payload, dict) else None, priority="medium",
        received_at=received_at, receive_count=receive_count, payload=payload,
        payload_bytes=payload_bytes)


def one(url: str, query: str, *params):
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchone()


def test_store_every_corpus_payload(store, pool, app_url):
    payloads = corpus()
    assert payloads, "corpus missing"
    ids = []
    for i, (_path, event, payload) in enumerate(payloads):
        ids.append(f"d-{i}")
        assert put(store, event, payload, delivery_id=ids[-1], received_at=T0 + i)
    assert ledger_counts(pool, ids).totals == (len(ids), len(ids))
    assert one(app_url, "SELECT count(*) FROM pull_requests")[0] > 0
    assert one(app_url, "SELECT count(*) FROM comments")[0] > 0
    assert one(app_url, "SELECT count(DISTINCT kind) FROM comments")[0] == 4
    assert one(app_url, "SELECT count(*) FROM commits")[0] > 0
    assert one(app_url, "SELECT count(*) FROM stars")[0] > 0
    # every payload round-trips exactly (none of the corpus needs sanitizing)
    with psycopg.connect(app_url) as conn:
        stored = dict(conn.execute("SELECT delivery_id, payload FROM webhook_deliveries"))
    for i, (_path, _event, payload) in enumerate(payloads):
        assert stored[f"d-{i}"] == payload


def test_duplicate_delivery_stores_once(store, pool, app_url):
    payload = corpus_payload("issues/opened.with-organization.payload.json")
    assert put(store, "issues", payload, delivery_id="dup") is True
    assert put(store, "issues", payload, delivery_id="dup", receive_count=2) is False
    assert ledger_counts(pool, ["dup"]).totals == (1, 1)
    assert one(app_url, "SELECT attempts FROM webhook_deliveries")[0] == 1
    # the same GUID through another hook is another delivery row (GitHub shares GUIDs per event)
    assert put(store, "issues", payload, delivery_id="dup", hook_id="h2") is True
    assert ledger_counts(pool, ["dup", "absent"]).totals == (2, 1)
    assert ledger_counts(pool, ["dup", "absent"]).per_delivery == {"dup": 2}


def test_duplicate_does_not_reapply_upserts(store, app_url):
    payload = corpus_payload("pull_request/opened.payload.json")
    assert put(store, "pull_request", payload, delivery_id="first")
    edited = copy.deepcopy(payload)
    edited["pull_request"]["title"] = "changed in a redelivery"
    edited["pull_request"]["updated_at"] = "2099-01-01T00:00:00Z"
    assert put(store, "pull_request", edited, delivery_id="first") is False
    assert one(app_url, "SELECT title, last_delivery_id FROM pull_requests") == (
        payload["pull_request"]["title"], "first")


def test_out_of_order_update_keeps_newer_row(store, app_url):
    base = corpus_payload("pull_request/opened.payload.json")
    newer, older = copy.deepcopy(base), copy.deepcopy(base)
    newer["pull_request"].update(title="newer", updated_at="2030-01-02T00:00:00Z",
                                 closed_at=None)
    older["pull_request"].update(title="older", updated_at="2030-01-01T00:00:00Z",
                                 closed_at="2030-01-01T00:00:00Z", state="closed")
    assert put(store, "pull_request", newer, delivery_id="new", received_at=T0)
    assert put(store, "pull_request", older, delivery_id="old", received_at=T0 + 10)
    title, state, closed_at, last = one(
        app_url, "SELECT title, state, closed_at, last_delivery_id FROM pull_requests")
    assert (title, state, closed_at, last) == ("newer", base["pull_request"]["state"], None, "new")
    # a later update does move it forward, including clearing closed_at
    newest = copy.deepcopy(older)
    newest["pull_request"].update(title="newest", updated_at="2030-01-03T00:00:00Z")
    assert put(store, "pull_request", newest, delivery_id="newest")
    assert one(app_url, "SELECT title, state FROM pull_requests") == ("newest", "closed")


def test_partial_object_does_not_erase_details(store, app_url):
    opened = corpus_payload("pull_request/opened.payload.json")
    assert put(store, "pull_request", opened, delivery_id="opened")
    review = corpus_payload("pull_request_review/submitted.payload.json")
    review["pull_request"]["id"] = opened["pull_request"]["id"]
    review["pull_request"]["updated_at"] = "2099-01-01T00:00:00Z"
    assert "additions" not in review["pull_request"]
    assert put(store, "pull_request_review", review, delivery_id="review")
    additions, last_action = one(app_url, "SELECT additions, last_action FROM pull_requests")
    assert additions == opened["pull_request"]["additions"]
    assert last_action == "opened"


def test_nul_in_value_and_key_is_sanitized(store, app_url):
    payload = corpus_payload("issue_comment/created.1.payload.json")
    payload["comment"]["body"] = "before\x00after"
    payload["weird\x00key"] = {"lone": json.loads('"\\ud800"')}
    assert put(store, "issue_comment", payload, delivery_id="nul")
    stored, sanitized = one(app_url, "SELECT payload, sanitized FROM webhook_deliveries")
    assert sanitized is True
    assert stored["comment"]["body"] == "before\ufffdafter"
    assert stored["weird\ufffdkey"] == {"lone": "\ufffd"}
    assert one(app_url, "SELECT body FROM comments")[0] == "before\ufffdafter"


def test_unicode_round_trips(store, app_url):
    payload = corpus_payload("issues/opened.with-organization.payload.json")
    title = "修复 バグ 🐛🚀 — naïve café 👩‍👩‍👧 \U0001d11e"
    payload["issue"]["title"] = title
    payload["emoji🔑"] = "值"
    assert put(store, "issues", payload, delivery_id="uni")
    stored, sanitized = one(app_url, "SELECT payload, sanitized FROM webhook_deliveries")
    assert stored == payload and sanitized is False
    assert one(app_url, "SELECT title FROM issues")[0] == title


def test_five_megabyte_push(store, app_url):
    payload = corpus_payload("push/payload.json")
    template = payload["commits"][0] if payload["commits"] else {}
    commits = []
    for i in range(2048):
        commit = copy.deepcopy(template)
        commit.update(id=f"{i:040x}", message=f"commit {i} " + "x" * 2300,
                      timestamp="2030-01-01T00:00:00+01:00",
                      author={"name": f"dev {i % 50}", "email": f"dev{i % 50}@example.com",
                              "username": f"dev{i % 50}"})
        commits.append(commit)
    payload["commits"] = commits
    size = len(json.dumps(payload).encode())
    assert size > 5_000_000
    assert put(store, "push", payload, delivery_id="big")
    assert one(app_url, "SELECT commit_count FROM pushes")[0] == 2048
    assert one(app_url, "SELECT count(*), count(DISTINCT author_email) FROM commits") == (2048, 50)
    assert one(app_url, "SELECT jsonb_array_length(payload->'commits') FROM webhook_deliveries"
               )[0] == 2048


def test_stale_connection_recovers_after_terminate(store, pool, app_url):
    assert put(store, "star", corpus_payload("star/created.payload.json"))
    assert pool.get_stats()["pool_available"] >= 1  # an idle connection waits in the pool
    with psycopg.connect(app_url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
    assert killed >= 1
    lost_before = pool.get_stats().get("connections_lost", 0)
    assert put(store, "star", corpus_payload("star/created.payload.json"))
    assert pool.get_stats().get("connections_lost", 0) > lost_before  # the check caught it
    assert ledger_counts(pool, []).totals == (0, 0)


def test_concurrent_redeliveries_store_once(app_url):
    pool = make_pool(app_url, max_size=4)
    store = AppDatabase(pool)
    payload = corpus_payload("pull_request/opened.payload.json")
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(
        put(store, "pull_request", payload, delivery_id="race"))) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        pool.close()
    assert sorted(results) == [False, False, False, True]


# --- error translation with real failures ------------------------------------------------------
def test_translate_data_error_is_permanent(pool):
    with pytest.raises(psycopg.errors.DivisionByZero) as info, pool.connection() as conn:
        conn.execute("SELECT 1 / 0")
    err = translate_pg_error(info.value)
    assert isinstance(err, PermanentDependencyError) and not err.retryable


@pytest.mark.parametrize("bug", [KeyError("missing"), TypeError("bad operand"),
                                 ValueError("bad value")])
def test_pooled_reraises_non_database_errors_unchanged(pool, app_url, bug):
    """A bug in the block is not "database unreachable": it leaves ``pooled`` as raised (and
    the transaction is rolled back)."""
    with pytest.raises(type(bug)) as info, pooled(pool) as conn:
        conn.execute("CREATE TABLE rolled_back_probe (x int)")
        raise bug
    assert info.value is bug
    assert one(app_url, "SELECT to_regclass('rolled_back_probe')")[0] is None


def test_pooled_client_side_programming_error_is_permanent(pool):
    """psycopg refuses a query before sending it (wrong number of parameters: no SQLSTATE):
    our bug, never retryable, never "database unreachable"."""
    with pytest.raises(PermanentDependencyError) as info, pooled(pool) as conn:
        conn.execute("SELECT %s, %s", (1,))
    assert not info.value.retryable
    assert isinstance(info.value.__cause__, psycopg.ProgrammingError)
    assert info.value.__cause__.sqlstate is None


def test_translate_pool_timeout_is_throttled(app_url):
    pool = make_pool(app_url, max_size=1, timeout_s=0.2)
    try:
        with pool.connection(), pytest.raises(Throttled):
            ledger_counts(pool, ["x"])
    finally:
        pool.close()


def test_translate_unreachable_is_unavailable(tmp_path):
    pool = make_pool(f"host={tmp_path} dbname=nothing user=nobody", timeout_s=1.0)
    try:
        with pytest.raises(DependencyUnavailable) as info:
            ledger_counts(pool, ["x"])
        assert info.value.retryable
    finally:
        pool.close()


def test_unmigrated_database_is_retryable(pg_url):
    pool = make_pool(pg_url)
    try:
        with pytest.raises(DependencyUnavailable):
            put(AppDatabase(pool), "star", corpus_payload("star/created.payload.json"))
    finally:
        pool.close()


def corpus_payload(path: str) -> dict:
    return copy.deepcopy(next(p for rel, _e, p in _CORPUS if rel == path))


_CORPUS = corpus()


def test_hostile_depth_is_permanent_not_poison(store, pool, app_url):
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(PermanentDependencyError):
        put(store, "gollum", {"action": "x", "d": deep}, delivery_id="deep", payload_bytes=1)
    assert ledger_counts(pool, ["deep"]).totals == (0, 0)
    nested: list = []
    for _ in range(200):
        nested = [nested]
    assert put(store, "gollum", {"d": nested}, delivery_id="nested")

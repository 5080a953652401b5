"""The set-based batch store (issue 18 item 4) leaves exactly the end state of storing the same
deliveries one at a time, in order: a property test on real PostgreSQL.

Random workloads of a few objects (a repository, users, pull requests, issues, comments, a
star, pushes), each delivered in several versions: shuffled, redelivered in a later batch,
repeated inside a batch, with equal ``updated_at`` and equal ``received_at``, fields left out,
NUL characters and lone surrogates. Database A gets them through ``store_batch`` in random
batches, database B through ``store`` one delivery at a time in the same order; every column
of every table (the server-set ``processed_at`` aside) must be equal, and so must the
per-delivery outcomes.
"""

from __future__ import annotations

import json

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.core.normalize import KEYS
from tests.functional import test_pg_store_batch

make_store = test_pg_store_batch.make_store

T0 = 1_780_000_000.0

_TEXT = st.sampled_from(["alpha", "beta", "", "nul\x00here", "lone\ud800", "\udc01x", "é✓",
                         "pair\U0001f600"])
_TS = st.sampled_from(["2026-01-01T00:00:01Z", "2026-01-01T00:00:05Z", "2026-01-01T00:00:09Z",
                       None])


def _maybe_drop(draw, obj: dict, keep: tuple[str, ...] = ("id",)) -> dict:
    """``obj`` with some fields left out (never those in ``keep``)."""
    droppable = sorted(k for k in obj if k not in keep)
    gone = draw(st.sets(st.sampled_from(droppable))) if droppable else set()
    return {k: v for k, v in obj.items() if k not in gone}


@st.composite
def _user(draw, uid: int | None = None) -> dict:
    uid = uid if uid is not None else draw(st.sampled_from([11, 12, 13]))
    return _maybe_drop(draw, {"id": uid, "login": draw(_TEXT), "type": "User",
                              "site_admin": draw(st.booleans()), "name": draw(_TEXT | st.none()),
                              "email": draw(st.none() | _TEXT), "node_id": f"U{uid}"})


@st.composite
def _repo(draw) -> dict:
    return _maybe_drop(draw, {"id": 1, "full_name": "o/" + draw(_TEXT), "name": draw(_TEXT),
                              "owner": draw(_user(11)), "language": draw(st.none() | _TEXT),
                              "stargazers_count": draw(st.integers(0, 5)),
                              "private": draw(st.booleans()), "updated_at": draw(_TS)})


@st.composite
def _pull_request(draw) -> dict:
    state = draw(st.sampled_from(["open", "closed"]))
    merged = state == "closed" and draw(st.booleans())
    return _maybe_drop(draw, {
        "id": draw(st.sampled_from([101, 102])), "number": 7, "title": draw(_TEXT),
        "state": state, "merged": merged, "updated_at": draw(_TS),
        "closed_at": draw(_TS) if state == "closed" else None,
        "merged_by": draw(_user()) if merged else None, "user": draw(_user()),
        "labels": [{"name": n} for n in draw(st.lists(_TEXT, max_size=2))],
        "head": {"ref": draw(_TEXT), "sha": "a" * 40}, "base": {"ref": "main"},
        "body": draw(st.none() | _TEXT)})


@st.composite
def _issue(draw) -> dict:
    state = draw(st.sampled_from(["open", "closed"]))
    return _maybe_drop(draw, {
        "id": draw(st.sampled_from([201, 202])), "number": 8, "title": draw(_TEXT),
        "state": state, "state_reason": draw(st.none() | st.just("completed")),
        "updated_at": draw(_TS), "closed_at": draw(_TS) if state == "closed" else None,
        "user": draw(_user()), "labels": [{"name": n} for n in draw(st.lists(_TEXT, max_size=2))],
        "comments": draw(st.integers(0, 3))})


@st.composite
def _delivery(draw) -> tuple[str, dict]:
    """(event, payload) of one delivery."""
    event = draw(st.sampled_from(["pull_request", "issues", "issue_comment", "star", "push",
                                  "pull_request_review"]))
    payload: dict = {"repository": draw(_repo()), "sender": draw(_user())}
    if event == "pull_request":
        payload.update(action=draw(st.sampled_from(["opened", "closed", "edited"])),
                       pull_request=draw(_pull_request()))
    elif event == "pull_request_review":
        payload.update(action="submitted", pull_request=draw(_pull_request()), review={
            "id": 301, "state": draw(st.sampled_from(["approved", "dismissed", "commented"])),
            "body": draw(st.none() | _TEXT), "user": draw(_user()),
            "submitted_at": draw(_TS), "updated_at": draw(_TS)})
    elif event == "issues":
        payload.update(action=draw(st.sampled_from(["opened", "closed", "deleted"])),
                       issue=draw(_issue()))
    elif event == "issue_comment":
        payload.update(action=draw(st.sampled_from(["created", "edited", "deleted"])),
                       issue=draw(_issue()), comment=_maybe_drop(draw, {
                           "id": draw(st.sampled_from([401, 402])), "body": draw(_TEXT),
                           "user": draw(_user()), "updated_at": draw(_TS),
                           "created_at": "2026-01-01T00:00:00Z"}))
    elif event == "star":
        created = draw(st.booleans())
        payload.update(action="created" if created else "deleted",
                       starred_at=draw(_TS) if created else None)
    else:
        payload.update(ref="refs/heads/" + draw(st.sampled_from(["main", "dev"])),
                       before="0" * 40, after=draw(st.sampled_from(["1", "2"])) * 40,
                       pusher={"name": draw(_TEXT)}, commits=[
                           {"id": draw(st.sampled_from(["c1", "c2"])) * 20,
                            "message": draw(_TEXT), "timestamp": draw(_TS),
                            "author": {"name": draw(_TEXT)}}])
    return event, payload


@st.composite
def _workload(draw) -> list[list[dict]]:
    """Batches of store fields: fresh deliveries, redeliveries of earlier ones (a later
    batch) and repeats inside a batch, with few distinct received_at values (ties)."""
    fresh = draw(st.lists(_delivery(), min_size=2, max_size=16))
    fields = []
    for n, (event, payload) in enumerate(fresh):
        text = json.dumps(payload)  # escapes NUL and surrogates, as GitHub's JSON would
        fields.append({"hook_id": draw(st.sampled_from(["h1", "h2"])), "delivery_id": f"d{n}",
                       "event": event, "action": payload.get("action"), "priority": "medium",
                       "received_at": T0 + draw(st.integers(0, 3)), "receive_count": 1,
                       "payload": json.loads(text), "payload_bytes": len(text),
                       "payload_text": text})
    order = draw(st.permutations(fields))
    repeats = draw(st.lists(st.sampled_from(fields), max_size=6))
    stream = list(order)
    for item in repeats:
        stream.insert(draw(st.integers(0, len(stream))), item)
    batches, i = [], 0
    while i < len(stream):
        size = draw(st.integers(2, 10))
        batches.append(stream[i:i + size])
        i += size
    return batches


def _contents(url: str) -> dict[str, list[tuple]]:
    """Every column of every table, rows ordered by key (``processed_at`` left out)."""
    out = {}
    with psycopg.connect(url) as conn:
        for table in ("webhook_deliveries", *KEYS):
            key = "hook_id, delivery_id" if table == "webhook_deliveries" else ", ".join(
                KEYS[table])
            columns = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                "AND column_name <> 'processed_at' ORDER BY ordinal_position", (table,))]
            select = ", ".join(f'"{c}"' if c != "payload" else "payload::text" for c in columns)
            out[table] = conn.execute(f"SELECT {select} FROM {table} ORDER BY {key}").fetchall()
    return out


def _truncate(url: str) -> None:
    tables = ", ".join(("webhook_deliveries", *KEYS))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {tables}")


def test_the_set_based_batch_store_ends_as_one_delivery_at_a_time(make_store):
    batched, batched_url = make_store("t_fold_batch")
    single, single_url = make_store("t_fold_single")

    @settings(max_examples=25, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(_workload())
    def check(batches):
        _truncate(batched_url)
        _truncate(single_url)
        for batch in batches:
            outcomes = batched.store_batch(batch)
            assert outcomes == [single.store(**f) for f in batch]
        a, b = _contents(batched_url), _contents(single_url)
        for table in a:
            assert a[table] == b[table], table

    check()


"""Out-of-order ties (issue 8 item 1): every arrival order of the same deliveries of one object
ends in the same, documented row (docs/DESIGN.md, "Out-of-order ties"), through the real store
on PostgreSQL. The worker stores deliveries in whatever order the priority queues hand them
over, so arrival order is permuted here; each delivery's own fields (payload, the edge's
received_at, delivery id) stay as GitHub sent them.
"""

from __future__ import annotations

import copy
import itertools
import json

import psycopg

from chalicelib.appdb import AppDatabase
from tests.functional import test_pg_store
from tests.unit.test_normalize import CORPUS

# The migrated database and the store on it: the same fixtures as test_pg_store.py.
app_url, pool, store = test_pg_store.app_url, test_pg_store.pool, test_pg_store.store

T0 = 1_780_000_000.0  # arbitrary fixed epoch seconds (the edge's received_at); no clock read


def _pr_deliveries(pr_id: int) -> list[tuple[str, dict, float]]:
    """(delivery id, payload, received_at) of four deliveries of one pull request: opened, a
    push (synchronize), then ``labeled`` and ``closed`` in the same second of ``updated_at``,
    the ``labeled`` one received by the edge *after* the ``closed`` one (as seen in issue 8)."""
    base = json.loads((CORPUS / "pull_request" / "opened.payload.json").read_text("utf-8"))
    base["pull_request"]["id"] = pr_id

    def version(action, state, updated_at, labels=()):
        p = copy.deepcopy(base)
        p["action"] = action
        p["pull_request"].update(state=state, updated_at=updated_at, merged=False,
                                 labels=[{"name": n} for n in labels],
                                 closed_at="2026-01-01T00:00:09Z" if state == "closed" else None)
        return p

    return [
        (f"{pr_id}-opened", version("opened", "open", "2026-01-01T00:00:01Z"), T0 + 1),
        (f"{pr_id}-sync", version("synchronize", "open", "2026-01-01T00:00:05Z"), T0 + 5),
        (f"{pr_id}-closed", version("closed", "closed", "2026-01-01T00:00:09Z", ["bug"]), T0 + 9),
        (f"{pr_id}-labeled", version("labeled", "open", "2026-01-01T00:00:09Z", ["bug"]), T0 + 10),
    ]


def _star_deliveries(repo_id: int) -> list[tuple[str, dict, float]]:
    """A star at 00:00:10 and the un-star that followed it, which the edge received *first*
    (GitHub's un-star carries ``starred_at: null``; its event time is when the edge got it)."""
    base = json.loads((CORPUS / "star" / "created.payload.json").read_text("utf-8"))
    base["repository"]["id"] = repo_id
    star = {**copy.deepcopy(base), "action": "created", "starred_at": "2026-01-01T00:00:10Z"}
    unstar = {**copy.deepcopy(base), "action": "deleted", "starred_at": None}
    star_at = 1_767_225_610.0  # 2026-01-01T00:00:10Z
    return [(f"{repo_id}-unstar", unstar, star_at + 30), (f"{repo_id}-star", star, star_at + 40)]


def _store_all(store: AppDatabase, event: str, deliveries) -> None:
    for delivery_id, payload, received_at in deliveries:
        assert store.store(hook_id="h1", delivery_id=delivery_id, event=event,
                           action=payload["action"], priority="medium", received_at=received_at,
                           receive_count=1, payload=payload, payload_bytes=100)


def test_every_order_of_a_pull_requests_deliveries_ends_closed(store, app_url):
    for n, order in enumerate(itertools.permutations(range(4))):
        pr_id = 9_000_000 + n
        deliveries = _pr_deliveries(pr_id)
        _store_all(store, "pull_request", [deliveries[i] for i in order])
        with psycopg.connect(app_url) as conn:
            row = conn.execute(
                "SELECT state, last_action, labels, precedence, last_delivery_id "
                "FROM pull_requests WHERE id = %s", (pr_id,)).fetchone()
        # Documented: closed over open at the same updated_at, whatever came last.
        assert row[:4] == ("closed", "closed", ["bug"], 2), (order, row)
        assert row[4] == f"{pr_id}-closed"


def _starred_in_every_order(store: AppDatabase, url: str, deliveries, repo_id: int
                            ) -> set[bool]:
    """Store ``deliveries`` (of repository ``repo_id``) in every order, each order on its own
    repository id; returns the final ``starred`` values seen."""
    seen = set()
    for n, order in enumerate(itertools.permutations(range(len(deliveries)))):
        rid = repo_id + n
        ordered = []
        for i in order:
            delivery_id, payload, received_at = deliveries[i]
            payload = copy.deepcopy(payload)
            payload["repository"]["id"] = rid
            ordered.append((f"{rid}-{delivery_id}", payload, received_at))
        _store_all(store, "star", ordered)
        with psycopg.connect(url) as conn:
            starred, = conn.execute("SELECT starred FROM stars WHERE repository_id = %s",
                                    (rid,)).fetchone()
        seen.add(starred)
    return seen


def test_every_order_of_a_star_and_unstar_ends_unstarred(store, app_url):
    # the un-star happened after the star (but the edge received it first)
    assert _starred_in_every_order(store, app_url, _star_deliveries(0), 8_000_000) == {False}


def test_a_star_after_an_unstar_ends_starred_in_every_order(store, app_url):
    (unstar_id, unstar, _), (star_id, star, _) = _star_deliveries(0)
    star_at = 1_767_225_610.0
    # This time the un-star came 20 s before the star was created (re-starred).
    deliveries = [(unstar_id, unstar, star_at - 20), (star_id, star, star_at + 1)]
    assert _starred_in_every_order(store, app_url, deliveries, 7_000_000) == {True}

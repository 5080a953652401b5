"""The reconcile decision core on hand-made delivery logs (chalicelib/core/reconcile.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.core.reconcile import (
    ALREADY_STORED,
    BUDGET_EXHAUSTED,
    MAX_WAIT_S,
    OK_AT_GITHUB,
    REDELIVER,
    RETENTION_S,
    SKIPPED_COOLDOWN,
    SKIPPED_OUTSIDE_WINDOW,
    Cursor,
    DeliveryLogError,
    Gap,
    RepeatedCursor,
    Scan,
    Window,
    bounded_wait,
    decide,
    parked_until,
    parse_attempt,
)

NOW = 1_800_000_000.0
HOUR = 3600.0


def item(ident: int, guid: str, *, age_s: float, status: int = 202, duration: float = 0.05,
         redelivery: bool = False, event: str = "issues", action: str | None = "opened") -> dict:
    """One ``hook-delivery-item`` as GitHub's REST API returns it."""
    when = datetime.fromtimestamp(NOW - age_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"id": ident, "guid": guid, "delivered_at": when, "redelivery": redelivery,
            "duration": duration, "status": "OK" if status < 300 else "failed",
            "status_code": status, "event": event, "action": action, "installation_id": None,
            "repository_id": 1296269}


def page_at(log: list[dict], cursor: str | None, per_page: int
            ) -> tuple[list[dict], str | None]:
    """One page as GitHub serves it: newest first from ``cursor`` (``v1_<id>``: that id and
    older), and the cursor of the next page (None on the last)."""
    ordered = sorted(log, key=lambda i: i["id"], reverse=True)
    if cursor is not None:
        ordered = [i for i in ordered if i["id"] <= int(cursor.removeprefix("v1_"))]
    chunk, rest = ordered[:per_page], ordered[per_page:]
    return chunk, (f"v1_{rest[0]['id']}" if rest else None)


def scan_all(log: list[dict], cursor: Cursor | None = None, *, per_page: int = 100,
             budget: int = 1000, window: Window | None = None) -> tuple[Scan, int]:
    """Drive a :class:`Scan` like the runner does; returns it and the pages fetched."""
    scan = Scan(cursor or Cursor(), window or Window.last(RETENTION_S, NOW))
    nxt, fetched = scan.start_cursor(), 0
    while budget > 0:
        chunk, link = page_at(log, nxt, per_page)
        fetched += 1
        budget -= 1
        if not scan.add_page(chunk, link):
            break
        nxt = scan.next_cursor
    return scan, fetched


def outcomes(plan) -> dict[str, str]:
    return {d.guid: d.outcome for d in plan.decisions}


def test_a_guid_fails_only_if_every_attempt_failed_including_failed_redeliveries():
    log = [item(1, "a", age_s=300, status=503), item(2, "a", age_s=200, status=502,
                                                     redelivery=True),
           item(3, "b", age_s=300, status=503), item(4, "b", age_s=100, redelivery=True),
           item(5, "c", age_s=50, status=202, duration=10.4),  # answered after GitHub's 10 s
           item(6, "d", age_s=40)]
    scan, _ = scan_all(log)
    plan = decide("repo:o/r:1", scan.attempts, now=NOW, known={}, cooldown_s=900, budget=10)
    assert outcomes(plan) == {"a": REDELIVER, "b": OK_AT_GITHUB, "c": REDELIVER,
                              "d": OK_AT_GITHUB}
    a = next(d for d in plan.decisions if d.guid == "a")
    assert a.attempt_id == 2 and a.attempts == 2  # the newest attempt is the one asked for
    assert plan.counts["failed_at_github"] == 2 and plan.gap == 2


def test_known_guids_are_never_redelivered():
    log = [item(1, "stored", age_s=60, status=0), item(2, "dlq", age_s=50, status=503),
           item(3, "queued", age_s=40, status=0, duration=10.0)]
    scan, _ = scan_all(log)
    plan = decide("h", scan.attempts, now=NOW, cooldown_s=0, budget=10,
                  known={"stored": "ledger", "dlq": "dead_letter", "queued": "accepted"})
    assert set(outcomes(plan).values()) == {ALREADY_STORED}
    assert {d.known_as for d in plan.decisions} == {"ledger", "dead_letter", "accepted"}
    assert plan.gap == 0 and plan.to_redeliver() == []


def test_a_guid_under_two_hooks_is_decided_per_hook():
    shared = "58474f00-b361-11eb-836d-0e4f3503ccbe"
    repo_log, org_log = [item(10, shared, age_s=30, status=503)], [item(11, shared, age_s=30)]
    repo = decide("repo:o/r:1", scan_all(repo_log)[0].attempts, now=NOW, known={},
                  cooldown_s=900, budget=5)
    # stored under the org hook only: the repository hook's copy is still missing
    org = decide("org:o:2", scan_all(org_log)[0].attempts, now=NOW, known={}, cooldown_s=900,
                 budget=5)
    assert outcomes(repo) == {shared: REDELIVER} and outcomes(org) == {shared: OK_AT_GITHUB}
    assert repo.decisions[0].hook == "repo:o/r:1" and org.decisions[0].hook == "org:o:2"


def test_deliveries_older_than_the_window_end_the_scan():
    log = [item(i, f"g{i}", age_s=(10 - i) * HOUR, status=503) for i in range(1, 10)]
    scan, fetched = scan_all(log, per_page=2, window=Window.last(4.5 * HOUR, NOW))
    assert sorted(a.id for a in scan.attempts) == [6, 7, 8, 9]
    assert scan.done and scan.outside_window == 1 and fetched == 3
    assert scan.finish() == Cursor(high_water_id=9)


def test_the_window_is_clipped_to_githubs_three_days():
    assert Window.last(10 * 24 * HOUR, NOW).since == NOW - RETENTION_S
    with pytest.raises(ValueError):
        Window.last(0, NOW)


def test_a_gap_past_retention_is_skipped_not_redelivered():
    old = parse_attempt(item(1, "old", age_s=RETENTION_S + 60, status=503))
    plan = decide("h", [], now=NOW, known={}, cooldown_s=900, budget=5,
                  gaps={"old": Gap("old", old, last_requested_at=NOW - 2 * RETENTION_S)})
    assert outcomes(plan) == {"old": SKIPPED_OUTSIDE_WINDOW} and not plan.decisions[0].open


@pytest.mark.parametrize("count,per_page,expected_pages", [
    (0, 100, 1),    # an empty log is one empty page
    (100, 100, 1),  # exactly one full page: no Link next
    (101, 100, 2),  # one item spills over
    (5, 1, 5),      # per_page 1
])
def test_pagination_edges(count, per_page, expected_pages):
    log = [item(i, f"g{i}", age_s=1000 - i) for i in range(1, count + 1)]
    scan, fetched = scan_all(log, per_page=per_page)
    assert fetched == expected_pages and len(scan.attempts) == count and scan.done
    assert scan.finish().high_water_id == (count or None)


def test_the_high_water_mark_stops_the_next_scan_below_what_was_covered():
    log = [item(i, f"g{i}", age_s=1000 - i) for i in range(1, 8)]
    first, _ = scan_all(log, per_page=3)
    log += [item(8, "g8", age_s=10, status=503)]
    second, fetched = scan_all(log, first.finish(), per_page=3)
    assert [a.id for a in second.attempts] == [8] and fetched == 1


def test_budget_exhausted_mid_scan_resumes_from_the_cursor_and_loses_nothing():
    log = [item(i, f"g{i}", age_s=5000 - i, status=503 if i % 3 == 0 else 202)
           for i in range(1, 26)]
    seen: list[int] = []
    first, fetched = scan_all(log, per_page=4, budget=3)
    assert fetched == 3 and not first.done
    seen += [a.id for a in first.attempts]
    cursor = first.finish()
    assert cursor.resume == "v1_13" and cursor.resume_floor_id is None
    assert cursor.resume_top_id == 25
    log += [item(26, "g26", age_s=1, status=503)]  # arrives meanwhile
    second, _ = scan_all(log, cursor, per_page=4, budget=2)  # still not enough
    seen += [a.id for a in second.attempts]
    cursor = second.finish()
    assert cursor.resume == "v1_5" and cursor.resume_top_id == 25
    third, _ = scan_all(log, cursor, per_page=4, budget=10)
    seen += [a.id for a in third.attempts]
    assert third.done and third.finish() == Cursor(high_water_id=25)
    fourth, _ = scan_all(log, third.finish(), per_page=4)
    seen += [a.id for a in fourth.attempts]
    assert sorted(seen) == list(range(1, 27))  # every attempt looked at exactly once


def test_a_budget_spent_on_redeliveries_leaves_the_rest_open_oldest_first():
    log = [item(i, f"g{i}", age_s=1000 - i, status=503) for i in range(1, 6)]
    plan = decide("h", scan_all(log)[0].attempts, now=NOW, known={}, cooldown_s=900, budget=2)
    assert [d.guid for d in plan.to_redeliver()] == ["g1", "g2"]
    assert [d.outcome for d in plan.decisions[2:]] == [BUDGET_EXHAUSTED] * 3
    assert all(d.open for d in plan.decisions)


def test_never_ask_twice_within_the_cool_down():
    failed = item(7, "g", age_s=600, status=503)
    again = item(9, "g", age_s=30, status=503, redelivery=True)  # our redelivery failed too
    gap = Gap("g", parse_attempt(failed), last_requested_at=NOW - 60, requests=1)
    plan = decide("h", [parse_attempt(again)], now=NOW, known={}, gaps={"g": gap},
                  cooldown_s=900, budget=5)
    assert outcomes(plan) == {"g": SKIPPED_COOLDOWN} and plan.decisions[0].attempt_id == 9
    later = decide("h", [], now=NOW + 900, known={}, gaps={"g": gap}, cooldown_s=900,
                   budget=5)
    assert outcomes(later) == {"g": REDELIVER} and later.decisions[0].requests == 1


def test_an_open_gap_closes_when_a_redelivery_succeeded_or_it_was_stored():
    gap = Gap("g", parse_attempt(item(7, "g", age_s=600, status=503)),
              last_requested_at=NOW - 1000, requests=1)
    ok = decide("h", [parse_attempt(item(9, "g", age_s=5, redelivery=True))], now=NOW,
                known={}, gaps={"g": gap}, cooldown_s=900, budget=5)
    stored = decide("h", [], now=NOW, known={"g": "ledger"}, gaps={"g": gap}, cooldown_s=900,
                    budget=5)
    assert outcomes(ok) == {"g": OK_AT_GITHUB} and ok.decisions[0].was_open
    assert outcomes(stored) == {"g": ALREADY_STORED} and not stored.decisions[0].open


@pytest.mark.parametrize("bad,field", [
    ({"guid": "g", "delivered_at": "2021-05-12T20:33:44Z", "status_code": 200,
      "event": "x"}, "id"),
    ({"id": "1", "guid": "g", "delivered_at": "2021-05-12T20:33:44Z", "status_code": 200,
      "event": "x"}, "id"),
    ({"id": 1, "guid": "g", "delivered_at": "yesterday", "status_code": 200, "event": "x"},
     "delivered_at"),
    ({"id": 1, "guid": "", "delivered_at": "2021-05-12T20:33:44Z", "status_code": 200,
      "event": "x"}, "guid"),
])
def test_an_item_without_githubs_shape_is_a_clear_error(bad, field):
    with pytest.raises(DeliveryLogError, match=field):
        parse_attempt(bad)


@pytest.mark.parametrize("bad,field", [
    ({"id": 2**64, "guid": "g", "delivered_at": "2021-05-12T20:33:44Z", "status_code": 200,
      "event": "x"}, "id"),
    ({"id": -1, "guid": "g", "delivered_at": "2021-05-12T20:33:44Z", "status_code": 200,
      "event": "x"}, "id"),
    ({"id": 1, "guid": "g" * 10_000, "delivered_at": "2021-05-12T20:33:44Z",
      "status_code": 200, "event": "x"}, "guid"),
    ({"id": 1, "guid": "g", "delivered_at": "2021-05-12T20:33:44Z", "status_code": 200,
      "event": "x", "action": {"nested": True}}, "action"),
    ({"id": 1, "guid": "g", "delivered_at": "2021-05-12T20:33:44Z", "status_code": 200,
      "event": 7}, "event"),
])
def test_an_item_out_of_githubs_bounds_is_a_clear_error(bad, field):
    with pytest.raises(DeliveryLogError, match=field):
        parse_attempt(bad)


def test_githubs_documented_example_item_parses():
    example = {"id": 12345678, "guid": "0b989ba4-242f-11e5-81e1-c7b6966d2516",
               "delivered_at": "2019-06-03T00:57:16Z", "redelivery": False, "duration": 0.27,
               "status": "OK", "status_code": 200, "event": "issues", "action": "opened",
               "installation_id": 123, "repository_id": 456, "throttled_at": None}
    attempt = parse_attempt(example)
    assert attempt.delivered_at == datetime(2019, 6, 3, 0, 57, 16, tzinfo=UTC).timestamp()
    assert not attempt.failed and attempt.action == "opened"


def test_a_page_without_guid_stops_the_scan_with_the_error_naming_it():
    log = [item(i, f"g{i}", age_s=HOUR) for i in range(1, 4)]
    del log[1]["guid"]
    scan = Scan(Cursor(), Window.last(RETENTION_S, NOW))
    with pytest.raises(DeliveryLogError, match="'guid'"):
        scan.add_page(sorted(log, key=lambda i: -i["id"]), None)


@pytest.mark.parametrize("links", [["v1_5", "v1_5"], ["v1_5", "v1_3", "v1_5"]],
                         ids=["to-itself", "to-an-earlier-page"])
def test_a_link_cursor_naming_a_page_already_read_is_a_loop(links):
    """Page k is read with link k-1 and names link k; the last names a page already read."""
    log = [item(i, f"g{i}", age_s=HOUR) for i in range(1, 8)]
    scan = Scan(Cursor(), Window.last(RETENTION_S, NOW))
    read_with = None
    for link in links[:-1]:
        assert scan.add_page(page_at(log, read_with, 2)[0], link, read_with=read_with)
        read_with = link
    with pytest.raises(RepeatedCursor, match="already read"):
        scan.add_page(page_at(log, read_with, 2)[0], links[-1], read_with=read_with)
    assert scan.pages == len(links)  # every page read is counted, none more fetched


def test_a_resumed_scan_knows_its_start_cursor_as_read():
    log = [item(i, f"g{i}", age_s=HOUR) for i in range(1, 8)]
    scan = Scan(Cursor(high_water_id=None, resume="v1_4", resume_top_id=7),
                Window.last(RETENTION_S, NOW))
    chunk, _ = page_at(log, "v1_4", 2)
    with pytest.raises(RepeatedCursor):
        scan.add_page(chunk, "v1_4", read_with=scan.start_cursor())


@pytest.mark.parametrize("asked,honoured", [
    (99_999_999_999, MAX_WAIT_S), (3600 * 24, MAX_WAIT_S), (60, 60), (0, 1.0), (-5, 1.0),
    (float("inf"), MAX_WAIT_S), (float("nan"), MAX_WAIT_S)])
def test_a_wait_github_asks_is_bounded_to_an_hour(asked, honoured):
    assert MAX_WAIT_S == 3600
    assert bounded_wait(asked) == honoured


def test_a_stored_wait_is_bounded_from_when_it_was_set():
    year_5195 = 99_999_999_999.0
    assert parked_until(year_5195, NOW) == NOW + MAX_WAIT_S
    assert parked_until(NOW + 60, NOW) == NOW + 60
    assert parked_until(None, NOW) is None
    assert parked_until(NOW + 60, None) == NOW + 60

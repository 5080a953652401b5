"""The reconciler under hostile GitHub answers (issue 19, item 1), on real components: the
GitHub stand-in over HTTP told to misbehave (:class:`spillway.local.github.Hostile`), real
PostgreSQL with the reconcile tables, the CLI's ``main``, the state store's audit trail.

* a delivery-log item without ``guid`` is that hook's error: recorded, the next hook scanned
  (``Reconciler.run``, the CLI with ``--json``, the scheduled function);
* a huge ``Retry-After`` or ``X-RateLimit-Reset`` parks a hook for at most an hour; the parked
  hook shows in ``spillway status`` with an unknown gap and ``spillway reconcile unpark``
  (audited) clears it;
* a ``Link: rel="next"`` back to a page already read stops the scan (recorded);
* a redelivery ``POST`` accepted but answered after the client's timeout counts as asked.
"""

from __future__ import annotations

import json
import time
import uuid

import psycopg
import pytest

from chalicelib.adapters.github.auth import GitHubAuth
from chalicelib.adapters.github.client import GitHubDeliveries, GitHubRateLimited, HookRef
from chalicelib.core.reconcile import MAX_WAIT_S
from spillway.local.embedded import free_port
from spillway.local.github import GitHubStandIn, Hostile
from spillway.replay import Payload
from tests.functional.conftest import ISSUE_PAYLOAD, SECRET, compact, corpus_payload

TOKEN = "test-token-not-a-secret"
BAD = "repo:octo/bad:71"
GOOD = "repo:octo/good:72"

pytestmark = pytest.mark.parametrize("worker", ["postgres"], indirect=True)


def payload() -> Payload:
    return Payload("issues", ISSUE_PAYLOAD, compact(corpus_payload(ISSUE_PAYLOAD)))


def dead_url() -> str:
    """A URL nothing listens on: every delivery fails at GitHub (status 0)."""
    return f"http://127.0.0.1:{free_port()}/webhooks/github"


def runs(url: str) -> dict[str, list[dict]]:
    """``reconcile_runs`` rows per hook, oldest first."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM reconcile_runs ORDER BY id")
        names = [c.name for c in cur.description]
        out: dict[str, list[dict]] = {}
        for row in cur.fetchall():
            rec = dict(zip(names, row, strict=True))
            out.setdefault(rec["hook"], []).append(rec)
        return out


@pytest.fixture
def standin(monkeypatch):
    with GitHubStandIn(token=TOKEN) as s:
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_API_URL", s.url)
        yield s


def two_hooks(standin: GitHubStandIn):
    """Hook BAD and hook GOOD, one failed delivery each."""
    bad, good = standin.add_hook(BAD, dead_url(), SECRET), standin.add_hook(GOOD, dead_url(),
                                                                             SECRET)
    standin.deliver(bad, payload(), "g-bad")
    standin.deliver(good, payload(), "g-good")
    return bad, good


def reconciler(monkeypatch, *hooks: str):
    from chalicelib.reconcile import wiring as reconcile_wiring

    monkeypatch.setenv("GITHUB_HOOKS", ",".join(hooks))
    return reconcile_wiring.build_reconciler(metrics=None)


# --- a malformed delivery-log item --------------------------------------------------------
def test_an_item_without_guid_is_that_hooks_error_and_the_next_hook_is_scanned(
        standin, worker, monkeypatch):
    from chalicelib.reconcile.runner import RunOptions

    bad, good = two_hooks(standin)
    bad.hostile = Hostile(drop_guid=True)
    rec, settings = reconciler(monkeypatch, BAD, GOOD)
    first, second = rec.run(settings.hooks, RunOptions(rate_reserve=0))
    standin.wait_idle()
    assert first["hook"] == BAD and first["stopped"] == "error"
    assert "'guid'" in first["error"] and first["gap_unknown"] and first["recorded"]
    assert first["redelivery_requested"] == 0
    assert second["hook"] == GOOD and second["stopped"] == "completed"
    assert second["redeliver"] == ["g-good"] and not second["gap_unknown"]
    recorded = runs(worker.app_db)
    assert [r["stopped"] for r in recorded[BAD]] == ["error"]
    assert recorded[BAD][0]["gap_unknown"] and "guid" in recorded[BAD][0]["error"]
    assert [r["stopped"] for r in recorded[GOOD]] == ["completed"]
    # the bad hook's cursor did not move: once GitHub answers properly, nothing was skipped
    bad.hostile = Hostile()
    again = rec.run_hook(settings.hooks[0], RunOptions(rate_reserve=0))
    standin.wait_idle()
    assert again["stopped"] == "completed" and again["redeliver"] == ["g-bad"]


def test_the_cli_prints_one_json_document_and_records_both_hooks(standin, worker,
                                                                 monkeypatch, capsys):
    from spillway.cli import main

    bad, _ = two_hooks(standin)
    bad.hostile = Hostile(drop_guid=True)
    monkeypatch.delenv("GITHUB_HOOKS", raising=False)
    code = main(["reconcile", "--hook", BAD, "--hook", GOOD, "--json"])
    captured = capsys.readouterr()
    doc = json.loads(captured.out)  # exactly one JSON document, nothing else on stdout
    assert code == 1 and "Traceback" not in captured.err
    by_hook = {r["hook"]: r for r in doc["hooks"]}
    assert by_hook[BAD]["stopped"] == "error" and "guid" in by_hook[BAD]["error"]
    assert by_hook[GOOD]["stopped"] == "completed" and by_hook[GOOD]["pages"] == 1
    assert by_hook[GOOD]["redeliver"] == ["g-good"]
    assert set(runs(worker.app_db)) == {BAD, GOOD}


def test_the_scheduled_function_reconciles_the_other_hooks_and_counts_the_unchecked(
        standin, worker, monkeypatch, capsys):
    from chalice.local import LambdaContext

    from chalicelib import wiring
    from chalicelib.reconcile import wiring as reconcile_wiring

    bad, _ = two_hooks(standin)
    bad.hostile = Hostile(drop_guid=True)
    event = worker.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={},
        resources=["arn:aws:events:us-east-1:123456789012:rule/spillway-dev-reconcile"])
    worker.configure(GITHUB_HOOKS=f"{BAD},{GOOD}", POWERTOOLS_METRICS_DISABLED="false")
    reconcile_wiring.get_reconciler.cache_clear()
    wiring.get_metrics().clear_metrics()
    capsys.readouterr()
    try:
        result = worker.app_module.reconcile(event, LambdaContext("reconcile", 512, 300_000))
    finally:
        reconcile_wiring.get_reconciler.cache_clear()
    standin.wait_idle()
    assert [r["stopped"] for r in result["hooks"]] == ["error", "completed"]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines()
           if '"_aws"' in line]
    (metrics,) = [m for m in emf if "ReconcileHooksUnchecked" in m]
    values = {k: v if isinstance(v, list) else [v] for k, v in metrics.items()}
    assert values["ReconcileHooksUnchecked"] == [1] and values["ReconcileGap"] == [1]
    assert set(runs(worker.app_db)) == {BAD, GOOD}


def test_a_database_refusal_while_recording_is_that_hooks_error_too(standin, worker,
                                                                    monkeypatch):
    from chalicelib.reconcile.runner import RunOptions

    two_hooks(standin)
    with psycopg.connect(worker.app_db) as conn:  # the database refuses BAD's gap row
        conn.execute("ALTER TABLE reconcile_gaps ADD CONSTRAINT refuse_bad "
                     "CHECK (guid <> 'g-bad')")
    rec, settings = reconciler(monkeypatch, BAD, GOOD)
    first, second = rec.run(settings.hooks, RunOptions(rate_reserve=0))
    standin.wait_idle()
    assert first["stopped"] == "error" and "refuse_bad" in first["error"]
    assert first["recorded"] and first["gap_unknown"]
    assert second["stopped"] == "completed" and second["redeliver"] == ["g-good"]
    recorded = runs(worker.app_db)
    assert [(r["stopped"], r["gap_unknown"]) for r in recorded[BAD]] == [("error", True)]
    assert [r["stopped"] for r in recorded[GOOD]] == ["completed"]


# --- what GitHub's headers may ask ---------------------------------------------------------
@pytest.mark.parametrize("hostile", [
    Hostile(retry_after="99999999999"),
    Hostile(rate_reset="99999999999"),
    Hostile(retry_after="Fri, 31 Dec 5195 23:59:59 GMT"),
], ids=["retry-after", "ratelimit-reset", "retry-after-date"])
def test_a_huge_wait_parks_a_hook_for_at_most_an_hour(standin, worker, monkeypatch, hostile):
    from chalicelib.reconcile.runner import RunOptions

    bad, _ = two_hooks(standin)
    bad.hostile = hostile
    gh = GitHubDeliveries(GitHubAuth(token=lambda: TOKEN), base_url=standin.url)
    with pytest.raises(GitHubRateLimited) as refused:
        gh.list_page(HookRef.parse(BAD))
    assert refused.value.retry_after_s == MAX_WAIT_S
    rec, settings = reconciler(monkeypatch, BAD, GOOD)
    before = time.time()
    first, second = rec.run(settings.hooks, RunOptions(rate_reserve=0))
    assert first["stopped"] == "rate_limited" and first["gap_unknown"]
    assert before + MAX_WAIT_S <= first["parked_until"] <= time.time() + MAX_WAIT_S
    assert second["stopped"] == "completed"
    (row,) = runs(worker.app_db)[BAD]
    assert row["gap_unknown"] and row["parked_until"].timestamp() == pytest.approx(
        first["parked_until"])


def test_a_parked_hook_shows_in_status_with_an_unknown_gap_and_unpark_clears_it(
        standin, worker, monkeypatch, capsys):
    from chalicelib import wiring
    from chalicelib.reconcile.runner import RunOptions
    from spillway.cli import main
    from spillway.ops import audit
    from spillway.ops.status import reconcile_section

    bad, _ = two_hooks(standin)
    bad.hostile = Hostile(retry_after="99999999999")
    rec, settings = reconciler(monkeypatch, BAD, GOOD)
    rec.run(settings.hooks, RunOptions(rate_reserve=0))
    standin.wait_idle()

    section = reconcile_section()
    assert section["gap"] is None and section["gap_unknown"]
    assert [p["hook"] for p in section["parked"]] == [BAD]
    assert time.time() + MAX_WAIT_S - 600 < section["parked"][0]["parked_until"] \
        <= time.time() + MAX_WAIT_S  # an hour, not the year 5195 the header asked for
    from spillway.commands.status import render

    text = "\n".join(render({"reconcile": section}))
    assert "gap unknown" in text and f"{BAD}: parked by GitHub until" in text
    assert f"spillway reconcile unpark --hook {BAD}" in text

    # the parked hook is not asked while parked, and its gap stays unknown
    bad.hostile = Hostile()
    asked = standin.requests
    parked = rec.run_hook(settings.hooks[0], RunOptions(rate_reserve=0))
    assert parked["stopped"] == "rate_limited" and parked["gap_unknown"]
    assert standin.requests == asked

    assert main(["reconcile", "unpark", "--hook", BAD, "--reason", "limit passed",
                 "--by", "alice", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["hook"] == BAD and out["unparked"] is True
    (record,) = audit.list_actions(wiring.get_state(), verb="reconcile unpark")
    assert record["by"] == "alice" and record["reason"] == "limit passed"
    assert record["details"]["hook"] == BAD
    assert reconcile_section()["parked"] == []

    # nothing parked: nothing changes, nothing is audited, and it says so (exit 1)
    assert main(["reconcile", "unpark", "--hook", BAD, "--reason", "again"]) == 1
    assert "not parked" in capsys.readouterr().out
    assert len(audit.list_actions(wiring.get_state(), verb="reconcile unpark")) == 1
    # a hook never reconciled, a bad spec, a blank reason: usage mistakes, no traceback
    for argv in (["--hook", "repo:octo/none:9", "--reason", "x"],
                 ["--hook", "nonsense", "--reason", "x"], ["--hook", BAD, "--reason", " "]):
        assert main(["reconcile", "unpark", *argv]) == 2
        assert "Traceback" not in capsys.readouterr().err

    done = rec.run_hook(settings.hooks[0], RunOptions(rate_reserve=0))
    standin.wait_idle()
    assert done["stopped"] == "completed" and done["redeliver"] == ["g-bad"]
    section = reconcile_section()
    assert section["gap_unknown"] is False and section["gap"] == 2


def test_a_wait_stored_before_the_bound_parks_at_most_an_hour_from_when_it_was_set(
        standin, worker, monkeypatch):
    from chalicelib.reconcile.runner import RunOptions

    bad = standin.add_hook(BAD, dead_url(), SECRET)
    standin.deliver(bad, payload(), "g-bad")
    rec, settings = reconciler(monkeypatch, BAD)
    assert rec.run_hook(settings.hooks[0], RunOptions(rate_reserve=0))["stopped"] == "completed"
    with psycopg.connect(worker.app_db) as conn:  # as main (bc8bf1e) left it: the year 5195
        conn.execute("UPDATE reconcile_cursors SET not_before = '5195-01-01Z', "
                     "not_before_set_at = NULL, updated_at = now() - interval '2 hours'")
    resumed = rec.run_hook(settings.hooks[0], RunOptions(rate_reserve=0))
    assert resumed["stopped"] == "completed" and resumed["parked_until"] is None
    with psycopg.connect(worker.app_db) as conn:
        conn.execute("UPDATE reconcile_cursors SET not_before = '5195-01-01Z', "
                     "not_before_set_at = NULL, updated_at = now()")
    parked = rec.run_hook(settings.hooks[0], RunOptions(rate_reserve=0))
    assert parked["stopped"] == "rate_limited"
    assert parked["parked_until"] <= time.time() + MAX_WAIT_S
    again = rec.run_hook(settings.hooks[0], RunOptions(rate_reserve=0))  # the bound holds
    assert again["parked_until"] == pytest.approx(parked["parked_until"])


# --- a Link loop ----------------------------------------------------------------------------
def test_a_link_back_to_a_page_already_read_stops_the_scan_and_is_recorded(
        standin, worker, monkeypatch):
    from chalicelib.reconcile.runner import RunOptions

    bad, good = two_hooks(standin)
    for i in range(4):
        standin.deliver(bad, payload(), f"g-loop-{i}")
    bad.hostile = Hostile(link_loop=True)
    rec, settings = reconciler(monkeypatch, BAD, GOOD)
    first, second = rec.run(settings.hooks, RunOptions(rate_reserve=0, per_page=2,
                                                       max_requests=100))
    assert first["stopped"] == "error" and "already read" in first["error"]
    assert first["requests"] == 2 and first["pages"] == 2  # not the whole budget
    assert first["redelivery_requested"] == 0
    assert second["stopped"] == "completed"
    (row,) = runs(worker.app_db)[BAD]
    assert row["stopped"] == "error" and "loop" in row["error"] and row["gap_unknown"]


# --- a redelivery POST that stalls past the client's timeout ------------------------------
def test_a_redelivery_accepted_then_unanswered_counts_as_asked(standin, worker, monkeypatch):
    from chalicelib import wiring
    from chalicelib.reconcile.runner import Reconciler, RunOptions
    from chalicelib.reconcile.store import ReconcileStore
    from chalicelib.reconcile.wiring import known_lookup

    bad = standin.add_hook(BAD, dead_url(), SECRET)
    guid = str(uuid.uuid4())
    standin.deliver(bad, payload(), guid)
    bad.hostile = Hostile(stall_post_s=3.0)
    # the client waits 0.5 s, GitHub's 202 comes after 3 s: a timeout after acceptance
    gh = GitHubDeliveries(GitHubAuth(token=lambda: TOKEN), base_url=standin.url, timeout_s=0.5)
    rec = Reconciler(gh, ReconcileStore(wiring.app_pool()), known_lookup())
    options = RunOptions(rate_reserve=0, cooldown_s=3600)
    hook = HookRef.parse(BAD)
    first = rec.run_hook(hook, options)
    standin.wait_idle()
    assert first["redelivery_unconfirmed"] == [guid] and first["redelivery_requested"] == 0
    assert first["stopped"] == "error" and "no answer" in first["error"]
    assert len([a for a in standin.attempts(bad) if a["redelivery"]]) == 1  # it was accepted

    bad.hostile = Hostile()
    second = rec.run_hook(hook, options)
    standin.wait_idle()
    assert second["skipped_cooldown"] == 1 and second["redelivery_requested"] == 0
    assert len([a for a in standin.attempts(bad) if a["redelivery"]]) == 1  # not asked again
    with psycopg.connect(worker.app_db) as conn:
        outcome, requests = conn.execute(
            "SELECT outcome, requests FROM reconcile_gaps WHERE guid = %s", (guid,)).fetchone()
        (decision,) = conn.execute(
            "SELECT d.outcome FROM reconcile_decisions d JOIN reconcile_runs r ON r.id = "
            "d.run_id WHERE d.guid = %s ORDER BY r.id LIMIT 1", (guid,)).fetchone()
    assert decision == "redelivery_unconfirmed" and requests == 1
    assert outcome == "skipped_cooldown"

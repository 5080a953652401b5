"""The local stack's GitHub stand-in (``spillway.local.github_hook``): the stack registers a
hook pointing at its edge with its secret and leaves ``GITHUB_API_URL``, ``GITHUB_TOKEN`` and
``GITHUB_HOOKS`` in ``local-env.json``; ``spillway --local reconcile --dry-run --json`` then
lists, from the stand-in's delivery log, what it would redeliver, and changes nothing."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from spillway.local.embedded import free_port
from spillway.local.github_hook import HOOK_SPEC
from spillway.local.stack import LocalStack, StackOptions, read_local_env
from spillway.replay import Payload
from tests.functional.conftest import ISSUE_PAYLOAD, compact, corpus_payload


def payload() -> Payload:
    return Payload("issues", ISSUE_PAYLOAD, compact(corpus_payload(ISSUE_PAYLOAD)))


def count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchone()[0]


@pytest.fixture
def stack(tmp_path, monkeypatch, pg_url):
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.delenv("QUEUE_DATABASE_URL", raising=False)
    monkeypatch.setenv("SPILLWAY_WORKDIR", str(tmp_path))
    with LocalStack(StackOptions(backend="postgres", workdir=tmp_path)) as s:
        yield s


def test_the_stack_registers_its_edge_at_the_standin_and_publishes_it(stack):
    env = read_local_env(stack.options.workdir)
    assert env["GITHUB_API_URL"] == stack.github.url
    assert env["GITHUB_TOKEN"] == stack.github.token
    assert env["GITHUB_HOOKS"] == HOOK_SPEC
    assert stack.github_hook.url == stack.url and stack.github_hook.secret == stack.secret
    attempt = stack.github.deliver(stack.github_hook, payload(), str(uuid.uuid4()))
    assert attempt["status"] == "OK" and attempt["status_code"] == 202


def test_local_reconcile_dry_run_lists_what_failed_and_changes_nothing(stack, capsys):
    from spillway.cli import main

    gh, hook = stack.github, stack.github_hook
    ok = str(uuid.uuid4())
    assert gh.deliver(hook, payload(), ok)["status"] == "OK"
    hook.url = f"http://127.0.0.1:{free_port()}/webhooks/github"  # the edge is unreachable
    failed = sorted(str(uuid.uuid4()) for _ in range(3))
    for guid in failed:
        assert gh.deliver(hook, payload(), guid)["status_code"] == 0
    hook.url = stack.url
    attempts_before = len(gh.attempts(hook))

    code = main(["--local", "reconcile", "--dry-run", "--json"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and out["dry_run"] is True
    [report] = out["hooks"]
    assert report["hook"] == HOOK_SPEC
    assert sorted(report["redeliver"]) == failed and report["redelivery_requested"] == 0
    assert report["failed_at_github"] == 3 and report["ok_at_github"] == 1
    gh.wait_idle()
    assert len(gh.attempts(hook)) == attempts_before  # GitHub was asked for nothing
    db = stack.env["DATABASE_URL"]
    for table in ("reconcile_runs", "reconcile_gaps", "reconcile_cursors"):
        assert count(db, f"SELECT count(*) FROM {table}") == 0, table


def test_local_reconcile_of_a_malformed_hook_and_a_good_one_records_both_and_scans_the_good(
        stack, capsys):
    """Issue 19's figure: the stand-in lists an item without ``guid`` for hook A and a normal
    page for hook B; ``spillway --local reconcile --hook A --hook B --json`` prints one JSON
    document, records both runs and scans B."""
    from spillway.cli import main
    from spillway.local.github import Hostile

    gh = stack.github
    spec_a, spec_b = "repo:spillway/hostile:2", "repo:spillway/fine:3"
    dead = f"http://127.0.0.1:{free_port()}/webhooks/github"
    hook_a = gh.add_hook(spec_a, dead, stack.secret)
    hook_b = gh.add_hook(spec_b, dead, stack.secret)
    gh.deliver(hook_a, payload(), str(uuid.uuid4()))
    lost = str(uuid.uuid4())
    gh.deliver(hook_b, payload(), lost)
    hook_a.hostile = Hostile(drop_guid=True)
    hook_b.url = stack.url  # the edge is back for B's redelivery

    code = main(["--local", "reconcile", "--hook", spec_a, "--hook", spec_b, "--json"])
    out = json.loads(capsys.readouterr().out)  # the whole of stdout: one JSON document
    gh.wait_idle()
    assert code == 1
    a, b = out["hooks"]
    assert a["hook"] == spec_a and a["stopped"] == "error" and "'guid'" in a["error"]
    assert b["hook"] == spec_b and b["stopped"] == "completed" and b["pages"] == 1
    assert b["checked"] == 1 and b["redeliver"] == [lost]
    db = stack.env["DATABASE_URL"]
    with psycopg.connect(db) as conn:
        recorded = dict(conn.execute("SELECT hook, stopped FROM reconcile_runs").fetchall())
    assert recorded == {spec_a: "error", spec_b: "completed"}
    assert [a["status_code"] for a in gh.attempts(hook_b) if a["redelivery"]] == [202]

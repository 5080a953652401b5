"""The reconciler against the GitHub stand-in over real HTTP, and end to end: the stand-in
sends deliveries while the edge is down, the real edge (``EdgeServer``) and workers store what
arrives in real PostgreSQL, the reconciler asks GitHub for what is missing."""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from chalicelib.adapters.github.auth import GitHubAuth
from chalicelib.adapters.github.client import (
    GitHubAuthError,
    GitHubDeliveries,
    GitHubRateLimited,
    HookNotFound,
    HookRef,
)
from chalicelib.errors import ConfigError
from chalicelib.ports import WORK_QUEUES
from spillway.local.embedded import free_port
from spillway.local.github import GitHubStandIn
from spillway.replay import Payload
from tests.functional.conftest import ISSUE_PAYLOAD, SECRET, compact, corpus_payload

TOKEN = "test-token-not-a-secret"
REPO = "repo:octo/spill:77"


def payload() -> Payload:
    return Payload("issues", ISSUE_PAYLOAD, compact(corpus_payload(ISSUE_PAYLOAD)))


def dead_url() -> str:
    """A URL nothing listens on: the edge is unreachable (GitHub records status 0)."""
    return f"http://127.0.0.1:{free_port()}/webhooks/github"


def client(standin: GitHubStandIn, **auth) -> GitHubDeliveries:
    return GitHubDeliveries(GitHubAuth(**(auth or {"token": lambda: TOKEN})),
                            base_url=standin.url)


def reconciler_for(standin: GitHubStandIn, monkeypatch):
    """The reconciler as the scheduled function builds it, pointed at ``standin``."""
    from chalicelib.reconcile import wiring as reconcile_wiring

    for key, value in {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": standin.url,
                       "GITHUB_HOOKS": REPO}.items():
        monkeypatch.setenv(key, value)
    return reconcile_wiring.build_reconciler(metrics=None)


@pytest.fixture
def standin():
    with GitHubStandIn(token=TOKEN) as s:
        yield s


# --- the adapter against the stand-in --------------------------------------------------------
def test_pages_follow_the_link_cursor_newest_first(standin):
    hook = standin.add_hook(REPO, dead_url(), SECRET)
    guids = [str(uuid.uuid4()) for _ in range(5)]
    for guid in guids:
        standin.deliver(hook, payload(), guid)
    gh, ref = client(standin), HookRef.parse(REPO)
    seen, cursor, pages = [], None, 0
    while True:
        page = gh.list_page(ref, cursor, per_page=2)
        pages += 1
        seen += [item["guid"] for item in page.items]
        assert page.rate is not None and page.rate.limit == 5000
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 3 and seen == guids[::-1]
    item = gh.list_page(ref).items[0]
    assert {"id", "guid", "delivered_at", "redelivery", "duration", "status", "status_code",
            "event", "action", "installation_id", "repository_id"} <= set(item)
    assert item["status_code"] == 0 and item["redelivery"] is False
    with pytest.raises(ValueError):
        gh.list_page(ref, per_page=101)


def test_errors_are_translated(standin):
    standin.add_hook(REPO, dead_url(), SECRET)
    with pytest.raises(GitHubAuthError):
        client(standin, token=lambda: "wrong").list_page(HookRef.parse(REPO))
    with pytest.raises(HookNotFound):
        client(standin).list_page(HookRef.parse("org:octo:99"))
    with pytest.raises(HookNotFound):
        client(standin).redeliver(HookRef.parse(REPO), 424242)
    with pytest.raises(ConfigError):
        HookRef.parse("repo:octo:77")


def test_primary_and_secondary_rate_limits_stop_with_a_wait():
    with GitHubStandIn(token=TOKEN, rate_limit=2) as s:
        s.add_hook(REPO, dead_url(), SECRET)
        gh = client(s)
        assert gh.list_page(HookRef.parse(REPO)).rate.remaining == 1
        gh.list_page(HookRef.parse(REPO))
        with pytest.raises(GitHubRateLimited) as primary:
            gh.list_page(HookRef.parse(REPO))
        assert primary.value.remaining == 0 and primary.value.retry_after_s > 3000
    with GitHubStandIn(token=TOKEN, secondary_limit_after=1) as s:
        s.add_hook(REPO, dead_url(), SECRET)
        gh = client(s)
        gh.list_page(HookRef.parse(REPO))
        with pytest.raises(GitHubRateLimited) as secondary:
            gh.list_page(HookRef.parse(REPO))
        assert secondary.value.retry_after_s == 60


@pytest.mark.parametrize("retry_after,honoured", [("soon", 60), ("0", 1), ("120", 120),
                                                  ("99999999999", 3600)])
def test_retry_after_is_read_as_github_sends_it_and_bounded(standin, retry_after, honoured):
    from spillway.local.github import Hostile

    hook = standin.add_hook(REPO, dead_url(), SECRET)
    hook.hostile = Hostile(retry_after=retry_after)
    with pytest.raises(GitHubRateLimited) as refused:
        client(standin).list_page(HookRef.parse(REPO))
    assert refused.value.retry_after_s == honoured


def test_the_app_hook_authenticates_with_the_apps_jwt():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    with GitHubStandIn(token=TOKEN, app_id="4242", app_public_key=public.decode()) as s:
        hook = s.add_hook("app:9", dead_url(), SECRET)
        s.deliver(hook, payload(), "g-app")
        gh = client(s, app_id="4242", app_key=lambda: pem)
        assert [i["guid"] for i in gh.list_page(HookRef.parse("app:9")).items] == ["g-app"]
        auth = GitHubAuth(app_id="4242", app_key=lambda: pem)
        assert pem not in repr(auth) and "BEGIN" not in repr(auth)
        with pytest.raises(GitHubAuthError):  # a token is not the App's JWT
            client(s).list_page(HookRef.parse("app:9"))

        # a repository hook through the App's installation: the JWT buys the token
        s.installation_id = "55"
        repo = s.add_hook(REPO, dead_url(), SECRET)
        s.deliver(repo, payload(), "g-repo")
        installed = GitHubAuth(app_id="4242", app_key=lambda: pem, installation_id="55")
        gh = GitHubDeliveries(installed, base_url=s.url)
        installed.bind(gh.installation_token)
        for _ in range(2):
            assert [i["guid"] for i in gh.list_page(HookRef.parse(REPO)).items] == ["g-repo"]
        assert len(s.installation_tokens) == 1  # bought once, reused until near expiry
        elsewhere = GitHubAuth(app_id="4242", app_key=lambda: pem, installation_id="56")
        elsewhere.bind(gh.installation_token)
        with pytest.raises(HookNotFound):
            GitHubDeliveries(elsewhere, base_url=s.url).list_page(HookRef.parse(REPO))


# --- end to end: edge outage, reconcile, redelivery -----------------------------------------
class _SlowGateway(ThreadingHTTPServer):
    """Forwards a delivery to the edge, then answers 504: the edge accepted it but GitHub
    records a failure (an answer after its 10 s, without waiting 10 s here)."""

    def __init__(self, edge_url: str):
        target = urlsplit(edge_url)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
                conn.request("POST", target.path, body=body, headers=dict(self.headers))
                conn.getresponse().read()
                conn.close()
                self.send_response(504)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(("127.0.0.1", 0), Handler)
        self.daemon_threads = True
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/webhooks/github"


def drain(harness) -> None:
    """Run the workers over every queued message, as the event source mappings would."""
    for _ in range(10):
        moved = 0
        for queue in WORK_QUEUES:
            msgs = harness.queue.receive(queue, 10, 60, 0.1)
            if msgs:
                harness.invoke_worker(queue, msgs)
                moved += len(msgs)
        if not moved:
            return


def ledger(url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT delivery_id, count(*) FROM webhook_deliveries "
                                 "GROUP BY delivery_id").fetchall())


def table_count(url: str, table: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@pytest.mark.parametrize("worker", ["postgres", "aws"], indirect=True)
def test_reconcile_redelivers_what_the_edge_never_accepted_once(worker, monkeypatch):
    from chalicelib.reconcile.runner import RunOptions
    from spillway.local.edge_server import EdgeServer

    # The edge's dedup record is written before its send, so it is no proof of queueing: a
    # GUID accepted by the edge but failed at GitHub is redelivered too (issue 18), answered
    # 200 duplicate once the edge's deadline (1 s here) has passed, sent again, stored once.
    worker.configure(EDGE_DEADLINE_S="1")
    edge = EdgeServer(concurrency=2).start()
    gateway = _SlowGateway(edge.url + "/webhooks/github")
    try:
        with GitHubStandIn(token=TOKEN) as gh:
            hook = gh.add_hook(REPO, dead_url(), SECRET)
            lost = [str(uuid.uuid4()) for _ in range(3)]
            for guid in lost:  # the edge is unreachable
                assert gh.deliver(hook, payload(), guid)["status_code"] == 0
            hook.url = edge.url + "/webhooks/github"
            stored = [str(uuid.uuid4()) for _ in range(2)]
            for guid in stored:
                assert gh.deliver(hook, payload(), guid)["status_code"] == 202
            drain(worker)
            hook.url = gateway.url  # accepted by the edge, failed at GitHub
            accepted = str(uuid.uuid4())
            assert gh.deliver(hook, payload(), accepted)["status_code"] == 504
            hook.url = edge.url + "/webhooks/github"  # the edge is back
            time.sleep(1.2)  # past the edge's in-progress window for ``accepted``

            reconciler, settings = reconciler_for(gh, monkeypatch)
            options = RunOptions(cooldown_s=3600, rate_reserve=0)

            dry = reconciler.run(settings.hooks, RunOptions(dry_run=True, rate_reserve=0))[0]
            gh.wait_idle()
            redo = sorted([*lost, accepted])
            assert sorted(dry["redeliver"]) == redo and dry["redelivery_requested"] == 0
            assert dry["already_stored"] == 0 and dry["ok_at_github"] == 2
            assert len(gh.attempts(hook)) == 6  # nothing was sent
            assert table_count(worker.app_db, "reconcile_gaps") == 0
            assert table_count(worker.app_db, "reconcile_cursors") == 0
            assert table_count(worker.app_db, "reconcile_runs") == 0

            first = reconciler.run(settings.hooks, options)[0]
            gh.wait_idle()
            assert sorted(first["redeliver"]) == redo and first["gap"] == 4
            redeliveries = [a for a in gh.attempts(hook) if a["redelivery"]]
            assert sorted(a["guid"] for a in redeliveries) == redo
            assert {a["guid"]: a["status_code"] for a in redeliveries} == {
                **dict.fromkeys(lost, 202), accepted: 200}
            drain(worker)
            assert ledger(worker.app_db) == dict.fromkeys([*lost, *stored, accepted], 1)

            again = reconciler.run(settings.hooks, options)[0]
            gh.wait_idle()
            assert again["redelivery_requested"] == 0 and again["gap"] == 0
            assert len([a for a in gh.attempts(hook) if a["redelivery"]]) == 4
            assert table_count(worker.app_db, "reconcile_runs") == 2
    finally:
        gateway.shutdown()
        gateway.server_close()
        edge.stop()


@pytest.mark.parametrize("worker", ["postgres"], indirect=True)
def test_dry_run_report_is_json_serialisable(standin, worker, monkeypatch):
    from chalicelib.reconcile.runner import RunOptions

    hook = standin.add_hook(REPO, dead_url(), SECRET)
    standin.deliver(hook, payload(), "g-1")
    reconciler, settings = reconciler_for(standin, monkeypatch)
    report = reconciler.run(settings.hooks, RunOptions(dry_run=True, rate_reserve=0))
    assert json.loads(json.dumps(report))[0]["redeliver"] == ["g-1"]


@pytest.mark.parametrize("worker", ["postgres"], indirect=True)
def test_a_spent_budget_stops_cleanly_and_the_next_run_resumes_from_the_cursor(
        standin, worker, monkeypatch):
    import psycopg

    from chalicelib.reconcile.runner import RunOptions

    hook = standin.add_hook(REPO, dead_url(), SECRET)
    guids = [f"g-{i}" for i in range(7)]
    for guid in guids:
        standin.deliver(hook, payload(), guid)
    reconciler, settings = reconciler_for(standin, monkeypatch)
    tight = RunOptions(max_requests=2, per_page=2, rate_reserve=0, cooldown_s=3600)
    first = reconciler.run_hook(settings.hooks[0], tight)
    assert first["stopped"] == "budget" and first["pages"] == 2
    assert first["budget_exhausted"] == 4 and first["redelivery_requested"] == 0
    standin.secondary_limit_after = standin.requests + 1  # GitHub's secondary limit next
    limited = reconciler.run_hook(settings.hooks[0], tight)
    assert limited["stopped"] == "rate_limited" and limited["redelivery_requested"] == 0
    standin.secondary_limit_after = None
    assert reconciler.run_hook(settings.hooks[0], tight)["stopped"] == "rate_limited"  # waits
    with psycopg.connect(worker.app_db) as conn:
        conn.execute("UPDATE reconcile_cursors SET not_before = NULL")
    second = reconciler.run_hook(settings.hooks[0], RunOptions(rate_reserve=0,
                                                               cooldown_s=3600, per_page=2))
    standin.wait_idle()
    assert second["stopped"] == "completed"
    asked = [a["guid"] for a in standin.attempts(hook) if a["redelivery"]]
    assert sorted(asked) == sorted(guids)  # every failed GUID asked for exactly once


@pytest.mark.parametrize("worker", ["postgres"], indirect=True)
def test_the_cli_dry_run_lists_what_it_would_redeliver_and_changes_nothing(
        standin, worker, monkeypatch, capsys):
    from spillway.cli import main

    hook = standin.add_hook(REPO, dead_url(), SECRET)
    for guid in ("g-1", "g-2"):
        standin.deliver(hook, payload(), guid)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.delenv("GITHUB_HOOKS", raising=False)
    code = main(["reconcile", "--dry-run", "--json", "--hook", REPO, "--since", "1h",
                 "--api-url", standin.url])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and out["dry_run"] is True
    assert sorted(out["hooks"][0]["redeliver"]) == ["g-1", "g-2"]
    standin.wait_idle()
    assert not [a for a in standin.attempts(hook) if a["redelivery"]]
    assert table_count(worker.app_db, "reconcile_gaps") == 0
    assert table_count(worker.app_db, "reconcile_runs") == 0

    code = main(["reconcile", "--hook", REPO, "--api-url", standin.url])
    standin.wait_idle()
    assert code == 0 and "redelivery requested 2" in capsys.readouterr().out
    assert len([a for a in standin.attempts(hook) if a["redelivery"]]) == 2


@pytest.mark.parametrize("argv,message", [
    (["reconcile", "--since", "4d"], "at most 3d"),
    (["reconcile"], "no hook"),
    (["reconcile", "--hook", "repo:nope"], "GITHUB_HOOKS"),
    (["reconcile", "--hook", REPO, "--api-url", "ftp://x"], "GITHUB_API_URL"),
])
def test_cli_usage_mistakes_exit_2_with_a_message(argv, message, monkeypatch, capsys):
    from spillway.cli import main

    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.delenv("GITHUB_HOOKS", raising=False)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("worker", ["postgres"], indirect=True)
def test_the_scheduled_function_reconciles_every_configured_hook(standin, worker, monkeypatch,
                                                                capsys):
    from chalice.local import LambdaContext

    from chalicelib import wiring
    from chalicelib.reconcile import wiring as reconcile_wiring

    hook = standin.add_hook(REPO, dead_url(), SECRET)
    standin.deliver(hook, payload(), "g-scheduled")
    event = worker.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={},
        resources=["arn:aws:events:us-east-1:123456789012:rule/spillway-dev-reconcile"])
    worker.configure(GITHUB_HOOKS="", GITHUB_TOKEN=TOKEN, GITHUB_API_URL=standin.url)
    reconcile_wiring.get_reconciler.cache_clear()
    idle = worker.client.lambda_.invoke("reconcile", event).payload
    assert idle == {"hooks": [], "skipped": "GITHUB_HOOKS is empty"}

    worker.configure(GITHUB_HOOKS=REPO, POWERTOOLS_METRICS_DISABLED="false")
    reconcile_wiring.get_reconciler.cache_clear()
    wiring.get_metrics().clear_metrics()  # Powertools keeps one metric set per process
    try:
        # chalice.test's context has 3 s left: less than the 30 s the function keeps free
        # for recording, so it starts no GitHub request at all.
        (short,) = worker.client.lambda_.invoke("reconcile", event).payload["hooks"]
        assert short["stopped"] == "deadline" and short["requests"] == 0
        assert standin.requests == 0
        capsys.readouterr()
        # as Lambda calls it, with the stage's 300 s
        result = worker.app_module.reconcile(event, LambdaContext("reconcile", 512, 300_000))
    finally:
        reconcile_wiring.get_reconciler.cache_clear()
    standin.wait_idle()
    (report,) = result["hooks"]
    assert report["hook"] == REPO and report["redeliver"] == ["g-scheduled"]
    assert [a["guid"] for a in standin.attempts(hook) if a["redelivery"]] == ["g-scheduled"]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines()
           if '"_aws"' in line]
    (metrics,) = [m for m in emf if "ReconcileGap" in m]
    values = {k: v if isinstance(v, list) else [v] for k, v in metrics.items()}
    assert values["ReconcileGap"] == [1] and values["RedeliveriesRequested"] == [1]


def test_the_standin_sends_bursts_and_tallies_what_became_of_each_guid(standin):
    hook = standin.add_hook(REPO, dead_url(), SECRET)
    attempts = standin.send_all(hook, [payload()] * 4, concurrency=3)
    assert len({a["guid"] for a in attempts}) == 4 and {a["status_code"] for a in attempts} == {0}
    assert standin.redeliver(hook, attempts[0]["id"])
    standin.wait_idle()
    tally = standin.tally(hook)
    assert len(tally["sent"]) == 4 and tally["failed_first"] == tally["sent"]
    assert tally["redelivered"] == set() and tally["never_ok"] == tally["sent"]
    redelivery = max(standin.attempts(hook), key=lambda a: a["id"])
    assert redelivery["redelivery"] and redelivery["guid"] == attempts[0]["guid"]


def test_the_standin_api_bounds_per_page_and_refuses_bad_input(standin):
    import urllib.error
    import urllib.request

    hook = standin.add_hook(REPO, dead_url(), SECRET)
    standin.send_all(hook, [payload()] * 3)

    def get(path: str, token: str | None = TOKEN) -> tuple[int, object, dict]:
        req = urllib.request.Request(standin.url + path, headers={
            "Authorization": f"token {token}"} if token else {})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read()), dict(resp.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read()), dict(exc.headers)

    base = "/repos/octo/spill/hooks/77/deliveries"
    status, items, headers = get(base + "?per_page=500")
    assert status == 200 and len(items) == 3 and "Link" not in headers
    status, items, headers = get(base + "?per_page=0")
    assert status == 200 and len(items) == 1 and 'rel="next"' in headers["Link"]
    assert get(base + "?redelivery=true")[1] == []
    assert get(base, token=None)[0] == 401
    assert get(base + "?cursor=nonsense")[0] == 400
    assert get("/repos/octo/other/hooks/77/deliveries")[0] == 404


@pytest.mark.parametrize("worker", ["postgres"], indirect=True)
def test_a_hook_another_run_holds_is_left_alone(standin, worker, monkeypatch):
    import psycopg

    from chalicelib.reconcile.runner import RunOptions

    hook = standin.add_hook(REPO, dead_url(), SECRET)
    standin.deliver(hook, payload(), "g-busy")
    reconciler, settings = reconciler_for(standin, monkeypatch)
    with psycopg.connect(worker.app_db, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))",
                      ("spillway.reconcile:" + REPO,))
        busy = reconciler.run_hook(settings.hooks[0], RunOptions(rate_reserve=0))
    assert busy["stopped"] == "busy" and standin.requests == 0
    assert table_count(worker.app_db, "reconcile_runs") == 0
    done = reconciler.run_hook(settings.hooks[0], RunOptions(rate_reserve=0))
    assert done["stopped"] == "completed" and done["redeliver"] == ["g-busy"]


@pytest.mark.parametrize("worker", ["postgres"], indirect=True)
def test_a_passed_deadline_starts_no_request_and_the_next_run_catches_up(
        standin, worker, monkeypatch):
    import time

    from chalicelib.reconcile.runner import RunOptions

    hook = standin.add_hook(REPO, dead_url(), SECRET)
    standin.deliver(hook, payload(), "g-late")
    reconciler, settings = reconciler_for(standin, monkeypatch)
    late = reconciler.run_hook(settings.hooks[0], RunOptions(rate_reserve=0,
                                                             deadline=time.time() - 1))
    assert late["stopped"] == "deadline" and late["requests"] == 0 and standin.requests == 0
    caught_up = reconciler.run_hook(settings.hooks[0], RunOptions(rate_reserve=0))
    assert caught_up["stopped"] == "completed" and caught_up["redeliver"] == ["g-late"]

"""The one-shot snapshot ``spillway status --json`` prints, on the postgres backend configured
by the environment (a real PostgreSQL with both migrations), and the standalone entry point's
handling of a bad ``--env-file``."""

from __future__ import annotations

import json
import threading

import pytest

from chalicelib import wiring
from spillway.dashboard.__main__ import main
from spillway.dashboard.local import status_snapshot


@pytest.fixture
def postgres_env(pg_url, monkeypatch):
    from spillway.migrate import migrate

    migrate(pg_url, "app")
    migrate(pg_url, "queue")
    for key, value in {"SPILLWAY_BACKEND": "postgres", "DATABASE_URL": pg_url,
                       "QUEUE_DATABASE_URL": pg_url}.items():
        monkeypatch.setenv(key, value)
    wiring.reset()
    yield pg_url
    wiring.close()
    wiring.reset()


def test_status_snapshot_reads_queues_breaker_and_ledger(postgres_env):
    queue = wiring.get_queue()
    for _ in range(3):
        queue.send("low", "{}", {"delivery_id": "d", "event": "push"})
    snap = status_snapshot()
    assert json.loads(json.dumps(snap, allow_nan=False)) == snap
    assert snap["queues"]["low"]["visible"] == 3 and snap["queues"]["dlq"]["total"] == 0
    assert snap["breaker"]["state"] == "CLOSED"
    assert snap["totals"] == {"accepted": None, "rejected": None, "stored": 0}
    assert snap["labels"] == {"backend": "postgres"} and snap["errors"] == {}
    assert snap["rates"] == {"accepted_per_s": None, "stored_per_s": None}


@pytest.mark.parametrize("content", [None, "not json", "[1, 2]"])
def test_a_bad_env_file_is_refused_with_status_2(tmp_path, capsys, content):
    path = tmp_path / "local-env.json"
    if content is not None:
        path.write_text(content)
    assert main(["--env-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "Traceback" not in err


def test_local_status_shows_the_stacks_concurrency_from_its_dashboard(postgres_env, tmp_path,
                                                                     monkeypatch):
    """``spillway --local status`` runs in another process than the stack: it reads the
    executions the stack meters from the stack's dashboard (published in its workdir)."""
    from spillway.commands.status import render
    from spillway.dashboard.feeds import SlotMeter
    from spillway.dashboard.local import DASHBOARD_FILE, publish, start
    from spillway.dashboard.sources import reserved_concurrency_reader
    from spillway.local.concurrency import ReservedConcurrency

    limiter = ReservedConcurrency("worker_high", 4)
    meter = SlotMeter(limit=2)
    # One step an hour: the samples below are the test's own (after the one taken at start).
    stack_dashboard = start(slots={"worker_high": reserved_concurrency_reader(limiter),
                                   "edge": meter}, step_s=3600, window_s=3600)
    try:
        while not stack_dashboard.sampler.snapshot()["series"]["t"]:
            threading.Event().wait(0.05)
        monkeypatch.setenv("SPILLWAY_WORKDIR", str(tmp_path))
        monkeypatch.setenv("SPILLWAY_URL", "http://127.0.0.1:1/webhooks/github")
        published = publish(stack_dashboard, tmp_path)
        assert published == tmp_path / DASHBOARD_FILE
        assert published.stat().st_mode & 0o777 == 0o600
        assert limiter.try_acquire() and limiter.try_acquire()
        limiter.release()  # one still running, two at once at the peak
        stack_dashboard.sampler.sample_now()
        snap = status_snapshot()
        concurrency = snap["concurrency"]
        assert concurrency["pools"]["worker_high"] == {"in_use": 1, "peak": 2, "started": 2,
                                                       "limit": 4}
        assert (concurrency["in_use"], concurrency["limit"]) == (1, 6)
        text = "\n".join(render(snap))
        assert "concurrency  1 in use now, at most 2 at once in the last step, of 6" in text
        assert "unavailable" not in text.split("concurrency", 1)[1].split("\n")[0]
        limiter.release()
    finally:
        stack_dashboard.stop()


def test_local_status_without_a_stack_dashboard_says_why(postgres_env, tmp_path, monkeypatch):
    monkeypatch.setenv("SPILLWAY_WORKDIR", str(tmp_path))
    monkeypatch.setenv("SPILLWAY_URL", "http://127.0.0.1:1/webhooks/github")
    snap = status_snapshot()
    assert snap["concurrency"]["available"] is False
    assert "names none (started with --no-dashboard?)" in snap["concurrency"]["reason"]
    # Not a local stack's environment: nothing is looked for, and the section says why.
    monkeypatch.delenv("SPILLWAY_URL")
    reason = status_snapshot()["concurrency"]["reason"]
    assert "`spillway --local status` reads a running `spillway local`'s" in reason

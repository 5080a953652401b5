"""The one-shot snapshot ``spillway status --json`` prints, on the postgres backend configured
by the environment (a real PostgreSQL with both migrations), and the standalone entry point's
handling of a bad ``--env-file``."""

from __future__ import annotations

import json

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

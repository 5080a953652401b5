"""End to end: the whole local stack (edge over HTTP, queues, event source mappings, workers,
PostgreSQL) on real GitHub payloads, through ``spillway demo``.

The payloads are the shared corpus (``/work/shared/github-webhooks``, or ``../shared`` beside
the repository as CI lays it out), else the samples bundled in the project. Every accepted
delivery must be stored exactly once: none missing, none duplicated, none dead-lettered.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spillway.demo import DemoOptions, run_demo
from spillway.local.stack import StackOptions
from spillway.paths import ROOT, SAMPLES
from spillway.replay import iter_payloads
from tests.corpus import CORPUS

SUMMARY_KEYS = ("sent", "accepted", "rejected", "stored", "dead_lettered", "missing",
                "duplicated")
#: Variables that would make the stack use outside servers instead of its embedded ones.
OUTSIDE_SERVERS = ("DATABASE_URL", "QUEUE_DATABASE_URL", "AWS_ENDPOINT_URL")

pytestmark = pytest.mark.e2e


def corpus() -> Path:
    return CORPUS


@pytest.mark.parametrize("backend", ["aws", "postgres"])
def test_demo_stores_every_corpus_delivery_once(backend, tmp_path, monkeypatch):
    for key in OUTSIDE_SERVERS:
        monkeypatch.delenv(key, raising=False)
    paths = [str(corpus())]
    expected = sum(1 for _ in iter_payloads(paths))
    summary = run_demo(DemoOptions(paths=paths, backend=backend, drain_timeout_s=120,
                                   stack_options=StackOptions(workdir=tmp_path)))
    counts = {k: summary[k] for k in SUMMARY_KEYS}
    assert counts == {"sent": expected, "accepted": expected, "rejected": 0,
                      "stored": expected, "dead_lettered": 0, "missing": 0,
                      "duplicated": 0}, summary.get("rejected_examples", summary)
    assert summary["drained"] is True
    assert summary["backend"] == backend
    # the corpus routes some deliveries to each target; each one went to its own queue and
    # was stored by that queue's worker function (the totals above)
    targets, queues = summary["targets"], summary["queues"]
    assert sum(targets.values()) == sum(queues.values()) == expected
    assert targets["heavy"] > 0 and targets["batch"] > 0 and targets["light"] > 0, targets
    assert (queues["heavy"], queues["batch"]) == (targets["heavy"], targets["batch"])
    assert set(summary["worker_throttles"]) == {f"worker_{q}" for q in queues}


def test_spillway_demo_console_script_prints_a_json_summary(pg_url):
    """``spillway demo --json`` as a user runs it (bundled samples, aws backend). The
    application database is the test's own (``DATABASE_URL``), so the run leaves nothing in
    the repository's ``.spillway`` folder and cannot collide with another run there."""
    script = Path(sys.executable).parent / "spillway"
    assert script.is_file(), f"console script missing: {script} (pip install -e .)"
    env = {k: v for k, v in os.environ.items() if k not in OUTSIDE_SERVERS}
    env["DATABASE_URL"] = pg_url
    proc = subprocess.run([str(script), "demo", "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads(proc.stdout)  # stdout is exactly one JSON document (issue 20)
    assert set(SUMMARY_KEYS) <= set(summary)
    sent = sum(1 for _ in iter_payloads([str(SAMPLES)]))
    assert summary["sent"] == summary["accepted"] == summary["stored"] == sent
    assert summary["missing"] == summary["duplicated"] == summary["dead_lettered"] == 0
    assert summary["rejected"] == 0
    assert "Spillway demo summary" in proc.stderr  # the summary for people, beside it


def test_chaos_db_outage_trips_the_breaker_and_loses_nothing(tmp_path, monkeypatch):
    """The application PostgreSQL is down before the first delivery and for 6 s after: the
    workers' shared breaker trips, deliveries are held back (not dead-lettered), and once the
    database is back every accepted delivery is stored exactly once."""
    for key in OUTSIDE_SERVERS:
        monkeypatch.delenv(key, raising=False)
    summary = run_demo(DemoOptions(paths=[str(SAMPLES)], backend="aws", drain_timeout_s=180,
                                   chaos_db_outage_s=15, chaos_after_s=0,
                                   stack_options=StackOptions(workdir=tmp_path)))
    assert summary["accepted"] == summary["sent"] > 0
    assert (summary["missing"], summary["duplicated"], summary["dead_lettered"]) == (0, 0, 0)
    assert summary["stored"] == summary["accepted"]
    assert summary["breaker_trips"] >= 1
    assert summary["recovery_s"] is not None and summary["recovery_s"] >= 0

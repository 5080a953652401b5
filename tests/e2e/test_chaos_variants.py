"""End to end, bounded: the chaos variants and the run report on the postgres backend's local
stack (embedded PostgreSQL for the ledger and for the queues), on the bundled samples.

* worker-kill: every worker invocation dies mid-batch for 2 s; the batches come back after a
  visibility timeout of 6 x a 1 s handler timeout + the batching window (7-11 s) and each
  delivery is stored exactly once;
* worker-kill with the shared slots on: each killed invocation dies holding its slot lease, which
  stays in the item unrenewed; ``spillway --local slots status`` lists those holders and
  ``spillway --local slots release --all`` frees them (audited); then everything is stored once;
* queue-outage: the queue PostgreSQL is down before the first delivery and for 14 s: the edge
  answers 503, and no refused delivery is found in the ledger (nothing half-stored);
* db-outage (the application PostgreSQL) with ``--report``: the report's page and plots;
* ``spillway loadtest --backend postgres --scenario burst --report DIR`` (a small burst):
  DIR/index.html, the PNGs and Locust's report, thresholds held, missing = 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from chalicelib import wiring
from spillway import cli
from spillway.chaos import ChaosSpec, WorkerKill
from spillway.demo import DemoOptions, run_demo
from spillway.local.drain import wait_drained
from spillway.local.stack import LocalStack, StackOptions
from spillway.ops.audit import list_actions
from spillway.ops.ledger import ledger_counts_at
from spillway.paths import ROOT, SAMPLES
from spillway.replay import iter_payloads, replay

OUTSIDE_SERVERS = ("DATABASE_URL", "QUEUE_DATABASE_URL", "AWS_ENDPOINT_URL")
PLOTS = {"ack_latency.png", "queue_depth.png", "throughput.png", "slots.png", "breaker.png"}

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _embedded_servers(monkeypatch):
    for key in OUTSIDE_SERVERS:
        monkeypatch.delenv(key, raising=False)


def _demo(tmp_path, *specs: ChaosSpec, after_s: float = 0.3, report: bool = False) -> dict:
    return run_demo(DemoOptions(
        paths=[str(SAMPLES)], backend="postgres", drain_timeout_s=120, chaos=list(specs),
        chaos_after_s=after_s, report_dir=str(tmp_path / "report") if report else None,
        stack_options=StackOptions(workdir=tmp_path / "wd", handler_timeout_s=1)))


def test_worker_killed_mid_batch_is_stored_once_after_the_visibility_timeout(tmp_path):
    summary = _demo(tmp_path, ChaosSpec("worker-kill", 2.0), after_s=0)
    assert summary["accepted"] == summary["sent"] > 0
    assert (summary["missing"], summary["duplicated"], summary["dead_lettered"]) == (0, 0, 0)
    assert summary["stored"] == summary["accepted"]
    assert summary["chaos"] == ["worker-kill=2"] and summary["ok"], summary["violations"]
    assert summary["recovery_s"] is not None


def _cli_json(capsys, *argv: str) -> dict:
    capsys.readouterr()
    assert cli.main(["--local", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_killed_worker_dies_holding_its_slot_lease_until_an_operator_releases_it(
        tmp_path, monkeypatch, capsys):
    # a lease far longer than the run, so only the release can free the dead holders' slots
    env = {"SLOTS_ENABLED": "true", "SLOT_MIN_LIMIT": "3", "SLOT_MAX_LIMIT": "3",
           "SLOT_LEASE_S": "600"}
    monkeypatch.setenv("SPILLWAY_WORKDIR", str(tmp_path / "wd"))
    payloads = list(iter_payloads([SAMPLES]))
    with LocalStack(StackOptions(backend="postgres", workdir=tmp_path / "wd",
                                 handler_timeout_s=1, env=env)) as stack:
        fault = WorkerKill(stack, outage_s=4.0, after_s=0)
        assert fault.slots is wiring.get_slots() is not None
        fault.start()
        results = replay(payloads, stack.url, stack.secret)
        accepted = {r.delivery_id for r in results if r.status == 202}
        fault.join()
        assert fault.held >= 1 and fault.killed >= fault.held

        status = _cli_json(capsys, "slots", "status")
        assert sorted(x["holder"] for x in status["holders"]) == sorted(fault.dead_holders)
        assert status["in_use"] == fault.held and not any(x["expired"]
                                                          for x in status["holders"])
        released = _cli_json(capsys, "slots", "release", "--all", "--reason",
                             "e2e: instances killed", "--by", "e2e")
        assert sorted(released["released"]) == sorted(fault.dead_holders)

        assert wait_drained(wiring.get_queue(), 180) is not None
        counts = ledger_counts_at(stack.env["DATABASE_URL"])
        assert accepted and counts.per_delivery == dict.fromkeys(accepted, 1)
        assert [(a["verb"], a["details"]["slots"]) for a in list_actions(wiring.get_state())
                ] == [("slots release", fault.held)]


@pytest.fixture(scope="module")
def queue_outage(tmp_path_factory) -> dict:
    """One demo run with the queue PostgreSQL down from the first delivery for 14 s: longer
    than the edge waits for the queue pool (two 5 s waits), so it gives up and answers 503."""
    for key in OUTSIDE_SERVERS:
        os.environ.pop(key, None)
    return _demo(tmp_path_factory.mktemp("queue-outage"), ChaosSpec("queue-outage", 14.0),
                 after_s=0)


def test_queue_outage_answers_503_and_half_stores_nothing(queue_outage):
    summary = queue_outage
    assert summary["rejected"] > 0  # the queue database was down from the first delivery
    assert {e["status"] for e in summary.get("rejected_examples", [])} == {503}
    assert summary["half_stored"] == 0
    assert (summary["missing"], summary["duplicated"]) == (0, 0)
    assert summary["stored"] == summary["accepted"]
    assert summary["error_rate"] == 0.0  # the planned 503s are set aside


def test_queue_outage_503s_come_within_the_ack_threshold(queue_outage):
    assert queue_outage["ok"], queue_outage["violations"]


def test_db_outage_report_has_the_page_and_every_plot(tmp_path):
    summary = _demo(tmp_path, ChaosSpec("db-outage", 2.0), report=True)
    assert (summary["missing"], summary["duplicated"]) == (0, 0) and summary["ok"]
    report = tmp_path / "report"
    assert summary["report"] == str(report / "index.html")
    page = (report / "index.html").read_text()
    for name in PLOTS:
        assert (report / name).read_bytes()[:4] == b"\x89PNG" and f'src="{name}"' in page
    # A page for a person: what ran, every threshold with its result, labelled values.
    assert "<td>stored in the ledger</td>" in page and "db-outage=2" in page
    assert "<td>backend</td><td>postgres</td>" in page and "<h2>Thresholds</h2>" in page
    assert "<td>pass</td><td>deliveries stored twice</td>" in page


def test_loadtest_burst_writes_its_report_and_loses_nothing(tmp_path):
    report = tmp_path / "report"
    env = {**{k: v for k, v in os.environ.items() if k not in OUTSIDE_SERVERS},
           "LOADTEST_BURST_REQUESTS": "150"}
    proc = subprocess.run(
        [sys.executable, "-m", "spillway.cli", "loadtest", "--backend", "postgres", "--json",
         "--scenario", "burst", "--users", "15", "--run-time", "40s", "--report", str(report),
         "--workdir", str(tmp_path / "wd")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=280,
        stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["missing"] == 0 and summary["duplicated"] == 0 and summary["ok"]
    assert summary["accepted"] >= 150
    assert PLOTS | {"index.html", "locust.html"} <= {p.name for p in report.iterdir()}
    assert f"report {report / 'index.html'}" in proc.stderr

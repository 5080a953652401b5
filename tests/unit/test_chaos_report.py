"""The pure parts of chaos and run reports: ``--chaos KIND=SECONDS`` parsing and its registry,
the thresholds a run must meet, Locust's history CSV, the index page, and the PNG plots
(real matplotlib, Agg backend)."""

from __future__ import annotations

import argparse

import pytest

from spillway import chaos
from spillway.chaos import ChaosSpec, parse_chaos
from spillway.report.html import render_index
from spillway.report.locust_history import latency_history
from spillway.report.plots import Window, write_plots
from spillway.report.thresholds import error_rate, recovery_limit_s, verdict, violations


@pytest.mark.parametrize("text, spec", [("db-outage=20", ChaosSpec("db-outage", 20.0)),
                                        ("worker-kill=1.5", ChaosSpec("worker-kill", 1.5)),
                                        ("queue-outage=3", ChaosSpec("queue-outage", 3.0))])
def test_chaos_kinds_parse(text, spec):
    assert parse_chaos(text) == spec


@pytest.mark.parametrize("text", ["db-outage", "db-outage=", "db-outage=x", "db-outage=-1",
                                  "meteor=5", "20"])
def test_bad_chaos_is_an_argparse_error_naming_the_kinds(text):
    with pytest.raises(argparse.ArgumentTypeError) as err:
        parse_chaos(text)
    assert "seconds" in str(err.value).lower()


def test_chaos_is_repeatable_and_a_registered_kind_is_accepted(monkeypatch):
    monkeypatch.setitem(chaos.KINDS, "edge-outage", object)
    parser = argparse.ArgumentParser()
    chaos.add_chaos_argument(parser)
    args = parser.parse_args(["--chaos", "db-outage=2", "--chaos", "edge-outage=3"])
    assert args.chaos == [ChaosSpec("db-outage", 2.0), ChaosSpec("edge-outage", 3.0)]
    assert parser.parse_args([]).chaos == []


class _NoDb:
    app_db = queue_db = None
    mappings: list = []


@pytest.mark.parametrize("kind", ["db-outage", "queue-outage", "worker-kill"])
def test_a_fault_the_stack_cannot_host_is_a_config_error(kind):
    from chalicelib.errors import ConfigError

    with pytest.raises(ConfigError, match=kind):
        chaos.make_faults(_NoDb(), [ChaosSpec(kind, 2.0)])
    assert chaos.make_faults(_NoDb(), [ChaosSpec(kind, 0.0)]) == []  # 0 s: no fault


def test_planned_503s_are_set_aside_only_when_excused():
    statuses = [202] * 90 + [503] * 8 + [500] * 2
    assert error_rate(statuses, excuse_503=False) == pytest.approx(0.10)
    assert error_rate(statuses, excuse_503=True) == pytest.approx(0.02)
    assert error_rate([], excuse_503=False) == 0.0


GOOD = {"missing": 0, "duplicated": 0, "drained": True, "ack_p95_ms": 2999.9, "half_stored": 0}


def test_a_clean_run_passes_and_each_threshold_fails_it():
    assert violations(GOOD, 0.049) == []
    assert violations({**GOOD, "recovery_s": 59.9}, 0.0) == []
    cases = [({"missing": 1}, "missing"), ({"duplicated": 2}, "twice"),
             ({"half_stored": 1}, "rejected yet stored"), ({"drained": False}, "drain"),
             ({"ack_p95_ms": 3000.0}, "p95"), ({"recovery_s": 60.0}, "recovery"),
             ({"recovery_s": None}, "recovery")]
    for change, word in cases:
        found = violations({**GOOD, **change}, 0.0)
        assert len(found) == 1 and word in found[0], (change, found)
    assert "error rate" in violations(GOOD, 0.05)[0]


def test_a_fault_that_kills_batches_gets_their_visibility_timeout_on_top_of_the_limit():
    """A killed batch is invisible for its visibility timeout by SQS design (as on Lambda,
    >= 6 x the function timeout + the batching window), so a worker-kill run recovering in 65 s
    on a stack whose visibility is 61-70 s passes; other faults keep the 60 s limit."""

    class Killed:
        returns_after_s = 70.0

    class Outage:
        pass

    assert recovery_limit_s() == recovery_limit_s([Outage()]) == 60.0
    assert recovery_limit_s([Outage(), Killed()]) == 130.0
    run = {**GOOD, "recovery_s": 65.0}
    assert verdict(run, [], [Killed()])["ok"] and verdict(run, [], [Killed()])[
        "recovery_limit_s"] == 130.0
    assert verdict(run, [], [Outage()])["violations"] == ["recovery 65.0 s >= 60 s"]


def test_locust_history_keeps_the_aggregated_rows(tmp_path):
    path = tmp_path / "locust_stats_history.csv"
    path.write_text('"Timestamp","User Count","Type","Name","Requests/s","50%","95%"\n'
                    '100,1,"POST","/webhooks/github",1.0,"N/A","N/A"\n'
                    '100,1,"","Aggregated",1.0,"N/A","N/A"\n'
                    '101,5,"","Aggregated",9.0,12,40\n')
    assert latency_history(path) == {"t": [100.0, 101.0], "p50_ms": [None, 12.0],
                                     "p95_ms": [None, 40.0], "rps": [1.0, 9.0]}
    assert latency_history(tmp_path / "absent.csv") == {"t": [], "p50_ms": [], "p95_ms": [],
                                                        "rps": []}


def test_index_escapes_and_shows_the_table_plots_and_links(tmp_path):
    page = render_index("run <1>", {"missing": 0, "chaos": ["db-outage=2"]},
                        [tmp_path / "ack_latency.png"], {"Locust report": "locust.html"}, "OK")
    assert "run &lt;1&gt;" in page
    assert "<td>missing (accepted, neither stored nor dead-lettered)</td><td>0</td>" in page
    assert '<img src="ack_latency.png"' in page and 'href="locust.html"' in page
    assert "db-outage=2" in page


def test_plots_are_png_files_even_with_gaps(tmp_path):
    series = {"t": [10.0, 11.0, 12.0, 13.0], "accepted_per_s": [None, 5.0, 0.0, 2.0],
              "stored_per_s": [None, 1.0, 3.0, 3.0], "ack_p50_ms": [None, 20.0, None, 30.0],
              "ack_p95_ms": [None, 80.0, None, 90.0],
              "breaker_state": [None, "CLOSED", "OPEN", "HALF_OPEN"],
              "depth": {"high": [0, 3, 5, 1], "dlq": [0, 0, None, 0]},
              "slots": {"worker_high": [0, 2, 2, 0]}}
    paths = write_plots(series, tmp_path, t0=10.0, windows=[Window("db-outage", 11.0, 12.5)])
    assert sorted(p.name for p in paths) == ["ack_latency.png", "breaker.png",
                                             "queue_depth.png", "slots.png", "throughput.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000

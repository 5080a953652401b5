"""The figure lines and results file of ``make bench`` (bench/report.py), and the cost model
reading such a file back (spillway/cost/inputs.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bench import report
from spillway.cost.inputs import load_usage


def test_a_printed_line_parses_back_to_the_same_figure():
    fig = report.Figure("worker_vs_copy", 0.25123, "COPY of the ledger rows = 1, 4000/s", "x")
    assert fig.line() == "worker_vs_copy: 0.251 x (baseline: COPY of the ledger rows = 1, 4000/s)"
    back = report.parse_line(fig.line())
    assert (back.name, back.value, back.unit, back.baseline) == (
        "worker_vs_copy", 0.251, "x", "COPY of the ledger rows = 1, 4000/s")


def test_a_line_without_unit_parses():
    back = report.parse_line("s3_requests_per_delivery: 0 (baseline: edge 0.00, worker 0.00)")
    assert (back.value, back.unit) == (0.0, "")


@pytest.mark.parametrize("line", ["", "edge_cpu_ratio 2.3 (baseline: x)",
                                  "edge_cpu_ratio: fast (baseline: x)", "Edge: 1 (baseline: x)",
                                  "edge_cpu_ratio: 2.3"])
def test_other_lines_are_refused(line):
    with pytest.raises(ValueError):
        report.parse_line(line)


def test_results_round_trip_through_the_file(tmp_path):
    figs = [report.Figure("edge_cpu_ratio", 2.5, "HMAC + json.loads = 1", "x",
                          {"edge_cpu_ms_per_delivery": 0.12}),
            report.Figure("sqs_requests_per_delivery", 1.2, "edge 1.00", "", {"deliveries": 3})]
    when = datetime(2026, 12, 2, 19, 0, tzinfo=UTC)
    path = report.write(report.results(figs, corpus={"deliveries": 3}, now=when),
                        tmp_path / "deep" / "last.json")
    doc = report.read(path)
    assert doc["measured_at"] == "2026-12-02T19:00:00+00:00"
    assert doc["corpus"] == {"deliveries": 3}
    assert set(doc["machine"]) == {"platform", "python", "cpus", "processor"}
    assert doc["figures"]["edge_cpu_ratio"] == {
        "value": 2.5, "baseline": "HMAC + json.loads = 1", "unit": "x",
        "detail": {"edge_cpu_ms_per_delivery": 0.12}}
    assert not list(path.parent.glob("*.tmp"))


def test_a_figure_given_twice_is_refused():
    fig = report.Figure("cold_start_ratio", 3.0, "import chalice, boto3 = 1")
    with pytest.raises(ValueError, match="twice"):
        report.results([fig, fig], corpus={})


@pytest.mark.parametrize("content", ["not json", "[]", '{"version": 99, "figures": {}}',
                                     '{"version": 1, "figures": {"x": {"value": "big"}}}'])
def test_read_refuses_what_is_not_a_results_file(tmp_path, content):
    path = tmp_path / "last.json"
    path.write_text(content)
    with pytest.raises(ValueError):
        report.read(path)


def test_the_cost_model_reads_what_the_bench_writes(tmp_path):
    detail = {"deliveries": 4, "requests": {"edge.sqs": {"SendMessage": 4},
                                            "edge.dynamodb": {"PutItem": 4, "UpdateItem": 4},
                                            "event_source.sqs": {"ReceiveMessage": 1,
                                                                 "DeleteMessageBatch": 1}},
              "sqs_message_bytes": [100, 200, 300, 70_000], "body_bytes": [90, 180, 270, 60_000],
              "edge_wall_ms_per_delivery": 12.5, "worker_wall_ms_per_delivery": 3.0,
              "deliveries_per_worker_invocation": 4.0, "edge_log_bytes_per_delivery": 100.0,
              "worker_log_bytes_per_delivery": 50.0, "metric_names": ["DeliveriesStored"]}
    fig = report.Figure("sqs_requests_per_delivery", 1.5, "edge 1.00", "", detail)
    path = report.write(report.results([fig], corpus={"deliveries": 4}), tmp_path / "last.json")
    usage = load_usage(path)
    assert usage.measured
    assert usage.sqs_ops == {"SendMessage": 1.0, "ReceiveMessage": 0.25,
                             "DeleteMessageBatch": 0.25}
    assert usage.dynamodb_ops == {"PutItem": 1.0, "UpdateItem": 1.0}
    assert (usage.edge_ms, usage.worker_ms, usage.log_bytes) == (12.5, 3.0, 150.0)
    assert usage.metric_names == ("DeliveriesStored",)


def test_the_cost_model_says_when_there_is_no_bench_output(tmp_path):
    usage = load_usage(tmp_path / "absent.json")
    assert not usage.measured
    assert "no benchmark output" in usage.source


def test_the_cost_model_refuses_a_results_file_without_the_aws_figures(tmp_path):
    path = tmp_path / "last.json"
    path.write_text(json.dumps(report.results([report.Figure("edge_cpu_ratio", 2.0, "x")],
                                              corpus={})))
    with pytest.raises(ValueError, match="sqs_requests_per_delivery"):
        load_usage(path)

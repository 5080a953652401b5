"""The cost model (spillway/cost): arithmetic checked by hand, every line, SQS chunking, the
JSON shape, and the CLI's answers to bad input."""

from __future__ import annotations

import json

import pytest

from chalicelib.core.concurrency.plan import build_plan
from spillway.cli import main
from spillway.cost import inputs
from spillway.cost.model import Usage, chunks, estimate

PRICES = {name: {"value": value} for name, value in {
    "api_gateway_rest_per_million": 3.50, "api_gateway_http_per_million": 1.00,
    "lambda_requests_per_million": 0.20, "lambda_gb_second_x86_64": 0.0000166667,
    "lambda_gb_second_arm64": 0.0000133334, "sqs_standard_per_million": 0.40,
    "dynamodb_write_request_unit_per_million": 0.625,
    "dynamodb_read_request_unit_per_million": 0.125, "s3_put_per_thousand": 0.005,
    "s3_get_per_thousand": 0.0004, "cloudwatch_logs_ingestion_per_gb": 0.50,
    "cloudwatch_custom_metric_per_month": 0.30, "cloudwatch_alarm_per_month": 0.10}.items()}

USAGE = Usage(
    source="hand-made", measured=True,
    sqs_ops={"SendMessage": 1.0, "ReceiveMessage": 0.1, "DeleteMessageBatch": 0.1},
    dynamodb_ops={"PutItem": 1.0, "UpdateItem": 1.0, "GetItem": 0.5},
    s3_ops={"PutObject": 0.01, "GetObject": 0.01},
    sqs_message_bytes=(10_000, 70_000), body_bytes=(9_000, 600_000), edge_ms=20.2,
    worker_ms=3.05, deliveries_per_worker_invocation=10.0, log_bytes=700.0,
    metric_names=("DeliveriesAccepted", "DeliveriesStored", "BreakerTrips"))

#: Worked out by hand for 1,000,000 deliveries, tier pro, REST, x86_64, 8 alarms. Pro's plan
#: (`spillway tier plan pro`): edge and light workers 512 MB = 0.5 GB, 5 worker functions x 2
#: lanes = 10 event source mappings. (The earlier figures assumed 1024 MB and 3 mappings, which
#: no plan deploys.)
EXPECTED = {
    "api_gateway": 3.50,                       # 1 M calls x $3.50/M
    "lambda_requests": 0.22,                   # (1 M edge + 100 k batches) x $0.20/M
    "lambda_duration_edge": 0.17500035,        # 1 M x 21 ms x 0.5 GB = 10,500 GB-s
    "lambda_duration_worker": 0.025833385,     # 100 k x ceil(30.5) = 31 ms x 0.5 GB = 1,550 GB-s
    "sqs_requests": 0.92,                      # sends 1 x mean(1, 2) chunks = 1.5; receives
                                               # 0.1 x ceil(10 x 40,000 B / 64 KiB) = 0.7;
                                               # deletes 0.1 -> 2.3 M x $0.40/M
    "sqs_idle_polling": 2.592,                 # 5 x 10 x 2,592,000 s / 20 s = 6.48 M
    "dynamodb_writes": 1.25,                   # 2 M WRU x $0.625/M
    "dynamodb_reads": 0.0625,                  # 0.5 M RRU x $0.125/M
    "s3_puts": 0.05,                           # 10,000 x $0.005/1000
    "s3_gets": 0.004,                          # 10,000 x $0.0004/1000
    "cloudwatch_logs": 0.339932740,            # (1 M x 700 B + 0.1 M worker invocations x
                                               # 300 B; the edge's platform lines are off)
                                               # / 2**30 x $0.50
    "cloudwatch_metrics": 0.90,                # 3 metrics x $0.30
    "cloudwatch_alarms": 0.80,                 # 8 alarms x $0.10
}


def test_the_bill_matches_the_hand_worked_example_line_by_line():
    e = estimate(1_000_000, prices=PRICES, usage=USAGE, tier="pro", api="rest", arch="x86_64",
                 alarms=8)
    got = {line.name: line.usd_per_month for line in e.lines}
    assert got == pytest.approx(EXPECTED, rel=1e-6)
    assert e.usd_per_month == pytest.approx(sum(EXPECTED.values()), rel=1e-6)
    assert e.usd_per_month == pytest.approx(10.83926648, rel=1e-6)
    assert e.usd_per_million_deliveries == pytest.approx(10.83926648, rel=1e-6)
    assert e.dominant == "api_gateway"


def test_every_line_is_present_even_at_zero():
    idle = Usage(**{**USAGE.__dict__, "s3_ops": {}, "dynamodb_ops": {}})
    e = estimate(10, prices=PRICES, usage=idle, api="function-url")
    assert [line.name for line in e.lines] == list(EXPECTED)
    zero = {line.name for line in e.lines if line.usd_per_month == 0}
    assert zero == {"api_gateway", "dynamodb_writes", "dynamodb_reads", "s3_puts", "s3_gets",
                    "cloudwatch_alarms"}


def test_per_million_scales_and_fixed_lines_do_not():
    small = estimate(1_000_000, prices=PRICES, usage=USAGE, alarms=8)
    big = estimate(10_000_000, prices=PRICES, usage=USAGE, alarms=8)
    by = {line.name: (line, b) for line, b in zip(small.lines, big.lines, strict=True)}
    assert by["dynamodb_writes"][1].usd_per_month == pytest.approx(
        10 * by["dynamodb_writes"][0].usd_per_month)
    assert by["cloudwatch_alarms"][1].usd_per_month == by["cloudwatch_alarms"][0].usd_per_month
    assert big.usd_per_million_deliveries < small.usd_per_million_deliveries


@pytest.mark.parametrize(("size", "expected"), [(0, 1), (1, 1), (65_536, 1), (65_537, 2),
                                                (131_072, 2), (262_144, 4), (262_145, 5)])
def test_sqs_requests_are_billed_in_64_kb_chunks(size, expected):
    assert chunks(size) == expected


def test_a_negative_size_is_refused():
    with pytest.raises(ValueError):
        chunks(-1)


def test_http_api_is_metered_in_512_kb_increments_and_arm64_is_cheaper():
    http = estimate(1_000_000, prices=PRICES, usage=USAGE, api="http")
    line = next(line for line in http.lines if line.name == "api_gateway")
    assert line.quantity == pytest.approx(1_500_000)  # bodies of 9,000 B (1) and 600,000 B (2)
    arm = estimate(1_000_000, prices=PRICES, usage=USAGE, arch="arm64")
    x86 = estimate(1_000_000, prices=PRICES, usage=USAGE, arch="x86_64")
    assert arm.usd_per_month < x86.usd_per_month


def _line(e, name):
    return next(li for li in e.lines if li.name == name)


def test_memory_comes_from_the_plan_per_function():
    pro = estimate(1_000_000, prices=PRICES, usage=USAGE, tier="pro")
    big_edge = estimate(1_000_000, prices=PRICES, usage=USAGE,
                        plan=build_plan("pro", edge_memory_mb=1024))
    assert _line(big_edge, "lambda_duration_edge").usd_per_month == pytest.approx(
        2 * _line(pro, "lambda_duration_edge").usd_per_month)
    assert "512 MB" in _line(pro, "lambda_duration_edge").note
    # worker_high (priority share 0.5) at 1024 MB: the light workers average 768 MB.
    high = estimate(1_000_000, prices=PRICES, usage=USAGE, plan=build_plan(
        "pro", functions={"worker_high": {"memory_mb": 1024}}))
    assert _line(high, "lambda_duration_worker").usd_per_month == pytest.approx(
        1.5 * _line(pro, "lambda_duration_worker").usd_per_month)
    # heavy and batch (1024 MB) take none of the measured deliveries.
    heavy = estimate(1_000_000, prices=PRICES, usage=USAGE, plan=build_plan(
        "pro", functions={"worker_heavy": {"memory_mb": 2048}}))
    assert _line(heavy, "lambda_duration_worker") == _line(pro, "lambda_duration_worker")


@pytest.mark.parametrize(("tier", "mappings"), [("free", 5), ("pro", 10), ("enterprise", 15)])
def test_idle_polling_counts_the_plans_mappings(tier, mappings):
    plan = build_plan(tier)
    assert sum(len(w.mappings) for w in plan.workers) == mappings
    line = _line(estimate(10, prices=PRICES, usage=USAGE, tier=tier), "sqs_idle_polling")
    assert line.quantity == pytest.approx(5 * mappings * 2_592_000 / 20)
    assert f"{mappings} mappings" in line.note


def test_json_figures_are_rounded(tmp_path, capsys):
    assert main(["cost", "--deliveries-per-month", "1e6", "--json", "--bench",
                 str(tmp_path / "none.json")]) == 0
    text = capsys.readouterr().out

    def floats(value):
        if isinstance(value, float):
            yield value
        elif isinstance(value, dict | list):
            for v in value.values() if isinstance(value, dict) else value:
                yield from floats(v)

    for value in floats(json.loads(text)):
        assert len(repr(value).lstrip("-").replace(".", "").split("e")[0].strip("0")) <= 10, \
            value


@pytest.mark.parametrize("kwargs", [{"tier": "gold"}, {"api": "grpc"}, {"arch": "mips"}])
def test_unknown_choices_are_refused(kwargs):
    with pytest.raises(ValueError):
        estimate(10, prices=PRICES, usage=USAGE, **kwargs)


def test_a_price_missing_from_the_table_is_named():
    prices = {k: v for k, v in PRICES.items() if k != "sqs_standard_per_million"}
    with pytest.raises(ValueError, match="sqs_standard_per_million"):
        estimate(10, prices=prices, usage=USAGE)


def test_the_price_table_in_the_repo_has_a_dated_source_for_every_price_used():
    table = inputs.load_prices()
    assert table["region"] == "us-east-1"
    assert set(PRICES) <= set(table["prices"])
    for name, price in table["prices"].items():
        assert price["source"].startswith("https://"), name
        assert price["read_on"] and price["verified"] in ("aws-docs", "secondary",
                                                          "unverified"), name
    estimate(10, prices=table["prices"], usage=USAGE)  # every price the model needs is there


def test_the_json_output_has_the_breakdown_and_the_total(tmp_path, capsys):
    code = main(["cost", "--deliveries-per-month", "10000000", "--tier", "pro", "--json",
                 "--bench", str(tmp_path / "no-bench.json")])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"deliveries_per_month", "tier", "api", "arch", "lines", "usd_per_month",
            "usd_per_million_deliveries", "dominant", "usage_source", "usage_measured",
            "original_strategy_per_million", "prices"} <= set(doc)
    assert doc["deliveries_per_month"] == 10_000_000 and doc["tier"] == "pro"
    assert doc["usage_measured"] is False
    assert doc["original_strategy_per_million"] == {"edge_only_per_million": 5.0,
                                                    "hybrid_per_million": 5.5}
    assert sum(line["usd_per_month"] for line in doc["lines"]) == pytest.approx(
        doc["usd_per_month"])
    assert set(doc["lines"][0]) == {"name", "quantity", "unit", "unit_price", "usd_per_month",
                                    "usd_per_million_deliveries", "note"}
    assert doc["dominant"] in {line["name"] for line in doc["lines"]}


def test_the_text_output_names_the_dominant_line_and_the_original_figures(tmp_path, capsys):
    assert main(["cost", "--deliveries-per-month", "1e6", "--bench",
                 str(tmp_path / "none.json")]) == 0
    out = capsys.readouterr().out
    assert "largest line:" in out
    # what "original strategy" refers to, spelled out, and its figures per million
    assert "original scaling strategy (docs/DESIGN.md section 2c)" in out
    assert "$5.00 and $5.50 per million" in out
    assert "USD per 1 M deliveries" in out  # units spelled out
    assert "documented defaults" in out


@pytest.mark.parametrize("argv", [["--deliveries-per-month", "-5"],
                                  ["--deliveries-per-month", "0"],
                                  ["--deliveries-per-month", "lots"],
                                  ["--deliveries-per-month", "2.5"],
                                  ["--deliveries-per-month", "10", "--tier", "gold"],
                                  ["--deliveries-per-month", "10", "--api", "grpc"],
                                  ["--deliveries-per-month", "10", "--arch", "sparc"],
                                  []])
def test_bad_input_exits_2_with_a_message_and_no_traceback(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["cost", *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "spillway cost: error:" in err and "Traceback" not in err


def test_an_unusable_bench_file_exits_2_naming_it(tmp_path, capsys):
    bad = tmp_path / "last.json"
    bad.write_text("{not json")
    assert main(["cost", "--deliveries-per-month", "10", "--bench", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "Traceback" not in err

"""The alarms of ``infra/template.yaml`` as ``spillway alarms`` lists them: every one names a
runbook verb that exists in the CLI and has its RUNBOOK.md entry; the dashboard renders to
valid JSON showing each alarm; the local evaluation follows CloudWatch's rules."""

from __future__ import annotations

import json
import re

import pytest

from spillway.cli import build_parser
from spillway.ops.alarm_eval import evaluate
from spillway.ops.alarms import alarm_definitions, dashboard_body, local_samples
from spillway.paths import ROOT

ALARMS = alarm_definitions()
#: The original strategy's five thresholds, plus the DLQ and the signature-failure rate.
REQUIRED = {"edge-concurrency": 80, "high-queue-depth": 100, "medium-queue-depth": 100,
            "low-queue-depth": 100, "breaker-trips": 3, "edge-p95-latency": 3000,
            "edge-error-rate": 5, "dlq-not-empty": 0, "signature-failures": 10}


def _parser_paths() -> set[str]:
    """Every ``command [subcommand]`` path of the CLI parser."""
    import argparse

    def walk(parser, prefix):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    path = f"{prefix} {name}".strip()
                    yield path
                    yield from walk(sub, path)

    return set(walk(build_parser(), ""))


def test_at_least_the_required_alarms_with_their_thresholds():
    by_suffix = {a["name"].removeprefix("spillway-"): a for a in ALARMS}
    assert len(ALARMS) >= 7
    for suffix, threshold in REQUIRED.items():
        assert by_suffix[suffix]["threshold"] == threshold, suffix
        assert by_suffix[suffix]["comparison"] == "GreaterThanThreshold"
    assert by_suffix["breaker-trips"]["period_s"] == 300  # "> 3 in 5 min"


@pytest.mark.parametrize("alarm", ALARMS, ids=lambda a: a["name"])
def test_each_alarm_names_a_cli_verb_with_a_runbook_entry(alarm):
    assert alarm["runbook"], f"{alarm['name']}: no 'Runbook: `spillway <verb>`' in description"
    verb = alarm["runbook"].split()
    paths = _parser_paths()
    # "promote medium": the command path is "promote", "medium" its positional choice
    assert verb[0] in paths and (len(verb) == 1 or " ".join(verb) in paths
                                 or verb[0] == "promote"), alarm["runbook"]
    if verb[0] == "promote":
        # the choice exists (promote is audited: a reason is required to run it)
        build_parser().parse_args([*verb, "--reason", "alarm runbook check"])
    runbook = (ROOT / "RUNBOOK.md").read_text(encoding="utf-8")
    suffix = alarm["name"].removeprefix("spillway-")
    entry = re.search(rf"^## {re.escape(suffix)}\n(.*?)(?=^#)", runbook, re.M | re.S)
    assert entry, f"RUNBOOK.md has no '## {suffix}' entry"
    for part in ("**Means**", "**Confirm**", "**Answer**", "**Undo**"):
        assert part in entry.group(1), (suffix, part)
    assert f"spillway {alarm['runbook']}" in entry.group(1)


def test_prefix_names_the_alarms_and_their_queues():
    (high,) = [a for a in alarm_definitions(prefix="acme") if a["id"] == "HighQueueDepthAlarm"]
    assert high["name"] == "acme-high-queue-depth"
    assert "QueueName=acme-high" in high["metric"]


def test_dashboard_renders_to_json_with_every_alarm():
    doc = json.loads(dashboard_body(prefix="acme", region="eu-west-1", account_id="111"))
    (alarm_widget,) = [w for w in doc["widgets"] if w["type"] == "alarm"]
    assert {a.removeprefix("arn:aws:cloudwatch:eu-west-1:111:alarm:")
            for a in alarm_widget["properties"]["alarms"]} == {
        a["name"] for a in alarm_definitions(prefix="acme")}
    assert all(w["properties"].get("region", "eu-west-1") == "eu-west-1" for w in doc["widgets"])
    shown = json.dumps(doc)
    for metric in ("ConcurrentExecutions", "ApproximateNumberOfMessagesVisible",
                   "ApproximateAgeOfOldestMessage", "BreakerTrips", "AckLatency",
                   "ProcessingLatency", "SignatureFailures", "DeliveriesDeadLettered"):
        assert metric in shown, metric


DLQ = next(a for a in ALARMS if a["id"] == "DeadLetterAlarm")
DEPTH = next(a for a in ALARMS if a["id"] == "HighQueueDepthAlarm")


def test_local_evaluation_at_and_past_the_threshold():
    now = 10_000.0
    assert evaluate(DLQ, [(now - 5, 0)], now)["state"] == "OK"
    assert evaluate(DLQ, [(now - 5, 1)], now)["state"] == "ALARM"
    assert evaluate(DLQ, [(now - 5, None)], now)["state"] == "INSUFFICIENT_DATA"
    # 3 periods of 60 s must all breach; a missing period does not breach (notBreaching)
    three = [(now - 30, 101), (now - 90, 101), (now - 150, 101)]
    assert evaluate(DEPTH, three, now)["state"] == "ALARM"
    assert evaluate(DEPTH, three[:2], now)["state"] == "OK"
    assert evaluate(DEPTH, [(t, 100) for t, _ in three], now)["state"] == "OK"
    assert evaluate(DEPTH, three, now)["datapoints"] == [101.0, 101.0, 101.0]


def test_local_breaker_trips_are_transitions_into_open():
    trips = next(a for a in ALARMS if a["id"] == "BreakerTripsAlarm")
    states = ["closed", "open", "open", "half_open", "open", "closed", "open", "closed", "open"]
    rows = [{"at": 1000.0 + 10 * i, "breaker_state": s} for i, s in enumerate(states)]
    samples = local_samples(rows, "BreakerTripsAlarm")
    assert [v for _, v in samples] == [0, 1, 0, 0, 1, 0, 1, 0, 1]
    assert evaluate(trips, samples, 1090.0)["state"] == "ALARM"  # 4 trips > 3 in 5 min
    assert evaluate(trips, samples[:7], 1090.0)["state"] == "OK"  # 3 trips
    assert local_samples(rows, "SignatureFailuresAlarm") == []  # no local figure


def test_cli_lists_the_alarms_as_json_and_refuses_a_bad_prefix(capsys):
    from spillway.cli import main

    assert main(["alarms", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["alarms"]
    assert [a["name"] for a in listed] == [a["name"] for a in ALARMS]
    for alarm in listed:
        assert {"name", "metric", "statistic", "threshold", "period_s", "runbook"} <= set(alarm)
    assert main(["alarms"]) == 0
    table = capsys.readouterr().out
    assert "spillway-dlq-not-empty" in table and "spillway redrive" in table
    assert main(["alarms", "--prefix", "not a prefix"]) == 2
    assert "SPILLWAY_QUEUE_PREFIX" in capsys.readouterr().err


def test_the_table_names_each_queue_watched_and_keeps_its_columns_aligned(capsys):
    from spillway.cli import main
    from spillway.commands.alarms import table

    assert main(["alarms"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    by_name = {row.split()[0]: row for row in rows}
    for queue in ("high", "medium", "low", "heavy", "batch", "dlq"):
        name = f"spillway-{queue}-queue-depth" if queue != "dlq" else "spillway-dlq-not-empty"
        assert by_name[name].split()[1] == f"spillway-{queue}", by_name[name]
    assert "(QueueName=" not in "\n".join(rows)
    for column in ("watches", "metric", "statistic", "runbook"):
        start = header.index(column)
        assert all(row[start - 2:start] == "  " and row[start] != " " for row in rows), column
    listed = [{**a, "state": "INSUFFICIENT_DATA" if i % 2 else "OK"}
              for i, a in enumerate(alarm_definitions())]
    header, *rows = table(listed, states=True)
    start = header.index("state")
    assert all(row[start:].strip() in ("OK", "INSUFFICIENT_DATA") for row in rows)

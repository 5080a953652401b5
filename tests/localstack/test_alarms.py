"""The template's CloudWatch alarms evaluated by LocalStack (moto stores alarms but never
evaluates them): at the threshold an alarm stays OK, one datapoint past it goes to ALARM and
notifies the alarm topic.

LocalStack evaluates a metric alarm when it is put and then every ``Period x
EvaluationPeriods`` seconds (3 and 5 minutes for these alarms). The tests therefore put the
datapoints first (timestamped inside the evaluated periods) and then put the alarm again with
its own definition, read back from ``DescribeAlarms``, which makes LocalStack evaluate it now;
they poll ``DescribeAlarms`` (bounded) until the evaluation has happened. The state's reason
data lists the datapoints the evaluation saw, so a test also checks that its data was read.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import boto3
import pytest

#: How long an evaluation may take to show (LocalStack runs it on its scheduler thread).
EVALUATION_WAIT_S = 60.0
#: Keys of a MetricAlarm (DescribeAlarms) that PutMetricAlarm takes back.
PUT_KEYS = ("AlarmName", "AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions",
            "InsufficientDataActions", "MetricName", "Namespace", "Statistic", "Dimensions",
            "Period", "Unit", "EvaluationPeriods", "DatapointsToAlarm", "Threshold",
            "ComparisonOperator", "TreatMissingData")


def _alarm(cw, name: str) -> dict:
    alarms = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert len(alarms) == 1, f"alarm {name} not found"
    return alarms[0]


def evaluate_now(cw, name: str) -> dict:
    """Put alarm ``name`` again unchanged (LocalStack evaluates it on put, starting from
    INSUFFICIENT_DATA) and return it once the evaluation has set another state."""
    alarm = _alarm(cw, name)
    cw.put_metric_alarm(**{k: alarm[k] for k in PUT_KEYS if k in alarm})
    deadline = time.monotonic() + EVALUATION_WAIT_S
    while time.monotonic() < deadline:
        alarm = _alarm(cw, name)
        if alarm["StateValue"] != "INSUFFICIENT_DATA":
            return alarm
        time.sleep(0.5)
    pytest.fail(f"alarm {name} was not evaluated within {EVALUATION_WAIT_S} s: {alarm}")


def within_one_period(period_s: int, oldest_age_s: float, room_s: float = 60.0) -> None:
    """Wait, if need be, until points ``oldest_age_s`` old and ``room_s`` of evaluations after
    them all fall in one period: CloudWatch (and LocalStack) sums a Sum alarm's points per
    period aligned to the clock, so points put just after a boundary were split across two
    periods and the alarm saw only some of them (4 of 10 once: a flake of about one run in
    eight, depending on the time of day)."""
    into = time.time() % period_s
    if oldest_age_s + 5 <= into <= period_s - room_s:
        return
    to_next = 0.0 if into < oldest_age_s + 5 else period_s - into  # this period, or the next
    time.sleep(to_next + oldest_age_s + 5 - (into if to_next == 0.0 else 0.0))


def seen_datapoints(alarm: dict) -> list[float]:
    return json.loads(alarm["StateReasonData"])["recentDatapoints"]


def put_points(cw, namespace: str, metric: str, dimensions: list[dict], value: float,
               ages_s: list[float]) -> None:
    now = datetime.now(UTC)
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": metric, "Dimensions": dimensions, "Value": value, "Unit": "Count",
         "Timestamp": now - timedelta(seconds=age)} for age in ages_s])


def alarm_topic_queue(outputs: dict, prefix: str) -> str:
    """An SQS queue subscribed to the stack's alarm topic; returns its URL."""
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"{prefix}-alarm-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    boto3.client("sns").subscribe(TopicArn=outputs["AlarmTopicArn"], Protocol="sqs",
                                  Endpoint=arn, Attributes={"RawMessageDelivery": "false"})
    return url


def alarm_notifications(url: str, wait_s: float = 20.0) -> list[dict]:
    """The CloudWatch alarm notifications (SNS ``Message`` JSON) that reached ``url``."""
    sqs = boto3.client("sqs")
    found: list[dict] = []
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and not found:
        for msg in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=2).get("Messages", []):
            found.append(json.loads(json.loads(msg["Body"])["Message"]))
    return found


def test_queue_depth_alarm_ok_at_100_alarm_above_and_notifies_the_topic(stack):
    prefix, outputs = stack
    cw = boto3.client("cloudwatch")
    name = f"{prefix}-high-queue-depth"
    inbox = alarm_topic_queue(outputs, prefix)
    dims = [{"Name": "QueueName", "Value": f"{prefix}-high"}]
    # Maximum per 60 s period over 3 periods: three points in each of the last three minutes.
    ages = [5 + 20 * i for i in range(9)]
    put_points(cw, "AWS/SQS", "ApproximateNumberOfMessagesVisible", dims, 100, ages)
    at_threshold = evaluate_now(cw, name)
    assert at_threshold["StateValue"] == "OK"
    assert 100.0 in seen_datapoints(at_threshold)

    put_points(cw, "AWS/SQS", "ApproximateNumberOfMessagesVisible", dims, 101, ages)
    above = evaluate_now(cw, name)
    assert above["StateValue"] == "ALARM", above["StateReason"]
    assert seen_datapoints(above).count(101.0) >= 3
    notes = [n for n in alarm_notifications(inbox) if n.get("AlarmName") == name]
    assert notes and notes[-1]["NewStateValue"] == "ALARM"
    assert notes[-1]["Trigger"]["Threshold"] == 100.0


@pytest.mark.parametrize(("suffix", "metric", "value", "ages_s"), [
    ("breaker-trips", "BreakerTrips", 1, [10, 20, 30]),              # 3 trips in 5 min
    ("signature-failures", "SignatureFailures", 2, [10, 20, 30, 40, 50]),  # 10 failures
])
def test_emf_sum_alarm_ok_at_its_threshold_alarm_one_past(stack, suffix, metric, value,
                                                          ages_s):
    prefix, _ = stack
    cw = boto3.client("cloudwatch")
    name = f"{prefix}-{suffix}"
    threshold = float(value * len(ages_s))
    assert _alarm(cw, name)["Threshold"] == threshold
    dims = [{"Name": "service", "Value": "spillway"}]
    # Other stacks' alarms watch the same metric; this one is the only one that puts it,
    # and only this test (EMF metrics are disabled in the other tests).
    within_one_period(period_s=_alarm(cw, name)["Period"], oldest_age_s=max(ages_s))
    put_points(cw, "Spillway", metric, dims, value, ages_s)
    at = evaluate_now(cw, name)
    assert at["StateValue"] == "OK"
    assert seen_datapoints(at)[-1] == threshold

    put_points(cw, "Spillway", metric, dims, 1, [15])
    past = evaluate_now(cw, name)
    assert past["StateValue"] == "ALARM", past["StateReason"]
    assert seen_datapoints(past)[-1] == threshold + 1


def test_dlq_alarm_goes_to_alarm_on_one_message_and_back_to_ok(stack):
    prefix, _ = stack
    cw = boto3.client("cloudwatch")
    name = f"{prefix}-dlq-not-empty"
    dims = [{"Name": "QueueName", "Value": f"{prefix}-dlq"}]
    put_points(cw, "AWS/SQS", "ApproximateNumberOfMessagesVisible", dims, 0, [5, 25])
    assert evaluate_now(cw, name)["StateValue"] == "OK"
    put_points(cw, "AWS/SQS", "ApproximateNumberOfMessagesVisible", dims, 1, [3])
    assert evaluate_now(cw, name)["StateValue"] == "ALARM"


def test_metric_math_and_percentile_alarms_are_not_evaluated(stack):
    """A LocalStack limit, recorded so that it is noticed when it moves: alarms on metric math
    (error rate, concurrency) or an extended statistic (p95 latency) are stored but never
    evaluated; they stay INSUFFICIENT_DATA whatever the data."""
    prefix, _ = stack
    cw = boto3.client("cloudwatch")
    dims = [{"Name": "FunctionName", "Value": "spillway-dev"}]
    put_points(cw, "AWS/Lambda", "Duration", dims, 9000, [5 + 20 * i for i in range(9)])
    # A simple metric alarm of the same stack was evaluated on creation (notBreaching: OK).
    deadline = time.monotonic() + EVALUATION_WAIT_S
    while _alarm(cw, f"{prefix}-dlq-not-empty")["StateValue"] != "OK":
        assert time.monotonic() < deadline, "the DLQ alarm was never evaluated"
        time.sleep(0.5)
    for suffix in ("edge-p95-latency", "edge-error-rate", "edge-concurrency"):
        assert _alarm(cw, f"{prefix}-{suffix}")["StateValue"] == "INSUFFICIENT_DATA", suffix


def test_spillway_alarm_states_read_localstack_evaluations(stack):
    """``alarm_states(source="cloudwatch")`` (what ``spillway alarms --states`` prints on AWS)
    over LocalStack: every alarm of the template is deployed, none MISSING, and the ALARM
    state an evaluation set is the one reported."""
    from spillway.ops.alarms import alarm_definitions, alarm_states

    prefix, _ = stack
    cw = boto3.client("cloudwatch")
    alarms = alarm_definitions(prefix=prefix)
    dims = [{"Name": "QueueName", "Value": f"{prefix}-dlq"}]
    put_points(cw, "AWS/SQS", "ApproximateNumberOfMessagesVisible", dims, 2, [4])
    assert evaluate_now(cw, f"{prefix}-dlq-not-empty")["StateValue"] == "ALARM"
    states = {s["name"]: s["state"] for s in alarm_states(alarms, source="cloudwatch",
                                                           cloudwatch=cw)}
    assert "MISSING" not in states.values(), states
    assert states[f"{prefix}-dlq-not-empty"] == "ALARM"

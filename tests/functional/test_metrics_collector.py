"""The scheduled metrics collector through ``chalice.test.Client`` on both backends, into the
``edge_function_metrics`` table of a real PostgreSQL, and the dashboard queries over it:
``get_queue_depth()``, ``hourly_concurrency_trends``, ``queue_processing_performance``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from chalicelib.collector.wiring import build_collector
from chalicelib.core.edge_window import EdgeWindow
from chalicelib.ports import QUEUES
from tests.functional.conftest import PREFIX

SMALL = {"action": "opened", "issue": {"id": 1, "number": 1, "title": "hello"}}
CHECK_RUN = {"action": "completed", "check_run": {"id": 1}}


def scheduled_event(worker):
    return worker.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={},
        resources=["arn:aws:events:us-east-1:123456789012:rule/spillway-dev-collect_metrics"])


def rows(url: str, sql: str, *args) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()


def test_collector_writes_a_row_and_get_queue_depth_reads_it(worker):
    for _ in range(3):
        assert worker.post(SMALL, event="issues").status == 202
    assert worker.post(CHECK_RUN, event="check_run").status == 202
    depths = {q: worker.queue.stats(q).visible for q in QUEUES}
    # check_run is a batch-target event: its own queue, counted like the others
    assert depths["high"] == 3 and depths["batch"] == 1 and sum(depths.values()) == 4

    row = worker.client.lambda_.invoke("collect_metrics", scheduled_event(worker)).payload
    assert row["high_depth"] == 3 and row["batch_depth"] == 1 and row["heavy_depth"] == 0
    assert row["breaker_state"] is None and row["notes"]["breaker_state"] == "breaker disabled"
    if worker.backend == "aws":  # moto's GetMetricData has no datapoints: nulls with reasons
        assert row["source"] == "cloudwatch"
        assert row["p95_latency_ms"] is None and "p95" in row["notes"]["p95_latency_ms"]
    else:
        assert row["notes"]["edge"].startswith("METRICS_FIGURES=none")

    got = rows(worker.app_db, "SELECT priority, depth FROM get_queue_depth()")
    assert got == [(q, depths[q]) for q in ("high", "medium", "low", "heavy", "batch", "dlq")]
    (trend,) = rows(worker.app_db, "SELECT samples, max_queue_depth FROM "
                                   "hourly_concurrency_trends")
    assert trend == (1, 4)


def test_local_figures_trends_and_processing_performance(worker):
    worker.configure(BREAKER_ENABLED="true")
    window = EdgeWindow()
    for latency_s, status in [(0.010, 202)] * 18 + [(0.200, 202), (0.900, 503)]:
        window.started()
        window.finished(status, latency_s)
    row = build_collector(window=window).run()
    assert row["source"] == "local" and row["breaker_state"] == "closed"
    assert row["p95_latency_ms"] == 200.0 and row["error_rate_pct"] == 5.0
    assert row["peak_concurrency"] == 1 and row["current_concurrency"] == 0
    empty = build_collector(window=window).run()  # a window without requests
    assert empty["p95_latency_ms"] is None and empty["notes"]["p95_latency_ms"]

    (trend,) = rows(worker.app_db, "SELECT samples, peak_concurrency, max_p95_latency_ms, "
                                   "avg_error_rate_pct FROM hourly_concurrency_trends")
    assert trend[0] == 2 and trend[1] == 1 and float(trend[2]) == 200.0
    assert float(trend[3]) == 5.0

    ids = [str(uuid.uuid4()) for _ in range(2)]
    for delivery in ids:
        assert worker.post(SMALL, delivery=delivery).status == 202
    assert worker.invoke_worker("high", worker.receive("high", 2)) == {"batchItemFailures": []}
    perf = {r[0]: r[1:] for r in rows(worker.app_db, "SELECT priority, completed, failed, "
                                                     "avg_processing_s FROM "
                                                     "queue_processing_performance")}
    assert list(perf) == ["high", "medium", "low"]
    assert perf["high"][:2] == (2, 0) and float(perf["high"][2]) >= 0
    assert perf["low"] == (0, 0, None)


def test_rows_past_the_retention_are_deleted(worker):
    worker.configure(METRICS_RETENTION_DAYS="2")
    old = datetime.now(UTC) - timedelta(days=3)
    with psycopg.connect(worker.app_db) as conn:
        conn.execute("INSERT INTO edge_function_metrics (collected_at, source, high_depth, "
                     "medium_depth, low_depth, dlq_depth) VALUES (%s, 'local', 0, 0, 0, 0), "
                     "(%s, 'local', 7, 0, 0, 0)", (old, datetime.now(UTC) - timedelta(days=1)))
    row = build_collector().run()
    assert row["pruned"] == 1
    assert [r[0] for r in rows(worker.app_db, "SELECT high_depth FROM edge_function_metrics "
                                              "ORDER BY collected_at")] == [7, 0]


def test_local_alarm_states_from_collector_rows(worker):
    """``spillway --local alarms --states``: the DLQ alarm goes to ALARM on the first collector
    row that sees a dead-lettered message, the others stay OK or have no local figure."""
    from spillway.ops.alarms import alarm_definitions, alarm_states

    alarms = alarm_definitions(prefix=PREFIX)
    build_collector().run()
    before = {s["name"]: s["state"] for s in alarm_states(alarms, source="local")}
    assert before[f"{PREFIX}-dlq-not-empty"] == "OK"
    assert before[f"{PREFIX}-high-queue-depth"] == "OK"
    assert before[f"{PREFIX}-signature-failures"] == "INSUFFICIENT_DATA"

    worker.queue.send("dlq", '{"not": "an envelope"}', {"error": "test"})
    build_collector().run()
    after = {s["name"]: s for s in alarm_states(alarms, source="local")}
    assert after[f"{PREFIX}-dlq-not-empty"]["state"] == "ALARM"
    assert "1 of 1 period" in after[f"{PREFIX}-dlq-not-empty"]["reason"]
    assert after[f"{PREFIX}-high-queue-depth"]["state"] == "OK"


def test_cloudwatch_alarm_states_read_describe_alarms(aws_env):
    """On AWS the states are CloudWatch's (here the moto server's, over HTTP): an alarm put
    and set to ALARM is reported so; one not deployed is MISSING."""
    import boto3

    from spillway.ops.alarms import alarm_definitions, alarm_states

    alarms = alarm_definitions(prefix="cwtest")
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    dlq = next(a for a in alarms if a["id"] == "DeadLetterAlarm")
    cw.put_metric_alarm(AlarmName=dlq["name"], Namespace="AWS/SQS",
                        MetricName="ApproximateNumberOfMessagesVisible", Statistic="Maximum",
                        Period=60, EvaluationPeriods=1, Threshold=0,
                        ComparisonOperator="GreaterThanThreshold")
    cw.set_alarm_state(AlarmName=dlq["name"], StateValue="ALARM", StateReason="a test")
    states = {s["name"]: s for s in alarm_states(alarms, source="cloudwatch", cloudwatch=cw)}
    assert states[dlq["name"]]["state"] == "ALARM"
    assert states[dlq["name"]]["reason"] == "a test"
    assert states["cwtest-breaker-trips"]["state"] == "MISSING"


def test_cloudwatch_figures_from_getmetricdata(aws_env):
    """The AWS source over the moto server's CloudWatch: concurrency (newest and peak),
    throttles and the error-and-throttle rate of the edge, the queues' oldest ages."""
    import boto3

    from chalicelib.collector.sources import cloudwatch_figures

    cw = boto3.client("cloudwatch", region_name="us-east-1")
    now = datetime.now(UTC).replace(second=30, microsecond=0)
    fn = [{"Name": "FunctionName", "Value": "edge-fn"}]

    def put(namespace, metric, dims, value, minutes_ago):
        cw.put_metric_data(Namespace=namespace, MetricData=[{
            "MetricName": metric, "Dimensions": dims, "Value": value,
            "Timestamp": now - timedelta(minutes=minutes_ago)}])

    put("AWS/Lambda", "ConcurrentExecutions", fn, 9, 2)
    put("AWS/Lambda", "ConcurrentExecutions", fn, 4, 1)
    put("AWS/Lambda", "Invocations", fn, 95, 1)
    put("AWS/Lambda", "Errors", fn, 5, 1)
    put("AWS/Lambda", "Throttles", fn, 5, 1)
    put("AWS/SQS", "ApproximateAgeOfOldestMessage", [{"Name": "QueueName", "Value": "q-high"}],
        42, 1)
    row = cloudwatch_figures(cw, "edge-fn", {"high": "q-high", "low": "q-low"}, 10,
                             now=now + timedelta(seconds=5))
    assert row["source"] == "cloudwatch" and row["concurrency_limit"] == 10
    assert (row["current_concurrency"], row["peak_concurrency"]) == (4, 9)
    assert row["throttled_requests"] == 5
    assert row["error_rate_pct"] == 10.0  # 100 * (5 + 5) / (95 + 5)
    assert row["high_oldest_age_s"] == 42.0 and "low_oldest_age_s" not in row

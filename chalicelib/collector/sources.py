"""Where the collector's figures come from (thin adapters; each returns a dict of
``edge_function_metrics`` columns plus ``notes`` explaining any None).

* :func:`queue_figures`: the queue port's stats (SQS ``GetQueueAttributes`` or the postgres
  backend's tables): depth = visible messages; oldest age in seconds where the backend tells
  it (postgres; SQS has no such attribute: :func:`cloudwatch_figures` reads it);
* :func:`breaker_figures`: the shared breaker item's state;
* :func:`lift_figures`: not a figure but the minute's chore: an expired tier lift is reverted;
* :func:`cloudwatch_figures` (AWS): one ``GetMetricData`` call over the last
  :data:`LOOKBACK_S` seconds -- AWS/Lambda ``ConcurrentExecutions`` (Maximum), ``Throttles``,
  ``Errors``, ``Invocations`` (Sum), ``Duration`` (p95, ms) of the edge, and AWS/SQS
  ``ApproximateAgeOfOldestMessage`` (Maximum) per queue; the newest 60 s datapoint is "current",
  the highest in the lookback the peak. CloudWatch metrics arrive 1-3 min late (AWS docs,
  "Lambda metrics"), hence the lookback;
* :func:`window_figures` (local stack): the edge process's own :class:`EdgeWindow`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.breaker_item import breaker_key
from chalicelib.core.breaker import BreakerState
from chalicelib.core.edge_window import EdgeWindow
from chalicelib.ports import DLQ, WORK_QUEUES, QueuePort, StatePort

#: Seconds of CloudWatch history read per run.
LOOKBACK_S = 300
PERIOD_S = 60


def queue_figures(queue: QueuePort) -> dict[str, Any]:
    """``<queue>_depth``, ``<queue>_oldest_age_s`` (None when the backend cannot tell) per work
    queue (high, medium, low, heavy, batch) and ``dlq_depth``. Raises the queue's
    :mod:`chalicelib.errors`."""
    row: dict[str, Any] = {}
    for priority in WORK_QUEUES:
        stats = queue.stats(priority)
        row[f"{priority}_depth"] = stats.visible
        row[f"{priority}_oldest_age_s"] = stats.oldest_age_s if stats.oldest_age_s else None
    row["dlq_depth"] = queue.stats(DLQ).visible
    return row


def breaker_figures(state: StatePort | None, name: str) -> dict[str, Any]:
    """``breaker_state`` (``closed``, ``open``, ``half_open``, ``forced_open``), None with a
    note when the breaker is disabled or its store cannot be read."""
    if state is None:
        return {"breaker_state": None, "notes": {"breaker_state": "breaker disabled"}}
    try:
        item = state.get(breaker_key(name))
    except Exception as exc:  # the collector reports, it does not fail on one figure
        return {"breaker_state": None, "notes": {"breaker_state": f"unreadable: {exc}"}}
    return {"breaker_state": BreakerState.from_dict(item.data if item else None).state.value
            .lower()}


def lift_figures(state: StatePort, now: float) -> dict[str, Any]:
    """Revert a tier lift whose ``until`` is past (:func:`chalicelib.tier_lift.revert_expired`:
    clears ``tier#lift`` and writes the ``tier revert`` audit record, by ``collector``); a note
    ``tier_lift`` says what was reverted. No column: the row stays as it was. Store errors
    propagate (the runner notes them)."""
    from chalicelib.tier_lift import revert_expired

    lift = revert_expired(state, now)
    if lift is None:
        return {}
    return {"notes": {"tier_lift": f"reverted the lift {lift.from_tier} -> {lift.to} "
                                   f"(until {lift.until:.0f})"}}


def window_figures(window: EdgeWindow, limit: int) -> dict[str, Any]:
    """The local edge's figures since the previous call (throttles: none, the local API
    Gateway queues instead of throttling)."""
    f = window.take()
    notes = {} if f.requests else {"p95_latency_ms": "no request in the window",
                                   "error_rate_pct": "no request in the window"}
    return {"source": "local", "current_concurrency": f.current_in_flight,
            "peak_concurrency": f.peak_in_flight, "concurrency_limit": limit,
            "throttled_requests": 0, "p95_latency_ms": f.p95_latency_ms,
            "error_rate_pct": f.error_rate_pct, "notes": notes}


def _query(qid: str, namespace: str, metric: str, dims: dict[str, str], stat: str) -> dict:
    return {"Id": qid, "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": namespace, "MetricName": metric,
                   "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()]},
        "Period": PERIOD_S, "Stat": stat}}


def cloudwatch_figures(cloudwatch: Any, function_name: str, queue_names: dict[str, str],
                       limit: int, now: datetime | None = None) -> dict[str, Any]:
    """The edge's figures and the queues' oldest ages from CloudWatch (``cloudwatch`` a boto3
    client; ``queue_names`` work queue -> SQS queue name). Figures without a datapoint are None
    with a note. Raises botocore errors (the caller notes them)."""
    fn = {"FunctionName": function_name}
    queries = [_query("concurrency", "AWS/Lambda", "ConcurrentExecutions", fn, "Maximum"),
               _query("throttles", "AWS/Lambda", "Throttles", fn, "Sum"),
               _query("errors", "AWS/Lambda", "Errors", fn, "Sum"),
               _query("invocations", "AWS/Lambda", "Invocations", fn, "Sum"),
               _query("p95", "AWS/Lambda", "Duration", fn, "p95")]
    queries += [_query(f"age_{p}", "AWS/SQS", "ApproximateAgeOfOldestMessage",
                       {"QueueName": name}, "Maximum") for p, name in queue_names.items()]
    end = now or datetime.now(UTC)
    answer = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=end - timedelta(
        seconds=LOOKBACK_S), EndTime=end, ScanBy="TimestampDescending")
    values = {r["Id"]: r.get("Values") or [] for r in answer.get("MetricDataResults", [])}
    latest = {k: (v[0] if v else None) for k, v in values.items()}
    notes = {col: f"no {qid} datapoint in the last {LOOKBACK_S} s" for col, qid in (
        ("current_concurrency", "concurrency"), ("p95_latency_ms", "p95"),
        ("error_rate_pct", "invocations")) if latest.get(qid) is None}
    invocations, throttles = latest.get("invocations"), latest.get("throttles") or 0.0
    rate = None
    if invocations is not None:
        rate = 100.0 * ((latest.get("errors") or 0.0) + throttles) / max(
            invocations + throttles, 1.0)
    row = {"source": "cloudwatch", "concurrency_limit": limit,
           "current_concurrency": _int(latest.get("concurrency")),
           "peak_concurrency": _int(max(values.get("concurrency") or [], default=None)),
           "throttled_requests": _int(throttles), "p95_latency_ms": latest.get("p95"),
           "error_rate_pct": None if rate is None else round(rate, 3), "notes": notes}
    for priority in queue_names:
        age = latest.get(f"age_{priority}")
        if age is not None:
            row[f"{priority}_oldest_age_s"] = float(age)
    return row


def _int(value: float | None) -> int | None:
    return None if value is None else int(round(value))

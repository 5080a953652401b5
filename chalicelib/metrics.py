"""The one place metrics are recorded: EMF through a Powertools-style metrics object.

Every metric goes through :func:`count_metric` (counts, gauges) or :func:`latency_metric`
(durations); both are no-ops when ``metrics`` is None and never raise, so a metric can never
fail a delivery. Powertools writes them as CloudWatch Embedded Metric Format lines on stdout
when the handler flushes (``chalicelib.wiring.flush_metrics``): no CloudWatch API call on the
hot path (the Lambda log agent turns the lines into metrics).

Names, namespace ``Spillway``, dimension ``service=spillway`` (see :data:`METRIC_NAMES`):

* edge: ``AckLatency`` (ms, receipt to answer), ``DeliveriesAccepted``, ``DeliveriesRejected``
  plus one ``Rejected_<reason>`` per reason (the :class:`~chalicelib.errors.DeliveryRejected`
  code, e.g. ``Rejected_invalid_signature``), ``SignatureFailures`` (no concurrency gauge: on
  Lambda one process serves one request, the function-wide figure is AWS/Lambda
  ``ConcurrentExecutions``, free);
* workers: ``ProcessingLatency`` (ms, one record), ``DeliveriesStored``,
  ``DuplicatesSkipped``, ``DeliveriesRetried``, ``DeliveriesHeldBack``,
  ``DeliveriesDeadLettered``, ``SlotWaits``;
* breaker: ``BreakerTransitions``, ``BreakerRejectedCalls`` (refusals), ``BreakerTrips``
  (``shared_breaker``);
* collector (scheduled, ``chalicelib.collector``): ``QueueDepth_<queue>`` and
  ``OldestMessageAge_<queue>`` (seconds) for every work queue and the dead-letter queue
  (:func:`collector_metric_names`), on the ``postgres`` backend only: on ``aws`` the free
  AWS/SQS metrics ``ApproximateNumberOfMessagesVisible`` and ``ApproximateAgeOfOldestMessage``
  carry the same figures (the alarms and the dashboard read those).

Each name is one CloudWatch custom metric, billed per month (``spillway cost``), and every
value rides in the EMF log line, billed as ingested logs: a metric earns its place only if an
alarm, the dashboard or an operator reads it.
"""

from __future__ import annotations

from typing import Any

#: Metrics the edge, workers, breaker and collector emit (the dashboard and alarms use them).
EDGE_METRICS = ("AckLatency", "DeliveriesAccepted", "DeliveriesRejected", "SignatureFailures")
WORKER_METRICS = ("ProcessingLatency", "DeliveriesStored", "DuplicatesSkipped",
                  "DeliveriesRetried", "DeliveriesHeldBack", "DeliveriesDeadLettered",
                  "SlotWaits")
BREAKER_METRICS = ("BreakerTransitions", "BreakerRejectedCalls", "BreakerTrips")
METRIC_NAMES = EDGE_METRICS + WORKER_METRICS + BREAKER_METRICS


def collector_metric_names(backend: str) -> tuple[str, ...]:
    """The collector's per-minute gauges on ``backend``: ``QueueDepth_<queue>`` and
    ``OldestMessageAge_<queue>`` for each work queue (``chalicelib.ports.WORK_QUEUES``) and the
    dead-letter queue on ``postgres``; none on ``aws`` (AWS/SQS has them)."""
    from chalicelib.ports import DLQ, WORK_QUEUES

    if backend == "aws":
        return ()

    return tuple(f"{kind}_{q}" for kind in ("QueueDepth", "OldestMessageAge")
                 for q in (*WORK_QUEUES, DLQ))


def rejected_metric(reason: str) -> str:
    """The per-reason rejection metric: ``Rejected_<reason>`` (``reason`` a
    :class:`~chalicelib.errors.DeliveryRejected` code such as ``invalid_signature``)."""
    return f"Rejected_{reason}"


def count_metric(metrics: Any, name: str, value: float = 1, unit: str = "Count") -> None:
    """Add ``value`` (default 1) in ``unit`` (default ``Count``; CloudWatch unit names) to the
    metric ``name`` on ``metrics`` (duck-typed as Powertools ``Metrics.add_metric(name=...,
    unit=..., value=...)``). None records nothing; never raises."""
    if metrics is None:
        return
    try:
        metrics.add_metric(name=name, unit=unit, value=value)
    except Exception:  # a bad metric must never fail a delivery
        pass


def latency_metric(metrics: Any, name: str, seconds: float) -> None:
    """Record a duration given in **seconds** as the ``Milliseconds`` metric ``name``."""
    count_metric(metrics, name, round(max(0.0, seconds) * 1000.0, 3), unit="Milliseconds")

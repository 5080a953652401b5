"""Metrics and logs of the handlers through ``chalice.test.Client``, on both backends: the EMF
lines Powertools prints on stdout carry the edge's and the workers' metrics, and the log lines
(stderr) are JSON with the delivery id as ``correlation_id`` and the cold-start flag."""

from __future__ import annotations

import json
import uuid

import psycopg

SMALL = {"action": "opened", "issue": {"id": 1, "number": 1, "title": "hello"}}


def emf_metrics(stdout: str) -> dict[str, list[float]]:
    """Metric name -> values over every EMF line of ``stdout`` (namespace Spillway)."""
    found: dict[str, list[float]] = {}
    for line in stdout.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if not isinstance(doc, dict) or "_aws" not in doc:
            continue
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "Spillway"
        for metric in directive["Metrics"]:
            value = doc[metric["Name"]]
            found.setdefault(metric["Name"], []).extend(
                value if isinstance(value, list) else [value])
    return found


def json_logs(stderr: str) -> list[dict]:
    lines = [line for line in stderr.splitlines() if line.startswith("{")]
    return [json.loads(line) for line in lines]


def test_edge_emits_ack_latency_accepted_and_rejection_reasons(edge, capsys):
    edge.configure(POWERTOOLS_METRICS_DISABLED="false")
    capsys.readouterr()
    assert edge.post(SMALL).status == 202
    bad = str(uuid.uuid4())
    assert edge.post(SMALL, delivery=bad, signature="sha256=" + "0" * 64).status == 401
    assert edge.post(b"{not json", event="issues").status == 400
    out = capsys.readouterr()
    metrics = emf_metrics(out.out)
    assert metrics["DeliveriesAccepted"] == [1.0]
    assert sum(metrics["DeliveriesRejected"]) == 2
    assert metrics["Rejected_invalid_signature"] == [1.0]
    assert metrics["Rejected_malformed_payload"] == [1.0]
    assert metrics["SignatureFailures"] == [1.0]
    assert len(metrics["AckLatency"]) == 3 and all(v >= 0 for v in metrics["AckLatency"])
    # no per-process concurrency gauge: on Lambda always 1 (AWS/Lambda has the real figure)
    assert "ConcurrencyInUse" not in metrics
    (rejected,) = [r for r in json_logs(out.err) if "invalid_signature" in r["message"]]
    assert rejected["correlation_id"] == bad
    assert rejected["service"] == "spillway" and rejected["level"] == "INFO"
    assert rejected["cold_start"] is False  # the second invocation after the cold start


def test_first_invocation_logs_cold_start_true(edge, capsys):
    edge.configure(LOG_LEVEL="INFO")
    capsys.readouterr()
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for delivery in (first, second):
        assert edge.post(SMALL, delivery=delivery, signature="sha256=bad").status == 401
    records = {r["correlation_id"]: r for r in json_logs(capsys.readouterr().err)}
    assert records[first]["cold_start"] is True
    assert records[second]["cold_start"] is False


def test_worker_emits_processing_latency_stored_duplicates_and_retries(worker, capsys):
    worker.configure(POWERTOOLS_METRICS_DISABLED="false")
    delivery = str(uuid.uuid4())
    assert worker.post(SMALL, delivery=delivery).status == 202
    (message,) = worker.receive("high", 1)
    capsys.readouterr()
    assert worker.invoke_worker("high", [message]) == {"batchItemFailures": []}
    assert worker.invoke_worker("high", [message]) == {"batchItemFailures": []}
    metrics = emf_metrics(capsys.readouterr().out)
    assert metrics["DeliveriesStored"] == [1.0]
    assert metrics["DuplicatesSkipped"] == [1.0]
    assert len(metrics["ProcessingLatency"]) == 2

    # The ledger row locked by another transaction (lock_not_available, transient): the
    # record is retried and its warning names the delivery.
    other = str(uuid.uuid4())
    assert worker.post(SMALL, delivery=other).status == 202
    (message,) = worker.receive("high", 1)
    capsys.readouterr()
    with psycopg.connect(worker.app_db) as holder:
        holder.execute(
            "INSERT INTO webhook_deliveries (hook_id, delivery_id, event, priority, "
            "received_at, payload, payload_bytes) VALUES (%s, %s, 'issues', 'high', now(), "
            "'{}', 2)", (message.attributes["hook_id"], other))
        failed = worker.invoke_worker("high", [message])
        holder.rollback()
    out = capsys.readouterr()
    assert len(failed["batchItemFailures"]) == 1
    assert emf_metrics(out.out)["DeliveriesRetried"] == [1.0]
    (retry,) = [r for r in json_logs(out.err) if "retry in" in r["message"]]
    assert retry["correlation_id"] == other
    assert retry["level"] == "WARNING" and retry["cold_start"] is False

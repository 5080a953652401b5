"""``dynamodb_requests_per_delivery``, ``sqs_requests_per_delivery``, ``s3_requests_per_delivery``:
AWS requests per delivery, counted at the boto3 clients, in steady state with the breaker closed;
``edge_aws_requests_per_delivery`` (the edge's share of all three) and
``edge_full_cpu_us_per_delivery`` (this process's CPU time in the edge handler per delivery:
the whole edge with its real clients, moto running in another process).

The edge and the worker run in this process exactly as ``app.py`` runs them
(:func:`chalicelib.wiring.handle_webhook`, :func:`chalicelib.wiring.handle_sqs`) against a moto
server provisioned from ``infra/template.yaml`` and an embedded PostgreSQL application database.
This module plays Lambda's SQS event source mapping: it receives batches of up to 10 records,
invokes the worker handler and deletes the records the handler did not report as failed. Its
receives and deletes are counted too (Lambda's pollers make them on your bill), separately.

Every HTTP request a client sends (botocore ``before-send``, retries included) is counted per
service, operation and phase (``edge``, ``worker``, ``event_source``). A warm-up pass runs
first (cold start: clients, breaker state, pool), then the measured pass. With Powertools
metrics switched on, the bytes the handlers print (EMF metric documents, i.e. CloudWatch log
ingestion) are counted per delivery as well; the wall time per delivery of the edge and of a
worker batch is recorded for the cost model, and the edge's CPU time (this thread's: the moto
server's work on the same cores is in the wall time, not in what a Lambda would spend).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
from collections import Counter
from typing import Any

from bench.corpus import SECRET, SignedDelivery, renamed
from bench.report import Figure
from chalicelib.ports import WORK_QUEUES

PREFIX = "bench"
SERVICES = ("dynamodb", "sqs", "s3")


class RequestCounter:
    """Counts requests sent by boto3 clients as ``(phase, service, operation) -> n``."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.phase = "warmup"

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-send", self._on_send)

    def _on_send(self, event_name: str = "", **_: Any) -> None:
        _, service, operation = (event_name.split(".") + ["", ""])[:3]
        self.counts[(self.phase, service, operation)] += 1

    def total(self, service: str, phases: tuple[str, ...] | None = None) -> int:
        return sum(n for (phase, svc, _), n in self.counts.items()
                   if svc == service and phase != "warmup" and (phases is None or phase in phases))

    def by_operation(self) -> dict[str, dict[str, int]]:
        """``{"<phase>.<service>": {"<Operation>": n}}`` for the measured phases."""
        out: dict[str, dict[str, int]] = {}
        for (phase, svc, op), n in sorted(self.counts.items()):
            if phase != "warmup":
                out.setdefault(f"{phase}.{svc}", {})[op] = n
        return out


class _CountingStdout(io.TextIOBase):
    """Counts the bytes printed, and the metric names of the EMF documents among them."""

    def __init__(self) -> None:
        self.bytes = 0
        self.metrics: set[str] = set()

    def write(self, s: str) -> int:
        self.bytes += len(s.encode("utf-8"))
        for line in s.splitlines():
            with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
                for directive in json.loads(line)["_aws"]["CloudWatchMetrics"]:
                    self.metrics.update(m["Name"] for m in directive["Metrics"])
        return len(s)


def environment(moto_url: str, app_db_url: str) -> dict[str, str]:
    """The variables the local stack gives the functions, for the moto server at ``moto_url``
    and the (migrated) application database at ``app_db_url``; metrics and the breaker on."""
    from spillway.local.embedded import FAKE_AWS_ENV
    from spillway.local.lambda_env import lambda_env

    return {**FAKE_AWS_ENV, "AWS_ENDPOINT_URL": moto_url, "DATABASE_URL": app_db_url,
            **lambda_env(backend="aws", prefix=PREFIX, secret=SECRET,
                         POWERTOOLS_METRICS_DISABLED="false", BREAKER_ENABLED="true")}


def _drive(corpus: list[SignedDelivery], counter: RequestCounter, phase_prefix: str = ""
           ) -> dict[str, Any]:
    """Send every delivery through the edge, then drain the queues through the worker.
    Returns wall seconds of the edge and worker phases, the stdout bytes they printed and
    the metric names in it."""
    from chalice.local import LambdaContext

    from chalicelib import wiring
    from spillway.local.event_source import sqs_event

    queue = wiring.get_queue()
    expected: Counter[str] = Counter()
    out = _CountingStdout()
    counter.phase = phase_prefix or "edge"
    edge_s = edge_cpu_s = 0.0
    with contextlib.redirect_stdout(out):
        for d in corpus:
            headers = renamed(d).headers
            started, cpu = time.perf_counter(), time.process_time()
            response = wiring.handle_webhook(headers, d.body,
                                             LambdaContext("edge", 512, 10_000))
            edge_cpu_s += time.process_time() - cpu
            edge_s += time.perf_counter() - started
            if response.status != 202:
                raise RuntimeError(f"edge answered {response.status} for {d.event}: "
                                   f"{response.body}")
            expected[response.body["queue"]] += 1
    edge_bytes, out.bytes = out.bytes, 0
    worker_s, batches = 0.0, 0
    for work_queue in WORK_QUEUES:
        done = 0
        while done < expected[work_queue]:
            counter.phase = phase_prefix or "event_source"
            messages = queue.receive(work_queue, 10, 30, 1)
            if not messages:
                continue
            counter.phase = phase_prefix or "worker"
            event = sqs_event(messages, f"arn:aws:sqs:us-east-1:123456789012:{PREFIX}-{work_queue}")
            started = time.perf_counter()
            with contextlib.redirect_stdout(out):
                answer = wiring.handle_sqs(event, LambdaContext(f"worker_{work_queue}", 512, 30_000),
                                           queue=work_queue)
            worker_s += time.perf_counter() - started
            batches += 1
            failed = {f["itemIdentifier"] for f in (answer or {}).get("batchItemFailures", [])}
            if failed:
                raise RuntimeError(f"worker reported failures on {work_queue}: {failed}")
            counter.phase = phase_prefix or "event_source"
            queue.delete(work_queue, [m.receipt_handle for m in messages])
            done += len(messages)
    return {"edge_s": edge_s, "edge_cpu_s": edge_cpu_s, "worker_s": worker_s, "batches": batches,
            "edge_stdout_bytes": edge_bytes, "worker_stdout_bytes": out.bytes,
            "metric_names": sorted(out.metrics)}


def provision_stack(env: dict[str, str]) -> None:
    """Create the template's queues, tables and bucket in the moto server of ``env``."""
    from chalicelib import wiring
    from spillway.deploy import provision

    with _environ(env):
        wiring.close()
        provision(PREFIX, max_receive_count=5)
        wiring.close()


@contextlib.contextmanager
def _environ(env: dict[str, str]):
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run(corpus: list[SignedDelivery], env: dict[str, str]) -> list[Figure]:
    """Count requests per delivery for ``corpus`` on the provisioned stack of ``env``
    (:func:`environment`, :func:`provision_stack`)."""
    from bench.edge_cpu import edge_path
    from chalicelib import edge_clients, wiring

    with _environ(env):
        wiring.close()
        counter = RequestCounter()
        for service in SERVICES:  # the workers' clients and the edge's own (deadline-sized)
            counter.attach(wiring.boto_client(service))
            counter.attach(edge_clients.edge_boto_client(service))
        print("  aws requests: warm-up pass", file=sys.stderr, flush=True)
        _drive(corpus, counter, phase_prefix="warmup")
        print(f"  aws requests: measured pass ({len(corpus)} deliveries)", file=sys.stderr,
              flush=True)
        timing = _drive(corpus, counter)
        wiring.close()
    n = len(corpus)
    detail = {
        "deliveries": n, "requests": counter.by_operation(),
        "edge_wall_ms_per_delivery": timing["edge_s"] / n * 1000,
        # this thread's CPU only: the wall time above also holds the emulator's own work
        "edge_cpu_ms_per_delivery": timing["edge_cpu_s"] / n * 1000,
        "worker_wall_ms_per_delivery": timing["worker_s"] / n * 1000,
        "worker_batches": timing["batches"],
        "deliveries_per_worker_invocation": n / max(timing["batches"], 1),
        "edge_log_bytes_per_delivery": timing["edge_stdout_bytes"] / n,
        "worker_log_bytes_per_delivery": timing["worker_stdout_bytes"] / n,
        "sqs_message_bytes": sorted(edge_path(d) for d in corpus),
        "body_bytes": sorted(len(d.body) for d in corpus),
        "metric_names": timing["metric_names"],
    }
    figures = []
    for service in SERVICES:
        per = {phase: counter.total(service, (phase,)) / n
               for phase in ("edge", "worker", "event_source")}
        figures.append(Figure(
            f"{service}_requests_per_delivery", sum(per.values()),
            "requests counted at the client over "
            + ", ".join(f"{k} {v:.2f}" for k, v in per.items()), "",
            {**detail, "per_phase": per}))
    edge_requests = sum(counter.total(service, ("edge",)) for service in SERVICES) / n
    figures.append(Figure(
        "edge_aws_requests_per_delivery", edge_requests,
        "DynamoDB + SQS + S3 requests the edge sends per accepted delivery; goal <= 2.05, "
        "one dedup write and one send", "",
        {"per_service": {service: counter.total(service, ("edge",)) / n
                         for service in SERVICES}, "deliveries": n}))
    figures.append(Figure(
        "edge_full_cpu_us_per_delivery", timing["edge_cpu_s"] / n * 1e6,
        "CPU of this process per delivery in wiring.handle_webhook, boto3 clients included, "
        "against the moto server in another process", "us",
        {"edge_wall_ms_per_delivery": timing["edge_s"] / n * 1000, "deliveries": n}))
    return figures

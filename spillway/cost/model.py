"""The monthly AWS bill of Spillway for a delivery volume: pure arithmetic, no I/O.

Inputs: a price table (:mod:`spillway.cost.inputs` reads ``prices.json``: us-east-1 list prices,
each with its source and date) and :class:`Usage`, what one delivery costs in requests, bytes
and milliseconds, as ``make bench`` measured it (or documented defaults, marked as such, when
there is no benchmark output). Every bill line is always present, at zero if unused.

Billing rules used (sources in ``prices.json``):

* SQS bills each 64 KB chunk of a request's payload as one request (:data:`SQS_CHUNK_BYTES`);
  a ``ReceiveMessage`` returning a batch carries the whole batch. Receives and deletes per
  delivery are the benchmark's, which drains full batches (about 10 a receive): a queue fed a
  few messages a second hands Lambda's pollers smaller batches, so there the real figure is
  higher (up to one receive and one delete per delivery), not lower.
* HTTP APIs are metered in 512 KB increments; REST APIs per call; Lambda function URLs have no
  charge of their own.
* Lambda bills duration rounded up to the millisecond, times the configured memory in GB
  (1 GB = 1024 MB). Memory comes from the tier plan (:func:`~chalicelib.core.concurrency.plan.
  build_plan`), per function: the edge's ``edge_memory_mb``; the measured deliveries go to the
  light workers (the benchmark drives the high / medium / low queues), whose memory is averaged
  with the plan's priority shares. The heavy and batch workers get none of them.
* DynamoDB on-demand: one write request unit per write of up to 1 KB, one read request unit per
  strongly consistent read of up to 4 KB (Spillway's items are below both sizes).
* CloudWatch Logs ingestion per GB (2**30 bytes); custom metrics and alarms per month.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from chalicelib.core.concurrency.plan import PRESETS, PlanError, TierPlan, build_plan

#: Tiers the model prices (the plan presets).
TIERS = tuple(PRESETS)

SQS_CHUNK_BYTES = 64 * 1024
HTTP_API_CHUNK_BYTES = 512 * 1024
GB = 1024 ** 3
APIS = ("rest", "http", "function-url")
ARCHES = ("x86_64", "arm64")
#: The original strategy's claims, USD per 10 million deliveries: the scaling strategy Spillway
#: answers (docs/DESIGN.md section 2c) put its monthly AWS bill at $50 per 10 M deliveries with
#: the work done in the webhook Lambda itself ("edge-only") and $55 with a queue and workers
#: between the webhook and the database ("hybrid", the shape Spillway has).
ORIGINAL_STRATEGY = {"edge_only_per_10m": 50.0, "hybrid_per_10m": 55.0}
ORIGINAL_STRATEGY_NOTE = ("the original scaling strategy (docs/DESIGN.md section 2c) claimed "
                          "$50 per 10 M deliveries with the work done in the webhook Lambda "
                          "(edge-only) and $55 with a queue and workers in between (hybrid, "
                          "Spillway's shape)")
#: Lambda's own log lines per invocation (START, END, REPORT): about 300 bytes. A documented
#: default, not measured (the benchmarks run the handlers in-process, without Lambda). The edge
#: is deployed with system log level WARN, which leaves them out (spillway/deploy_front.py).
LAMBDA_PLATFORM_LOG_BYTES = 300
#: Lambda's SQS event source starts 5 pollers per mapping, each long-polling (20 s) when the
#: queue is empty (AWS Lambda docs, "Using Lambda with Amazon SQS"): an upper bound of the empty
#: receives per month, times the plan's event source mappings (every worker's lanes).
SQS_POLLERS, SQS_LONG_POLL_S = 5, 20
#: Significant digits kept in :meth:`Estimate.to_dict` (float noise such as 5.0000100000000005).
JSON_DIGITS = 10
SECONDS_PER_MONTH = 30 * 24 * 3600

#: Units whose monthly quantity is not a count of things (GB-seconds, GB).
_FRACTIONAL_UNITS = ("GB-seconds", "GB ingested")
_DDB_WRITES = {"PutItem": 1, "UpdateItem": 1, "DeleteItem": 1, "TransactWriteItems": 2}
_DDB_READS = {"GetItem": 1, "Query": 1, "Scan": 1, "TransactGetItems": 2}
_SQS_PAYLOAD = ("SendMessage", "SendMessageBatch")
_S3_PUTS = ("PutObject", "CopyObject", "ListObjects", "ListObjectsV2")
_S3_GETS = ("GetObject", "HeadObject")


def chunks(size_bytes: float, chunk_bytes: int = SQS_CHUNK_BYTES) -> int:
    """Billed requests for one request carrying ``size_bytes`` bytes: one per started chunk of
    ``chunk_bytes``, at least one. Raises ValueError for a negative size."""
    if size_bytes < 0:
        raise ValueError(f"size must be >= 0 bytes, got {size_bytes}")
    return max(1, math.ceil(size_bytes / chunk_bytes))


@dataclass(frozen=True)
class Usage:
    """What one delivery uses, per delivery unless named otherwise.

    ``source`` says where the numbers come from; ``measured`` is False for documented defaults.
    ``sqs_ops``/``dynamodb_ops``/``s3_ops``: requests per delivery by API operation.
    ``sqs_message_bytes``/``body_bytes``: sizes (bytes) of the queue messages and request bodies
    of the corpus. ``edge_ms``: edge wall time per delivery (ms); ``edge_cpu_ms`` its CPU time
    and ``edge_requests`` its AWS requests per delivery; ``worker_ms``: worker wall time per
    delivery; ``deliveries_per_worker_invocation``: SQS batch fill; ``log_bytes``: bytes the
    handlers log per delivery; ``metric_names``: custom metrics the handlers emit.
    """

    source: str
    measured: bool
    sqs_ops: Mapping[str, float]
    dynamodb_ops: Mapping[str, float]
    s3_ops: Mapping[str, float]
    sqs_message_bytes: Sequence[int]
    body_bytes: Sequence[int]
    edge_ms: float
    worker_ms: float
    deliveries_per_worker_invocation: float
    log_bytes: float
    metric_names: Sequence[str]
    #: The edge's own CPU time per delivery (ms) and its AWS requests per delivery; with them
    #: the edge is billed for CPU + one in-region round trip per request instead of the wall
    #: time measured against the local emulator (whose own work on the same cores it holds).
    edge_cpu_ms: float | None = None
    edge_requests: float = 0.0


#: Used when there is no benchmark output: the request pattern of DESIGN.md (idempotency put +
#: update, one send, the event source's receive and delete of a 10-record batch), 10 KB
#: messages, 30 ms edge and 15 ms worker per delivery. NOT measured.
DEFAULT_USAGE = Usage(
    source="documented defaults (no benchmark output; run `make bench`)", measured=False,
    sqs_ops={"SendMessage": 1.0, "ReceiveMessage": 0.1, "DeleteMessageBatch": 0.1},
    dynamodb_ops={"PutItem": 1.0, "UpdateItem": 1.0}, s3_ops={},
    sqs_message_bytes=(10_240,), body_bytes=(9_000,), edge_ms=30.0, worker_ms=15.0,
    deliveries_per_worker_invocation=10.0, log_bytes=600.0,
    metric_names=("DeliveriesAccepted", "DeliveriesStored"))


@dataclass(frozen=True)
class Line:
    """One line of the bill: ``quantity`` of ``unit`` per month at ``unit_price`` USD."""

    name: str
    quantity: float
    unit: str
    unit_price: float
    usd_per_month: float
    usd_per_million_deliveries: float
    note: str = ""


@dataclass(frozen=True)
class Estimate:
    deliveries_per_month: int
    tier: str
    api: str
    arch: str
    lines: list[Line]
    usd_per_month: float
    usd_per_million_deliveries: float
    dominant: str
    usage_source: str
    usage_measured: bool
    original_strategy_per_million: dict[str, float] = field(default_factory=dict)
    original_strategy: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; floats kept to :data:`JSON_DIGITS` significant digits."""
        return _rounded(asdict(self))


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.{JSON_DIGITS}g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def light_worker_memory_mb(plan: TierPlan) -> float:
    """Memory (MB) of the worker a measured delivery lands on: the light workers' memory,
    weighted by the plan's priority shares (their queues are the priorities)."""
    light = [w for w in plan.workers if w.spec.target == "light"]
    weights = {w.name: plan.priority_shares.get(w.spec.queue, 0.0) for w in light}
    total = sum(weights.values())
    if not light or total <= 0:
        raise ValueError(f"tier plan {plan.name!r} has no light worker with a priority share")
    return sum(w.spec.memory_mb * weights[w.name] for w in light) / total


def plan_mappings(plan: TierPlan) -> int:
    """Event source mappings the plan deploys: one per lane of every worker function."""
    return sum(len(w.mappings) for w in plan.workers)


def _price(prices: Mapping[str, Any], key: str) -> float:
    try:
        return float(prices[key]["value"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"price table has no numeric {key}") from None


def _sum(ops: Mapping[str, float], weights: Mapping[str, int] | Sequence[str]) -> float:
    if isinstance(weights, Mapping):
        return sum(n * weights[op] for op, n in ops.items() if op in weights)
    return sum(n for op, n in ops.items() if op in weights)


def _sqs_billed_per_delivery(u: Usage) -> float:
    """SQS requests billed per delivery: sends by message chunks, receives by batch chunks,
    everything else (deletes, visibility changes) one each."""
    send_chunks = statistics.fmean(chunks(b) for b in u.sqs_message_bytes)
    batch_bytes = u.deliveries_per_worker_invocation * statistics.fmean(u.sqs_message_bytes)
    billed = 0.0
    for op, n in u.sqs_ops.items():
        if op in _SQS_PAYLOAD:
            billed += n * send_chunks
        elif op == "ReceiveMessage":
            billed += n * chunks(batch_bytes)
        else:
            billed += n
    return billed


def estimate(deliveries_per_month: int, *, prices: Mapping[str, Any], usage: Usage,
             tier: str = "pro", api: str | None = None, arch: str = "x86_64",
             alarms: int = 0, plan: TierPlan | None = None,
             scheduled_metric_names: Sequence[str] = ()) -> Estimate:
    """The bill for ``deliveries_per_month`` deliveries. ``prices`` is the ``"prices"`` object
    of ``prices.json``; ``alarms`` the CloudWatch alarms deployed (``infra/template.yaml``);
    ``plan`` the tier plan whose memory sizes, mappings and front are priced (default: preset
    ``tier``'s); ``api`` the front priced (default: the plan's ``front``);
    ``scheduled_metric_names`` the custom metrics the scheduled functions emit every minute
    (the collector's queue gauges: not in the benchmark, billed all month). Raises ValueError for a volume below 1, an unknown tier, API or architecture,
    or a price missing from the table."""
    if deliveries_per_month < 1:
        raise ValueError(f"deliveries per month must be at least 1, got {deliveries_per_month}")
    if plan is None:
        if tier not in TIERS:
            raise ValueError(f"unknown tier {tier!r}; one of {', '.join(TIERS)}")
        try:
            plan = build_plan(tier)
        except PlanError as exc:
            raise ValueError(str(exc)) from None
    tier = plan.name
    api = api or plan.front
    if api not in APIS:
        raise ValueError(f"unknown API {api!r}; one of {', '.join(APIS)}")
    if arch not in ARCHES:
        raise ValueError(f"unknown architecture {arch!r}; one of {', '.join(ARCHES)}")
    n = deliveries_per_month
    lines: list[Line] = []

    def add(name: str, quantity: float, unit: str, unit_price: float, per: float,
            note: str = "") -> None:
        if unit not in _FRACTIONAL_UNITS:  # counts of things are whole numbers
            quantity = math.ceil(quantity - 1e-9)
        usd = quantity * unit_price / per
        lines.append(Line(name, quantity, unit, unit_price, usd, usd / n * 1e6, note))

    if api == "rest":
        add("api_gateway", n, "REST API calls", _price(prices, "api_gateway_rest_per_million"),
            1e6)
    elif api == "http":
        factor = statistics.fmean(chunks(b, HTTP_API_CHUNK_BYTES) for b in usage.body_bytes)
        add("api_gateway", n * factor, "HTTP API calls (512 KB increments)",
            _price(prices, "api_gateway_http_per_million"), 1e6)
    else:
        add("api_gateway", 0, "none: Lambda function URL", 0.0, 1e6,
            "function URLs have no charge of their own")

    dpi = max(usage.deliveries_per_worker_invocation, 1.0)
    worker_invocations = n / dpi
    add("lambda_requests", n + worker_invocations, "invocations (edge + worker batches)",
        _price(prices, "lambda_requests_per_million"), 1e6)
    gb_s_price = _price(prices, f"lambda_gb_second_{arch}")
    edge_mb, worker_mb = plan.edge_memory_mb, light_worker_memory_mb(plan)
    edge_ms, edge_why = usage.edge_ms, "wall time measured against the local emulator"
    if usage.edge_cpu_ms is not None:
        trip = _price(prices, "aws_request_round_trip_ms")
        edge_ms = usage.edge_cpu_ms + usage.edge_requests * trip
        edge_why = (f"{usage.edge_cpu_ms:.1f} ms CPU + {usage.edge_requests:.2f} AWS requests x "
                    f"{trip:g} ms in-region round trip")
    add("lambda_duration_edge", n * math.ceil(edge_ms) / 1000 * edge_mb / 1024,
        "GB-seconds", gb_s_price, 1,
        f"{math.ceil(edge_ms)} ms x {edge_mb} MB per delivery: {edge_why}")
    batch_ms = math.ceil(usage.worker_ms * dpi)
    add("lambda_duration_worker", worker_invocations * batch_ms / 1000 * worker_mb / 1024,
        "GB-seconds", gb_s_price, 1, f"{batch_ms} ms x {worker_mb:g} MB (light workers) per "
        f"batch of {dpi:.1f}")
    sqs_price = _price(prices, "sqs_standard_per_million")
    add("sqs_requests", n * _sqs_billed_per_delivery(usage), "requests (64 KB chunks)",
        sqs_price, 1e6)
    mappings = plan_mappings(plan)
    idle = SQS_POLLERS * mappings * SECONDS_PER_MONTH / SQS_LONG_POLL_S
    add("sqs_idle_polling", idle, "empty receives (upper bound)", sqs_price, 1e6,
        f"{SQS_POLLERS} pollers x {mappings} mappings ({len(plan.workers)} worker functions' "
        f"lanes), {SQS_LONG_POLL_S} s long polls")
    add("dynamodb_writes", n * _sum(usage.dynamodb_ops, _DDB_WRITES), "write request units",
        _price(prices, "dynamodb_write_request_unit_per_million"), 1e6)
    add("dynamodb_reads", n * _sum(usage.dynamodb_ops, _DDB_READS), "read request units",
        _price(prices, "dynamodb_read_request_unit_per_million"), 1e6)
    add("s3_puts", n * _sum(usage.s3_ops, _S3_PUTS), "PUT requests (claim checks)",
        _price(prices, "s3_put_per_thousand"), 1e3)
    add("s3_gets", n * _sum(usage.s3_ops, _S3_GETS), "GET requests (claim checks)",
        _price(prices, "s3_get_per_thousand"), 1e3)
    # The edge's platform lines are off (SystemLogLevel WARN, spillway/deploy_front.py
    # EDGE_LOGGING); the workers keep theirs.
    log_bytes = n * usage.log_bytes + worker_invocations * LAMBDA_PLATFORM_LOG_BYTES
    add("cloudwatch_logs", log_bytes / GB, "GB ingested",
        _price(prices, "cloudwatch_logs_ingestion_per_gb"), 1,
        f"{usage.log_bytes:.0f} B handler output (EMF) per delivery + "
        f"{LAMBDA_PLATFORM_LOG_BYTES} B Lambda START/END/REPORT lines per worker invocation; "
        "none per edge invocation (system log level WARN)")
    metrics = sorted(set(usage.metric_names) | set(scheduled_metric_names))
    add("cloudwatch_metrics", len(metrics), "custom metrics (each billed all month)",
        _price(prices, "cloudwatch_custom_metric_per_month"), 1,
        f"{len(set(usage.metric_names))} emitted in the benchmark's steady state + "
        f"{len(set(scheduled_metric_names) - set(usage.metric_names))} by the scheduled "
        "collector: " + ", ".join(metrics) + "; those sent only on faults (rejections, retries, "
        "breaker, slots; chalicelib/metrics.py) are billed by the hour they are sent, not here")
    add("cloudwatch_alarms", alarms, "alarms", _price(prices, "cloudwatch_alarm_per_month"), 1,
        "AWS::CloudWatch::Alarm resources in infra/template.yaml")

    total = sum(line.usd_per_month for line in lines)
    dominant = max(lines, key=lambda line: line.usd_per_month).name
    return Estimate(n, tier, api, arch, lines, total, total / n * 1e6, dominant, usage.source,
                    usage.measured, {k.replace("_per_10m", "_per_million"): v / 10
                                     for k, v in ORIGINAL_STRATEGY.items()},
                    ORIGINAL_STRATEGY_NOTE)


_API_NAMES = {"rest": "API Gateway REST API", "http": "API Gateway HTTP API",
              "function-url": "Lambda function URL"}


def _quantity(line: Line) -> str:
    """Whole numbers with thousands separators; GB-seconds and GB with two decimals."""
    if line.unit in _FRACTIONAL_UNITS:
        return f"{line.quantity:,.2f}"
    return f"{int(line.quantity):,}"


def render(e: Estimate) -> str:
    """The estimate as a table a person reads: per line the monthly quantity and unit, USD per
    month and USD per million deliveries, each line's note under it."""
    out = [f"Spillway on AWS us-east-1: {e.deliveries_per_month:,} deliveries a month, tier "
           f"{e.tier}, front: {_API_NAMES.get(e.api, e.api)} ({e.api}), Lambda on {e.arch}",
           f"usage per delivery: {e.usage_source}", "",
           f"{'line':<24}{'quantity a month':>20}  {'unit':<40}{'USD a month':>12}"
           f"{'USD per 1 M deliveries':>24}"]
    for line in e.lines:
        out.append(f"{line.name:<24}{_quantity(line):>20}  {line.unit:<40}"
                   f"{line.usd_per_month:>12.2f}{line.usd_per_million_deliveries:>24.3f}")
        if line.note:
            out.append(f"{'':<26}({line.note})")
    out += [f"{'total':<86}{e.usd_per_month:>12.2f}{e.usd_per_million_deliveries:>24.3f}", "",
            f"largest line: {e.dominant}",
            "this estimate: ${:.2f} per million deliveries; {}: ${:.2f} and ${:.2f} per million"
            .format(e.usd_per_million_deliveries, e.original_strategy,
                    e.original_strategy_per_million["edge_only_per_million"],
                    e.original_strategy_per_million["hybrid_per_million"])]
    if not e.usage_measured:
        out.append("NOTE: no benchmark output was found; the usage above is documented "
                   "defaults, not measurements")
    return "\n".join(out)

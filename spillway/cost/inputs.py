"""What the cost model reads: the price table, the benchmark results, the deployed alarms.

* ``prices.json`` beside this module (region, date, and per price: value, unit, source URL,
  date read, how it was verified);
* the results file of ``make bench`` (``.spillway/bench/last.json``, written by
  ``bench/report.py``): the AWS requests per delivery by operation, message and body sizes,
  wall time per delivery of the edge and the worker, bytes logged, metric names;
* ``infra/template.yaml``: how many ``AWS::CloudWatch::Alarm`` resources are deployed;
* the stage's tier plan (``.chalice/tier-<stage>.json``) when a stage is priced, and the
  custom metrics the scheduled collector emits (``chalicelib.metrics``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spillway.cost.model import DEFAULT_USAGE, Usage

PRICES_PATH = Path(__file__).resolve().parent / "prices.json"
BENCH_PATH = Path(".spillway") / "bench" / "last.json"
TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"
#: The figure whose ``detail`` carries the shared AWS measurements (bench/aws_requests.py).
_AWS_FIGURE = "sqs_requests_per_delivery"


def load_prices(path: Path = PRICES_PATH) -> dict[str, Any]:
    """The price table at ``path``. Raises ValueError if it is not one."""
    try:
        table = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the price table {path}: {exc}") from None
    if not isinstance(table, dict) or not isinstance(table.get("prices"), dict):
        raise ValueError(f"{path}: no 'prices' object")
    return table


def usage_from_results(doc: Mapping[str, Any], where: str = "benchmark results") -> Usage:
    """:class:`Usage` from a ``make bench`` results document. Raises ValueError when the
    document lacks the AWS request figures."""
    try:
        detail = doc["figures"][_AWS_FIGURE]["detail"]
        n = float(detail["deliveries"])
        ops: dict[str, dict[str, float]] = {"sqs": {}, "dynamodb": {}, "s3": {}}
        for phase_service, counts in detail["requests"].items():
            service = phase_service.split(".", 1)[1]
            for op, count in counts.items():
                if service in ops:
                    ops[service][op] = ops[service].get(op, 0.0) + count / n
        return Usage(
            source=f"{where}, measured {doc.get('measured_at', '?')} on "
                   f"{doc.get('corpus', {}).get('deliveries', '?')} corpus deliveries",
            measured=True, sqs_ops=ops["sqs"], dynamodb_ops=ops["dynamodb"], s3_ops=ops["s3"],
            sqs_message_bytes=tuple(detail["sqs_message_bytes"]),
            body_bytes=tuple(detail["body_bytes"]),
            edge_ms=float(detail["edge_wall_ms_per_delivery"]),
            worker_ms=float(detail["worker_wall_ms_per_delivery"]),
            deliveries_per_worker_invocation=float(detail["deliveries_per_worker_invocation"]),
            log_bytes=float(detail["edge_log_bytes_per_delivery"])
            + float(detail["worker_log_bytes_per_delivery"]),
            metric_names=tuple(detail.get("metric_names", ())),
            edge_cpu_ms=(float(detail["edge_cpu_ms_per_delivery"])
                         if "edge_cpu_ms_per_delivery" in detail else None),
            edge_requests=sum(c for phase_service, counts in detail["requests"].items()
                              if phase_service.startswith("edge.")
                              for c in counts.values()) / n)
    except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError) as exc:
        raise ValueError(f"{where}: no usable {_AWS_FIGURE} measurements ({exc!r})") from None


def load_usage(path: Path = BENCH_PATH) -> Usage:
    """:class:`Usage` from the results file at ``path``; :data:`~spillway.cost.model.
    DEFAULT_USAGE` (marked as not measured) when there is no such file. Raises ValueError when
    the file exists but is not usable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return DEFAULT_USAGE
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    return usage_from_results(doc, str(path))


def count_alarms(path: Path = TEMPLATE_PATH) -> int:
    """``AWS::CloudWatch::Alarm`` resources in the template at ``path`` (0 if it is absent)."""
    try:
        return Path(path).read_text(encoding="utf-8").count("Type: AWS::CloudWatch::Alarm")
    except FileNotFoundError:
        return 0


def stage_plan(stage: str):
    """The tier plan of ``stage`` as packaging reads it (``.chalice/tier-<stage>.json``, else the
    default tier). Raises :class:`~chalicelib.errors.ConfigError` for a plan that breaks a
    rule."""
    from chalicelib.tier_plan import stage_plan as packaged_plan

    return packaged_plan({"SPILLWAY_STAGE": stage})


def scheduled_metric_names() -> tuple[str, ...]:
    """The custom metrics the scheduled collector emits every minute on the ``aws`` backend
    (not in the benchmark; none today: AWS/SQS has the queue figures)."""
    from chalicelib.metrics import collector_metric_names

    return collector_metric_names("aws")

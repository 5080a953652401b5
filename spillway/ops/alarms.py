"""The CloudWatch alarms of ``infra/template.yaml`` and their states.

:func:`alarm_definitions` reads the alarms from the template itself (the one source of truth:
what ``spillway alarms`` lists is what is deployed); :func:`alarm_states` asks CloudWatch
(``DescribeAlarms``) on AWS, or evaluates each alarm locally from the collector's
``edge_function_metrics`` rows (:mod:`spillway.ops.alarm_eval`) on the local stack, whose moto
server never evaluates alarms.

Each alarm's ``AlarmDescription`` names the runbook verb that answers it as
``Runbook: `spillway <verb>```; RUNBOOK.md has one entry per alarm.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from spillway.ops.alarm_eval import evaluate
from spillway.paths import INFRA_TEMPLATE

RUNBOOK_RE = re.compile(r"Runbook:\s*`spillway ([a-z][a-z -]*?)`")
_SUB_RE = re.compile(r"\$\{([A-Za-z0-9:]+)\}")


def load_template(path: Path = INFRA_TEMPLATE) -> dict[str, Any]:
    """The CloudFormation template at ``path`` as plain data; short-form intrinsics become
    their long form (``!Sub x`` -> ``{"Fn::Sub": x}``, ``!Ref x`` -> ``{"Ref": x}``).
    Raises OSError or ``yaml.YAMLError``."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def intrinsic(loader, suffix, node):
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}

    Loader.add_multi_constructor("!", intrinsic)
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=Loader)  # noqa: S506


def _resolve(value: Any, params: Mapping[str, Any], resources: Mapping[str, Any]) -> Any:
    """``Fn::Sub`` / ``Ref`` of template parameters, and ``Fn::GetAtt`` of a resource's own
    property (a queue's ``QueueName``), resolved to text; anything else as is."""
    if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        return _SUB_RE.sub(lambda m: str(params.get(m.group(1), m.group(0))), value["Fn::Sub"])
    if isinstance(value, dict) and "Ref" in value:
        return params.get(value["Ref"], value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target, _, attribute = str(value["Fn::GetAtt"]).partition(".")
        if isinstance(value["Fn::GetAtt"], list):
            target, attribute = value["Fn::GetAtt"]
        props = (resources.get(target) or {}).get("Properties") or {}
        if attribute in props:
            return _resolve(props[attribute], params, resources)
        return f"{target}.{attribute}"
    return value


def _dimensions(dims: Sequence[Mapping[str, Any]], resolve: Callable[[Any], Any]) -> str:
    shown = ", ".join(f"{d['Name']}={resolve(d['Value'])}" for d in dims or ())
    return f" ({shown})" if shown else ""


def _metric(props: Mapping[str, Any], resolve: Callable[[Any], Any]) -> tuple[str, str, float]:
    """(metric, statistic, period s) of a plain or a metric-math alarm."""
    if "MetricName" in props:
        stat = props.get("Statistic") or props.get("ExtendedStatistic")
        dims = _dimensions(props.get("Dimensions"), resolve)
        return (f"{props['Namespace']}/{props['MetricName']}{dims}", str(stat),
                float(props["Period"]))
    queries = props.get("Metrics") or []
    inputs = [q["MetricStat"] for q in queries if "MetricStat" in q]
    expression = resolve(next((q["Expression"] for q in queries if q.get("ReturnData")), ""))
    names = ", ".join(f"{i['Metric']['Namespace']}/{i['Metric']['MetricName']} ({i['Stat']})"
                      for i in inputs)
    return f"{expression} over {names}", "expression", float(inputs[0]["Period"])


def _parameters(template: Mapping[str, Any], given: Mapping[str, str] | None) -> dict[str, Any]:
    """The template's parameter defaults updated with ``given`` (default: what ``spillway deploy
    --stage dev`` passes, :func:`spillway.deploy.stage_parameters`, which the local stack also
    uses: ``ApiFunctionName`` and ``ApiReservedConcurrency`` have no default)."""
    params = {k: v.get("Default") for k, v in (template.get("Parameters") or {}).items()}
    if given is None:
        from spillway.deploy import stage_parameters

        given = dict(stage_parameters("dev"))
    params.update(given)
    return params


def alarm_definitions(path: Path = INFRA_TEMPLATE, prefix: str | None = None,
                      parameters: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Every ``AWS::CloudWatch::Alarm`` of the template at ``path``, in template order:
    ``{"id": logical id, "name", "metric", "dimensions" (name -> value, e.g. ``{"QueueName":
    "spillway-high"}``; empty for metric math), "watches" (the dimensions, or for metric math
    those of its input metrics, e.g. ``{"FunctionName": "spillway-dev"}``), "statistic", "threshold", "comparison",
    "period_s", "evaluation_periods", "runbook": verb (e.g. "breaker status") or None,
    "description"}``. ``parameters`` are the template parameters to resolve with (default:
    those ``spillway deploy --stage dev`` passes, :func:`spillway.deploy.stage_parameters`,
    which the local stack also uses); ``prefix`` then replaces ``Prefix``. Raises ValueError
    when the template cannot be read."""
    try:
        template = load_template(path)
    except Exception as exc:
        raise ValueError(f"cannot read the template {path}: {exc}") from None
    params = _parameters(template, parameters)
    if prefix:
        params["Prefix"] = prefix
    resources = template.get("Resources") or {}

    def resolve(value: Any) -> Any:
        return _resolve(value, params, resources)

    found = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        props = resource["Properties"]
        description = " ".join(str(resolve(props.get("AlarmDescription", ""))).split())
        verb = RUNBOOK_RE.search(description)
        metric, statistic, period = _metric(props, resolve)
        dimensions = {d["Name"]: str(resolve(d["Value"])) for d in props.get("Dimensions") or ()}
        watches = dict(dimensions)
        for query in props.get("Metrics") or ():  # a metric-math alarm: its inputs' dimensions
            for d in (query.get("MetricStat") or {}).get("Metric", {}).get("Dimensions") or ():
                watches[d["Name"]] = str(resolve(d["Value"]))
        found.append({"id": logical_id, "name": resolve(props["AlarmName"]),
                      "metric": " ".join(metric.split()), "dimensions": dimensions,
                      "watches": watches,
                      "statistic": statistic,
                      "threshold": float(props["Threshold"]),
                      "comparison": props["ComparisonOperator"],
                      "period_s": period, "evaluation_periods": int(props["EvaluationPeriods"]),
                      "runbook": verb.group(1).strip() if verb else None,
                      "description": description})
    return found


def _ratio(row: Mapping[str, Any]) -> float | None:
    peak, limit = row.get("peak_concurrency"), row.get("concurrency_limit")
    return None if peak is None or not limit else 100.0 * peak / limit


#: How the local stack figures each alarm from an ``edge_function_metrics`` row.
LOCAL_FIGURES: dict[str, Callable[[Mapping[str, Any]], float | None]] = {
    "HighQueueDepthAlarm": lambda r: r.get("high_depth"),
    "MediumQueueDepthAlarm": lambda r: r.get("medium_depth"),
    "LowQueueDepthAlarm": lambda r: r.get("low_depth"),
    "HeavyQueueDepthAlarm": lambda r: r.get("heavy_depth"),
    "BatchQueueDepthAlarm": lambda r: r.get("batch_depth"),
    "DeadLetterAlarm": lambda r: r.get("dlq_depth"),
    "EdgeLatencyAlarm": lambda r: r.get("p95_latency_ms"),
    "EdgeErrorRateAlarm": lambda r: r.get("error_rate_pct"),
    "EdgeConcurrencyAlarm": _ratio,
    "BreakerTripsAlarm": lambda r: r.get("trip"),
}
_OPEN = ("open", "forced_open")


def local_samples(rows: Sequence[Mapping[str, Any]], alarm_id: str
                  ) -> list[tuple[float, float | None]]:
    """(epoch s, value) of one alarm's figure over collector rows (oldest first, each with
    ``at``, epoch s). A breaker trip is a row that finds the breaker open after one that did
    not (so trips are seen at the collector's resolution)."""
    figure = LOCAL_FIGURES.get(alarm_id)
    if figure is None:
        return []
    out, before = [], None
    for row in rows:
        state = row.get("breaker_state")
        trip = None if state is None else float(state in _OPEN and before not in _OPEN)
        before = state
        out.append((float(row["at"]), figure({**row, "trip": trip})))
    return out


def _local_rows(window_s: float) -> list[dict[str, Any]]:
    from chalicelib import wiring
    from chalicelib.adapters.postgres.pool import pooled

    with pooled(wiring.app_pool()) as conn:
        cur = conn.execute(
            "SELECT extract(epoch FROM collected_at)::float8 AS at, * FROM edge_function_metrics "
            "WHERE collected_at >= now() - make_interval(secs => %s) ORDER BY collected_at, id",
            (window_s,))
        names = [c.name for c in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def alarm_states(definitions: Sequence[Mapping[str, Any]], *, source: str,
                 cloudwatch: Any = None, rows: Sequence[Mapping[str, Any]] | None = None,
                 now: float | None = None) -> list[dict[str, Any]]:
    """``[{"name", "state", "reason", "source"}]`` per definition. ``source="cloudwatch"``:
    ``DescribeAlarms`` (``cloudwatch`` a boto3 client, default the wiring's; an alarm not
    deployed is ``MISSING``). ``source="local"``: evaluated from ``rows`` (default: the
    application database's ``edge_function_metrics`` over the longest alarm window) at
    ``now`` (epoch s). Raises ValueError for another source; AWS and database errors as
    :mod:`chalicelib.errors`."""
    if source == "cloudwatch":
        from chalicelib import wiring

        client = cloudwatch or wiring.boto_client("cloudwatch")
        names = [d["name"] for d in definitions]
        seen: dict[str, dict] = {}
        from chalicelib.adapters.aws.errors import translate_aws_errors

        for start in range(0, len(names), 100):  # DescribeAlarms takes up to 100 names
            with translate_aws_errors("cloudwatch describe_alarms"):
                answer = client.describe_alarms(AlarmNames=names[start:start + 100])
            seen.update({a["AlarmName"]: a for a in answer.get("MetricAlarms", [])})
        return [{"name": n, "source": source,
                 "state": seen[n]["StateValue"] if n in seen else "MISSING",
                 "reason": seen[n].get("StateReason", "") if n in seen else "not deployed"}
                for n in names]
    if source != "local":
        raise ValueError(f"source must be cloudwatch or local, got {source!r}")
    now = time.time() if now is None else now
    if rows is None:
        window = max((d["period_s"] * d["evaluation_periods"] for d in definitions), default=0)
        rows = _local_rows(window + 60)
    out = []
    for d in definitions:
        result = evaluate(d, local_samples(rows, d["id"]), now)
        out.append({"name": d["name"], "source": source, "state": result["state"],
                    "reason": result["reason"]})
    return out


def dashboard_body(path: Path = INFRA_TEMPLATE, *, prefix: str | None = None,
                   region: str = "us-east-1", account_id: str = "123456789012",
                   partition: str = "aws") -> str:
    """The ``OperationsDashboard``'s ``DashboardBody`` as CloudFormation would substitute it
    (the dev stage's parameters, ``prefix`` for ``Prefix``): the JSON text ``PutDashboard`` takes.
    Raises ValueError when the template has no such dashboard."""
    template = load_template(path)
    try:
        body, variables = template["Resources"]["OperationsDashboard"]["Properties"][
            "DashboardBody"]["Fn::Sub"]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{path}: no OperationsDashboard with a two-part !Sub body") from None
    params = _parameters(template, None)
    params.update({"AWS::Region": region, "AWS::AccountId": account_id,
                   "AWS::Partition": partition})
    if prefix:
        params["Prefix"] = prefix
    resources = template.get("Resources") or {}
    params.update({k: _resolve(v, params, resources) for k, v in variables.items()})
    return _SUB_RE.sub(lambda m: str(params.get(m.group(1), m.group(0))), body)

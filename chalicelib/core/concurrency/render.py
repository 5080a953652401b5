"""Render a :class:`~chalicelib.core.concurrency.plan.TierPlan` for the places that read it.

* :func:`plan_dict` -- the whole plan, JSON-ready (``spillway tier plan NAME --json``).
* :func:`chalice_stage_config` -- the per-stage fragment of ``.chalice/config.json``
  (``{"lambda_functions": {name: {"reserved_concurrency", "lambda_timeout",
  "lambda_memory_size", "environment_variables"}}}``; the edge is Chalice's ``api_handler``),
  the environment being :func:`function_environment`'s: every number a function reads at run
  time (``chalicelib/settings.py``) comes from the plan too.
* :func:`sqs_subscriptions` -- what ``app.py`` passes to ``@app.on_sqs_message`` per worker
  function (lane 1's MaximumConcurrency: Chalice's mapping is lane 1), plus the lanes;
* :func:`lane_resources` -- the merge template's aliases and event source mappings of lanes 2..N.
* :func:`template_parameters` -- CloudFormation parameters for ``infra/`` (visibility timeouts).

Chalice takes whole seconds for ``lambda_timeout``: the edge timeout is rounded down, so it stays
under GitHub's 10 s.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from chalicelib.core.concurrency.plan import TierPlan

#: The edge's Chalice function: ``api_handler`` behind the REST API (Chalice's routes),
#: ``edge`` (``app.lambda_function``, ``chalicelib.fronts``) behind an HTTP API or function URL.
EDGE_FUNCTION = "api_handler"
PLAIN_EDGE_FUNCTION = "edge"


def edge_function(plan: TierPlan) -> str:
    """The Chalice name of the edge function for ``plan.front``: :data:`EDGE_FUNCTION` for
    ``rest``, :data:`PLAIN_EDGE_FUNCTION` for ``http`` and ``function-url``."""
    return EDGE_FUNCTION if plan.front == "rest" else PLAIN_EDGE_FUNCTION


def plan_dict(plan: TierPlan) -> dict[str, Any]:
    """The plan as plain JSON types: ``tier``, ``edge``, ``api_gateway``, ``workers`` (name ->
    settings, lanes as ``[{"lane", "maximum_concurrency"}]``), ``database`` (budget vs limit),
    ``slots`` (adaptive limit bounds, priority shares), ``queue_capacity``, ``account``."""
    return {
        "tier": plan.name,
        "edge": {"front": plan.front, "function": edge_function(plan),
                 "reserved_concurrency": plan.edge_concurrency,
                 "lambda_timeout": math.floor(plan.edge_timeout_s),
                 "lambda_memory_size": plan.edge_memory_mb},
        "api_gateway": {"rate_limit": plan.api_rate_limit, "burst_limit": plan.burst},
        "queue_capacity": plan.queue_capacity,
        "workers": {w.name: {
            **asdict(w.spec),
            "reserved_concurrency": w.reserved_concurrency,
            "maximum_concurrency": w.maximum_concurrency,
            "lanes": [asdict(m) for m in w.mappings],
            "visibility_timeout_s": w.visibility_timeout_s,
            "lease_s": w.lease_s,
        } for w in plan.workers},
        "database": {"pool_size": plan.pool_size, "edge_pool_size": plan.edge_pool_size,
                     "operator_reserve": plan.operator_reserve,
                     "db_connection_budget": plan.db_connection_budget,
                     "max_connections": plan.max_connections,
                     "superuser_reserved_connections": plan.superuser_reserved_connections,
                     "db_connection_limit": plan.db_connection_limit},
        "slots": {"enabled": plan.slots_enabled,
                  "min_limit": plan.slot_min_limit, "max_limit": plan.slot_max_limit,
                  "priority_shares": dict(plan.priority_shares)},
        "account": {"concurrency": plan.account_concurrency,
                    "unreserved_minimum": plan.account_unreserved_minimum,
                    "reserved_total": plan.edge_concurrency
                    + sum(w.reserved_concurrency for w in plan.workers)},
    }


#: The scheduled collector's function (its limit figures are the edge's concurrency).
COLLECTOR_FUNCTION = "collect_metrics"


def worker_environment(plan: TierPlan, lease_s: float) -> dict[str, str]:
    """The run-time settings of a worker whose slot leases live ``lease_s`` seconds
    (``chalicelib/settings.py`` keys, values as strings): ``SPILLWAY_TIER``, ``SLOTS_ENABLED``
    (the plan's ``slots_enabled``), ``SLOT_MIN_LIMIT`` / ``SLOT_MAX_LIMIT`` (the adaptive
    limit's bounds, slots), ``SLOT_LEASE_S`` (whole seconds, rounded up), ``SLOT_COUNT`` and
    ``DB_POOL_SIZE`` (the plan's ``pool_size``: connections one instance holds)."""
    return {"SPILLWAY_TIER": plan.name,
            "SLOTS_ENABLED": "true" if plan.slots_enabled else "false",
            "SLOT_MIN_LIMIT": str(plan.slot_min_limit),
            "SLOT_MAX_LIMIT": str(plan.slot_max_limit),
            "SLOT_LEASE_S": str(math.ceil(lease_s)),
            "SLOT_COUNT": str(plan.pool_size), "DB_POOL_SIZE": str(plan.pool_size)}


def function_environment(plan: TierPlan) -> dict[str, dict[str, str]]:
    """Per function, the environment variables the plan decides: the edge and the collector
    get ``SPILLWAY_TIER`` (the collector also ``EDGE_RESERVED_CONCURRENCY``, the limit of its
    concurrency figures); each worker :func:`worker_environment` with its own lease."""
    env = {edge_function(plan): {"SPILLWAY_TIER": plan.name},
           COLLECTOR_FUNCTION: {"SPILLWAY_TIER": plan.name,
                                "EDGE_RESERVED_CONCURRENCY": str(plan.edge_concurrency)}}
    for w in plan.workers:
        env[w.name] = worker_environment(plan, w.lease_s)
    return env


def chalice_stage_config(plan: TierPlan) -> dict[str, Any]:
    """``{"lambda_functions": {...}}`` for one stage of ``.chalice/config.json``: the edge
    (:func:`edge_function`: ``api_handler`` or ``edge``) and every worker function with ``reserved_concurrency``,
    ``lambda_timeout`` (whole seconds) and ``lambda_memory_size`` (MB), and every function of
    :func:`function_environment` (the collector too) with its ``environment_variables``."""
    functions: dict[str, dict[str, Any]] = {
        edge_function(plan): {"reserved_concurrency": plan.edge_concurrency,
                        "lambda_timeout": math.floor(plan.edge_timeout_s),
                        "lambda_memory_size": plan.edge_memory_mb}}
    for w in plan.workers:
        functions[w.name] = {"reserved_concurrency": w.reserved_concurrency,
                             "lambda_timeout": w.spec.timeout_s,
                             "lambda_memory_size": w.spec.memory_mb}
    for name, env in function_environment(plan).items():
        functions.setdefault(name, {})["environment_variables"] = env
    return {"lambda_functions": functions}


def sqs_subscriptions(plan: TierPlan) -> dict[str, dict[str, Any]]:
    """Per worker function: ``queue`` (the priority/target queue name without prefix),
    ``batch_size``, ``maximum_batching_window_in_seconds``, ``maximum_concurrency`` -- lane-1's
    share: Chalice's own ``@app.on_sqs_message`` mapping is lane 1, lanes 2..N are the merge
    template's (:func:`lane_resources`) -- ``function_maximum_concurrency`` (the sum over every
    lane's mapping, <= the function's reserved concurrency) and ``lanes`` (``[{"lane": "lane-1",
    "maximum_concurrency": n}, ...]``)."""
    return {w.name: {"queue": w.spec.queue, "batch_size": w.spec.batch_size,
                     "maximum_batching_window_in_seconds": w.spec.window_s,
                     "maximum_concurrency": w.mappings[0].maximum_concurrency,
                     "function_maximum_concurrency": w.maximum_concurrency,
                     "lanes": [asdict(m) for m in w.mappings]}
            for w in plan.workers}


def logical_id(function: str) -> str:
    """Chalice's CloudFormation logical id of function ``function``: ``worker_high`` ->
    ``WorkerHigh`` (aws/chalice ``package.py`` ``to_cfn_resource_name``)."""
    return "".join(part[:1].upper() + part[1:] for part in function.replace("-", "_").split("_"))


def lane_resources(plan: TierPlan, functions: Iterable[str], prefix: str) -> dict[str, Any]:
    """CloudFormation resources for lanes 2..N of each worker function in ``functions`` (the
    app's; a plan function the app lacks gets none, lane 1 is Chalice's own mapping): per lane an
    ``AWS::Lambda::Alias`` ``lane-k`` of the function (on ``$LATEST``, so every lane runs the
    deployed code until an operator points one at a published version: a canary) and an
    ``AWS::Lambda::EventSourceMapping`` from the function's queue ``<prefix>-<queue>`` to that
    alias, with ReportBatchItemFailures, the function's BatchSize and window, and the lane's
    ScalingConfig.MaximumConcurrency (2..1000; AWS Lambda docs, services-sqs-scaling)."""
    wanted = set(functions)
    resources: dict[str, Any] = {}
    for w in plan.workers:
        if w.name not in wanted:
            continue
        fn = logical_id(w.name)
        for m in w.mappings[1:]:
            alias = f"{fn}{logical_id(m.lane)}"
            resources[alias] = {"Type": "AWS::Lambda::Alias", "Properties": {
                "FunctionName": {"Ref": fn}, "FunctionVersion": "$LATEST", "Name": m.lane,
                "Description": f"{w.name} {m.lane} (spillway tier {plan.name})"}}
            resources[f"{alias}SqsEventSource"] = {
                "Type": "AWS::Lambda::EventSourceMapping", "Properties": {
                    "FunctionName": {"Ref": alias},
                    "EventSourceArn": {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:"
                                                  f"${{AWS::AccountId}}:{prefix}-{w.spec.queue}"},
                    "BatchSize": w.spec.batch_size,
                    "MaximumBatchingWindowInSeconds": w.spec.window_s,
                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                    "ScalingConfig": {"MaximumConcurrency": m.maximum_concurrency},
                    "Enabled": True}}
    return resources


def template_parameters(plan: TierPlan) -> dict[str, int]:
    """CloudFormation parameters of ``infra/template.yaml``: ``VisibilityTimeout<Queue>`` (s)
    per work queue (``High``, ``Medium``, ``Low``, ``Heavy``, ``Batch``), each the plan's value
    for the worker function consuming it (at least 6 x its timeout + its batching window).
    ``spillway.deploy.provision(visibility=...)`` takes this dict as it is."""
    return {f"VisibilityTimeout{w.spec.queue.capitalize()}": w.visibility_timeout_s
            for w in plan.workers}

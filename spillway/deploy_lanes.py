"""``spillway deploy``'s lanes step: after ``chalice deploy`` (whose one mapping per
``@app.on_sqs_message`` is lane 1, with lane 1's MaximumConcurrency share), create or update
lanes 2..N of each worker function as the merge template does on the CloudFormation path
(:func:`chalicelib.core.concurrency.render.lane_resources`): alias ``lane-k`` on ``$LATEST`` and
its own SQS event source mapping (ReportBatchItemFailures, the function's BatchSize and window,
the lane's ScalingConfig.MaximumConcurrency). Idempotent: an existing alias is kept (it may point
at a canary version on purpose), an existing mapping of that alias on that queue is updated.

Pure planner :func:`plan_lanes` (from the tier plan and Chalice's deployed-resources file) and
:func:`ensure_lane` (the I/O, on a boto3 Lambda client).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.core.concurrency.plan import TierPlan

RBIF = "ReportBatchItemFailures"


@dataclass(frozen=True)
class EnsureLane:
    """Alias ``lane`` of ``function_arn`` and its mapping from ``queue_arn``."""

    function: str
    function_arn: str
    lane: str
    queue_arn: str
    batch_size: int
    window_s: int
    maximum_concurrency: int


def plan_lanes(plan: TierPlan, deployed: Mapping[str, Any]) -> tuple[EnsureLane, ...]:
    """One :class:`EnsureLane` per lane 2..N of each worker function Chalice deployed with an
    SQS event (``deployed``: the parsed ``.chalice/deployed/<stage>.json``, shape in
    :func:`spillway.deploy.plan_event_source_updates`). Functions of the plan the app lacks are
    skipped."""
    resources = [r for r in deployed.get("resources", []) if isinstance(r, Mapping)]
    arns = {r.get("name"): r.get("lambda_arn") for r in resources
            if r.get("resource_type") == "lambda_function"}
    queues = {str(r.get("name", "")).removesuffix("-sqs-event-source"): r.get("queue_arn")
              for r in resources if r.get("resource_type") == "sqs_event"}
    out = []
    for w in plan.workers:
        if not arns.get(w.name) or not queues.get(w.name):
            continue
        for m in w.mappings[1:]:
            out.append(EnsureLane(w.name, arns[w.name], m.lane, queues[w.name],
                                  w.spec.batch_size, w.spec.window_s, m.maximum_concurrency))
    return tuple(out)


def describe(step: EnsureLane) -> str:
    return (f"lambda alias {step.function}:{step.lane} + event source mapping <- "
            f"{step.queue_arn.rsplit(':', 1)[-1]} MaximumConcurrency={step.maximum_concurrency}")


def ensure_lane(lambda_client: Any, step: EnsureLane) -> str:
    """Create or update the lane's alias and mapping; returns the mapping's UUID. botocore
    errors propagate (the command reports them)."""
    from botocore.exceptions import ClientError

    try:
        lambda_client.get_alias(FunctionName=step.function_arn, Name=step.lane)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        lambda_client.create_alias(FunctionName=step.function_arn, Name=step.lane,
                                   FunctionVersion="$LATEST")
    target = f"{step.function_arn}:{step.lane}"
    settings = {"BatchSize": step.batch_size, "MaximumBatchingWindowInSeconds": step.window_s,
                "FunctionResponseTypes": [RBIF],
                "ScalingConfig": {"MaximumConcurrency": step.maximum_concurrency}}
    found = [m for m in lambda_client.list_event_source_mappings(
        FunctionName=target, EventSourceArn=step.queue_arn).get("EventSourceMappings", [])]
    if found:
        uuid = found[0]["UUID"]
        lambda_client.update_event_source_mapping(UUID=uuid, **settings)
        return uuid
    return lambda_client.create_event_source_mapping(
        FunctionName=target, EventSourceArn=step.queue_arn, Enabled=True, **settings)["UUID"]

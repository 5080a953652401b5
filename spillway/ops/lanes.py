"""Operator verbs on the lanes (aliases ``lane-1..lane-N`` of each worker function):
:func:`status`, :func:`disable`, :func:`enable` -- each change by compare-and-set on the lane
item (:mod:`chalicelib.shared_lanes`) with an audit record (:mod:`spillway.ops.audit`, verbs
``lanes disable`` / ``lanes enable``), and on AWS the lane's own event source mapping switched
off or on (:class:`LaneMappings`: ``UpdateEventSourceMapping`` ``Enabled``), so Lambda itself
stops polling for that alias, not only the workers' view of it.

Which lanes exist comes from the tier plan (:func:`chalicelib.tier_plan.stage_plan`): every
worker function of ``plan.workers`` with its ``mappings``. An unknown function or lane is a
:class:`~chalicelib.errors.ConfigError` (the CLI prints it and exits 2).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib import shared_lanes
from chalicelib.core.concurrency import lanes as core
from chalicelib.core.concurrency.lanes import DEFAULT_LANE_CONFIG, LaneConfig
from chalicelib.core.concurrency.plan import TierPlan, WorkerPlan
from chalicelib.errors import ConfigError
from chalicelib.lane_mappings import LaneMappings, deployed_names
from chalicelib.ports import StatePort
from spillway.ops import audit

__all__ = ["LaneMappings", "aws_mappings", "disable", "enable", "function_status", "status",
           "worker"]

#: Chalice names a function ``<app>-<stage>-<name>`` (aws/chalice ``deploy/deployer.py``).
APP_NAME = "spillway"


def worker(plan: TierPlan, function: str, lane: str | None = None) -> WorkerPlan:
    """The plan's worker ``function`` (and check ``lane`` is one of its mappings). Raises
    ConfigError naming what exists."""
    found = {w.name: w for w in plan.workers}
    if function not in found:
        raise ConfigError(f"no worker function {function!r} in tier plan {plan.name!r}; "
                          f"known: {sorted(found)}")
    w = found[function]
    names = [m.lane for m in w.mappings]
    if lane is not None and lane not in names:
        raise ConfigError(f"{function} has no lane {lane!r} in tier plan {plan.name!r}; "
                          f"lanes: {names}")
    return w


def function_status(store: StatePort, w: WorkerPlan, *, config: LaneConfig = DEFAULT_LANE_CONFIG,
                    clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """``{"function", "reserved_concurrency", "version" (0: no item yet), "lanes": [{"lane",
    "state" (healthy | disabled | ejected), "reason", "calls", "errors" (in the window),
    "ejected_until" (epoch s or None), "maximum_concurrency" (its mapping's)}]}``."""
    pool, version = shared_lanes.read(store, w.name, len(w.mappings))
    share = {m.lane: m.maximum_concurrency for m in w.mappings}
    return {"function": w.name, "reserved_concurrency": w.reserved_concurrency,
            "version": version,
            "lanes": [{**row, "maximum_concurrency": share[row["lane"]]}
                      for row in core.status(pool, clock(), config)]}


def status(store: StatePort, plan: TierPlan, function: str | None = None, *,
           config: LaneConfig = DEFAULT_LANE_CONFIG,
           clock: Callable[[], float] = time.time) -> list[dict[str, Any]]:
    """:func:`function_status` of every worker function of ``plan`` (or only ``function``)."""
    chosen = [worker(plan, function)] if function else list(plan.workers)
    return [function_status(store, w, config=config, clock=clock) for w in chosen]


def aws_mappings(env: Mapping[str, str] | None = None) -> LaneMappings | None:
    """The :class:`LaneMappings` to switch on AWS: the aws backend talking to AWS itself (not
    a running ``spillway local`` stack, whose pollers read the lane item instead: its env file
    has ``SPILLWAY_STACK_PID`` and ``SPILLWAY_URL``). Function names ``spillway-<SPILLWAY_STAGE, default dev>-<worker>``
    as ``chalice deploy`` names them, or from ``SPILLWAY_FUNCTIONS`` (a JSON object worker ->
    deployed name: the CloudFormation path names them ``spillway-<stage>-WorkerHigh-<id>``).
    None on the postgres backend and on the local stack."""
    from spillway.local.lifecycle import STACK_PID_KEY, URL_KEY

    env = os.environ if env is None else env
    local = env.get(STACK_PID_KEY) or env.get(URL_KEY)  # `--local` keeps the stack's URL
    if env.get("SPILLWAY_BACKEND", "aws") != "aws" or local:
        return None
    import boto3

    stage = env.get("SPILLWAY_STAGE") or "dev"
    names = deployed_names(env.get("SPILLWAY_FUNCTIONS"), f"{APP_NAME}-{stage}")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
    return LaneMappings(boto3.client("lambda", region_name=region), names)


def disable(store: StatePort, plan: TierPlan, function: str, lane: str, *, reason: str, by: str,
            mappings: LaneMappings | None = None, force: bool = False,
            clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """Take ``lane`` of ``function`` out of the rotation until :func:`enable`; returns
    :func:`function_status` after the change plus ``"mappings"`` (UUIDs switched off).
    Raises ConfigError, before any change, when every other lane of ``function`` is disabled
    already (the function would consume nothing) unless ``force`` (kept in the audit record)."""
    w = worker(plan, function, lane)
    if not force:
        pool, _ = shared_lanes.read(store, function, len(w.mappings))
        others = [x["lane"] for x in core.status(pool, clock())
                  if x["lane"] != lane and x["state"] != "disabled"]
        if not others:
            raise ConfigError(
                f"disabling {lane} would stop {function} entirely: it is the function's only "
                f"enabled lane of {len(w.mappings)}, so nothing would consume its queue "
                f"{w.spec.queue!r}. Use --force to do it anyway, or `spillway breaker open "
                "postgres --reason ...` to pause every worker's database work instead")
    return _change(store, plan, function, lane, "disable", reason, by, mappings, clock,
                   lambda pool: core.disable(pool, lane, reason), forced=force)


def enable(store: StatePort, plan: TierPlan, function: str, lane: str, *, reason: str, by: str,
           mappings: LaneMappings | None = None,
           clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """Put ``lane`` back in the rotation with an empty window (clears an ejection too)."""
    return _change(store, plan, function, lane, "enable", reason, by, mappings, clock,
                   lambda pool: core.enable(pool, lane))


def _change(store: StatePort, plan: TierPlan, function: str, lane: str, action: str,
            reason: str, by: str, mappings: LaneMappings | None, clock: Callable[[], float],
            change: Callable, forced: bool = False) -> dict[str, Any]:
    w = worker(plan, function, lane)
    if not str(reason or "").strip() or not str(by or "").strip():
        raise ConfigError("lanes " + action + " needs a non-empty --reason and --by")
    now = clock()
    switched = mappings.set_enabled(function, lane, action == "enable") if mappings else []
    before, after = shared_lanes.update(store, function, len(w.mappings), change)
    state = {x["lane"]: x["state"] for x in core.status(before, now)}[lane]
    new = {x["lane"]: x["state"] for x in core.status(after, now)}[lane]
    audit.record(store, verb=f"lanes {action}", by=by, reason=reason,
                 details={"function": function, "lane": lane, "from": state, "to": new,
                          **({"mappings": switched} if mappings else {}),
                          **({"forced": True} if forced else {})},
                 clock=lambda: now)
    return {**function_status(store, w, clock=clock), "mappings": switched}

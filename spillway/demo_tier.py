"""``spillway demo --tier NAME``: run the local stack with a tier plan's numbers
(:func:`chalicelib.core.concurrency.plan.build_plan`) and report what the plan promises beside
what was measured."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from chalicelib.core.concurrency.plan import TierPlan
from chalicelib.core.concurrency.render import worker_environment
from spillway.local.stack import StackOptions
from spillway.ops.dbwatch import ConnectionSampler, p95_wait_ms


def tier_stack_options(plan: TierPlan, base: StackOptions) -> StackOptions:
    """``base`` with the plan's edge reserved concurrency, each queue's MaximumConcurrency (the
    sum over the function's lanes), each worker function's reserved concurrency and the
    workers' Lambda settings: the shared database slots on, bounded by the plan's slot limits,
    the workers' lease (``WorkerPlan.lease_s``: at most ``SLOT_LEASE_S``, renewed by each
    batch's heartbeat), ``pool_size`` slots per
    batch. One process hosts every worker "instance" locally, so its one application pool gets
    what all instances together may hold: ``slot_max_limit`` connections (every worker instance
    x its pool)."""
    lease_s = max(w.lease_s for w in plan.workers)
    env = {**worker_environment(plan, lease_s), "SLOTS_ENABLED": "true",
           "DB_POOL_SIZE": str(plan.slot_max_limit)}
    return dataclasses.replace(
        base, edge_concurrency=plan.edge_concurrency,
        worker_concurrency={w.spec.queue: w.maximum_concurrency for w in plan.workers},
        reserved_concurrency={w.name: w.reserved_concurrency for w in plan.workers},
        env={**base.env, **env})


def tier_summary(plan: TierPlan, statuses: Iterable[int], ack_p95_ms: float,
                 sampler: ConnectionSampler, database_url: str,
                 accepted_ids: Sequence[str]) -> dict:
    """The summary's tier fields: ``tier``; ``throttled`` (edge answers 429); ``p95_ack_ms``
    (the same figure as the summary's ``ack_p95_ms``, kept under both names: the tier summary's
    documented key, as ``bench burst`` names it, and the key the thresholds and loadtest read);
    ``p95_wait_ms`` per priority (enqueue -> stored, ms; None for a priority with no delivery);
    ``db_connections_max`` (most application-database connections seen at once, from
    ``pg_stat_activity``, the sampler's own left out) beside ``db_connection_budget`` (the
    plan's: every worker instance x its pool + edge + operator reserve);
    ``db_connection_samples`` (how many samples that maximum is over); ``slot_limit`` (the
    shared slots' adaptive limit at the end) beside ``slot_max_limit`` (the plan's)."""
    from chalicelib import wiring
    from spillway.ops.health import slots_status

    (slots,) = slots_status(wiring.get_state(), wiring.BREAKER_NAME,
                            max_limit=plan.slot_max_limit)
    return {
        "tier": plan.name,
        "throttled": sum(1 for s in statuses if s == 429),
        "p95_ack_ms": ack_p95_ms,
        "p95_wait_ms": p95_wait_ms(database_url, accepted_ids),
        "db_connections_max": sampler.peak,
        "db_connection_samples": sampler.samples,
        "db_connection_budget": plan.db_connection_budget,
        "slot_limit": slots["limit"],
        "slot_max_limit": plan.slot_max_limit,
    }


def format_tier(summary: dict) -> list[str]:
    """Human-readable lines of :func:`tier_summary`'s fields (none without a tier)."""
    if "tier" not in summary:
        return []
    waits = ", ".join(f"{p} {ms} ms" for p, ms in summary["p95_wait_ms"].items())
    return [f"  tier           {summary['tier']}: {summary['throttled']} throttled (429)",
            f"  p95 wait       {waits} (enqueue -> stored)",
            f"  db connections max {summary['db_connections_max']} "
            f"(budget {summary['db_connection_budget']})"]

"""The concurrency manager's one decision: fold reported samples into the adaptive limit, then
acquire -- all on the one slot item, so the adaptive limit costs no extra request.

An adapter's acquire path: read the item -> :func:`decide` -> conditional write of
``result.state`` (version) -> on :class:`~chalicelib.errors.ConflictError` re-read and repeat.
Its release path: :func:`~chalicelib.core.concurrency.slots.release_delta` applied as one
unconditional update.
"""

from __future__ import annotations

from dataclasses import replace

from chalicelib.core.concurrency.limit import (
    Aimd,
    Bounds,
    Gradient2,
    LimitState,
    sample_from_counters,
)
from chalicelib.core.concurrency.plan import TierPlan
from chalicelib.core.concurrency.slots import (
    DEFAULT_SLOT_CONFIG,
    Granted,
    Refused,
    SlotConfig,
    SlotState,
    acquire,
    reclaim,
    set_limit,
)


def adapt(state: SlotState, now: float, algorithm: Aimd | Gradient2, bounds: Bounds) -> SlotState:
    """``state`` with its pending samples folded into its ``limiter`` and ``limit`` updated
    (counters reset); unchanged limit when no sample is pending. Always within ``bounds``.

    The limiter records the ``max_limit`` it was last bounded by: when ``bounds.max_limit``
    is higher than that (a tier lift began, :mod:`.lift`), the limit starts at the new max, as
    a new pool does, instead of climbing there one healthy sample at a time. Written in the
    item, so only the first instance to see the raised bound jumps; a lower bound (the lift
    ended) just clamps."""
    limiter = LimitState.from_dict(state.limiter, initial=float(bounds.max_limit))
    seen_max = state.limiter.get("max_limit")
    if seen_max is not None and bounds.max_limit > seen_max:
        limiter = replace(limiter, limit=float(bounds.max_limit))
    sample = sample_from_counters(state.samples, state.latency_s_sum, state.failures,
                                  inflight=reclaim(state, now).used())
    if sample is not None:
        limiter = algorithm.update(limiter, sample, now, bounds)
    limiter = replace(limiter, limit=bounds.clamp(limiter.limit))
    state = replace(state, samples=0, latency_s_sum=0.0, failures=0,
                    limiter={**limiter.to_dict(), "max_limit": bounds.max_limit})
    return set_limit(state, limiter.slots)


def decide(state: SlotState, holder: str, priority: str, count: int, now: float,
           lease_s: float, algorithm: Aimd | Gradient2, bounds: Bounds,
           config: SlotConfig = DEFAULT_SLOT_CONFIG, jitter: float = 0.0) -> Granted | Refused:
    """:func:`adapt` then :func:`~chalicelib.core.concurrency.slots.acquire` (same arguments;
    see there for errors). The returned state carries both changes and one version bump."""
    result = acquire(adapt(state, now, algorithm, bounds), holder, priority, count, now,
                     lease_s, config, jitter)
    return replace(result, state=replace(result.state, version=state.version + 1))


def for_plan(plan: TierPlan) -> tuple[Bounds, SlotConfig]:
    """The adaptive limit's bounds (``plan.slot_min_limit`` .. ``plan.slot_max_limit``) and the
    slot partitions (``plan.priority_shares``) of a validated plan. The lease of a worker is
    ``plan.worker(name).lease_s``; a new pool starts at ``SlotState(limit=bounds.max_limit)``."""
    return Bounds(plan.slot_min_limit, plan.slot_max_limit), SlotConfig(
        shares=dict(plan.priority_shares))

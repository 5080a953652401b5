"""Operator view of the concurrency manager: the shared database slots and the system's health
(``healthy`` / ``degraded`` / ``critical`` with reasons, from
:func:`chalicelib.core.concurrency.health.assess`).

Both read the state store (and, for :func:`health`, the queues) directly: a few requests each,
operators only (``spillway status``, the dashboard), never a Lambda's hot path.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.core.concurrency.health import HealthInput, HealthThresholds, assess
from chalicelib.core.concurrency.slots import PRIORITY_ORDER, SlotState, reclaim
from chalicelib.ports import DLQ, StatePort
from chalicelib.shared_slots import KEY_PREFIX, slots_key

DEFAULT_THRESHOLDS = HealthThresholds()


def _pool(data: Mapping[str, Any] | None, key: str, now: float, max_limit: int | None
          ) -> dict[str, Any]:
    state = reclaim(SlotState.from_dict(data, default_limit=max_limit or 0), now)
    mean_hold = state.hold_s_sum / state.released if state.released else None
    return {
        "name": key.removeprefix(KEY_PREFIX),
        "exists": data is not None,
        "limit": state.limit,
        "max_limit": max_limit,
        "in_use": state.used(),
        "in_use_by_priority": {p: state.used(p) for p in PRIORITY_ORDER},
        "leases": len(state.leases),
        "waiters": len(state.waiters),
        "waiters_by_priority": {p: sum(1 for w in state.waiters if w.priority == p)
                                for p in PRIORITY_ORDER},
        "oldest_lease_s": round(max((now - x.acquired_at for x in state.leases), default=0.0), 3),
        "mean_hold_s": None if mean_hold is None else round(mean_hold, 3),
        "released": state.released,
    }


def slots_status(store: StatePort, name: str | None = None, *, max_limit: int | None = None,
                 clock: Callable[[], float] = time.time) -> list[dict[str, Any]]:
    """The slot pools in ``store`` (all ``slots#*`` items, or only ``name``, e.g.
    ``"postgres"``), expired leases and waiters left out as the next acquire would. One dict per
    pool: ``name``; ``exists`` (False: no worker asked yet); ``limit`` (the adaptive limit now,
    slots); ``max_limit`` (the tier's ``slot_max_limit`` when given, else None); ``in_use`` and
    ``in_use_by_priority`` (slots held); ``leases``; ``waiters`` and ``waiters_by_priority``
    (refused batches keeping their place); ``oldest_lease_s`` (seconds since the oldest live
    lease was granted); ``mean_hold_s`` (mean seconds a lease was held, None before any
    release); ``released`` (leases released, halved now and then to follow recent ones).
    One read (``name``) or one scan. Raises the store's
    :class:`~chalicelib.errors.DependencyError`."""
    now = clock()
    if name is not None:
        item = store.get(slots_key(name))
        return [_pool(item.data if item else None, slots_key(name), now, max_limit)]
    return [_pool(item.data, item.key, now, max_limit) for item in store.scan(KEY_PREFIX)]


def health(pool: Mapping[str, Any], *, queue_depths: Mapping[str, int], queue_capacity: int,
           breaker_state: str | None = None,
           thresholds: HealthThresholds = DEFAULT_THRESHOLDS) -> dict[str, Any]:
    """``{"status": "healthy" | "degraded" | "critical", "reasons": [str, ...]}`` for one slot
    pool (an entry of :func:`slots_status`, with ``max_limit`` set -- else the current limit is
    taken as the max), the queues' depths (queue name -> messages waiting, visible + delayed;
    the DLQ is left out: it is not a capacity signal), the tier's ``queue_capacity`` (messages
    per queue, :attr:`~chalicelib.core.concurrency.plan.TierPlan.queue_capacity`) and the
    circuit breaker's state name (``CLOSED``, ``HALF_OPEN``, ``OPEN``, ``FORCED_OPEN`` or None).

    Refusals: a refused batch stays in the pool as a waiter until its estimated wait plus the
    waiter TTL has passed, so live ``waiters`` against live ``leases`` stand for the recent
    refusal rate (the item keeps no refusal counter: that would cost a write per refusal)."""
    snapshot = HealthInput(
        used=int(pool["in_use"]), limit=int(pool["limit"]),
        max_limit=int(pool.get("max_limit") or pool["limit"]), waiters=int(pool["waiters"]),
        acquires=int(pool["leases"]), refusals=int(pool["waiters"]),
        queue_depths={q: int(d) for q, d in queue_depths.items() if q != DLQ},
        queue_capacity=queue_capacity, breaker=breaker_state)
    return assess(snapshot, thresholds).to_dict()


def system_health(*, queue_capacity: int, max_limit: int | None = None) -> dict[str, Any]:
    """:func:`health` of the running system this process is configured for (the wiring's state
    store and queues, the database breaker, the ``postgres`` slot pool): ``status`` and
    ``reasons`` plus ``slots`` (the :func:`slots_status` entry) and ``queues`` (name ->
    depth). ``queue_capacity`` and ``max_limit`` come from the tier plan
    (``plan.queue_capacity``, ``plan.slot_max_limit``). Several requests; raises the stores'
    errors."""
    from chalicelib import wiring
    from chalicelib.ports import QUEUES
    from spillway.ops.status import breaker_status

    queue = wiring.get_queue()
    depths = {}
    for name in QUEUES:
        if name != DLQ:
            stats = queue.stats(name)
            depths[name] = stats.visible + stats.delayed
    breaker = breaker_status()
    pool = slots_status(wiring.get_state(), wiring.BREAKER_NAME, max_limit=max_limit)[0]
    out = health(pool, queue_depths=depths, queue_capacity=queue_capacity,
                 breaker_state=breaker.get("state") if breaker else None)
    return {**out, "slots": pool, "queues": depths}

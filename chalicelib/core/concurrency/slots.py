"""Shared database slots: crash-safe leases with priority partitions. Pure, clock passed in.

The whole state of one slot pool is one serialisable :class:`SlotState` that an adapter keeps as
one item (DynamoDB, or the PostgreSQL backend's state table) and changes by compare-and-set on
``version``, as :mod:`chalicelib.breaker` does for the circuit breaker:

* :func:`acquire` -- read the item, decide, write the returned ``state`` with the condition
  ``version == old version`` (on :class:`~chalicelib.errors.ConflictError` re-read and retry).
  Both answers carry a new state: :class:`Granted` adds the lease; :class:`Refused` records the
  caller as a waiter, which is how it keeps its queue position.
* :func:`release` -- the new state for a read-modify-write, and :func:`release_delta` the same
  change as commutative operations (remove the lease, add counters, bump the version) that an
  adapter applies as ONE unconditional update without reading (DynamoDB ``UpdateItem REMOVE
  leases.#h ADD version :1 ...``; a jsonb update in PostgreSQL). Bumping the version makes a
  concurrent acquirer's compare-and-set fail and re-read, so a release is never overwritten.

A **lease per batch**: a worker acquires ``count`` slots (the connections it will hold, its pool
size: 1) for a whole batch of deliveries and releases once, so steady state costs one read and
two writes per batch (acquire read + conditional write, release write) whatever the batch size:
0.3 requests per delivery at BatchSize 10, 3 at BatchSize 1. Under saturation each refused
attempt adds one read and one write (the waiter record) for the batch.

Crash safety: a lease expires at ``acquired_at + lease_s`` (the holder's function timeout plus a
grace, :attr:`~chalicelib.core.concurrency.plan.WorkerPlan.lease_s`); every decision reclaims
expired leases and waiters first, so a holder that dies (timeout, out of memory, frozen instance)
gives its slots back by then at the latest. Expiry is checked in code, never left to DynamoDB TTL
(which deletes within days).

Priority partitions: the current ``limit`` is split into guaranteed shares (:func:`guaranteed`,
``SlotConfig.shares``, default high 50 / medium 30 / low 20 %, every priority at least one slot
when ``limit >= 3``). A priority may borrow idle share of another only while that other priority
has no live waiter; once it has one, the free slots up to its guarantee are protected for it, so
as leases release or expire every waiting priority gets back up to its guaranteed share: high
keeps its share under saturation, and low -- whose share is >= 1 slot -- never starves either.
Within a priority, waiters are served first come, first served. A release leaves a short
**handoff** (``SlotConfig.handoff_s``): the released slots stay protected for their priority (up
to its guarantee) so the same worker's next batch, which asks a moment later, is not beaten to
them by a borrower.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from chalicelib.core.concurrency.plan import PRIORITY_SHARES
from chalicelib.core.concurrency.shares import allocate
from chalicelib.errors import ConfigError

PRIORITY_ORDER: tuple[str, ...] = ("high", "medium", "low")


@dataclass(frozen=True)
class SlotConfig:
    """``shares``: guaranteed fraction of the limit per priority (sum 1). ``waiter_ttl_s``: how
    long past its estimated wait a refused caller keeps its place. ``min_wait_s`` /
    ``max_wait_s``: bounds of the estimated wait (900 s is SQS's largest DelaySeconds).
    ``handoff_s``: how long a released lease's slots stay protected for its priority (the
    same worker's next batch usually asks again within a batching window; without this, the
    instant between release and the next acquire looks idle and is lent away).
    ``initial_hold_s``: mean lease hold time assumed before any release is seen.
    ``jitter_fraction``: the wait is stretched by up to this fraction of itself (``jitter`` in
    [0, 1) is passed in) so held-back batches do not come back together."""

    shares: dict[str, float] = field(default_factory=lambda: dict(PRIORITY_SHARES))
    waiter_ttl_s: float = 30.0
    handoff_s: float = 2.0
    min_wait_s: float = 1.0
    max_wait_s: float = 900.0
    initial_hold_s: float = 1.0
    jitter_fraction: float = 0.2
    hold_window: int = 1000

    def __post_init__(self) -> None:
        if set(self.shares) != set(PRIORITY_ORDER) or any(v <= 0 for v in self.shares.values()):
            raise ConfigError(f"slot shares must give {PRIORITY_ORDER} each > 0: {self.shares}")
        if not 0 < self.min_wait_s <= self.max_wait_s or self.waiter_ttl_s <= 0:
            raise ConfigError("slot min_wait_s, max_wait_s, waiter_ttl_s are invalid: "
                              f"{self.min_wait_s}, {self.max_wait_s}, {self.waiter_ttl_s}")


DEFAULT_SLOT_CONFIG = SlotConfig()


@dataclass(frozen=True)
class Lease:
    """``count`` slots held by ``holder`` for ``priority`` until ``expires_at`` (epoch s)."""

    holder: str
    priority: str
    count: int
    acquired_at: float
    expires_at: float


@dataclass(frozen=True)
class Waiter:
    """A refused caller keeping its place since ``since`` until ``expires_at`` (epoch s)."""

    holder: str
    priority: str
    count: int
    since: float
    expires_at: float


@dataclass(frozen=True)
class Handoff:
    """Slots just released by ``holder``, protected for ``priority`` until ``expires_at``."""

    holder: str
    priority: str
    count: int
    expires_at: float


@dataclass(frozen=True)
class SlotState:
    """The shared item. ``limit``: slots allowed now (set by :mod:`.limit`); ``released`` /
    ``hold_s_sum``: leases released and their total hold time (s), for the release rate;
    ``samples`` / ``latency_s_sum`` / ``failures``: call outcomes reported on release and not
    yet folded into the adaptive limit; ``limiter``: the adaptive limit's state (opaque dict)."""

    limit: int
    leases: tuple[Lease, ...] = ()
    waiters: tuple[Waiter, ...] = ()
    handoffs: tuple[Handoff, ...] = ()
    version: int = 0
    released: int = 0
    hold_s_sum: float = 0.0
    samples: int = 0
    latency_s_sum: float = 0.0
    failures: int = 0
    limiter: dict[str, Any] = field(default_factory=dict)

    def used(self, priority: str | None = None) -> int:
        """Slots held (by ``priority``, or in all)."""
        return sum(x.count for x in self.leases if priority in (None, x.priority))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; leases keyed by holder (so a release can remove one by key)."""
        data = asdict(self)
        data["leases"] = {x.holder: asdict(x) for x in self.leases}
        data["waiters"] = {x.holder: asdict(x) for x in self.waiters}
        data["handoffs"] = {x.holder: asdict(x) for x in self.handoffs}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, default_limit: int) -> SlotState:
        """The inverse of :meth:`to_dict`; an absent item is an empty pool of
        ``default_limit`` slots."""
        if not data:
            return cls(limit=default_limit)
        leases = tuple(sorted((Lease(**v) for v in data.get("leases", {}).values()),
                              key=lambda x: (x.acquired_at, x.holder)))
        waiters = tuple(sorted((Waiter(**v) for v in data.get("waiters", {}).values()),
                               key=lambda x: (x.since, x.holder)))
        handoffs = tuple(sorted((Handoff(**v) for v in data.get("handoffs", {}).values()),
                                key=lambda x: (x.expires_at, x.holder)))
        scalars = {k: data[k] for k in ("version", "released", "hold_s_sum", "samples",
                                        "latency_s_sum", "failures") if k in data}
        return cls(limit=int(data.get("limit", default_limit)), leases=leases, waiters=waiters,
                   handoffs=handoffs, limiter=dict(data.get("limiter", {})), **scalars)


@dataclass(frozen=True)
class Granted:
    """Go ahead: write ``state`` (compare-and-set), then hold ``lease`` until :func:`release`."""

    state: SlotState
    lease: Lease


@dataclass(frozen=True)
class Refused:
    """Not now: write ``state`` (it records the waiter), hold the batch back ``wait_s`` seconds
    (e.g. ChangeMessageVisibility; no receive count burnt by a throttle), then try again with the
    same holder id. ``position`` is 1-based among live waiters (high before medium before low,
    then arrival); ``reason`` says which rule refused."""

    state: SlotState
    position: int
    wait_s: float
    reason: str


def guaranteed(limit: int, shares: Mapping[str, float]) -> dict[str, int]:
    """Slots guaranteed per priority out of ``limit``: in proportion to ``shares``, each at
    least 1 when ``limit >= 3``; they sum to ``limit``."""
    minimum = 1 if limit >= len(shares) else 0
    return allocate(max(limit, 0), {p: shares[p] for p in PRIORITY_ORDER}, minimum)


def reclaim(state: SlotState, now: float) -> SlotState:
    """``state`` without leases, waiters and handoffs expired at ``now`` (a dead holder's
    slots return)."""
    leases = tuple(x for x in state.leases if x.expires_at > now)
    waiters = tuple(x for x in state.waiters if x.expires_at > now)
    handoffs = tuple(x for x in state.handoffs if x.expires_at > now)
    if (len(leases), len(waiters), len(handoffs)) == (
            len(state.leases), len(state.waiters), len(state.handoffs)):
        return state
    return replace(state, leases=leases, waiters=waiters, handoffs=handoffs)


def set_limit(state: SlotState, limit: int) -> SlotState:
    """``state`` with a new ``limit`` (>= 0). Leases above it are not revoked: they run out,
    and new acquires wait until usage is under the new limit."""
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    return replace(state, limit=limit)


def _rank(waiter: Waiter) -> tuple[int, float, str]:
    return PRIORITY_ORDER.index(waiter.priority), waiter.since, waiter.holder


def _admission(state: SlotState, holder: str, priority: str, count: int,
               since: float | None, config: SlotConfig) -> tuple[int, str]:
    """(slots short of admission, reason); 0 short means admit."""
    free = state.limit - state.used()
    others = [w for w in state.waiters if w.holder != holder]
    ahead_same = sum(w.count for w in others if w.priority == priority
                     and (since is None or (w.since, w.holder) < (since, holder)))
    share = guaranteed(state.limit, config.shares)
    protected = 0
    for other in PRIORITY_ORDER:
        if other == priority:
            continue
        demand = sum(w.count for w in (*others, *state.handoffs) if w.priority == other)
        protected += min(max(0, share[other] - state.used(other)), demand)
    if count > state.limit:
        short = 0 if not state.leases and ahead_same == 0 else count - free
        return short, "count exceeds the limit: admitted alone"
    short = count + ahead_same + protected - free
    if short <= 0:
        return 0, "admitted"
    if ahead_same and count + protected <= free:
        return short, "older waiters of the same priority come first"
    if protected:
        return short, "free slots are protected for waiting priorities under their share"
    return short, "limit reached"


def _wait_s(state: SlotState, short: int, now: float, config: SlotConfig, jitter: float) -> float:
    mean_hold = state.hold_s_sum / state.released if state.released else config.initial_hold_s
    held = state.used()
    estimate = short * mean_hold / max(held, 1)  # Little's law: held slots free at held/mean_hold
    expiries = sorted(x.expires_at for x in state.leases)
    if 0 < short <= len(expiries):
        estimate = min(estimate, expiries[short - 1] - now)
    wait = min(max(estimate, config.min_wait_s), config.max_wait_s)
    return min(wait * (1 + config.jitter_fraction * jitter), config.max_wait_s)


def acquire(state: SlotState, holder: str, priority: str, count: int, now: float,
            lease_s: float, config: SlotConfig = DEFAULT_SLOT_CONFIG, jitter: float = 0.0,
            ) -> Granted | Refused:
    """Ask for ``count`` slots for ``holder`` (a stable id for the batch, kept across its
    retries) of ``priority``, held at most ``lease_s`` seconds from ``now``. ``jitter`` in
    [0, 1) comes from the caller's random source. Idempotent: a holder that already has a lease
    gets it back, renewed. Raises ValueError for an unknown priority, ``count < 1`` or
    ``lease_s <= 0``."""
    if priority not in PRIORITY_ORDER or count < 1 or lease_s <= 0:
        raise ValueError(f"bad acquire: priority={priority!r} count={count} lease_s={lease_s}")
    state = reclaim(state, now)
    bumped = state.version + 1
    held = next((x for x in state.leases if x.holder == holder), None)
    if held is not None:
        lease = replace(held, expires_at=now + lease_s)
        leases = tuple(lease if x.holder == holder else x for x in state.leases)
        return Granted(replace(state, leases=leases, version=bumped), lease)
    mine = next((w for w in state.waiters if w.holder == holder), None)
    short, reason = _admission(state, holder, priority, count,
                               mine.since if mine else None, config)
    waiters = tuple(w for w in state.waiters if w.holder != holder)
    if short <= 0:
        lease = Lease(holder, priority, count, now, now + lease_s)
        return Granted(replace(state, leases=(*state.leases, lease), waiters=waiters,
                               handoffs=_consume(state.handoffs, priority, count),
                               version=bumped), lease)
    wait = _wait_s(state, short, now, config, jitter)
    waiter = Waiter(holder, priority, count, mine.since if mine else now,
                    now + wait + config.waiter_ttl_s)
    waiters = tuple(sorted((*waiters, waiter), key=lambda w: (w.since, w.holder)))
    position = 1 + sum(1 for w in waiters if _rank(w) < _rank(waiter))
    return Refused(replace(state, waiters=waiters, version=bumped), position, wait, reason)


def _consume(handoffs: tuple[Handoff, ...], priority: str, count: int) -> tuple[Handoff, ...]:
    kept = []
    for handoff in handoffs:
        if handoff.priority == priority and count > 0:
            count -= handoff.count
            continue
        kept.append(handoff)
    return tuple(kept)


@dataclass(frozen=True)
class ReleaseDelta:
    """A release as commutative operations: remove lease ``holder``, set ``handoff`` (None
    when nothing was held) under the same key, and add the counters
    (``released`` 0 or 1, ``hold_s`` seconds, ``samples``, ``latency_s`` total seconds,
    ``failures``) and 1 to ``version``."""

    holder: str
    released: int
    hold_s: float
    samples: int
    latency_s: float
    failures: int
    handoff: Handoff | None = None


def release_delta(state: SlotState, holder: str, now: float, samples: int = 0,
                  latency_s: float = 0.0, failures: int = 0,
                  config: SlotConfig = DEFAULT_SLOT_CONFIG) -> ReleaseDelta:
    """The change :func:`release` makes, for an adapter's unconditional update. ``samples``
    calls to the database were made under the lease, taking ``latency_s`` seconds in total,
    ``failures`` of them failed (retryable dependency errors); they feed :mod:`.limit`. The
    hold time needs the lease's ``acquired_at``: pass the state read at acquire (or any state
    holding the lease); an unknown holder releases nothing (already expired and reclaimed)."""
    lease = next((x for x in state.leases if x.holder == holder), None)
    hold = max(0.0, now - lease.acquired_at) if lease else 0.0
    handoff = (Handoff(holder, lease.priority, lease.count, now + config.handoff_s)
               if lease and config.handoff_s > 0 else None)
    return ReleaseDelta(holder, 1 if lease else 0, hold, samples, latency_s, failures, handoff)


def apply_release(state: SlotState, delta: ReleaseDelta, config: SlotConfig = DEFAULT_SLOT_CONFIG,
                  ) -> SlotState:
    """``state`` after ``delta`` (what the adapter's update does to the stored item). The hold
    counters are halved once ``released`` passes ``config.hold_window`` so the mean follows
    recent leases."""
    released, hold_sum = state.released + delta.released, state.hold_s_sum + delta.hold_s
    if released > config.hold_window:
        released, hold_sum = released // 2, hold_sum / 2
    handoffs = tuple(x for x in state.handoffs if x.holder != delta.holder)
    if delta.handoff is not None:
        handoffs = (*handoffs, delta.handoff)
    return replace(state, leases=tuple(x for x in state.leases if x.holder != delta.holder),
                   handoffs=handoffs,
                   version=state.version + 1, released=released, hold_s_sum=hold_sum,
                   samples=state.samples + delta.samples,
                   latency_s_sum=state.latency_s_sum + delta.latency_s,
                   failures=state.failures + delta.failures)


def release(state: SlotState, holder: str, now: float, config: SlotConfig = DEFAULT_SLOT_CONFIG,
            samples: int = 0, latency_s: float = 0.0, failures: int = 0) -> SlotState:
    """``state`` with ``holder``'s lease released and expired entries reclaimed. Idempotent:
    releasing twice, or after expiry, changes no slot count."""
    delta = release_delta(state, holder, now, samples, latency_s, failures, config)
    return reclaim(apply_release(state, delta, config), now)

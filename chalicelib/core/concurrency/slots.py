"""Shared database slots: crash-safe leases with priority partitions. Pure, clock passed in.

The whole state of one slot pool is one serialisable :class:`SlotState` that an adapter keeps as
one item (DynamoDB, or the PostgreSQL backend's state table) and changes by compare-and-set on
``version``, as :mod:`chalicelib.shared_breaker` does for the circuit breaker:

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

Crash safety: a lease expires ``lease_s`` after it was granted or last renewed (:func:`renew`:
the holder's heartbeat extends it while its batch runs; ``lease_s`` is short,
:data:`~chalicelib.core.concurrency.plan.SLOT_LEASE_S`, whatever the function timeout); every
decision reclaims expired leases and waiters first, so a holder that dies (timeout, out of
memory, frozen instance) gives its slots back ``lease_s`` after its last heartbeat at the latest,
and a waiter refused only by overdue leases is told to come back when they can expire
(:func:`_wait_s`), not to poll the item meanwhile. An operator frees a dead holder's slots at
once with :func:`revoke` (``spillway slots release``). Expiry is checked in code, never left to
DynamoDB TTL (which deletes within days).

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
from dataclasses import dataclass, replace

from chalicelib.core.concurrency.shares import allocate
from chalicelib.core.concurrency.slot_state import (
    DEFAULT_SLOT_CONFIG,
    PRIORITY_ORDER,
    Handoff,
    Lease,
    SlotConfig,
    SlotState,
    Waiter,
)

__all__ = [
    "DEFAULT_SLOT_CONFIG", "PRIORITY_ORDER", "Granted", "Handoff", "Lease", "Refused",
    "ReleaseDelta", "SlotConfig", "SlotState", "Waiter", "acquire", "apply_release",
    "guaranteed", "reclaim", "release", "release_delta", "renew", "revoke", "set_limit",
]

@dataclass(frozen=True)
class Granted:
    """Go ahead: write ``state`` (compare-and-set), then hold ``lease`` until :func:`release`."""

    #: New slot state to write with compare-and-set (the lease is recorded in it).
    state: SlotState
    #: The granted lease; its expiry is in seconds on the injected clock.
    lease: Lease


@dataclass(frozen=True)
class Refused:
    """Not now: write ``state`` (it records the waiter), hold the batch back ``wait_s`` seconds,
    then try again with the same holder id. Every SQS receive counts toward maxReceiveCount,
    even one answered by ChangeMessageVisibility, so a hold-back that burns no receive re-sends
    the messages with ``DelaySeconds = ceil(wait_s)`` (<= 900, ``SlotConfig.max_wait_s``) and
    deletes the originals (AWS SQS docs: ApproximateReceiveCount, DelaySeconds). ``position`` is 1-based among live waiters (high before medium before low,
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


#: A lease held longer than this many mean hold times is *overdue*: its holder is not expected
#: to release it soon (a dead holder, or a batch far longer than usual), so it is left out of
#: the release-rate estimate and waiters are told to come back when it can expire instead.
OVERDUE_FACTOR = 4.0


def _wait_s(state: SlotState, short: int, now: float, config: SlotConfig, jitter: float) -> float:
    """Seconds to hold a refused batch back: Little's law over the leases expected to be
    released (held slots free at ``held / mean_hold``), or, when every held lease is overdue
    (:data:`OVERDUE_FACTOR`), the time until enough leases can expire. Never later than that
    expiry (plus a jittered ``min_wait_s``): waiters come back when a dead holder's slots can
    return, not before (no hammering the item) and not much after (the stall ends)."""
    mean_hold = state.hold_s_sum / state.released if state.released else config.initial_hold_s
    overdue_after = OVERDUE_FACTOR * max(mean_hold, config.min_wait_s)
    live = sum(x.count for x in state.leases if now - x.acquired_at <= overdue_after)
    expiries = sorted(x.expires_at for x in state.leases)
    until_expiry = (max(0.0, expiries[short - 1] - now) if 0 < short <= len(expiries)
                    else None)
    if live or until_expiry is None:
        estimate = short * mean_hold / max(live, 1)  # Little's law
    else:
        estimate = until_expiry
    wait = min(max(estimate, config.min_wait_s), config.max_wait_s)
    wait = min(wait * (1 + config.jitter_fraction * jitter), config.max_wait_s)
    if until_expiry is not None:
        wait = min(wait, max(until_expiry, config.min_wait_s) * (1 + config.jitter_fraction
                                                                  * jitter))
    return wait


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


def renew(state: SlotState, holder: str, now: float, lease_s: float) -> SlotState | None:
    """``state`` with ``holder``'s live lease extended to ``now + lease_s`` (a heartbeat while
    its batch runs), or None when ``holder`` holds no live lease at ``now`` (it expired or an
    operator revoked it: a lost lease is not brought back). Raises ValueError for ``lease_s <=
    0``."""
    if lease_s <= 0:
        raise ValueError(f"lease_s must be > 0, got {lease_s}")
    held = next((x for x in state.leases if x.holder == holder and x.expires_at > now), None)
    if held is None:
        return None
    leases = tuple(replace(x, expires_at=max(x.expires_at, now + lease_s))
                   if x.holder == holder else x for x in state.leases)
    return replace(state, leases=leases, version=state.version + 1)


def revoke(state: SlotState, holders: frozenset[str] | None = None) -> tuple[SlotState, tuple[
        Lease, ...]]:
    """``(state without the leases of holders, the leases removed)``; ``holders`` None: every
    lease. An operator's release of a dead holder's slots: no handoff is left and the hold-time
    counters are not fed (a dead holder's hold says nothing about the release rate). The version
    is bumped only when a lease was removed."""
    gone = tuple(x for x in state.leases if holders is None or x.holder in holders)
    if not gone:
        return state, ()
    kept = tuple(x for x in state.leases if x not in gone)
    return replace(state, leases=kept, version=state.version + 1), gone


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

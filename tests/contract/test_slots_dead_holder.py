"""A worker instance that dies holding every shared database slot (issue 19): the pool stalls
at most 30 s, waiting pollers read rather than write meanwhile, a live holder's heartbeat keeps
a long batch's lease, and ``spillway slots release`` frees a dead holder's leases at once
(audited). The same tests over every StatePort: DynamoDB on the moto server, PostgreSQL, and
the in-memory fake. Time is a fake clock moved by the waits the slots hand out (as SQS's
DelaySeconds would, rounded up, plus a poll): nothing sleeps, nothing is timed."""

from __future__ import annotations

import math
import time

import pytest

from bench.slots import CountingState as Counting
from chalicelib.core.concurrency.limit import Bounds
from chalicelib.core.concurrency.plan import SLOT_LEASE_S, build_plan
from chalicelib.shared_slots import HEARTBEATS_PER_LEASE, SharedSlots, SlotLease, SlotWait
from spillway.ops import audit
from spillway.ops import slots as ops
from tests.contract.conftest import FakeClock

#: The free tier's pool, as ``demo --tier free`` runs it.
FREE = build_plan("free")
#: Issue 19's bound on the stall a dead holder may cause.
STALL_LIMIT_S = 30.0
#: The local event source's long poll after a delayed message becomes visible.
POLL_S = 1.0


def instance(store, clock, jitter: float = 0.0) -> SharedSlots:
    """One Lambda instance's view of the pool, with the plan's lease and slot bounds."""
    lease_s = max(w.lease_s for w in FREE.workers)
    return SharedSlots("postgres", store, bounds=Bounds(FREE.slot_min_limit,
                                                        FREE.slot_max_limit),
                       lease_s=lease_s, clock=clock, jitter=lambda: jitter)


def fill(slots: SharedSlots, tag: str) -> list[SlotLease]:
    """Every slot of the pool, one lease per batch, as a busy instance takes them."""
    leases = []
    for i in range(FREE.slot_max_limit):
        got = slots.acquire(f"{tag}-{i}", ("high", "medium", "low")[i % 3])
        assert isinstance(got, SlotLease), got
        leases.append(got)
    assert isinstance(slots.acquire(f"{tag}-more", "low"), SlotWait)
    return leases


def poll_until_granted(slots: SharedSlots, clock: FakeClock, holder: str, priority: str,
                       give_up_s: float = 120.0) -> tuple[float, int]:
    """Ask like a held-back batch does: refused, wait ``ceil(wait_s)`` (SQS DelaySeconds) plus a
    poll, ask again. Returns (seconds until granted, asks)."""
    started, asks = clock(), 0
    while clock() - started < give_up_s:
        asks += 1
        got = slots.acquire(holder, priority)
        if isinstance(got, SlotLease):
            return clock() - started, asks
        clock.advance(math.ceil(got.wait_s) + POLL_S)
    raise AssertionError(f"{holder} was never granted in {give_up_s} s")


def test_the_plan_leases_are_short_whatever_the_function_timeout():
    assert max(w.spec.timeout_s for w in FREE.workers) > STALL_LIMIT_S  # the old 125 s lease
    assert {w.lease_s for w in FREE.workers} <= {SLOT_LEASE_S} and SLOT_LEASE_S < STALL_LIMIT_S


@pytest.mark.parametrize("jitter", [0.0, 0.99])
def test_a_dead_holder_of_every_slot_stalls_the_pool_at_most_30_s(state_backend, jitter):
    clock = FakeClock()
    store = Counting(state_backend.port)
    dead = instance(store, clock)
    leases = fill(dead, "dead")
    for _ in range(2):  # its batches ran a while, the heartbeat renewing their leases
        clock.advance(dead.lease_s / HEARTBEATS_PER_LEASE)
        assert all(lease.renew() for lease in leases)
    died_at = clock()  # then the instance died: no release, no more renewals
    survivors = [instance(store, clock, jitter) for _ in range(3)]
    store.calls.clear()
    stall, asks = poll_until_granted(survivors[0], clock, "survivor-high", "high")
    assert clock() - died_at == stall <= STALL_LIMIT_S
    # waiting cost a write for its place in the line, then reads until the lease could expire
    assert asks <= 3 and store.calls["put"] <= 2, (asks, store.calls)
    for n, slots in enumerate(survivors[1:]):  # the others get slots too, at once
        assert isinstance(slots.acquire(f"survivor-{n}", "medium"), SlotLease)


def test_waiting_pollers_read_instead_of_writing_while_the_pool_is_full(state_backend):
    clock = FakeClock()
    store = Counting(state_backend.port)
    fill(instance(store, clock), "busy")
    waiter = instance(store, clock)
    first = waiter.acquire("waiter", "low")
    assert isinstance(first, SlotWait)
    store.calls.clear()
    for _ in range(5):  # the held-back batch's instance asks again and again
        clock.advance(1.0)
        again = waiter.acquire("waiter", "low")
        assert isinstance(again, SlotWait) and again.position == first.position
    # one read per ask; a write only once its place must outlive a longer wait (the leases
    # grew overdue: it is told to come back when they can expire)
    assert store.calls["get"] == 5 and store.calls["put"] <= 1, store.calls


def test_a_live_holder_keeps_its_lease_past_lease_s_by_its_heartbeat(state_backend):
    clock = FakeClock()
    live = instance(state_backend.port, clock)
    leases = fill(live, "long-batch")
    other = instance(state_backend.port, clock)
    for _ in range(3 * HEARTBEATS_PER_LEASE):  # three lease lives of one long batch
        clock.advance(live.lease_s / HEARTBEATS_PER_LEASE)
        assert all(lease.renew() for lease in leases)
        assert isinstance(other.acquire("other", "high"), SlotWait)
    for lease in leases:
        lease.release()
    assert isinstance(other.acquire("other", "high"), SlotLease)


def test_release_frees_a_dead_holders_leases_at_once_and_is_audited(state_backend):
    clock = FakeClock()
    dead = instance(state_backend.port, clock)
    leases = fill(dead, "dead")
    found = ops.status(state_backend.port, max_limit=FREE.slot_max_limit, clock=clock)
    assert sorted(x["holder"] for x in found["holders"]) == sorted(x.holder for x in leases)
    assert found["in_use"] == FREE.slot_max_limit and not any(
        x["expired"] for x in found["holders"])
    assert {x["expires_in_s"] for x in found["holders"]} == {dead.lease_s}

    with pytest.raises(Exception, match="no lease held by nobody"):
        ops.release(state_backend.port, holders=["nobody"], by="ops", reason="typo")
    assert ops.status(state_backend.port, clock=clock)["in_use"] == FREE.slot_max_limit

    one = ops.release(state_backend.port, holders=[leases[0].holder], by="ops",
                      reason="instance died", clock=clock)
    assert one["released"] == [leases[0].holder] and one["slots"] == 1
    clock.advance(1.0)
    rest = ops.release(state_backend.port, holders=None, by="ops", reason="instance died",
                       clock=clock)
    assert rest["slots"] == FREE.slot_max_limit - 1
    assert ops.status(state_backend.port, clock=clock)["holders"] == []
    again = ops.release(state_backend.port, holders=None, by="ops", reason="twice")
    assert again["released"] == [] and again["audit"] is None  # nothing held: nothing recorded
    records = audit.list_actions(state_backend.port, verb="slots")
    assert [(r["verb"], r["by"], r["reason"], r["details"]["slots"]) for r in records] == [
        ("slots release", "ops", "instance died", 1),
        ("slots release", "ops", "instance died", FREE.slot_max_limit - 1)]
    # the dead holder's heartbeat, were it alive, would learn its lease is gone
    assert leases[1].renew() is False
    survivor = instance(state_backend.port, clock)
    assert isinstance(survivor.acquire("survivor", "high"), SlotLease)


def test_the_heartbeat_thread_renews_until_the_lease_is_released(state_backend):
    slots = SharedSlots("postgres", state_backend.port, bounds=Bounds(1, 2), lease_s=SLOT_LEASE_S)
    lease = slots.acquire("beating", "high")
    assert isinstance(lease, SlotLease)
    granted_until = lease.expires_at
    lease.keep_alive(interval_s=0.05)
    deadline = time.monotonic() + 30  # a bound on a loaded machine, not a timing assertion
    while lease.expires_at == granted_until and time.monotonic() < deadline:
        time.sleep(0.05)
    stored = SharedSlots("postgres", state_backend.port, bounds=Bounds(1, 2),
                         lease_s=SLOT_LEASE_S).read()
    assert [x.expires_at for x in stored.leases] == [lease.expires_at] > [granted_until]
    lease.release()
    assert lease.renew() is False and slots.read().leases == ()

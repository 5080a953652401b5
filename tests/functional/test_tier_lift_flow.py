"""``spillway tier lift`` on both state stores (DynamoDB on the moto server, the PostgreSQL
backend's state table), end to end through the worker's own wiring: the lift raises the shared
slots' limit, a held-back batch is stored under it, it expires on the clock, the scheduled
collector reverts it and audits ``tier revert``, and ``spillway status`` shows it meanwhile.

Time is an injected clock (epoch seconds) handed to the CLI, the slots and the collector:
nothing sleeps, no assertion is timed."""

from __future__ import annotations

import argparse
import time

from chalicelib import wiring
from chalicelib.collector.wiring import build_collector
from chalicelib.core.concurrency.plan import build_plan
from chalicelib.shared_slots import SharedSlots, SlotLease, SlotWait
from chalicelib.tier_lift import read_lift
from spillway.commands import tier as tier_command
from spillway.ops import audit
from spillway.ops.status import SECTIONS, tier_section
from tests.functional.conftest import ISSUE_PAYLOAD, corpus_payload
from tests.functional.test_worker_sqs import accepted, failures, ledger

FREE, ENTERPRISE = build_plan("free"), build_plan("enterprise")


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def tier_cli(store, clock, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="spillway")
    tier_command.register(parser.add_subparsers(dest="command"), store_factory=lambda: store,
                          clock=clock)
    args = parser.parse_args(["tier", *argv])
    return args.func(args)


def slots_as_deployed(worker, clock) -> SharedSlots:
    """The worker's own shared slots (the free tier's environment, as ``spillway tier set``
    renders it; the lift re-read on every decision), on ``clock``."""
    worker.configure(SLOTS_ENABLED="true", SLOT_MIN_LIMIT=str(FREE.slot_min_limit),
                     SLOT_MAX_LIMIT=str(FREE.slot_max_limit), SLOT_LEASE_S="35",
                     SPILLWAY_TIER="free", LIFT_CACHE_S="0")
    slots = wiring.get_slots()
    slots.clock = clock
    return slots


def fill(slots: SharedSlots, prefix: str, start: int = 0) -> list[SlotLease]:
    """Acquire one slot at a time (holders ``prefix-<start>``, ``prefix-<start + 1>``, ...)
    until refused; returns the leases granted. The refused holder keeps its place in the queue,
    so a later fill continues from it (``start`` = the leases granted so far)."""
    leases = []
    while True:
        got = slots.acquire(f"{prefix}-{start + len(leases)}", "high")
        if isinstance(got, SlotWait):
            return leases
        leases.append(got)
        assert len(leases) <= ENTERPRISE.slot_max_limit, "more slots than any tier has"


def test_lift_raises_the_limit_until_it_expires_then_the_collector_reverts_it(worker, capsys):
    clock = Clock()
    slots = slots_as_deployed(worker, clock)
    store = wiring.get_state()
    before = fill(slots, "h")
    assert len(before) == FREE.slot_max_limit == 15

    assert tier_cli(store, clock, "lift", "--to", "enterprise", "--for", "30m",
                    "--reason", "launch day", "--by", "dana") == 0
    assert "lifted free -> enterprise" in capsys.readouterr().out
    more = fill(slots, "h", start=len(before))
    assert FREE.slot_max_limit + len(more) == ENTERPRISE.slot_max_limit == 92
    shown = tier_section({"SPILLWAY_TIER": "free"}, store=store, clock=clock)
    assert shown["name"] == "free" and shown["lift"]["to"] == "enterprise"
    assert shown["lift"]["remaining_s"] == 1800 and shown["lift"]["by"] == "dana"
    assert shown["lift"]["until"] == clock.now + 1800 and shown["lift"]["reason"] == "launch day"

    as_status_reads_it = SECTIONS["tier"]()  # `spillway status [--json]`'s reader, real clock
    assert as_status_reads_it["lift"]["to"] == "enterprise"
    assert 0 < as_status_reads_it["lift"]["remaining_s"] <= 1800

    clock.now += 30 * 60  # the lift's end (the leases above have long expired too)
    assert tier_section({}, store=store, clock=clock)["lift"] is None
    assert len(fill(slots, "after")) == FREE.slot_max_limit  # back to the deployed limit
    assert read_lift(store).lift is not None  # expired, not yet cleared

    row = build_collector(clock=clock).run()
    assert row["notes"]["tier_lift"].startswith("reverted the lift free -> enterprise")
    stored = read_lift(store)
    assert stored.lift is None and stored.ended["how"] == "revert"
    again = build_collector(clock=clock).run()  # nothing left to revert
    assert "tier_lift" not in again["notes"]
    records = audit.list_actions(store, verb="tier")
    assert [(r["verb"], r["by"]) for r in records] == [("tier lift", "dana"),
                                                       ("tier revert", "collector")]
    assert records[0]["details"]["slot_max_limit"] == 92 and records[0]["reason"] == "launch day"
    assert records[1]["details"]["to"] == "enterprise"
    assert records[1]["details"]["lifted_by"] == "dana"


def test_a_batch_held_back_at_the_limit_is_stored_under_a_lift_and_end_stops_it(worker, capsys):
    """The worker's real path: one slot (a deployed limit of 1) held by another instance holds
    the batch back; after ``tier lift`` the same batch goes through; ``--end`` ends it early."""
    clock = Clock()
    ids = {accepted(worker, corpus_payload(ISSUE_PAYLOAD), event="issues") for _ in range(2)}
    batch = worker.receive("high", 2)
    worker.configure(SLOTS_ENABLED="true", SLOT_MIN_LIMIT="1", SLOT_MAX_LIMIT="1",
                     SLOT_LEASE_S="35", LIFT_CACHE_S="0")
    store = wiring.get_state()
    other = SharedSlots("postgres", store, bounds=wiring.get_slots().bounds, lease_s=35)
    assert isinstance(other.acquire("other-instance", "high"), SlotLease)
    assert failures(worker.invoke_worker("high", batch)) == set()
    assert ledger(worker) == {} and worker.queue.stats("high").delayed == 2  # held back

    assert tier_cli(store, clock, "lift", "--to", "pro", "--for", "2h", "--reason",
                    "backlog", "--by", "erin") == 0
    again = []
    deadline = time.monotonic() + 30
    while len(again) < 2 and time.monotonic() < deadline:
        again += worker.queue.receive("high", 2, 60, 0.5)
    assert failures(worker.invoke_worker("high", again)) == set()
    assert ids <= set(ledger(worker))  # stored while the other instance still holds its slot

    clock.now += 600
    assert tier_cli(store, clock, "lift", "--end", "--reason", "caught up", "--by", "erin") == 0
    assert "lift to pro ended; back to free" in capsys.readouterr().out.splitlines()[-1]
    assert tier_section({}, store=store, clock=clock)["lift"] is None
    assert tier_cli(store, clock, "lift", "--end", "--reason", "again", "--by", "erin") == 0
    assert "no active lift" in capsys.readouterr().out
    records = audit.list_actions(store, verb="tier")
    assert [r["verb"] for r in records] == ["tier lift", "tier lift end"]
    assert records[1]["details"]["remaining_s"] == 7200 - 600 and records[1]["by"] == "erin"
    assert build_collector(clock=clock).run()["notes"].get("tier_lift") is None  # ended: nothing
    assert len(audit.list_actions(store, verb="tier")) == 2

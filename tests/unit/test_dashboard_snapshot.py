"""The dashboard's pure part: snapshots built from timed readings, the ack feed's tallies,
the sampler's isolation of failing sources (fake clock, no I/O)."""

from __future__ import annotations

import json
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.ports import QUEUES, QueueStats
from spillway.dashboard.feeds import AckFeed, SlotMeter
from spillway.dashboard.sampler import Sampler, Sources
from spillway.dashboard.snapshot import (
    AckTally,
    BreakerReading,
    LedgerReading,
    LedgerRow,
    Sample,
    build_snapshot,
)

T0 = 1_800_000_000.0


def depths(**totals: int) -> dict[str, QueueStats]:
    return {q: QueueStats(q, totals.get(q, 0), 0, 0) for q in QUEUES}


def row(n: int, received: float, stored: float) -> LedgerRow:
    return LedgerRow(f"d{n}", "push", None, "octo/repo", "medium", 1, "stored", received, stored)


def test_rates_come_from_the_ledger_total_and_the_ack_tally_per_step():
    samples = [
        Sample(T0, ledger=LedgerReading(100), acks=AckTally(accepted=3)),
        Sample(T0 + 1, ledger=LedgerReading(104), acks=AckTally(accepted=10, rejected=1)),
        Sample(T0 + 3, ledger=LedgerReading(110), acks=AckTally(accepted=4)),
    ]
    snap = build_snapshot(samples, now=T0 + 3)
    # The first sample has no step before it: no rate rather than a made-up one.
    assert snap["series"]["stored_per_s"] == [None, 4.0, 3.0]
    assert snap["series"]["accepted_per_s"] == [None, 10.0, 2.0]
    assert snap["rates"] == {"accepted_per_s": 2.0, "stored_per_s": 3.0}
    assert snap["totals"]["stored"] == 110


def test_a_ledger_that_shrinks_gives_no_negative_rate():
    samples = [Sample(T0, ledger=LedgerReading(50)), Sample(T0 + 1, ledger=LedgerReading(0))]
    assert build_snapshot(samples, now=T0 + 1)["series"]["stored_per_s"] == [None, None]


def test_queue_depth_series_and_latest_reading():
    samples = [Sample(T0, queues=depths(high=5, dlq=1)),
               Sample(T0 + 1, queues=None, errors={"queues": "Throttled: busy"}),
               Sample(T0 + 2, queues={**depths(low=2), "high": QueueStats("high", 1, 2, 3, 4.5)})]
    snap = build_snapshot(samples, now=T0 + 2)
    assert snap["series"]["depth"]["high"] == [5, None, 6]
    assert snap["series"]["depth"]["dlq"] == [1, None, 0]
    assert snap["queues"]["high"] == {"visible": 1, "in_flight": 2, "delayed": 3, "total": 6,
                                      "oldest_age_s": 4.5}
    assert snap["errors"] == {}  # the last step read every source


def test_errors_of_the_last_step_are_shown():
    snap = build_snapshot([Sample(T0, errors={"ledger": "DependencyUnavailable: down"})],
                          now=T0)
    assert snap["errors"] == {"ledger": "DependencyUnavailable: down"}
    assert snap["totals"]["stored"] is None and snap["recent"] == []


def test_breaker_transitions_use_the_breakers_own_instant_within_the_step():
    samples = [Sample(T0, breaker=BreakerReading("CLOSED", 1.0)),
               Sample(T0 + 1, breaker=BreakerReading("OPEN", T0 + 0.4, trips=1)),
               Sample(T0 + 2, breaker=None),
               Sample(T0 + 3, breaker=BreakerReading("HALF_OPEN", T0 - 50)),  # skewed clock
               Sample(T0 + 4, breaker=BreakerReading("CLOSED", T0 + 3.5, trips=1))]
    snap = build_snapshot(samples, now=T0 + 4)
    assert snap["transitions"] == [
        {"at": T0 + 0.4, "from": "CLOSED", "to": "OPEN"},
        {"at": T0 + 3, "from": "OPEN", "to": "HALF_OPEN"},
        {"at": T0 + 3.5, "from": "HALF_OPEN", "to": "CLOSED"},
    ]
    assert snap["series"]["breaker_state"] == ["CLOSED", "OPEN", None, "HALF_OPEN", "CLOSED"]
    assert snap["breaker"] == {"state": "CLOSED", "since": T0 + 3.5, "trips": 1,
                               "retry_after_s": 0.0, "forced": None}


def test_window_drops_old_samples():
    samples = [Sample(T0 + i, ledger=LedgerReading(i)) for i in range(10)]
    snap = build_snapshot(samples, now=T0 + 9, window_s=3)
    assert snap["series"]["t"] == [T0 + 7, T0 + 8, T0 + 9]


def test_recent_rows_carry_the_delay():
    rows = (row(2, T0, T0 + 1.25), row(1, T0, T0 + 0.5))
    snap = build_snapshot([Sample(T0 + 2, ledger=LedgerReading(2, rows))], now=T0 + 2)
    assert [r["delivery_id"] for r in snap["recent"]] == ["d2", "d1"]
    assert snap["recent"][0]["delay_s"] == 1.25
    assert snap["recent"][0]["repository"] == "octo/repo"


def test_ack_summary_is_the_last_step_that_had_answers():
    samples = [Sample(T0, acks=AckTally.of([10.0, 20.0, 30.0], 3, 0, 3, 0)),
               Sample(T0 + 1, acks=AckTally.of([], 0, 0, 3, 0))]
    snap = build_snapshot(samples, now=T0 + 1)
    assert snap["ack"] == {"p50_ms": 20.0, "p95_ms": 30.0, "max_ms": 30.0, "count": 3}
    assert snap["series"]["ack_p50_ms"] == [20.0, None]
    assert snap["totals"]["accepted"] == 3


@given(st.lists(st.floats(min_value=0, max_value=1e5, allow_nan=False), min_size=1,
                max_size=200))
def test_ack_percentiles_are_ordered_and_within_the_values(latencies):
    tally = AckTally.of(latencies, len(latencies), 0, len(latencies), 0)
    assert min(latencies) <= tally.p50_ms <= tally.p95_ms <= tally.max_ms == max(latencies)


def test_snapshot_of_nothing_is_valid_json():
    snap = build_snapshot([], now=T0)
    assert json.loads(json.dumps(snap, allow_nan=False))["series"]["t"] == []
    assert snap["breaker"] is None and snap["ack"] is None


def test_ack_feed_counts_per_drain_and_in_total():
    feed = AckFeed()
    for ms, status in ((5, 202), (7, 202), (9, 429)):
        feed.record(ms, status)
    first = feed.drain()
    assert (first.accepted, first.rejected, first.max_ms) == (2, 1, 9.0)
    feed.record(3, 202)
    second = feed.drain()
    assert (second.accepted, second.accepted_total, second.rejected_total) == (1, 3, 1)


def test_slot_meter_counts_while_held_and_releases_on_error():
    meter = SlotMeter(limit=2)

    def handler(event, context):
        assert meter.reading().in_use == 1
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        meter.wrap(handler)({}, None)
    assert meter.reading().in_use == 0 and meter.reading().limit == 2


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def test_sampler_isolates_a_failing_source():
    clock = Clock()

    def broken():
        raise ConnectionError("queue database down")

    sampler = Sampler(Sources(queues=broken, ledger=lambda: LedgerReading(7),
                              labels={"backend": "postgres"}), clock=clock)
    sampler.sample_now()
    clock.t += 1
    sampler.sample_now()
    snap = sampler.snapshot()
    assert snap["errors"] == {"queues": "ConnectionError: queue database down"}
    assert snap["totals"]["stored"] == 7 and snap["queues"] == {}
    assert snap["labels"] == {"backend": "postgres"}
    assert snap["series"]["t"] == [T0, T0 + 1]


def test_a_source_that_hangs_delays_neither_the_others_nor_itself_twice():
    release, calls = threading.Event(), []

    def hanging():
        calls.append(1)
        release.wait()
        return LedgerReading(5)

    sampler = Sampler(Sources(ledger=hanging, queues=lambda: depths(high=2)), step_s=0.05)
    try:
        first = sampler.sample_now()
        second = sampler.sample_now()
        assert first.ledger is None and first.queues["high"].total == 2
        # late, not failed: the dashboard's own probe is slow (shown grey, never an error)
        assert second.stale == {"ledger": "no answer within 0.04 s"} and second.errors == {}
        assert len(calls) == 1  # not asked again while still busy
        release.set()
        for _ in range(200):  # the answer arrives at a later step
            if sampler.sample_now().ledger is not None:
                break
        assert sampler.snapshot()["totals"]["stored"] == 5
    finally:
        release.set()
        sampler.stop()


def test_sampler_rejects_a_bad_step():
    with pytest.raises(ValueError):
        Sampler(Sources(), step_s=0)

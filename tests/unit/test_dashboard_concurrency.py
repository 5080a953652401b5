"""Concurrency the dashboard shows is the most executions at once in each step, not a reading
of "now" once a second (which shows a worker storing 100 deliveries a second as idle); probe
timeouts are stale, not errors; and what the report's page and latency plot make of a run."""

from __future__ import annotations

import threading

import pytest

from chalicelib.ports import QueueStats
from spillway.dashboard.feeds import AckFeed, SlotMeter
from spillway.dashboard.sampler import Sampler, Sources
from spillway.dashboard.snapshot import Sample, SlotReading, build_snapshot, peak_overlap
from spillway.dashboard.sources import reserved_concurrency_reader
from spillway.local.concurrency import ReservedConcurrency
from spillway.ops.status import concurrency_section
from spillway.report.html import render_index
from spillway.report.plots import latency_scale
from spillway.report.thresholds import checks


def test_a_short_invocation_between_two_readings_is_seen():
    limiter = ReservedConcurrency("worker_high", 4)
    read = reserved_concurrency_reader(limiter)
    for _ in range(3):  # three short invocations, two of them overlapping
        assert limiter.try_acquire()
    limiter.release()
    limiter.release()
    limiter.release()
    assert limiter.try_acquire()
    limiter.release()
    assert read() == SlotReading(in_use=0, limit=4, peak=3, started=4)
    # The next step starts from what runs now: nothing ran, nothing is shown.
    assert read() == SlotReading(in_use=0, limit=4, peak=0, started=0)


def test_an_invocation_still_running_counts_in_the_next_step_too():
    limiter = ReservedConcurrency("worker_low", 2)
    read = reserved_concurrency_reader(limiter)
    assert limiter.try_acquire()
    assert read().peak == 1
    assert read() == SlotReading(in_use=1, limit=2, peak=1, started=0)
    limiter.release()


def test_throttled_invocations_do_not_count_as_executions():
    limiter = ReservedConcurrency("worker_batch", 1)
    assert limiter.try_acquire() and not limiter.try_acquire()
    limiter.release()
    assert limiter.take_interval() == {"in_flight": 0, "peak": 1, "invocations": 1,
                                       "reserved_concurrency": 1}


def test_the_slot_meter_keeps_the_peak_between_readings():
    meter = SlotMeter(limit=2)
    barrier = threading.Barrier(3)

    def hold():
        with meter.slot():
            barrier.wait(10)
            barrier.wait(10)

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for t in threads:
        t.start()
    barrier.wait(10)  # both hold a slot now
    barrier.wait(10)
    for t in threads:
        t.join(10)
    assert meter.reading() == SlotReading(0, 2, 2, 2)
    assert meter.reading() == SlotReading(0, 2, 0, 0)


@pytest.mark.parametrize("spans, peak", [
    ([], 0), ([(0, 1)], 1), ([(0, 1), (1, 2)], 1), ([(0, 2), (1, 3), (1.5, 1.6)], 3),
    ([(0, 10), (2, 3), (4, 5)], 2)])
def test_peak_overlap(spans, peak):
    assert peak_overlap(spans) == peak


def test_the_edge_peak_comes_from_the_answers_it_recorded():
    now = [100.0]
    feed = AckFeed(clock=lambda: now[0])
    feed.record(500.0)          # 99.5 .. 100.0
    now[0] = 100.2
    feed.record(400.0)          # 99.8 .. 100.2: overlaps the first
    now[0] = 101.0
    feed.record(100.0)          # 100.9 .. 101.0: alone
    assert feed.take_peak() == 2 and feed.take_peak() == 0
    assert feed.drain().accepted == 3  # the tally is a reader of its own


def test_the_series_and_section_show_the_step_peak_not_the_instant():
    samples = [Sample(t=float(t), slots={"worker_high": SlotReading(0, 4, p, 10 * p),
                                         "edge": SlotReading(1, 2)})
               for t, p in ((1, 0), (2, 3), (3, 2))]
    snap = build_snapshot(samples, now=3.5)
    assert snap["series"]["slots"] == {"edge": [1, 1, 1], "worker_high": [0, 3, 2]}
    assert snap["slots"]["worker_high"] == {"in_use": 0, "limit": 4, "peak": 2, "started": 20}
    section = concurrency_section(snap)
    assert (section["in_use"], section["peak"], section["limit"]) == (1, 3, 6)


def test_a_probe_that_times_out_is_stale_not_an_error():
    release = threading.Event()

    def slow_queues():
        release.wait(10)
        return {"high": QueueStats("high", 1, 0, 0)}

    def broken_ledger():
        raise RuntimeError("relation webhook_deliveries does not exist")

    sampler = Sampler(Sources(queues=slow_queues, ledger=broken_ledger))
    try:
        sampler.sample_now(budget_s=0.05)
        snap = sampler.snapshot()
        assert snap["stale"] == {"queues": "no answer within 0.05 s"}
        assert list(snap["errors"]) == ["ledger"]
        release.set()
        sampler.sample_now(budget_s=5.0)
        snap = sampler.snapshot()
        assert snap["stale"] == {} and snap["queues"]["high"]["visible"] == 1
    finally:
        release.set()
        sampler.stop()


def test_without_slots_the_concurrency_section_says_why():
    assert concurrency_section({"slots": {}})["available"] is False
    stale = concurrency_section({"slots": {}, "stale": {"slots": "no answer within 0.8 s"}})
    assert "execution slots: no answer within 0.8 s" in stale["reason"]


@pytest.mark.parametrize("values, expected", [
    ([120.0, 350.0], "log"), ([1500.0, 2800.0], "linear"), ([], "linear")])
def test_the_latency_axis_shows_the_data_and_the_threshold(values, expected):
    scale, bottom, top = latency_scale(values, 3000.0)
    assert scale == expected and top > 3000.0
    if values:
        assert bottom < min(values)


RUN = {"sent": 522, "accepted": 522, "stored": 522, "missing": 0, "duplicated": 0,
       "half_stored": 0, "drained": True, "ack_p95_ms": 212.5, "error_rate": 0.0,
       "recovery_s": 12.3, "worker_throttles": {"worker_high": 0}, "rejected_examples": [],
       "backend": "aws", "ok": True, "violations": []}


def test_each_threshold_is_a_row_with_its_result():
    rows = {r["name"]: r for r in checks(RUN)}
    assert all(r["ok"] for r in rows.values()) and len(rows) == 7
    p95 = rows["acknowledgement latency p95"]
    assert (p95["limit"], p95["measured"]) == ("< 3000 ms", "212.5 ms")
    failed = {r["name"]: r["ok"] for r in checks({**RUN, "recovery_s": None, "drained": False})}
    assert failed["queues drained at the end"] is False
    assert failed["recovery after the last fault (until drained)"] is False
    assert checks({**RUN, "missing": None})[0]["ok"] is None  # not counted is not a pass


def test_the_page_is_for_a_person(tmp_path):
    about = {"started": "2026-12-08 00:10:00 UTC", "corpus": "../shared/github-webhooks",
             "backend": "aws", "tier": "free", "chaos": "db-outage 15 s"}
    page = render_index("Spillway demo", RUN, [tmp_path / "slots.png"], verdict="OK",
                        about=about)
    for text in ("2026-12-08 00:10:00 UTC", "../shared/github-webhooks", "db-outage 15 s",
                 "<td>pass</td><td>acknowledgement latency p95</td><td>&lt; 3000 ms</td>",
                 "<td>acknowledgement latency p95</td><td>212.5</td><td>ms</td>",
                 "<td>stored in the ledger</td><td>522</td><td>deliveries</td>",
                 "<td>queues drained at the end</td><td>yes</td>",
                 "most executions running at once"):
        assert text in page, text
    for raw in ("half_stored", "True", "[]", "{"):
        assert raw not in page.split("<body>")[1], raw


def test_refused_examples_are_named_by_file_and_answer():
    page = render_index("run", {"rejected_examples": [
        {"source": "/corpus/pull_request/reopened.payload.json", "status": 503,
         "response": {"error": "queue unavailable"}}]}, [])
    assert "<td>reopened.payload.json: HTTP 503</td>" in page
    assert "queue unavailable" not in page  # the full answers stay in the JSON summary

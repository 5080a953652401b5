"""Round-robin over lanes with a fake clock: skip an unhealthy lane, re-admit it."""

from __future__ import annotations

import pytest

from chalicelib.core.concurrency.lanes import (
    LaneConfig,
    LanePool,
    disable,
    enable,
    pick,
    record,
    status,
)
from chalicelib.errors import NotFound

CONFIG = LaneConfig(window_s=60, bucket_s=5, error_rate_threshold=0.5, minimum_calls=4,
                    eject_s=30)


def picks(pool, now, n):
    out = []
    for _ in range(n):
        lane, pool = pick(pool, now)
        out.append(lane)
    return out, pool


def test_round_robin_in_order():
    names, _ = picks(LanePool.of(3), 0.0, 7)
    assert names == ["lane-1", "lane-2", "lane-3", "lane-1", "lane-2", "lane-3", "lane-1"]


def test_a_failing_lane_is_skipped_then_readmitted_after_recovery():
    pool = LanePool.of(3)
    for i in range(4):
        pool = record(pool, "lane-2", ok=i == 0, now=10.0, config=CONFIG)  # 3 of 4 failed
    names, pool = picks(pool, 11.0, 4)
    assert names == ["lane-1", "lane-3", "lane-1", "lane-3"]
    assert status(pool, 11.0, CONFIG)[1] == {"lane": "lane-2", "state": "ejected", "reason": "",
                                             "calls": 4, "errors": 3, "ejected_until": 40.0}
    names, pool = picks(pool, 40.0, 3)
    assert sorted(names) == ["lane-1", "lane-2", "lane-3"]
    assert status(pool, 40.0, CONFIG)[1]["state"] == "healthy"
    assert status(pool, 40.0, CONFIG)[1]["calls"] == 0  # on probation with a fresh window


def test_a_healthy_lane_with_few_errors_stays():
    pool = LanePool.of(2)
    for i in range(10):
        pool = record(pool, "lane-1", ok=i % 4 != 0, now=float(i), config=CONFIG)
    names, _ = picks(pool, 10.0, 2)
    assert names == ["lane-1", "lane-2"]


def test_old_errors_leave_the_sliding_window():
    pool = LanePool.of(2)
    for _ in range(3):
        pool = record(pool, "lane-1", ok=False, now=0.0, config=CONFIG)
    pool = record(pool, "lane-1", ok=False, now=61.0, config=CONFIG)  # 1 error in the window
    assert status(pool, 61.0, CONFIG)[0]["state"] == "healthy"


def test_disable_and_enable_by_hand():
    pool = disable(LanePool.of(2), "lane-1", reason="canary v7")
    names, pool = picks(pool, 0.0, 2)
    assert names == ["lane-2", "lane-2"]
    assert status(pool, 0.0)[0]["state"] == "disabled" and status(pool, 0.0)[0]["reason"]
    assert pick(disable(pool, "lane-2", "drain"), 0.0)[0] is None
    names, _ = picks(enable(pool, "lane-1"), 0.0, 2)
    assert sorted(names) == ["lane-1", "lane-2"]


def test_when_every_lane_is_ejected_work_still_flows_round_robin():
    pool = LanePool.of(2)
    for lane in ("lane-1", "lane-2"):
        for _ in range(4):
            pool = record(pool, lane, ok=False, now=0.0, config=CONFIG)
    names, _ = picks(pool, 1.0, 3)
    assert names == ["lane-1", "lane-2", "lane-1"]


def test_unknown_lanes_and_bad_counts_are_refused():
    with pytest.raises(NotFound):
        record(LanePool.of(1), "lane-9", ok=True, now=0.0)
    with pytest.raises(ValueError):
        LanePool.of(0)

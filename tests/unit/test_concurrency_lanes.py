"""Round-robin over lanes with a fake clock: skip an unhealthy lane, re-admit it; and which
lane an invocation came through (its invoked ARN)."""

from __future__ import annotations

import pytest

from chalicelib.core.concurrency.lanes import (
    LaneConfig,
    LanePool,
    disable,
    enable,
    lane_of_arn,
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


def test_tally_merges_an_instances_counts_and_ejects_as_record_would():
    from chalicelib.core.concurrency.lanes import tally

    one_by_one = LanePool.of(2)
    for ok in (True, False, False, False):
        one_by_one = record(one_by_one, "lane-1", ok, 100.0, CONFIG)
    merged = tally(LanePool.of(2), "lane-1", 4, 3, 100.0, CONFIG)
    assert merged == one_by_one and merged.lanes[0].ejected_until == 130.0
    with pytest.raises(ValueError):
        tally(LanePool.of(2), "lane-1", 1, 2, 100.0, CONFIG)


def test_serving_follows_picks_rules_for_pollers_that_run_every_lane():
    from chalicelib.core.concurrency.lanes import serving, tally

    pool = tally(LanePool.of(2), "lane-2", 4, 4, 100.0, CONFIG)  # lane-2 ejected until 130
    assert serving(pool, "lane-1", 101.0) and not serving(pool, "lane-2", 101.0)
    assert serving(pool, "lane-2", 130.0)  # re-admitted
    both = tally(pool, "lane-1", 4, 4, 100.0, CONFIG)  # every enabled lane ejected: keep going
    assert serving(both, "lane-1", 101.0) and serving(both, "lane-2", 101.0)
    off = disable(both, "lane-1", "x")
    assert not serving(off, "lane-1", 101.0) and serving(off, "lane-2", 101.0)


def test_json_form_round_trips_and_fits_the_plans_lane_count():
    from chalicelib.core.concurrency.lanes import from_dict, tally, to_dict

    pool = disable(tally(LanePool.of(3), "lane-2", 4, 4, 100.0, CONFIG), "lane-3", "canary")
    assert from_dict(to_dict(pool), 3) == pool
    fewer = from_dict(to_dict(pool), 2)  # a tier with fewer lanes drops lane-3
    assert [x.name for x in fewer.lanes] == ["lane-1", "lane-2"] and fewer.lanes[1] == pool.lanes[1]
    more = from_dict(to_dict(pool), 4)
    assert more.lanes[3] == LanePool.of(4).lanes[3] and more.lanes[2].disabled
    assert from_dict(None, 2) == LanePool.of(2)


FN = "arn:aws:lambda:us-east-1:123456789012:function:spillway-dev-worker_high"


@pytest.mark.parametrize(("arn", "lane"), [
    (FN, "lane-1"),  # unqualified: Chalice's own mapping
    (f"{FN}:$LATEST", "lane-1"),
    (f"{FN}:lane-2", "lane-2"),
    (f"{FN}:lane-12", "lane-12"),
    ("arn:aws-cn:lambda:cn-north-1:123456789012:function:f:lane-3", "lane-3"),
    (f"{FN}:7", None),  # a published version: not a lane
    (f"{FN}:live", None),  # another alias
    (f"{FN}:lane-0", None),
    (f"{FN}:lane-02", None),
    (f"{FN}:lane-", None),
    (f"{FN}:lane-2:extra", None),
    ("", None),  # the local runtime's context
    (None, None),
    ("arn:aws:sqs:us-east-1:123456789012:spillway-high", None),
    ("arn:aws:lambda:us-east-1:123456789012:layer:x:1", None),
    ("spillway-dev-worker_high", None),
])
def test_lane_of_invoked_function_arn(arn, lane):
    assert lane_of_arn(arn) == lane

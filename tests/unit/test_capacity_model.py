"""The capacity model (``spillway.capacity.model``): seeded, deterministic, conserving every
arrival, and moved by the plan's knobs in the directions the plan says."""

from __future__ import annotations

import math

import pytest

from chalicelib.core.concurrency.plan import build_plan
from spillway.capacity.inputs import build_profile, parse_burst
from spillway.capacity.model import EVEN, Profile, Service, erlang_b
from spillway.capacity.model import simulate as _simulate

MIX = {("high", "light"): 0.2, ("medium", "light"): 0.4, ("low", "light"): 0.25,
       ("low", "heavy"): 0.05, ("low", "batch"): 0.1}


def simulate(*args, **kwargs):
    """Evenly spaced arrivals unless a test asks otherwise: exact arrival counts to check."""
    return _simulate(*args, **{"arrivals": EVEN, **kwargs})


def _burst(rate: float = 2.0, burst: str = "40/s:30s", outages=()) -> Profile:
    return build_profile(rate, [parse_burst(burst)], list(outages))


def _conserved(r) -> bool:
    return math.isclose(r.arrivals, r.refused + r.stored + r.queued_at_end, rel_tol=1e-9)


def test_the_same_seed_gives_the_same_prediction_and_another_seed_a_nearby_one():
    plan, profile = build_plan("free"), _burst()
    a = simulate(plan, profile, MIX, seed=7, arrivals="poisson")
    b = simulate(plan, profile, MIX, seed=7, arrivals="poisson")
    c = simulate(plan, profile, MIX, seed=8, arrivals="poisson")
    assert a == b
    assert a.series != c.series  # the draws do change something
    assert a.peak_depth_total == pytest.approx(c.peak_depth_total, rel=0.3)


@pytest.mark.parametrize("tier, burst", [("free", "40/s:30s"), ("free", "2000/s:10s"),
                                         ("pro", "400/s:20s")])
def test_every_arrival_is_refused_stored_or_still_queued(tier, burst):
    result = simulate(build_plan(tier), _burst(burst=burst), MIX, seed=1)
    assert _conserved(result)
    assert result.arrivals == pytest.approx(2.0 * 60 + float(burst.split("/")[0]) *
                                            float(burst.split(":")[1][:-1]))


def test_a_burst_past_the_api_throttle_is_refused_and_nothing_below_it():
    plan = build_plan("free")  # API throttle 100/s, bucket 15
    assert simulate(plan, _burst(burst="40/s:30s"), MIX).refused < 0.5
    over = simulate(plan, _burst(burst="300/s:10s"), MIX)
    # the edge's 10 instances x 30 ms refuse some (Erlang B at 9 erlangs), the throttle the rest
    assert over.edge_busy == pytest.approx(300 * 10 * erlang_b(10, 9.0), rel=0.01)
    assert over.refused == pytest.approx((300 - plan.api_rate_limit) * 10, rel=0.02)
    assert _conserved(over)


def test_edge_refusals_follow_erlang_b_on_the_reserved_concurrency():
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    assert erlang_b(10, 0.6) < 1e-8
    assert erlang_b(0, 1.0) == 1.0
    slow_edge = Service(edge_s=1.0)  # 10 instances offered 40 erlangs: most are refused
    r = simulate(build_plan("free"), _burst(), MIX, slow_edge)
    assert r.edge_busy > 0.5 * 40 * 30
    assert _conserved(r)


def test_a_slower_store_builds_a_deeper_backlog_that_drains_later():
    plan, profile = build_plan("free"), _burst(burst="60/s:30s")
    fast = simulate(plan, profile, MIX, Service(store_s=0.01))
    slow = simulate(plan, profile, MIX, Service(store_s=0.2))
    assert slow.peak_depth_total > 2 * fast.peak_depth_total
    assert slow.drained_s > fast.drained_s
    assert slow.wait_p95_s["priority"]["low"] > fast.wait_p95_s["priority"]["low"]


def test_more_concurrency_serves_a_saturating_burst_sooner():
    profile = _burst(burst="80/s:30s")  # under the free tier's API throttle
    slow = Service(store_s=0.2)
    free = simulate(build_plan("free"), profile, MIX, slow)
    pro = simulate(build_plan("pro"), profile, MIX, slow)
    assert pro.peak_depth_total < free.peak_depth_total
    assert pro.wait_max_s["priority"]["medium"] < free.wait_max_s["priority"]["medium"]
    assert free.refused < 0.5 and pro.refused < 0.5
    # the workers never hold more connections than the slots allow
    assert free.db_connections_peak <= free.slot_max_limit
    assert pro.db_connections_peak <= pro.slot_max_limit


def test_a_database_outage_holds_work_back_until_the_breaker_probes_again():
    plan = build_plan("free")
    calm = simulate(plan, build_profile(5.0, [], [], 60), MIX, Service(breaker_open_s=5))
    outage = simulate(plan, build_profile(5.0, [], [(20.0, 40.0)], 60), MIX,
                      Service(breaker_open_s=7))
    # arrivals during the 20 s outage queue up; work resumes half a breaker period (3.5 s) later
    assert outage.peak_depth_total >= 5.0 * 20
    assert outage.wait_max_s["priority"]["high"] >= 20
    assert calm.wait_max_s["priority"]["high"] < 3
    t = outage.series["t_s"]
    depth = [sum(outage.series[f"depth_{q}"][i] for q in ("high", "medium", "low"))
             for i in range(len(t))]
    assert depth[t.index(40.0)] > depth[t.index(20.0)]
    assert _conserved(outage)


def test_the_mix_decides_which_queue_fills():
    only_batch = {("low", "batch"): 1.0}
    r = simulate(build_plan("free"), _burst(), only_batch)
    assert r.peak_depth["batch"] > 0
    assert r.peak_depth["high"] == r.peak_depth["medium"] == r.peak_depth["low"] == 0
    assert set(r.wait_p95_s["priority"]) == {"low"}


@pytest.mark.parametrize("mix, message", [({}, "positive total"),
                                          ({("urgent", "light"): 1.0}, "unknown class"),
                                          ({("high", "light"): -1.0}, "non-negative")])
def test_a_bad_mix_is_refused(mix, message):
    with pytest.raises(ValueError, match=message):
        simulate(build_plan("free"), _burst(), mix)


def test_poisson_arrivals_conserve_too_and_an_unknown_process_is_refused():
    r = simulate(build_plan("free"), _burst(), MIX, arrivals="poisson", seed=3)
    assert _conserved(r)
    assert r.arrivals == pytest.approx(2 * 60 + 40 * 30, rel=0.1)
    with pytest.raises(ValueError, match="arrivals"):
        simulate(build_plan("free"), _burst(), MIX, arrivals="bursty")


def test_a_profile_refuses_negative_or_missing_rates():
    with pytest.raises(ValueError):
        Profile(())
    with pytest.raises(ValueError):
        Profile((1.0, -2.0))


def test_an_hour_at_thousands_per_second_is_a_fluid_run_not_a_per_delivery_one():
    plan = build_plan("custom", edge_concurrency=600, burst=800, queue_capacity=5000,
                      max_connections=900, lanes=3, account_concurrency=3000)
    r = simulate(plan, Profile((5000.0,) * 600), MIX, tail_s=60)
    assert r.arrivals == pytest.approx(3_000_000)
    assert _conserved(r)


def test_a_host_rate_caps_all_workers_together_and_slows_the_drain():
    plan, profile = build_plan("free"), build_profile(2.0, [], [(10.0, 30.0)], 40)
    free_cpu = simulate(plan, profile, MIX, Service(breaker_open_s=5))
    one_cpu = simulate(plan, profile, MIX, Service(breaker_open_s=5, host_rate=10.0))
    assert one_cpu.drained_s > free_cpu.drained_s
    assert _conserved(one_cpu)

"""The status sections, pure: health from queue depths against the tier's capacity, the
breaker and the slots (each signal it cannot read listed with why), concurrency from the slot
meters, the tier from SPILLWAY_TIER; the snapshot carries each section under its own key and
marks one never read as unavailable; ``spillway status`` renders it on one screen."""

from __future__ import annotations

import pytest

from chalicelib.errors import ConfigError
from chalicelib.ports import QUEUES, QueueStats
from spillway.commands.status import render
from spillway.dashboard.sampler import Sampler, Sources
from spillway.dashboard.snapshot import Sample, build_snapshot
from spillway.ops.status import (
    DERIVED,
    concurrency_section,
    health_section,
    tier_section,
)

T0 = 1_800_000_000.0


def snap(visible=None, breaker="CLOSED", slots=None, tier="free", errors=None) -> dict:
    visible = visible or {}
    out = {"queues": {q: {"visible": visible.get(q, 0), "in_flight": 0, "delayed": 0,
                          "total": visible.get(q, 0), "oldest_age_s": 0.0} for q in QUEUES},
           "breaker": None if breaker is None else {"state": breaker, "trips": 0,
                                                    "retry_after_s": 0.0, "since": 0.0},
           "slots": slots or {}, "errors": errors or {}, "labels": {"backend": "postgres"},
           "tier": tier_section({"SPILLWAY_TIER": tier})}
    for name, derive in DERIVED.items():
        out[name] = derive(out)
    return out


def test_an_idle_system_is_healthy_and_says_what_it_could_not_assess():
    health = snap()["health"]
    assert (health["status"], health["reasons"]) == ("healthy", [])
    assert health["assessed"] == ["queues", "breaker"]
    assert set(health["not_assessed"]) == {"slots", "refusals"}


@pytest.mark.parametrize("tier, depth, status", [
    ("free", 80, "healthy"), ("free", 81, "degraded"), ("free", 100, "critical"),
    ("pro", 400, "healthy"), ("pro", 401, "degraded"), ("enterprise", 999, "degraded"),
])
def test_queue_depth_is_measured_against_the_tiers_capacity(tier, depth, status):
    health = snap({"low": depth}, tier=tier)["health"]
    assert health["status"] == status
    assert health["queue_capacity"] == {"free": 100, "pro": 500, "enterprise": 1000}[tier]


def test_the_dlq_is_not_a_priority_queue_for_health():
    assert snap({"dlq": 5000})["health"]["status"] == "healthy"


@pytest.mark.parametrize("state, status", [("OPEN", "critical"), ("FORCED_OPEN", "critical"),
                                           ("HALF_OPEN", "degraded"), ("FORCED_CLOSED", "healthy")])
def test_breaker_state_sets_health(state, status):
    assert snap(breaker=state)["health"]["status"] == status


def test_a_missing_breaker_reading_names_the_error():
    health = snap(breaker=None, errors={"breaker": "DependencyError: table gone"})["health"]
    assert health["not_assessed"]["breaker"] == "DependencyError: table gone"


def test_slots_count_when_the_meters_are_there():
    s = snap(slots={"worker_high": {"in_use": 5, "limit": 5},
                    "worker_low": {"in_use": 4, "limit": 5}})
    assert s["concurrency"] == {"in_use": 9, "peak": 9, "limit": 10, "pools": s["slots"]}
    assert s["health"]["status"] == "degraded" and "slots" in s["health"]["assessed"]
    assert s["health"]["reasons"] == ["slot utilisation 90% > 80% of limit 10"]


def test_without_meters_concurrency_is_unavailable_with_a_reason():
    c = concurrency_section({"slots": {}})
    assert c["available"] is False and "in-process" in c["reason"]


def test_a_pool_without_a_limit_leaves_the_total_limit_unknown():
    c = concurrency_section({"slots": {"edge": {"in_use": 2, "limit": None},
                                       "worker_high": {"in_use": 1, "limit": 4}}})
    assert (c["in_use"], c["limit"]) == (3, None)


def test_tier_comes_from_spillway_tier_or_the_default():
    assert tier_section({})["source"].startswith("default (free")
    assert tier_section({"SPILLWAY_TIER": "Pro"})["queue_capacity"] == 500
    with pytest.raises(ConfigError, match="SPILLWAY_TIER"):
        tier_section({"SPILLWAY_TIER": "platinum"})


def test_health_without_a_tier_reading_does_not_invent_a_capacity():
    s = snap({"high": 10_000})
    s["tier"] = {"available": False, "reason": "ConfigError: bad tier"}
    health = health_section(s)
    assert health["status"] == "healthy" and health["queue_capacity"] is None
    assert "bad tier" in health["not_assessed"]["queues"]


def test_sections_sit_under_their_own_keys_and_an_unread_one_says_why():
    samples = [Sample(T0, sections={"alarms": {"alarms": [{"name": "a", "state": "OK"}]}}),
               Sample(T0 + 1, errors={"lanes": "RuntimeError: no lanes"})]
    out = build_snapshot(samples, now=T0 + 1, sections=("alarms", "lanes", "tier"),
                         derived={"count": lambda s: {"n": len(s["alarms"]["alarms"])}})
    assert out["alarms"] == {"alarms": [{"name": "a", "state": "OK"}]}  # the latest reading
    assert out["lanes"] == {"available": False, "reason": "RuntimeError: no lanes"}
    assert out["tier"] == {"available": False, "reason": "not read yet"}
    assert out["count"] == {"n": 1}


def test_the_sampler_reads_sections_in_isolation():
    def broken():
        raise RuntimeError("source down")

    sampler = Sampler(Sources(queues=lambda: {q: QueueStats(q, 1, 0, 0) for q in QUEUES},
                              sections={"tier": lambda: tier_section({}), "alarms": broken},
                              derived=dict(DERIVED)), clock=lambda: T0)
    sampler.sample_now(budget_s=5)
    out = sampler.snapshot()
    sampler.stop()
    assert out["tier"]["name"] == "free" and out["queues"]["high"]["visible"] == 1
    assert out["alarms"] == {"available": False, "reason": "RuntimeError: source down"}
    assert out["errors"] == {"alarms": "RuntimeError: source down"}
    assert out["health"]["assessed"] == ["queues"]  # no breaker source


def test_the_one_screen_text_shows_every_section():
    s = snap({"medium": 90}, breaker="HALF_OPEN")
    s["lanes"] = {"available": False, "reason": "not built"}
    s["alarms"] = {"alarms": [{"name": "spillway-dlq-not-empty", "state": "ALARM"}]}
    text = "\n".join(render(s))
    assert text.startswith("health       DEGRADED")
    assert "queue medium depth 90 > 80% of capacity 100" in text
    assert "breaker      HALF_OPEN" in text and "queue dlq" in text
    assert "lanes        unavailable: not built" in text
    assert "spillway-dlq-not-empty" in text and "ALARM" in text
    assert "concurrency  unavailable" in text


def test_the_tier_section_shows_an_active_lift_and_none_once_expired():
    from spillway.ops.tier import prepare_lift, start_lift
    from tests.fakes import MemoryState

    store = MemoryState()
    assert tier_section({}, store=store, clock=lambda: T0)["lift"] is None
    start_lift(store, prepare_lift(to="pro", duration_s=600, by="ops", reason="burst",
                                   from_tier="free", now=T0))
    lift = tier_section({}, store=store, clock=lambda: T0 + 100)["lift"]
    assert (lift["to"], lift["from"], lift["until"], lift["remaining_s"], lift["by"],
            lift["reason"]) == ("pro", "free", T0 + 600, 500, "ops", "burst")
    s = snap({})
    s["tier"] = tier_section({}, store=store, clock=lambda: T0 + 100)
    assert "tier lift    free -> pro for 500 s more (by ops: burst)" in "\n".join(render(s))
    assert tier_section({}, store=store, clock=lambda: T0 + 600)["lift"] is None
    s["tier"] = tier_section({}, store=store, clock=lambda: T0 + 600)
    assert "tier lift    none" in "\n".join(render(s))
    assert "lift" not in tier_section({})  # no store given: the section says nothing of it


def _lanes(states: dict[str, list[str]]) -> dict:
    return {"tier": "free", "functions": [
        {"function": fn, "lanes": [{"lane": f"lane-{i}", "state": st}
                                   for i, st in enumerate(sts, 1)]}
        for fn, sts in states.items()]}


def test_a_function_with_every_lane_disabled_degrades_health_naming_it():
    base = snap()
    base["lanes"] = _lanes({"worker_high": ["disabled"], "worker_low": ["disabled", "healthy"]})
    health = health_section(base)
    assert health["status"] == "degraded"
    assert [r for r in health["reasons"] if "lane" in r] == [
        "worker_high: every lane disabled (lane-1): it consumes nothing from its queue; "
        "`spillway lanes enable worker_high lane-1 --reason ...` serves it again"]
    base["lanes"] = _lanes({"worker_high": ["disabled", "ejected"]})
    assert health_section(base)["status"] == "healthy"  # an ejected lane comes back by itself
    critical = snap(breaker="OPEN")
    critical["lanes"] = _lanes({"worker_high": ["disabled"]})
    assert health_section(critical)["status"] == "critical"  # never lowered


def test_not_assessed_reasons_explain_themselves_without_issue_numbers():
    for why in snap()["health"]["not_assessed"].values():
        assert "issue" not in why.lower()


def test_the_shared_database_slots_are_assessed_when_no_execution_meter_is_there():
    s = snap()
    s["db_slots"] = {"name": "postgres", "limit": 10, "max_limit": 10, "in_use": 10,
                     "waiters": 3, "oldest_lease_s": 25.0,
                     "holders": [{"holder": "high:dead:1", "priority": "high", "count": 10,
                                  "age_s": 25.0, "expires_in_s": -1.0, "expired": True}]}
    health = health_section(s)
    assert "slots" in health["assessed"] and health["status"] != "healthy"
    s["health"] = health
    line = next(x for x in render(s) if x.startswith("db slots"))
    assert line == "db slots     10 in use of 10 (max 10), 3 waiting, oldest lease 25 s, 1 expired"

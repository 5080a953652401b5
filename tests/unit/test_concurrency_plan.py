"""Tier plans: presets valid, every rule refused with its name and numbers, renderings agree."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.core.concurrency.plan import (
    FUNCTIONS,
    PRESETS,
    SLOT_LEASE_S,
    PlanError,
    build_plan,
    derive,
    tier_knobs,
)
from chalicelib.core.concurrency.render import (
    chalice_stage_config,
    sqs_subscriptions,
    template_parameters,
)
from chalicelib.core.concurrency.rules import RULES, validate
from chalicelib.errors import ConfigError


@pytest.mark.parametrize("tier", sorted(PRESETS))
def test_every_preset_satisfies_every_rule(tier):
    plan = build_plan(tier)
    assert validate(plan) == []
    assert plan.edge_concurrency == PRESETS[tier]["edge_concurrency"]
    for worker in plan.workers:
        assert worker.maximum_concurrency <= worker.reserved_concurrency
        assert all(m.maximum_concurrency >= 2 for m in worker.mappings)
    assert plan.db_connection_budget <= plan.db_connection_limit
    json.dumps(plan.to_dict())  # JSON-ready


def test_presets_weight_reserved_concurrency_toward_high():
    for tier in PRESETS:
        plan = build_plan(tier)
        rc = {w.name: w.reserved_concurrency for w in plan.workers}
        assert rc["worker_high"] > rc["worker_medium"] > rc["worker_low"], (tier, rc)


def test_worker_budget_is_capped_by_the_database_not_the_burst():
    plan = build_plan("enterprise")  # burst 150 > 100 - 3 - 5 connections
    workers = sum(w.reserved_concurrency for w in plan.workers)
    assert workers == plan.db_connection_limit - plan.operator_reserve == 92
    bigger = build_plan("enterprise", max_connections=400)
    assert sum(w.reserved_concurrency for w in bigger.workers) == 150


# one custom override per rule, breaking that rule alone
BREAKERS = {
    "mapping_sum_within_reserved": ({"maximum_concurrency": {"worker_high": 12}},
                                    ["worker_high", "12", "6"]),
    "maximum_concurrency_range": ({"maximum_concurrency": {"worker_low": 1}},
                                  ["worker_low", "lane-1", "1", "2..1000"]),
    "batch_size_range": ({"functions": {"worker_heavy": {"batch_size": 11}}},
                         ["worker_heavy", "11", "1..10"]),
    "batching_window_range": ({"functions": {"worker_low": {"window_s": 301}}},
                              ["worker_low", "301", "0..300"]),
    "visibility_timeout_floor": ({"visibility_timeout": {"worker_high": 180}},
                                 ["worker_high", "180", "30", "181"]),
    "visibility_timeout_max": ({"visibility_timeout": {"worker_high": 43201}},
                               ["43201", "43200"]),
    "lambda_timeout_range": ({"functions": {"worker_batch": {"timeout_s": 901}}},
                             ["worker_batch", "901", "900"]),
    "lambda_memory_range": ({"edge_memory_mb": 64}, ["edge", "64", "128..10240"]),
    "connection_budget": ({"worker_concurrency": 15, "pool_size": 10},
                          ["15 x pool 10", "155", "max_connections 100", "97"]),
    "account_concurrency": ({"account_concurrency": 110}, ["25", "110", "100", "10"]),
    "edge_timeout": ({"edge_timeout_s": 10.0}, ["10.0", "GitHub"]),
    "positive_knobs": ({"queue_capacity": 0}, ["queue_capacity", "0"]),
}


def test_every_rule_has_a_breaker_case():
    assert {check.__name__ for check in RULES} == set(BREAKERS)


@pytest.mark.parametrize("rule", sorted(BREAKERS))
def test_each_rule_is_refused_with_its_name_and_numbers(rule):
    overrides, numbers = BREAKERS[rule]
    with pytest.raises(PlanError) as caught:
        build_plan("free", **overrides)
    assert {v.rule for v in caught.value.violations} == {rule}
    message = str(caught.value)
    assert rule in message
    for number in numbers:
        assert number in message, (number, message)


def test_all_violations_are_listed_together():
    with pytest.raises(PlanError) as caught:
        build_plan("pro", edge_timeout_s=12, max_connections=20)
    assert {v.rule for v in caught.value.violations} == {"edge_timeout", "connection_budget"}


def test_plan_error_is_a_config_error_and_names_unknowns():
    with pytest.raises(ConfigError, match="unknown tier 'gold'"):
        build_plan("gold")
    with pytest.raises(PlanError, match="unknown plan field"):
        build_plan("free", edge_concurency=3)
    with pytest.raises(PlanError, match="unknown worker function"):
        build_plan("free", reserved_concurrency={"worker_nope": 3})
    with pytest.raises(PlanError, match="needs"):
        build_plan("custom", edge_concurrency=5)


def test_derive_keeps_a_forced_plan_for_the_dlq_trap():
    forced = derive(tier_knobs("free", maximum_concurrency={"worker_high": 20}))
    assert forced.worker("worker_high").maximum_concurrency == 20
    assert [v.rule for v in validate(forced)] == ["mapping_sum_within_reserved"]


@settings(max_examples=150, deadline=None)
@given(edge=st.integers(1, 300), burst=st.integers(10, 300), lanes=st.integers(1, 4),
       max_connections=st.integers(100, 2000))
def test_derived_custom_plans_keep_the_mapping_rules(edge, burst, lanes, max_connections):
    plan = derive(tier_knobs("custom", edge_concurrency=edge, burst=burst, queue_capacity=100,
                             lanes=lanes, max_connections=max_connections))
    rules = {v.rule for v in validate(plan)}
    assert "mapping_sum_within_reserved" not in rules
    assert "visibility_timeout_floor" not in rules
    budget = min(burst, (max_connections - 3 - 5))
    if budget >= 2 * lanes * len(FUNCTIONS):
        assert "maximum_concurrency_range" not in rules
        assert "connection_budget" not in rules
        assert sum(w.reserved_concurrency for w in plan.workers) == budget
        for w in plan.workers:
            assert w.maximum_concurrency == w.reserved_concurrency
            assert len(w.mappings) <= lanes


def test_renderings_take_their_numbers_from_the_plan():
    plan = build_plan("pro")
    stage = chalice_stage_config(plan)["lambda_functions"]
    assert stage["api_handler"] == {"reserved_concurrency": 40, "lambda_timeout": 8,
                                    "lambda_memory_size": 512,
                                    "environment_variables": {"SPILLWAY_TIER": "pro"}}
    assert stage["collect_metrics"] == {"environment_variables": {
        "SPILLWAY_TIER": "pro", "EDGE_RESERVED_CONCURRENCY": "40"}}
    subs = sqs_subscriptions(plan)
    params = template_parameters(plan)
    for w in plan.workers:
        assert stage[w.name]["reserved_concurrency"] == w.reserved_concurrency
        assert subs[w.name]["function_maximum_concurrency"] == sum(
            lane["maximum_concurrency"] for lane in subs[w.name]["lanes"])
        assert subs[w.name]["maximum_concurrency"] == subs[w.name]["lanes"][0][
            "maximum_concurrency"]  # Chalice's own mapping is lane-1
        assert subs[w.name]["function_maximum_concurrency"] <= \
            stage[w.name]["reserved_concurrency"]
        floor = 6 * stage[w.name]["lambda_timeout"] + subs[w.name]["maximum_batching_window_in_seconds"]
        assert params[f"VisibilityTimeout{w.spec.queue.capitalize()}"] >= floor
    # one parameter per work queue, named as infra/template.yaml names them
    assert params == {"VisibilityTimeoutHigh": 181, "VisibilityTimeoutMedium": 182,
                      "VisibilityTimeoutLow": 185, "VisibilityTimeoutHeavy": 720,
                      "VisibilityTimeoutBatch": 730}
    assert subs["worker_high"]["queue"] == "high"
    assert subs["worker_high"]["lanes"] == [{"lane": "lane-1", "maximum_concurrency": 11},
                                            {"lane": "lane-2", "maximum_concurrency": 10}]


@pytest.mark.parametrize("tier", sorted(PRESETS))
def test_every_run_time_number_a_worker_reads_comes_from_the_plan(tier):
    """The environment a worker function gets is read back by ``Settings`` as the plan's
    numbers: slots on, the adaptive limit's bounds, the lease (function timeout + grace,
    capped at SLOT_LEASE_S, rounded up) and the pool size."""
    from chalicelib.settings import Settings

    plan = build_plan(tier)
    stage = chalice_stage_config(plan)["lambda_functions"]
    for w in plan.workers:
        read = Settings.from_env(stage[w.name]["environment_variables"])
        assert read.slots_enabled is True
        assert (read.slot_min_limit, read.slot_max_limit) == (plan.slot_min_limit,
                                                                      plan.slot_max_limit)
        # the heartbeat renews the lease while a batch runs, so a lease is short whatever the
        # function timeout: a dead holder stalls the pool at most SLOT_LEASE_S (issue 19)
        assert read.slot_lease_s == math.ceil(w.lease_s) <= SLOT_LEASE_S
        assert read.slot_count == read.db_pool_size == plan.pool_size
    off = chalice_stage_config(build_plan(tier, slots_enabled=False))["lambda_functions"]
    assert Settings.from_env(off["worker_high"]["environment_variables"]).slots_enabled is False

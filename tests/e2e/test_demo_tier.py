"""End to end: ``spillway demo --tier`` runs the local stack with a tier plan's numbers and
reports what it measured in PostgreSQL beside what the plan budgets."""

from __future__ import annotations

import pytest

from chalicelib.core.concurrency.plan import build_plan
from spillway.demo import DemoOptions, run_demo
from spillway.local.stack import StackOptions
from spillway.replay import iter_payloads
from tests.e2e.test_local_stack import OUTSIDE_SERVERS, corpus

pytestmark = pytest.mark.e2e


def test_free_tier_demo_keeps_within_the_connection_budget(tmp_path, monkeypatch):
    for key in OUTSIDE_SERVERS:
        monkeypatch.delenv(key, raising=False)
    paths = [str(corpus())]
    expected = sum(1 for _ in iter_payloads(paths))
    plan = build_plan("free")
    summary = run_demo(DemoOptions(paths=paths, backend="postgres", drain_timeout_s=120,
                                   concurrency=plan.burst, tier="free",
                                   stack_options=StackOptions(workdir=tmp_path)))
    assert (summary["stored"], summary["missing"], summary["duplicated"],
            summary["dead_lettered"]) == (expected, 0, 0, 0)
    assert summary["tier"] == "free"
    # a valid plan's mappings stay within each function's reserved concurrency: no throttle
    throttles = summary["worker_throttles"]
    assert set(throttles) == {"worker_high", "worker_medium", "worker_low", "worker_heavy",
                              "worker_batch"}
    assert set(throttles.values()) == {0}, throttles
    assert summary["db_connection_budget"] == plan.db_connection_budget
    assert summary["db_connection_samples"] > 0
    # the workers really connected, and never beyond what the plan budgets
    assert 1 <= summary["db_connections_max"] <= plan.db_connection_budget
    assert set(summary["p95_wait_ms"]) == {"high", "medium", "low"}
    assert all(ms is not None and ms > 0 for ms in summary["p95_wait_ms"].values())
    assert summary["throttled"] == summary["rejected"]  # nothing else refused a delivery
    assert plan.slot_min_limit <= summary["slot_limit"] <= plan.slot_max_limit

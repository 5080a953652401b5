"""``spillway demo --tier``'s stack options: the local runtime gets the plan's reserved
concurrency beside its mappings, so a valid plan runs no more pollers than a function may run
(whatever tier ``app.py`` was packaged with) and is never throttled."""

from __future__ import annotations

import pytest

from chalicelib.core.concurrency.plan import PRESETS, build_plan
from spillway.demo_tier import tier_stack_options
from spillway.local.stack import StackOptions


@pytest.mark.parametrize("tier", sorted(PRESETS))
def test_each_function_gets_the_plans_reserved_concurrency_and_no_more_pollers(tier):
    plan = build_plan(tier)
    options = tier_stack_options(plan, StackOptions())
    assert options.reserved_concurrency == {w.name: w.reserved_concurrency
                                            for w in plan.workers}
    for w in plan.workers:
        assert options.worker_concurrency[w.spec.queue] == w.maximum_concurrency
        assert options.worker_concurrency[w.spec.queue] <= options.reserved_concurrency[w.name]

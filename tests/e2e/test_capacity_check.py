"""End to end: ``spillway capacity check`` drives a short burst through the local stack
(postgres backend, free tier) and measures every figure the model predicts. Agreement within
±30 % is the check's own verdict on a longer profile (docs/CAPACITY.md); here, on a short and
noisy run, the test holds what must be exact: every sent delivery answered and stored once, the
same verdict on edge refusals, and measurements of the right kind."""

from __future__ import annotations

import pytest

from chalicelib.core.concurrency.plan import build_plan
from spillway.capacity.check import compare, run_check
from spillway.capacity.inputs import build_profile, corpus_mix, parse_burst
from spillway.capacity.model import Service, simulate
from spillway.capacity.report import prediction
from tests.e2e.test_local_stack import OUTSIDE_SERVERS

pytestmark = pytest.mark.e2e


def test_a_short_burst_is_measured_beside_its_prediction(tmp_path, monkeypatch):
    for key in OUTSIDE_SERVERS:
        monkeypatch.delenv(key, raising=False)
    plan = build_plan("free")
    profile = build_profile(2.0, [parse_burst("20/s:5s@3s")], [], duration_s=12)
    predicted = simulate(plan, profile, corpus_mix(), Service(breaker_open_s=5))
    measured = run_check(plan, profile, backend="postgres", workdir=tmp_path)

    sent = 2 * 7 + 20 * 5
    assert measured["sent"] == sent
    assert measured["refused"] == 0 and measured["stored"] == sent  # nothing lost
    assert measured["peak_depth_total"] >= 1
    assert measured["drained_s"] is not None
    assert set(measured["wait_p95_s"]["priority"]) == {"high", "medium", "low"}
    assert 1 <= measured["db_connections_peak"] <= plan.db_connection_budget
    assert all(len(measured["series"][f"depth_{q}"]) == len(measured["series"]["t_s"])
               for q in ("high", "medium", "low", "heavy", "batch"))
    rows = {r["figure"]: r for r in compare(prediction(predicted), measured)}
    assert rows["edge refusals"]["verdict"] == "ok"  # none predicted, none measured

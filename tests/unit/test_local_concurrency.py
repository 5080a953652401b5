"""The local runtime's reserved concurrency: one limiter per worker function, shared by its
mappings; over the limit an invocation is throttled (not run) and counted."""

from __future__ import annotations

import json

import pytest

from spillway.local.concurrency import ReservedConcurrency, throttle_emf


def test_admits_up_to_capacity_then_throttles_and_counts():
    limiter = ReservedConcurrency("worker_high", 2)
    assert [limiter.try_acquire() for _ in range(4)] == [True, True, False, False]
    assert limiter.snapshot() == {"reserved_concurrency": 2, "invocations": 2, "throttles": 2,
                                  "in_flight": 2, "peak": 2}
    limiter.release()
    assert limiter.try_acquire() is True
    assert (limiter.invocations, limiter.throttles, limiter.in_flight) == (3, 2, 2)


def test_invocation_gives_the_execution_back_even_when_the_handler_raises():
    limiter = ReservedConcurrency("worker_low", 1)
    with pytest.raises(RuntimeError), limiter.invocation() as admitted:
        assert admitted
        raise RuntimeError("handler failed")
    assert limiter.in_flight == 0
    with limiter.invocation() as outer, limiter.invocation() as inner:
        assert (outer, inner) == (True, False)  # two mappings (lanes) share the one limit
    assert limiter.snapshot() == {"reserved_concurrency": 1, "invocations": 2, "throttles": 1,
                                  "in_flight": 0, "peak": 1}


def test_zero_throttles_everything_and_negative_is_refused():
    limiter = ReservedConcurrency("worker_medium", 0)
    with limiter.invocation() as admitted:
        assert not admitted
    assert limiter.throttles == 1 and limiter.peak == 0
    with pytest.raises(ValueError, match="worker_medium"):
        ReservedConcurrency("worker_medium", -1)
    with pytest.raises(RuntimeError, match="release without an acquire"):
        ReservedConcurrency("worker_medium", 1).release()


def test_throttle_is_an_emf_line_of_lambdas_throttles_metric():
    line = json.loads(throttle_emf("worker_high", now_s=1700000000.5))
    assert line["_aws"] == {"Timestamp": 1700000000500, "CloudWatchMetrics": [{
        "Namespace": "AWS/Lambda", "Dimensions": [["FunctionName"]],
        "Metrics": [{"Name": "Throttles", "Unit": "Count"}]}]}
    assert (line["FunctionName"], line["Throttles"]) == ("worker_high", 1)

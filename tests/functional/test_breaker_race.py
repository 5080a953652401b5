"""Race: 20 concurrent workers, each with its own SharedCircuitBreaker (its own instance id),
on one breaker item at the end of the open period -> exactly one probe reaches the dependency.

Runs on the in-memory store, DynamoDB on the moto server (conditional writes over real HTTP)
and PostgreSQL. The clock is fixed at ``open_until``; the dependency is a counting function
that holds its caller until every worker has made its attempt, so all attempts overlap.
"""

from __future__ import annotations

import threading

import pytest

from chalicelib.core.breaker import BreakerConfig
from chalicelib.errors import CircuitOpen, DependencyUnavailable
from chalicelib.shared_breaker import SharedCircuitBreaker
from spillway.ops.breaker import status
from tests.contract.test_breaker_store import open_store

WORKERS = 20
CFG = BreakerConfig(minimum_calls=10, wait_in_open_s=60)
T0 = 1_780_000_000.0


@pytest.fixture(params=["memory", "aws", "postgres"])
def store(request):
    return open_store(request.param, request, workers=WORKERS)


class Dependency:
    """The protected dependency: counts the calls that reach it."""

    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()
        self.all_attempted = threading.Event()

    def __call__(self) -> str:
        with self.lock:
            self.calls += 1
        self.all_attempted.wait(timeout=60)
        return "ok"


def trip(store) -> float:
    breaker = SharedCircuitBreaker("postgres", store, CFG, instance_id="tripper", clock=lambda: T0)
    for _ in range(CFG.minimum_calls):
        breaker.try_acquire().failure(DependencyUnavailable("db down"), 0.01)
    state = status(store, "postgres", clock=lambda: T0)
    assert state["state"] == "OPEN"
    return state["open_until"]


def test_exactly_one_probe_reaches_the_dependency(store):
    open_until = trip(store)
    dependency = Dependency()
    breakers = [SharedCircuitBreaker("postgres", store, CFG, instance_id=f"worker-{n}",
                                     clock=lambda: open_until) for n in range(WORKERS)]
    start = threading.Barrier(WORKERS)
    refused: list[CircuitOpen] = []
    attempted = 0
    lock = threading.Lock()

    def worker(breaker: SharedCircuitBreaker) -> None:
        nonlocal attempted
        start.wait()
        try:
            breaker.execute(dependency, fallback=refused.append)
        finally:
            with lock:
                attempted += 1
                if attempted >= WORKERS - 1:  # everyone but the prober has been answered
                    dependency.all_attempted.set()

    threads = [threading.Thread(target=worker, args=(b,)) for b in breakers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert dependency.calls == 1
    assert len(refused) == WORKERS - 1
    state = status(store, "postgres", clock=lambda: open_until)
    assert state["state"] == "HALF_OPEN" and state["half_open_successes"] == 1
    assert state["lease_holder"].startswith("worker-")

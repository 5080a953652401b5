"""Contract suite of the shared circuit breaker: the same tests over every StatePort --
in-memory, DynamoDB on the moto server (table from ``infra/template.yaml`` via CloudFormation)
and PostgreSQL (``migrations/queue``). Time is a fake clock; nothing sleeps."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.core.breaker import BreakerConfig, CircuitState
from chalicelib.errors import (
    CircuitOpen,
    DependencyUnavailable,
    MalformedPayload,
    Throttled,
)
from chalicelib.shared_breaker import SharedCircuitBreaker, breaker_key
from spillway.ops.breaker import audit_log, force, reset, status, status_all
from tests.contract.conftest import PREFIX, FakeClock, provision_stack
from tests.fakes import MemoryState

S = CircuitState
CFG = BreakerConfig(wait_in_open_s=60, minimum_calls=10, probe_lease_s=30)


def open_store(kind: str, request, *, workers: int = 10):
    """A StatePort of ``kind`` (memory, aws, postgres) for a test; ``workers``: how many
    threads may use it at once (connection pool sizes)."""
    if kind == "memory":
        return MemoryState()
    if kind == "aws":
        import boto3
        from botocore.config import Config

        from chalicelib.adapters.aws.dynamo_state import DynamoState

        request.getfixturevalue("aws_env")
        provision_stack()
        client = boto3.client("dynamodb", config=Config(max_pool_connections=workers + 5))
        return DynamoState(client, f"{PREFIX}-state")
    from psycopg_pool import ConnectionPool

    from chalicelib.adapters.postgres.state import PgState
    from spillway.migrate import migrate

    url = request.getfixturevalue("pg_url")
    migrate(url, "queue")
    pool = ConnectionPool(url, min_size=1, max_size=workers, open=True)
    request.addfinalizer(pool.close)
    return PgState(pool)


@pytest.fixture(params=["memory", "aws", "postgres"])
def store(request):
    return open_store(request.param, request)


@pytest.fixture
def clock():
    return FakeClock()


class Recorder:
    """Stands in for Powertools ``Metrics`` (the metrics dependency): records add_metric."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.names.append(name)


def make(store, clock, iid, skew=0.0, **kwargs) -> SharedCircuitBreaker:
    return SharedCircuitBreaker("postgres", store, kwargs.pop("config", CFG), instance_id=iid,
                                clock=lambda: clock() + skew, **kwargs)


def fail(breaker, n, exc=None):
    for _ in range(n):
        breaker.try_acquire().failure(exc or DependencyUnavailable("db down"), 0.01)


def trip(store, clock) -> float:
    breaker = make(store, clock, "tripper")
    fail(breaker, CFG.minimum_calls)
    state = status(store, "postgres", clock=clock)
    assert state["state"] == "OPEN"
    return state["open_until"]


def test_missing_item_is_closed_and_created_by_first_flush(store, clock):
    breaker = make(store, clock, "a")
    assert status(store, "postgres", clock=clock)["version"] == 0
    for _ in range(5):
        breaker.try_acquire().success(0.01)
    assert store.get(breaker_key("postgres")) is None  # no write per call
    breaker.flush()
    assert status(store, "postgres", clock=clock)["window"]["calls"] == 5


def test_failures_trip_promptly_and_every_instance_sees_it(store, clock):
    metrics = Recorder()
    a, b = make(store, clock, "a", metrics=metrics), make(store, clock, "b")
    b.try_acquire().success(0.01)
    fail(a, CFG.minimum_calls)  # crosses the threshold locally: flushed at once
    clock.advance(1.0)          # b's cache expires
    with pytest.raises(CircuitOpen) as refused:
        b.try_acquire()
    assert refused.value.retry_after_s == pytest.approx(59.0)
    assert {"BreakerTrips", "BreakerTransitionToOpen"} <= set(metrics.names)


def test_a_trip_is_logged_once_by_the_instance_that_made_it(store, clock, caplog):
    """An operator reading the logs during an outage sees the breaker open (issue 19: the
    local stack printed nothing while it was open), once, not once per refused call."""
    a, b = make(store, clock, "a"), make(store, clock, "b")
    with caplog.at_level("WARNING", logger="spillway.breaker"):
        fail(a, CFG.minimum_calls)
        clock.advance(1.0)
        for _ in range(5):
            with pytest.raises(CircuitOpen):
                b.try_acquire()
    lines = [r.getMessage() for r in caplog.records if r.name == "spillway.breaker"]
    assert [line for line in lines if "CLOSED -> OPEN" in line] == [
        "circuit breaker postgres: CLOSED -> OPEN"], lines
    assert sum("tripped" in line for line in lines) == 1, lines


def test_failures_spread_over_instances_trip_within_two_seconds(store, clock):
    instances = [make(store, clock, f"i{n}") for n in range(4)]
    for _ in range(3):  # 3 failures each: none alone reaches minimum_calls
        for breaker in instances:
            fail(breaker, 1)
        clock.advance(0.3)
    clock.advance(1.0)  # flush interval passes: the next call of each instance flushes
    for breaker in instances:
        try:
            breaker.try_acquire().release()
        except CircuitOpen:
            pass
    assert status(store, "postgres", clock=clock)["state"] == "OPEN"
    clock.advance(1.0)
    for breaker in instances:
        with pytest.raises(CircuitOpen):
            breaker.try_acquire()


def test_client_errors_never_trip(store, clock):
    breaker = make(store, clock, "a")
    fail(breaker, 50, MalformedPayload("bad json"))
    breaker.flush()
    assert status(store, "postgres", clock=clock)["state"] == "CLOSED"


def test_throttling_counts_as_failure(store, clock):
    breaker = make(store, clock, "a")
    fail(breaker, CFG.minimum_calls, Throttled("too many connections"))
    assert status(store, "postgres", clock=clock)["state"] == "OPEN"


def test_cold_start_neither_resets_nor_extends_open_period(store, clock):
    open_until = trip(store, clock)
    clock.advance(30)
    cold = make(store, clock, "cold")
    with pytest.raises(CircuitOpen) as refused:
        cold.try_acquire()
    assert refused.value.retry_after_s == pytest.approx(30.0)
    assert status(store, "postgres", clock=clock)["open_until"] == open_until


def test_slow_clock_cannot_half_open_early_and_fast_clock_keeps_open_until(store, clock):
    open_until = trip(store, clock)
    clock.advance(59)
    slow = make(store, clock, "slow", skew=-5)
    with pytest.raises(CircuitOpen):
        slow.try_acquire()
    clock.advance(1)
    with pytest.raises(CircuitOpen):
        slow.try_acquire()  # store's open_until has passed, but not by slow's clock
    fast = make(store, clock, "fast", skew=+3)
    assert fast.try_acquire().is_probe
    after = status(store, "postgres", clock=clock)
    assert after["state"] == "HALF_OPEN" and after["open_until"] == open_until


def test_one_prober_then_closed_after_three_successes(store, clock):
    trip(store, clock)
    clock.advance(60)
    prober, other = make(store, clock, "p"), make(store, clock, "o")
    permit = prober.try_acquire()
    assert permit.is_probe
    with pytest.raises(CircuitOpen):
        prober.try_acquire()  # one probe in flight per instance
    with pytest.raises(CircuitOpen):
        other.try_acquire()
    permit.success(0.01)
    for _ in range(CFG.permitted_calls_in_half_open - 1):
        clock.advance(0.1)
        prober.try_acquire().success(0.01)
    assert status(store, "postgres", clock=clock)["state"] == "CLOSED"
    clock.advance(1.0)
    other.try_acquire().success(0.01)


def test_probe_failure_reopens_with_new_open_until(store, clock):
    first = trip(store, clock)
    clock.advance(60)
    prober = make(store, clock, "p")
    prober.try_acquire().failure(DependencyUnavailable("still down"), 0.01)
    state = status(store, "postgres", clock=clock)
    assert state["state"] == "OPEN" and state["open_until"] == pytest.approx(first + 60)
    assert state["trips"] == 2


def test_dead_prober_lease_expires(store, clock):
    trip(store, clock)
    clock.advance(60)
    assert make(store, clock, "dies").try_acquire().is_probe  # never reports
    other = make(store, clock, "o")
    with pytest.raises(CircuitOpen):
        other.try_acquire()
    clock.advance(CFG.probe_lease_s)
    assert other.try_acquire().is_probe


def test_forced_open_holds_until_expiry_with_audit(store, clock):
    metrics = Recorder()
    breaker = make(store, clock, "a", metrics=metrics)
    force(store, "postgres", "FORCED_OPEN", reason="db maintenance", by="alice",
          until=clock() + 300, clock=clock)
    clock.advance(299)
    with pytest.raises(CircuitOpen) as refused:
        breaker.try_acquire()
    assert refused.value.retry_after_s == pytest.approx(1.0)
    assert status(store, "postgres", clock=clock)["forced"]["by"] == "alice"
    clock.advance(1)
    breaker.try_acquire().success(0.01)
    assert status(store, "postgres", clock=clock)["stored_state"] == "CLOSED"
    [record] = audit_log(store, "postgres")
    assert (record["to"], record["reason"], record["by"]) == ("FORCED_OPEN", "db maintenance",
                                                              "alice")
    assert "BreakerRejectedCalls" in metrics.names


def test_forced_closed_and_reset_are_audited(store, clock):
    trip(store, clock)
    force(store, "postgres", S.FORCED_CLOSED, reason="false alarm", by="bob", clock=clock)
    breaker = make(store, clock, "b")
    fail(breaker, 30)
    assert status(store, "postgres", clock=clock)["state"] == "FORCED_CLOSED"
    clock.advance(0.001)
    reset(store, "postgres", by="bob", reason="done", clock=clock)
    assert status(store, "postgres", clock=clock)["state"] == "CLOSED"
    assert [r["action"] for r in audit_log(store, "postgres")] == ["force", "reset"]
    assert [s["name"] for s in status_all(store, clock=clock)] == ["postgres"]


def test_steady_closed_traffic_costs_about_one_request_per_second(store, clock):
    counting = CountingStore(store)
    breaker = make(counting, clock, "a")
    for _ in range(1000):  # 100 calls/s for 10 s of fake time
        breaker.try_acquire().success(0.005)
        clock.advance(0.01)
    breaker.flush()
    assert counting.requests <= 13
    assert status(store, "postgres", clock=clock)["window"]["calls"] >= 900


class CountingStore:
    """Counts requests to the wrapped StatePort (instrumentation of the dependency)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.requests = 0

    def __getattr__(self, name: str):
        method = getattr(self.inner, name)

        def counted(*args, **kwargs):
            self.requests += 1
            return method(*args, **kwargs)

        return counted


class DownStore:
    """A state store that cannot be reached (stands in for an unreachable DynamoDB)."""

    def __init__(self) -> None:
        self.requests = 0

    def _down(self, *args, **kwargs):
        self.requests += 1
        raise DependencyUnavailable("state store unreachable")

    get = put = delete = scan = _down


def test_store_failure_policy_fail_open_counts_and_backs_off(clock):
    metrics, down = Recorder(), DownStore()
    breaker = make(down, clock, "a", metrics=metrics)
    for _ in range(5):
        permit = breaker.try_acquire()
        assert permit.bypassed
        permit.success(0.01)
    assert down.requests == 1  # backs off for cache_ttl_s
    assert metrics.names.count("BreakerStoreFailures") == 1
    assert metrics.names.count("BreakerStoreBypassedCalls") == 5


def test_store_failure_policy_fail_closed(clock):
    breaker = make(DownStore(), clock, "a", store_failure_policy="fail_closed")
    with pytest.raises(CircuitOpen):
        breaker.try_acquire()


def test_execute_with_fallback(store, clock):
    breaker = make(store, clock, "a")
    assert breaker.execute(lambda: 42) == 42
    trip(store, clock)
    clock.advance(1.0)
    assert breaker.execute(lambda: 42, fallback=lambda exc: ("later", exc.retry_after_s)) == (
        "later", pytest.approx(59.0))
    with pytest.raises(CircuitOpen):
        breaker.execute(lambda: 42)


def test_other_callers_of_the_probing_instance_come_back_soon(store, clock):
    """While one call of an instance probes, its other calls are refused with a short
    retry_after (half_open_retry_s), not the rest of the probe lease: held-back deliveries
    return as soon as the probe has decided."""
    trip(store, clock)
    clock.advance(CFG.wait_in_open_s)
    breaker = make(store, clock, "a")
    probe = breaker.try_acquire()
    assert probe.is_probe
    clock.advance(1)
    with pytest.raises(CircuitOpen) as refused:
        breaker.try_acquire()
    assert refused.value.retry_after_s == pytest.approx(CFG.half_open_retry_s)
    probe.success(0.01)


def test_flush_conflict_neither_refuses_a_closed_breaker_nor_loses_the_tally(store, clock):
    """Instance b writes between a's load and a's flush, so a's merge loses its
    compare-and-set (``max_cas_attempts=1``: no retry). That is a lost race, not a refusal:
    while CLOSED a's call is permitted, and a's failures are merged by a later flush."""
    a = make(store, clock, "a", max_cas_attempts=1)
    b = make(store, clock, "b")
    b.try_acquire().success(0.01)
    b.flush()                       # the item exists (b's write)
    clock.advance(0.6)
    a.try_acquire().success(0.01)   # a loads (and caches) the item
    b.try_acquire().success(0.01)
    b.flush()                       # b writes after a's load: a's cached version is old
    fail(a, 3)                      # a's tally: 1 success, 3 failures, not yet flushed
    clock.advance(0.5)              # a's flush is due; its cache (0.5 s old) is still fresh
    permit = a.try_acquire()        # flush loses the race -> still permitted
    assert not permit.is_probe and not permit.bypassed
    permit.release()
    assert status(store, "postgres", clock=clock)["window"]["failures"] == 0
    a.flush()                       # a later flush (no race this time) merges the tally
    window = status(store, "postgres", clock=clock)["window"]
    assert (window["calls"], window["failures"]) == (2 + 4, 3)
    assert status(store, "postgres", clock=clock)["state"] == "CLOSED"

"""Benchmark of the shared circuit breaker on DynamoDB (moto server). Not a test.

``python -m bench.breaker [--deliveries 1000] [--instances 4] [--rate 100]``

1. Steady CLOSED state: DynamoDB requests per 1,000 deliveries (counted with a botocore
   ``before-call`` hook), Spillway's breaker vs a naive breaker writing the item on every call
   (GetItem + conditional PutItem). Deliveries are spread round-robin over ``--instances``
   breakers at ``--rate`` deliveries/s of *simulated* time (a fake clock), so the count does not
   depend on how fast moto answers.
2. Trip delay: ``--instances`` threads, each with its own breaker and the real clock, call a
   dependency (20 ms per call) that starts failing; reports when the item turned OPEN and when
   every instance refused, against the instant a single shared counter would have tripped.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from typing import Any

import boto3

from chalicelib.adapters.aws.dynamo_state import DynamoState
from chalicelib.core.breaker import BreakerConfig
from chalicelib.errors import CircuitOpen, ConflictError, DependencyUnavailable
from chalicelib.shared_breaker import SharedCircuitBreaker, breaker_key
from spillway.local.embedded import FAKE_AWS_ENV, MotoServer
from spillway.ops.breaker import status

TABLE = "bench-state"


class FakeClock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


def make_table(client: Any) -> None:
    client.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])


class RequestCounter:
    def __init__(self, client: Any) -> None:
        self.count = 0
        client.meta.events.register("before-call.dynamodb", self)

    def __call__(self, **_: Any) -> None:
        self.count += 1


def steady_spillway(store: DynamoState, counter: RequestCounter, name: str, deliveries: int,
                    instances: int, rate: float) -> dict:
    clock = FakeClock()
    breakers = [SharedCircuitBreaker(name, store, instance_id=f"i{n}", clock=clock)
                for n in range(instances)]
    start, before = clock.t, counter.count
    for n in range(deliveries):
        breakers[n % instances].try_acquire().success(0.02)
        clock.t += 1.0 / rate
    requests = counter.count - before
    seconds = clock.t - start
    item = store.get(breaker_key(name))
    return {"requests": requests, "per_1000": 1000 * requests / deliveries,
            "per_instance_per_s": requests / instances / seconds, "simulated_s": seconds,
            "item_bytes": len(json.dumps(dict(item.data), separators=(",", ":"))) if item else 0}


def steady_naive(store: DynamoState, counter: RequestCounter, name: str, deliveries: int) -> dict:
    """Write-per-call baseline: read the item, count the call, conditional write."""
    key, before = breaker_key(name), counter.count
    for _ in range(deliveries):
        while True:
            item = store.get(key)
            data = dict(item.data) if item else {"calls": 0, "failures": 0}
            data["calls"] += 1
            try:
                store.put(key, data, expected_version=item.version if item else None)
                break
            except ConflictError:
                continue
    requests = counter.count - before
    return {"requests": requests, "per_1000": 1000 * requests / deliveries}


def trip_delay(store: DynamoState, name: str, instances: int, healthy_s: float) -> dict:
    """Real time and threads. The dependency fails from ``healthy_s`` after the start."""
    config = BreakerConfig(wait_in_open_s=600)
    breakers = [SharedCircuitBreaker(name, store, config, instance_id=f"t{n}")
                for n in range(instances)]
    lock = threading.Lock()
    totals = {"ok": 0, "failed": 0}
    ideal: list[float] = []
    refused_at: list[float] = []
    t0 = time.time()
    fail_from = t0 + healthy_s

    def dependency() -> None:
        time.sleep(0.02)
        if time.time() < fail_from:
            with lock:
                totals["ok"] += 1
            return
        with lock:
            totals["failed"] += 1
            calls = totals["ok"] + totals["failed"]
            consecutive = (config.consecutive_failure_threshold
                           and totals["failed"] >= config.consecutive_failure_threshold)
            if not ideal and calls >= config.minimum_calls and (
                    consecutive
                    or 100 * totals["failed"] / calls >= config.failure_rate_threshold):
                ideal.append(time.time())
        raise DependencyUnavailable("db down")

    def run(breaker: SharedCircuitBreaker) -> None:
        deadline = fail_from + 60
        while time.time() < deadline:
            try:
                breaker.execute(dependency)
            except CircuitOpen:
                with lock:
                    refused_at.append(time.time())
                return
            except DependencyUnavailable:
                pass

    threads = [threading.Thread(target=run, args=(b,)) for b in breakers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    state = status(store, name)
    tripped_at = state["trip_times"][-1] if state["trip_times"] else None
    return {
        "healthy_s": healthy_s, "calls_ok": totals["ok"], "calls_failed": totals["failed"],
        "single_counter_trip_s": ideal[0] - fail_from if ideal else None,
        "item_open_s": tripped_at - fail_from if tripped_at else None,
        "all_instances_refuse_s": max(refused_at) - fail_from
        if len(refused_at) == instances else None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.breaker")
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--instances", type=int, default=4)
    parser.add_argument("--rate", type=float, default=100.0, help="deliveries/s, all instances")
    args = parser.parse_args(argv)

    os.environ.update(FAKE_AWS_ENV)
    server = MotoServer.start()
    try:
        os.environ["AWS_ENDPOINT_URL"] = server.url
        client = boto3.client("dynamodb")
        make_table(client)
        store, counter = DynamoState(client, TABLE), RequestCounter(client)

        print(f"steady CLOSED, {args.deliveries} deliveries at {args.rate:g}/s over "
              f"{args.instances} instances (simulated time):")
        for instances in sorted({1, args.instances}):
            result = steady_spillway(store, counter, f"steady{instances}", args.deliveries,
                                     instances, args.rate)
            print(f"  spillway, {instances} instance(s): {result['per_1000']:.1f} requests per "
                  f"1,000 deliveries, {result['per_instance_per_s']:.2f} requests/instance/s, "
                  f"item {result['item_bytes']} bytes")
        naive = steady_naive(store, counter, "naive", args.deliveries)
        print(f"  naive write-per-call:   {naive['per_1000']:.1f} requests per 1,000 deliveries")

        print(f"trip delay, {args.instances} instances (threads, real clock, 20 ms calls):")
        for healthy_s in (0.0, 2.0):
            r = trip_delay(store, f"trip{healthy_s:g}", args.instances, healthy_s)
            print(f"  after {healthy_s:g} s healthy ({r['calls_ok']} ok calls): a single shared "
                  f"counter would trip at {_s(r['single_counter_trip_s'])}; item OPEN at "
                  f"{_s(r['item_open_s'])}; every instance refusing at "
                  f"{_s(r['all_instances_refuse_s'])} (from the first failure)")
    finally:
        server.stop()


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


if __name__ == "__main__":
    main()

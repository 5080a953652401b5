"""Benchmark of the shared database slots: state-store requests per delivery. Not a test.

``python -m bench.slots [--store dynamodb|postgres] [--batches 200] [--batch-size 10]
[--hold-ms 20] [--instances 1,3,11]``

Every request the slots make is counted at the :class:`~chalicelib.ports.StatePort` (a wrapper
counting ``get`` / ``put`` / ``delete`` / ``scan``). ``--instances`` threads, each with its own
:class:`~chalicelib.shared_slots.SharedSlots` (one Lambda instance's view), run ``--batches``
batches in all: acquire a lease and start its heartbeat as the worker does (the plan's lease,
renewed every quarter of it while the batch runs), hold it ``--hold-ms`` (the batch's database
work), release.
The limit is the free tier's (15 slots), above the instance count, so nothing waits: this is
the steady state. A lease per delivery (the naive design) is run beside it for the ratio.

``--dead-holder WAITERS``: instead, one instance takes every slot and dies (no release, no
heartbeat) while WAITERS held-back batches ask again as the worker's do (after ``ceil(wait_s)``
s, SQS's DelaySeconds, plus a 1 s poll), on a simulated clock: prints the stall (death -> first
grant, s) and the state-store reads and writes per second the waiters made meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections import Counter
from typing import Any

from chalicelib.core.concurrency.limit import Bounds
from chalicelib.core.concurrency.plan import build_plan
from chalicelib.shared_slots import SharedSlots, SlotLease


class CountingState:
    """A StatePort that counts every call by method name."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls, self._lock = inner, Counter(), threading.Lock()

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self.inner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls[name] += 1
            return fn(*args, **kwargs)
        return counted


def run(store: CountingState, name: str, instances: int, batches: int, leases_per_batch: int,
        hold_s: float) -> dict:
    plan = build_plan("free")
    bounds = Bounds(plan.slot_min_limit, plan.slot_max_limit)
    per_instance = batches // instances
    waits = Counter()
    store.calls.clear()

    lease_s = max(w.lease_s for w in plan.workers)

    def instance(n: int) -> None:
        slots = SharedSlots(name, store, bounds=bounds, lease_s=lease_s)
        for b in range(per_instance):
            for d in range(leases_per_batch):
                holder = f"i{n}-b{b}-d{d}"
                while not isinstance(got := slots.acquire(holder, "medium"), SlotLease):
                    waits[n] += 1
                    time.sleep(0.01)
                got.keep_alive()
                time.sleep(hold_s / leases_per_batch)
                got.release(samples=1, latency_s=hold_s / leases_per_batch)

    threads = [threading.Thread(target=instance, args=(n,)) for n in range(instances)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = per_instance * instances
    requests = sum(store.calls.values())
    return {"instances": instances, "batches": done, "requests": requests,
            "by_method": dict(store.calls), "refusals": sum(waits.values()),
            "requests_per_batch": round(requests / done, 2),
            "elapsed_s": round(time.perf_counter() - started, 2)}


def dead_holder(store: CountingState, name: str, waiters: int) -> dict:
    """The ``--dead-holder`` scenario (see the module docstring); simulated time."""
    import heapq
    import math

    plan = build_plan("free")
    bounds = Bounds(plan.slot_min_limit, plan.slot_max_limit)
    lease_s = max(w.lease_s for w in plan.workers)
    now = [time.time()]
    clock = lambda: now[0]  # noqa: E731
    dead = SharedSlots(name, store, bounds=bounds, lease_s=lease_s, clock=clock)
    for i in range(plan.slot_max_limit):
        assert isinstance(dead.acquire(f"dead-{i}", "medium"), SlotLease)
    died_at = now[0]
    store.calls.clear()
    views = [SharedSlots(name, store, bounds=bounds, lease_s=lease_s, clock=clock)
             for _ in range(waiters)]
    due = [(died_at + n * 0.1, n) for n in range(waiters)]  # they arrive spread over a moment
    while due:
        now[0], n = heapq.heappop(due)
        got = views[n].acquire(f"waiter-{n}", ("high", "medium", "low")[n % 3])
        if isinstance(got, SlotLease):
            break
        heapq.heappush(due, (now[0] + math.ceil(got.wait_s) + 1.0, n))
    stall = now[0] - died_at
    return {"waiters": waiters, "lease_s": lease_s, "stall_s": round(stall, 1),
            "by_method": dict(store.calls),
            "writes_per_s": round(store.calls["put"] / stall, 2) if stall else None,
            "reads_per_s": round(store.calls["get"] / stall, 2) if stall else None}


def _open_store(kind: str, stack: list) -> Any:
    if kind == "postgres":
        import tempfile
        from pathlib import Path

        from chalicelib.adapters.postgres.pool import make_pool
        from chalicelib.adapters.postgres.state import PgState
        from spillway.local.embedded import EmbeddedPostgres
        from spillway.migrate import migrate

        server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="bench-slots-"))).start()
        stack.append(server.cleanup)
        migrate(server.url, "queue")
        pool = make_pool(server.url, max_size=16, name="bench-slots")
        stack.append(pool.close)
        return PgState(pool)
    import boto3
    from botocore.config import Config

    from chalicelib.adapters.aws.dynamo_state import DynamoState
    from spillway.local.embedded import FAKE_AWS_ENV, MotoServer

    moto = MotoServer.start()
    stack.append(moto.stop)
    os.environ.update(FAKE_AWS_ENV)
    client = boto3.client("dynamodb", endpoint_url=moto.url,
                          config=Config(max_pool_connections=32))
    client.create_table(TableName="bench-state", BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    return DynamoState(client, "bench-state")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.slots", description=__doc__.split("\n")[0])
    p.add_argument("--store", choices=["dynamodb", "postgres"], default="dynamodb")
    p.add_argument("--batches", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--hold-ms", type=float, default=20.0)
    p.add_argument("--instances", default="1,3,11")
    p.add_argument("--dead-holder", type=int, metavar="WAITERS",
                   help="the dead-holder scenario with WAITERS held-back batches")
    args = p.parse_args(argv)
    cleanup: list = []
    try:
        store = CountingState(_open_store(args.store, cleanup))
        if args.dead_holder:
            found = dead_holder(store, "bench-dead-holder", args.dead_holder)
            print(f"{args.store}: a holder of every slot died: storing stalled "
                  f"{found['stall_s']} s (lease {found['lease_s']:g} s); {found['waiters']} "
                  f"waiters made {found['writes_per_s']} writes/s and {found['reads_per_s']} "
                  f"reads/s meanwhile", flush=True)
            print(json.dumps({"store": args.store, **found}))
            return 0
        rows = []
        for n in (int(x) for x in args.instances.split(",")):
            per_batch = run(store, f"bench-batch-{n}", n, args.batches, 1, args.hold_ms / 1000)
            per_delivery = run(store, f"bench-delivery-{n}", n, args.batches // 4,
                               args.batch_size, args.hold_ms / 1000)
            row = {
                "instances": n,
                "lease_per_batch": per_batch,
                "lease_per_delivery": per_delivery,
                "requests_per_delivery": round(
                    per_batch["requests_per_batch"] / args.batch_size, 3),
                "naive_requests_per_delivery": round(
                    per_delivery["requests_per_batch"] / args.batch_size, 3),
            }
            row["ratio"] = round(row["naive_requests_per_delivery"]
                                 / row["requests_per_delivery"], 1)
            rows.append(row)
            print(f"{args.store}: {n:>2} instance(s): {row['requests_per_delivery']} state-store "
                  f"requests per delivery with a lease per batch of {args.batch_size} "
                  f"({per_batch['requests_per_batch']} per batch, {per_batch['by_method']}), "
                  f"{row['naive_requests_per_delivery']} with a lease per delivery: "
                  f"{row['ratio']}x fewer", flush=True)
        print(json.dumps({"store": args.store, "batch_size": args.batch_size, "rows": rows}))
    finally:
        for fn in reversed(cleanup):
            fn()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

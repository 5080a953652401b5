"""State-store requests of the shared slots during a real ``spillway demo --tier``. Not a test.

``python -m bench.slots_demo [PATH] [--tier free] [--burst 10]``: runs the demo (postgres
backend) with every :class:`~chalicelib.shared_slots.SharedSlots` store wrapped in a counter
(:class:`bench.slots.CountingState`), then prints requests per delivery and per batch beside
the demo's summary. Batches are counted as lease releases (one per batch)."""

from __future__ import annotations

import argparse
import json
from collections import Counter

from bench.slots import CountingState
from chalicelib import shared_slots
from spillway.demo import DemoOptions, run_demo


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.slots_demo")
    p.add_argument("paths", nargs="*", default=["../shared/github-webhooks"])
    p.add_argument("--tier", default="free")
    p.add_argument("--burst", type=int, default=10)
    args = p.parse_args(argv)
    counters: list[CountingState] = []
    original = shared_slots.SharedSlots.__init__

    def counted_init(self, name, store, **kwargs):
        counters.append(CountingState(store))
        original(self, name, counters[-1], **kwargs)

    releases = Counter()
    original_release = shared_slots.SharedSlots.release

    def counted_release(self, lease, **kwargs):
        releases["batches"] += 1
        original_release(self, lease, **kwargs)

    shared_slots.SharedSlots.__init__ = counted_init
    shared_slots.SharedSlots.release = counted_release
    try:
        from chalicelib.core.concurrency.plan import build_plan

        summary = run_demo(DemoOptions(paths=args.paths, backend="postgres", burst=args.burst,
                                       tier=args.tier,
                                       concurrency=build_plan(args.tier).burst))
    finally:
        shared_slots.SharedSlots.__init__ = original
        shared_slots.SharedSlots.release = original_release
    calls = sum((c.calls for c in counters), start=Counter())
    requests, stored = sum(calls.values()), summary["stored"]
    print(json.dumps({"requests": requests, "by_method": dict(calls), "deliveries": stored,
                      "requests_per_delivery": round(requests / stored, 3) if stored else None,
                      "batches": releases["batches"],
                      "requests_per_batch": round(requests / max(releases["batches"], 1), 2),
                      "missing": summary["missing"], "tier": args.tier}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

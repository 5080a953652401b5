"""``spillway cost``: the argparse wiring of the cost model (``register(subparsers)``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from chalicelib.errors import ConfigError
from spillway.cost import inputs, model
from spillway.deploy import STAGES
from spillway.json_output import print_json


def _volume(text: str) -> int:
    """A positive whole number of deliveries; ``1e7`` and ``10_000_000`` are accepted."""
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 1 <= value <= 1e15 or value != int(value):  # NaN and infinities fail here too
        raise argparse.ArgumentTypeError(
            f"{text!r}: the number of deliveries must be a whole number from 1 to 10^15")
    return int(value)


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``cost`` command to ``subparsers``."""
    p = subparsers.add_parser(
        "cost", help="monthly AWS bill for a delivery volume (prices + measured usage)",
        description="The monthly AWS bill, line by line, from spillway/cost/prices.json and "
                    "the request counts and durations of the last `make bench`.")
    p.add_argument("--deliveries-per-month", type=_volume, required=True, metavar="N",
                   help="webhook deliveries a month to price (e.g. 1e6, 10000000)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--tier", choices=model.TIERS, default=None,
                       help="a preset tier plan whose function memory sizes, event source "
                            "mappings and front are priced (`spillway tier plan NAME`; "
                            "default: pro)")
    where.add_argument("--stage", choices=STAGES, default=None,
                       help="price the stage's own tier plan (.chalice/tier-STAGE.json), "
                            "front included")
    p.add_argument("--api", choices=model.APIS, default=None,
                   help="what fronts the edge: rest (API Gateway REST API), http (API Gateway "
                        "HTTP API) or function-url (Lambda function URL); default: the plan's "
                        "`front` (rest unless the stage's tier file says otherwise)")
    p.add_argument("--arch", choices=model.ARCHES, default="x86_64",
                   help="Lambda architecture (default: %(default)s)")
    p.add_argument("--bench", type=Path, default=inputs.BENCH_PATH,
                   help="benchmark results to read (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_cost)
    return p


def cmd_cost(args) -> int:
    try:
        table = inputs.load_prices()
        usage = inputs.load_usage(args.bench)
        plan = inputs.stage_plan(args.stage) if args.stage else None
        result = model.estimate(args.deliveries_per_month, prices=table["prices"], usage=usage,
                                tier=args.tier or "pro", api=args.api, arch=args.arch,
                                alarms=inputs.count_alarms(), plan=plan,
                                scheduled_metric_names=inputs.scheduled_metric_names())
    except (ValueError, ConfigError) as exc:
        print(f"spillway cost: {exc}", file=sys.stderr)
        return 2
    if args.json:
        doc = result.to_dict()
        doc["prices"] = {"region": table.get("region"), "read_on": table.get("read_on"),
                         "file": str(inputs.PRICES_PATH)}
        print_json(json.dumps(doc, indent=1))
    else:
        print(model.render(result))
    return 0

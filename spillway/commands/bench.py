"""``spillway bench burst [--json] [--corpus DIR] [--repeat K] [--limit N] [--duration S]
[--outage S] [--outage-at S] [--concurrency N] [--systems NAME,...] [--settle-timeout S]
[--out DIR]``: Spillway, the naive handler and a FastAPI + procrastinate peer under the same
burst and database outage (:mod:`bench.burst`); prints a table (``--json``: a JSON list, one
object per system) and writes ``DIR/burst.json`` and ``DIR/burst.png``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from spillway.json_output import print_json


def _number(kind: type, least: float):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not value >= least:
            raise argparse.ArgumentTypeError(f"{text!r}: must be at least {least:g}")
        return value
    return parse


def _systems(text: str) -> list[str]:
    from bench.burst.systems import SYSTEMS

    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in SYSTEMS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of {', '.join(SYSTEMS)}; got {text!r}")
    return names


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``bench burst`` to ``subparsers``."""
    p = subparsers.add_parser("bench", help="benchmarks side by side (burst)")
    sub = p.add_subparsers(dest="bench_command", required=True)
    b = sub.add_parser(
        "burst", help="Spillway vs the naive handler vs a FastAPI + procrastinate peer",
        description="The same signed 10x burst, edge cap and 20 s application-database outage "
                    "against each system; sent, accepted, stored, lost, duplicated, p95 ack, "
                    "first 5xx, most database connections and recovery per system.")
    b.add_argument("--json", action="store_true", help="print a JSON list, one object a system")
    b.add_argument("--corpus", type=Path, default=None, metavar="DIR",
                   help="payload folder (default: the shared GitHub corpus, see bench/corpus.py; "
                        "else the bundled samples)")
    b.add_argument("--repeat", type=_number(int, 1), default=10, metavar="K",
                   help="the corpus K times over, fresh GUIDs (default: %(default)s)")
    b.add_argument("--limit", type=_number(int, 1), default=None, metavar="N",
                   help="send at most N deliveries (default: all)")
    b.add_argument("--duration", type=_number(float, 0.1), default=40.0, metavar="S",
                   help="spread the sends over S seconds (default: %(default)s)")
    b.add_argument("--outage", type=_number(float, 0), default=20.0, metavar="S",
                   help="stop the application database for S seconds; 0: none "
                        "(default: %(default)s)")
    b.add_argument("--outage-at", type=_number(float, 0), default=10.0, metavar="S",
                   help="... S seconds into the burst (default: %(default)s)")
    b.add_argument("--concurrency", type=_number(int, 1), default=10, metavar="N",
                   help="requests each system serves at once (default: the free tier's "
                        "%(default)s)")
    b.add_argument("--systems", type=_systems, default=None, metavar="NAME,...",
                   help="which to run, in order (default: spillway,naive,peer)")
    b.add_argument("--settle-timeout", type=_number(float, 1), default=120.0, metavar="S",
                   help="wait at most S seconds after sending for a backlog (default: "
                        "%(default)s)")
    b.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="write burst.json and burst.png here (default: .spillway/bench)")
    b.set_defaults(func=cmd_burst)
    return p


def cmd_burst(args: argparse.Namespace) -> int:
    from bench.burst.run import OUT_DIR, BurstOptions, run_burst, write
    from bench.burst.summary import table
    from chalicelib.errors import ConfigError

    if args.corpus is not None and not args.corpus.is_dir():
        raise ConfigError(f"--corpus {args.corpus}: not a folder")
    opts = BurstOptions(corpus=args.corpus, repeat=args.repeat, limit=args.limit,
                        duration_s=args.duration, outage_at_s=args.outage_at,
                        outage_s=args.outage, concurrency=args.concurrency,
                        settle_timeout_s=args.settle_timeout, out_dir=args.out or OUT_DIR)
    if args.systems:
        opts.systems = args.systems
    rows, runs = run_burst(opts)
    data, png = write(rows, runs, opts.out_dir)
    print(f"bench burst: wrote {data} and {png}", file=sys.stderr)
    print_json(json.dumps(rows, indent=1) if args.json else table(rows))
    return 0

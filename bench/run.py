"""``python -m bench.run``: every figure of ``make bench`` in one run, on the real corpus.

Prints one line per figure on stdout (``name: value (baseline: ...)``), progress on stderr, and
writes every figure with its raw measurements to ``--out`` (default ``.spillway/bench/
last.json``), which ``spillway cost`` reads. Starts its own embedded PostgreSQL and moto server
and stops them at the end. A measurement, never a test: only the ratios mean something on a
shared machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench import aws_requests, cold_start, edge_cpu, worker_db
from bench import report as rpt
from bench.corpus import corpus_path, deliveries

#: The measurements, in the order they run (``--only`` picks some).
PARTS = ("edge_cpu", "worker_db", "aws_requests", "cold_start")


def _emit(figures: list[rpt.Figure], fig: rpt.Figure | list[rpt.Figure]) -> None:
    for f in fig if isinstance(fig, list) else [fig]:
        figures.append(f)
        print(f.line(), flush=True)


def _step(what: str) -> None:
    """Progress on stderr before each measurement (some take a minute)."""
    print(f"bench: measuring {what} ...", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=rpt.DEFAULT_PATH,
                        help="results file (default: %(default)s)")
    parser.add_argument("--corpus", type=Path, default=None,
                        help="payload folder (default: ../shared/github-webhooks, else the "
                             "bundled samples)")
    parser.add_argument("--repetitions", type=int, default=5,
                        help="interleaved repetitions of the database and cold-start "
                             "measurements (default: %(default)s)")
    parser.add_argument("--only", default=",".join(PARTS),
                        help="comma-separated measurements to run, of: %(default)s (default: "
                             "all; the results file then holds only those)")
    args = parser.parse_args(argv)
    if args.repetitions < 1:
        parser.error("--repetitions must be at least 1")
    only = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(only) - set(PARTS))
    if unknown or not only:
        parser.error(f"--only takes some of {','.join(PARTS)}; got {args.only!r}")
    path = args.corpus or corpus_path()
    corpus = deliveries(path)
    print(f"bench: {len(corpus)} deliveries from {path}", file=sys.stderr, flush=True)

    from spillway.local.embedded import EmbeddedPostgres, MotoServer
    from spillway.migrate import migrate

    figures: list[rpt.Figure] = []
    if "edge_cpu" in only:
        _step("the edge's CPU time per delivery")
        _emit(figures, edge_cpu.run(corpus))
    if only == ["edge_cpu"]:
        return _write(figures, path, corpus, args.out)
    pg = EmbeddedPostgres(tempfile.mkdtemp(prefix="spillway-bench-pg-")).start()
    moto = None
    try:
        bench_db, app_db = pg.create_database("bench_store"), pg.create_database("bench_app")
        for url in (bench_db, app_db):
            migrate(url, "app")
        if "worker_db" in only:
            _step(f"the worker's database store ({args.repetitions} repetitions)")
            _emit(figures, worker_db.run(corpus, bench_db, repetitions=args.repetitions))
        if {"aws_requests", "cold_start"} & set(only):
            moto = MotoServer.start()
            env = aws_requests.environment(moto.url, app_db)
            aws_requests.provision_stack(env)
        if "aws_requests" in only:
            _step("AWS requests per delivery (moto server)")
            _emit(figures, aws_requests.run(corpus, env))
        if "cold_start" in only:
            _step(f"cold starts ({args.repetitions} runs)")
            _emit(figures, cold_start.run(corpus[0], env, runs=args.repetitions))
    finally:
        if moto is not None:
            moto.stop()
        pg.cleanup()
    return _write(figures, path, corpus, args.out)


def _write(figures: list[rpt.Figure], path: Path, corpus: list, out_path: Path) -> int:
    out = rpt.write(rpt.results(figures, corpus={"path": str(path), "deliveries": len(corpus)}),
                    out_path)
    print(f"bench: results written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``spillway``: the operator's command line (never shipped to Lambda).

Commands: ``local`` (run the local stack), ``replay`` (send payloads as signed deliveries),
``demo`` (the main job end to end), ``db migrate``, ``status``, ``redrive``, ``promote``,
``breaker ...`` (runbook verbs for the shared circuit breaker).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time


def _add_backend(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=("aws", "postgres"),
                   default=os.environ.get("SPILLWAY_BACKEND", "aws"),
                   help="aws: SQS/DynamoDB/S3 (embedded moto server unless AWS_ENDPOINT_URL); "
                        "postgres: queues and state in PostgreSQL (default: %(default)s)")


def _add_workdir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workdir", default=os.environ.get("SPILLWAY_WORKDIR"),
                   help="where the embedded databases live (default: .spillway in the project)")


def _parse_chaos(value: str) -> float:
    name, _, seconds = value.partition("=")
    if name != "db-outage" or not seconds:
        raise argparse.ArgumentTypeError("expected db-outage=SECONDS")
    try:
        return float(seconds)
    except ValueError:
        raise argparse.ArgumentTypeError("db-outage takes a number of seconds") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spillway", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--local", action="store_true",
                        help="talk to the running `spillway local` stack (reads its environment "
                             "from .spillway/local-env.json, or --workdir's)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("local", help="run the local stack in the foreground")
    _add_backend(p)
    _add_workdir(p)
    p.add_argument("--port", type=int, default=0, help="edge port (default: any free port)")
    p.set_defaults(func=cmd_local)

    p = sub.add_parser("replay", help="send payload files as signed GitHub deliveries")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="payload files or folders laid out as <event>/<name>.json")
    p.add_argument("--url", default=os.environ.get("SPILLWAY_URL"), required=False,
                   help="the webhook URL (default: $SPILLWAY_URL)")
    p.add_argument("--secret", default=os.environ.get("GITHUB_WEBHOOK_SECRET"),
                   help="the webhook secret to sign with (default: $GITHUB_WEBHOOK_SECRET)")
    p.add_argument("--concurrency", type=int, default=8, help="sender threads")
    p.add_argument("--repeat", type=int, default=1, help="send the set this many times")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("demo", help="the main job: local stack + replay + drain + summary")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="payload folders (default: the bundled sample deliveries)")
    _add_backend(p)
    _add_workdir(p)
    p.add_argument("--json", action="store_true", help="last line of stdout is a JSON summary")
    p.add_argument("--burst", type=int, default=1, metavar="K",
                   help="replay the payloads K times over, fresh delivery ids")
    p.add_argument("--concurrency", type=int, default=8, help="sender threads")
    p.add_argument("--chaos", type=_parse_chaos, default=0.0, metavar="db-outage=SECONDS",
                   help="stop the application PostgreSQL for SECONDS during the replay")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("db", help="database tasks")
    dbsub = p.add_subparsers(dest="db_command", required=True)
    m = dbsub.add_parser("migrate", help="apply SQL migrations (yoyo)")
    m.add_argument("--url", default=os.environ.get("DATABASE_URL"))
    m.add_argument("--which", choices=("app", "queue"), default="app")
    m.set_defaults(func=cmd_db_migrate)
    from spillway.housekeeping import register as register_housekeeping

    register_housekeeping(dbsub, _queue_pool)

    p = sub.add_parser("status", help="queue depths (and breaker state) of the configured backend")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("redrive", help="move dead-lettered messages back to their queues")
    p.add_argument("--max", type=int, default=1000)
    p.set_defaults(func=cmd_redrive)

    p = sub.add_parser("promote", help="move queued work from a queue to high priority")
    p.add_argument("source", choices=("medium", "low"))
    p.add_argument("--max", type=int, default=1000)
    p.set_defaults(func=cmd_promote)

    try:
        from spillway.breaker_cli import register
    except ImportError:  # pragma: no cover - only while the breaker is being built
        register = None
    if register is not None:
        from chalicelib import wiring

        register(sub, wiring.get_state)
    from spillway.loadtest import register as register_loadtest

    register_loadtest(sub, _add_backend)
    from spillway.deploy import register as register_deploy

    register_deploy(sub)
    from spillway.reconcile_cmd import register as register_reconcile
    register_reconcile(sub)
    return parser


def _queue_pool():
    """The postgres backend's pool on the queue database (QUEUE_DATABASE_URL)."""
    from chalicelib import wiring

    return wiring.queue_pool()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def cmd_local(args) -> int:
    import signal
    from pathlib import Path

    from spillway.runtime.stack import LocalStack, StackOptions

    options = StackOptions(backend=args.backend)
    if args.workdir:
        options.workdir = Path(args.workdir)
    # SIGTERM (a service manager, a background job) stops as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    stack = LocalStack(options).start()
    print(f"Spillway local stack ({args.backend} backend) is up.")
    print(f"  webhook URL: {stack.url}")
    print(f"  secret:      {stack.secret}")
    print(f"  replay:      spillway replay PATH --url {stack.url} --secret {stack.secret}")
    print("  operate:     spillway --local status | redrive | promote low | breaker status")
    print("Ctrl-C to stop.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return 0


def cmd_replay(args) -> int:
    from spillway.replay import iter_payloads, replay

    if not args.url or not args.secret:
        print("spillway replay: --url and --secret are required (or SPILLWAY_URL and "
              "GITHUB_WEBHOOK_SECRET)", file=sys.stderr)
        return 2
    try:
        results = replay(list(iter_payloads(args.paths)), args.url, args.secret,
                         concurrency=args.concurrency, repeat=args.repeat)
    except ValueError as exc:  # a bad URL or a file that is not a JSON payload
        print(f"spillway replay: {exc}", file=sys.stderr)
        return 2
    ok = sum(200 <= r.status < 300 for r in results)
    for r in results:
        if not 200 <= r.status < 300:
            print(f"{r.status} {r.source}: {r.response}", file=sys.stderr)
    print(json.dumps({"sent": len(results), "accepted": ok, "rejected": len(results) - ok}))
    return 0 if ok == len(results) else 1


def cmd_demo(args) -> int:
    from spillway.demo import DemoOptions, main_demo

    opts = DemoOptions(backend=args.backend, burst=max(1, args.burst), json_output=args.json,
                       concurrency=max(1, args.concurrency), chaos_db_outage_s=args.chaos)
    if args.paths:
        opts.paths = args.paths
    if args.workdir:
        from pathlib import Path

        from spillway.runtime.stack import StackOptions

        opts.stack_options = StackOptions(backend=args.backend, workdir=Path(args.workdir))
    return main_demo(opts)


def cmd_db_migrate(args) -> int:
    from spillway.migrate import migrate

    if not args.url:
        print("spillway db migrate: --url or DATABASE_URL is required", file=sys.stderr)
        return 2
    applied = migrate(args.url, args.which)
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none'}")
    return 0


def cmd_status(args) -> int:
    from chalicelib import wiring

    status = wiring.status()
    if args.json:
        print(json.dumps(status, sort_keys=True))
    else:
        for name, s in status["queues"].items():
            print(f"{name:<7} visible {s['visible']:>6}  in flight {s['in_flight']:>6}  "
                  f"delayed {s['delayed']:>6}")
        if "breaker" in status:
            print(f"breaker {status['breaker'].get('state')}")
    return 0


def cmd_redrive(args) -> int:
    from chalicelib import wiring
    from chalicelib.ports import DLQ

    moved = wiring.get_queue().move(DLQ, None, args.max)
    print(f"redrove {moved} message(s) from the dead-letter queue")
    return 0


def cmd_promote(args) -> int:
    from chalicelib import wiring

    moved = wiring.get_queue().move(args.source, "high", args.max)
    print(f"promoted {moved} message(s) from {args.source} to high")
    return 0


def _use_local_stack(args) -> None:
    """Load the environment a running ``spillway local`` left in its workdir."""
    from pathlib import Path

    from spillway.runtime.stack import LOCAL_ENV_FILE, StackOptions

    workdir = Path(getattr(args, "workdir", None) or os.environ.get("SPILLWAY_WORKDIR")
                   or StackOptions().workdir)
    env_file = workdir / LOCAL_ENV_FILE
    if not env_file.is_file():
        raise SystemExit(f"spillway: no running local stack ({env_file} not found); "
                         "start one with `spillway local`")
    os.environ.update(json.loads(env_file.read_text()))


def main(argv: list[str] | None = None) -> int:
    from chalicelib.errors import SpillwayError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:  # the breaker and the demo report outages; the pool's retries are noise
        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    if args.local:
        _use_local_stack(args)
    try:
        return int(args.func(args) or 0)
    except SpillwayError as exc:
        hint = ""
        if "credentials" in str(exc).lower() or "endpoint" in str(exc).lower():
            hint = (" (for the local stack use `spillway --local ...`; for AWS configure "
                    "credentials and SPILLWAY_BACKEND)")
        print(f"spillway: {type(exc).__name__}: {exc}{hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

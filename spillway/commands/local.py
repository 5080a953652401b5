"""``spillway local [--backend aws|postgres] [--workdir DIR] [--port N] [--fresh] [--tier NAME]
[--quiet] [--dashboard-port N | --no-dashboard]``: run the local stack in the foreground until
Ctrl-C, SIGTERM or SIGHUP (a closed terminal); each stops the stack and its children and
removes the env file, and the shutdown says what it stopped (on the aws backend, first what
the emulator's memory loses). A line per delivery accepted and stored unless ``--quiet``; a
``--port`` in use is refused (exit 2) before anything starts. See docs/LOCAL.md."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

from spillway.commands.options import add_backend, add_dashboard, add_workdir, dashboard_port

DESCRIPTION = """\
Run the whole system on this machine until Ctrl-C, SIGTERM or SIGHUP.

Everything binds to 127.0.0.1 only (the edge, the dashboard, the emulator): nothing is
reachable from other machines. The webhook secret is random per run unless
GITHUB_WEBHOOK_SECRET is set, which pins it (so a GitHub webhook configured once keeps
working). To send real GitHub deliveries to the local stack, forward them with GitHub CLI's
webhook extension (gh extension install cli/gh-webhook; gh webhook forward --repo=OWNER/REPO
--events=push,issues,... --url=WEBHOOK_URL --secret=SECRET) or expose WEBHOOK_URL through a tunnel of your
choice and point the repository's webhook at it.

The databases persist in the workdir (.spillway/pg-app, .spillway/pg-queue) across runs:
--fresh starts with empty ones. On the aws backend the queues, the breaker state and the
audit trail live in the emulator's memory and are lost on stop (it says how many queued
deliveries); --backend postgres keeps them (docs/LOCAL.md)."""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("local", help="run the local stack in the foreground",
                              description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    add_backend(p)
    add_workdir(p)
    p.add_argument("--port", type=int, default=0,
                   help="edge port on 127.0.0.1 (default: any free port)")
    p.add_argument("--fresh", action="store_true",
                   help="start with empty databases (delete the workdir's pg-app and pg-queue)")
    p.add_argument("--tier", choices=("free", "pro", "enterprise"),
                   help="run the tier plan: its lanes, concurrency limits and shared database "
                        "slots, so `tier lift` acts (default: $SPILLWAY_TIER's lanes, free's, "
                        "with slots off)")
    p.add_argument("--quiet", action="store_true",
                   help="no line per delivery accepted and stored (the logs still print)")
    add_dashboard(p)
    p.set_defaults(func=run)


#: The signals that stop the stack: Ctrl-C, a service manager or ``kill``, a closed terminal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt(signum, frame):
    # Once stopping, further signals must not interrupt the cleanup.
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt


def _check_port(port: int) -> None:
    """Refuse (ConfigError, exit 2) an edge port outside 0..65535 or taken on 127.0.0.1,
    before anything starts (the edge binds it last, after the databases)."""
    import socket

    from chalicelib.errors import ConfigError

    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port}: not a TCP port (0..65535; 0 = any free port)")
    if port == 0:
        return
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the edge binds it
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise ConfigError(f"--port {port}: 127.0.0.1:{port} is in use "
                              f"({exc.strerror or exc}); pick another or 0 for any free "
                              "port") from None


def _say(line: str) -> None:
    """Print, unless the terminal is gone (SIGHUP): the cleanup goes on regardless."""
    with contextlib.suppress(OSError, ValueError):
        print(line, flush=True)


def run(args: argparse.Namespace) -> int:
    from spillway.dashboard.local import attach
    from spillway.local.lifecycle import spillway_executable
    from spillway.local.stack import LocalStack, StackOptions

    _check_port(args.port)
    options = StackOptions(backend=args.backend, edge_port=args.port, fresh=args.fresh,
                           tier=args.tier, say=None if args.quiet else _say)
    if args.workdir:
        options.workdir = Path(args.workdir)
    if args.tier:  # the plan's lanes, limits and shared slots, as `demo --tier` runs them
        from chalicelib.core.concurrency.plan import build_plan
        from spillway.demo_tier import tier_stack_options

        options = tier_stack_options(build_plan(args.tier), options)
    for sig in STOP_SIGNALS:
        signal.signal(sig, _interrupt)
    stack, dashboard = LocalStack(options), None
    pinned = bool(os.environ.get("GITHUB_WEBHOOK_SECRET"))
    try:
        stack.start()
        for line in stack.reaped:
            _say(f"stopped {line} left by an earlier run")
        exe = spillway_executable()
        local = (f"SPILLWAY_WORKDIR={options.workdir} " if args.workdir else "") + f"{exe} --local"
        _say(f"Spillway local stack ({args.backend} backend) is up, on 127.0.0.1 only.")
        _say(f"  webhook URL: {stack.url}")
        _say(f"  secret:      {stack.secret}"
             + ("" if pinned else "  (random per run; set GITHUB_WEBHOOK_SECRET to pin it)"))
        dashboard = attach(stack, dashboard_port(args), say=_say)
        _say(f"  replay:      {local} replay PATH")
        _say(f"  operate:     {local} status | ledger | dlq | redrive | breaker status")
        _say(f"  data:        {options.workdir} (kept across runs; --fresh empties it)")
        _say("Ctrl-C to stop.")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        if dashboard is not None:
            dashboard.stop()
        stopped = stack.stop(say=_say)
        _say("Stopped: " + ("; ".join(stopped) if stopped else "nothing was running") + ".")
    return 0

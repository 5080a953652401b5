"""``spillway local [--backend aws|postgres] [--workdir DIR] [--port N]``: run the local stack in
the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import time
from pathlib import Path
from typing import Any

from spillway.commands.options import add_backend, add_workdir


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("local", help="run the local stack in the foreground")
    add_backend(p)
    add_workdir(p)
    p.add_argument("--port", type=int, default=0, help="edge port (default: any free port)")
    p.set_defaults(func=run)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    from spillway.local.stack import LocalStack, StackOptions

    options = StackOptions(backend=args.backend, edge_port=args.port)
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

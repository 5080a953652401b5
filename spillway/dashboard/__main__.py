"""``python -m spillway.dashboard``: watch a running stack in a browser.

Its queues, breaker and ledger. ``--env-file`` loads the environment ``spillway local`` wrote (``.spillway/
local-env.json``); without it the current environment names the backend."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spillway.dashboard",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0,
                        help="port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--env-file", type=Path, metavar="PATH",
                        help="JSON object of environment variables, e.g. "
                             ".spillway/local-env.json of a running `spillway local`")
    args = parser.parse_args(argv)
    if args.env_file is not None:
        try:
            env = json.loads(args.env_file.read_text())
        except (OSError, ValueError) as exc:
            print(f"spillway dashboard: cannot read --env-file {args.env_file}: {exc}",
                  file=sys.stderr)
            return 2
        if not isinstance(env, dict):
            print(f"spillway dashboard: {args.env_file} is not a JSON object", file=sys.stderr)
            return 2
        os.environ.update({str(k): str(v) for k, v in env.items()})
    from chalicelib.errors import SpillwayError
    from spillway.dashboard.local import from_environment

    try:
        dashboard = from_environment(port=args.port)
    except OSError as exc:
        print(f"spillway dashboard: cannot listen on port {args.port}: {exc}", file=sys.stderr)
        return 2
    except SpillwayError as exc:  # no backend to watch: a user's mistake, not a crash
        print(f"spillway dashboard: cannot reach the stack ({exc}); for a running `spillway "
              "local`, pass --env-file .spillway/local-env.json", file=sys.stderr)
        return 2
    print(f"Spillway dashboard: {dashboard.url}  (Ctrl-C to stop)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    dashboard.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``spillway replay PATH... [--url URL] [--secret S] [--concurrency N] [--repeat K]
[--no-wait] [--drain-timeout S] [--json]``: send payload files as signed GitHub deliveries,
with progress on stderr; then (unless ``--no-wait``, and when the application database is
known, as with ``spillway --local``) wait for the queues to drain and print the demo's
accounting: stored, dead-lettered, missing, duplicated. Exit status 0 only when every delivery
got a 2xx and, when accounted, none is missing or stored twice."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from typing import Any

from chalicelib.errors import ConfigError
from spillway.json_output import print_json

#: Seconds between two progress lines on stderr.
PROGRESS_EVERY_S = 2.0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("replay", help="send payload files as signed GitHub deliveries")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="payload files or folders laid out as <event>/<name>.json")
    p.add_argument("--url", help="the webhook URL (default: $SPILLWAY_URL; with --local the "
                                 "stack's)")
    p.add_argument("--secret", help="the webhook secret to sign with (default: "
                                    "$GITHUB_WEBHOOK_SECRET; with --local the stack's)")
    p.add_argument("--concurrency", type=int, default=8,
                   help="sender threads (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=1, metavar="K",
                   help="send the set K times over, fresh delivery ids (default: %(default)s)")
    p.add_argument("--no-wait", action="store_true",
                   help="do not wait for the queues to drain nor count the ledger")
    p.add_argument("--drain-timeout", type=float, default=600.0, metavar="S",
                   help="seconds to wait for the queues to drain (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    p.set_defaults(func=run)


class _Progress:
    """Counts answers; prints ``sent n/total, accepted a`` at most every few seconds."""

    def __init__(self, total: int):
        self.total, self.sent, self.accepted = total, 0, 0
        self._lock = threading.Lock()
        self._last = time.perf_counter()

    def __call__(self, result) -> None:
        with self._lock:
            self.sent += 1
            self.accepted += 200 <= result.status < 300
            now = time.perf_counter()
            if now - self._last < PROGRESS_EVERY_S and self.sent != self.total:
                return
            self._last = now
            line = f"  sent {self.sent}/{self.total}, accepted {self.accepted}"
        print(line, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from spillway.replay import iter_payloads, replay

    url = args.url or os.environ.get("SPILLWAY_URL")
    secret = args.secret or os.environ.get("GITHUB_WEBHOOK_SECRET")
    if not url or not secret:
        raise ConfigError("--url and --secret are required (or SPILLWAY_URL and "
                          "GITHUB_WEBHOOK_SECRET, or --local with a `spillway local` running)")
    if args.concurrency < 1 or args.repeat < 1:
        raise ConfigError("--concurrency and --repeat must be at least 1")
    try:
        payloads = list(iter_payloads(args.paths))
    except ValueError as exc:  # a file that is not a JSON payload
        raise ConfigError(str(exc)) from None
    if not payloads:
        raise ConfigError(f"no payloads found under {', '.join(args.paths)}")
    total = len(payloads) * args.repeat
    print(f"spillway replay: {len(payloads)} payloads x {args.repeat} = {total} deliveries "
          f"to {url}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    progress = _Progress(total)
    try:
        results = replay(payloads, url, secret, concurrency=args.concurrency,
                         repeat=args.repeat, on_result=progress)
    except ValueError as exc:  # a bad URL
        raise ConfigError(str(exc)) from None
    except KeyboardInterrupt:  # nothing more is sent (spillway.replay.replay)
        print(f"spillway replay: interrupted; sent {progress.sent} of {total} deliveries, "
              f"{progress.accepted} accepted; the rest was not sent", file=sys.stderr)
        return 130
    accepted = [r.delivery_id for r in results if 200 <= r.status < 300]
    for r in results:
        if not 200 <= r.status < 300:
            print(f"{r.status} {r.source}: {r.response}", file=sys.stderr)
    summary: dict[str, Any] = {"sent": len(results), "accepted": len(accepted),
                               "rejected": len(results) - len(accepted),
                               "replay_s": round(time.perf_counter() - started, 1)}
    if not args.no_wait:
        accounting = _account(accepted, args.drain_timeout)
        if accounting is not None:
            summary.update(accounting)
    ok = not _failures(summary)
    if args.json:
        print_json(json.dumps(summary, sort_keys=True))
    else:
        print(format_summary(summary))
    return 0 if ok else 1


def _account(accepted_ids: list[str], timeout_s: float) -> dict | None:
    """Wait for the drain, then count the ledger and the DLQ (None, with a note on stderr,
    when the application database is not known here)."""
    from chalicelib import wiring
    from spillway.local.drain import wait_drained
    from spillway.local.lifecycle import spillway_executable
    from spillway.ops.dlq import dead_letters_of_environment
    from spillway.ops.ledger import account, ledger_counts_at

    url = os.environ.get("DATABASE_URL")
    if not url:
        print("  (not counting the ledger: DATABASE_URL is not set; "
              f"`{spillway_executable()} --local replay` knows the local stack's)",
              file=sys.stderr)
        return None
    print("  waiting for the queues to drain ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    drained = wait_drained(wiring.get_queue(), timeout_s) is not None
    dead = [m.delivery_id for m in dead_letters_of_environment()[0] if m.delivery_id]
    counts = ledger_counts_at(url, accepted_ids)
    return {**account(counts, accepted_ids, dead), "drained": drained,
            "drain_s": round(time.perf_counter() - t0, 1)}


def format_summary(summary: dict) -> str:
    """The human summary: one ``key value`` line each, then the verdict when accounted."""
    keys = ["sent", "accepted", "rejected", "stored", "dead_lettered", "missing", "duplicated",
            "replay_s", "drain_s"]
    lines = ["", "Spillway replay summary", "-----------------------"]
    lines += [f"  {k:<14} {summary[k]}" for k in keys if k in summary]
    failures = _failures(summary)
    if failures:
        lines.append("  result         FAILED: " + "; ".join(failures))
    elif "missing" in summary:
        lines.append("  result         OK: nothing lost, nothing stored twice")
    return "\n".join(lines)


def _failures(summary: dict) -> list[str]:
    """What went wrong, one phrase each (empty: nothing): rejected deliveries, undrained
    queues, missing or duplicated ones."""
    failures = []
    if summary.get("rejected"):
        failures.append(f"{summary['rejected']} of {summary['sent']} deliveries rejected by "
                        "the edge (listed above)")
    if "missing" in summary:
        if not summary["drained"]:
            failures.append("queues did not drain")
        if summary["missing"] or summary["duplicated"]:
            failures.append(f"deliveries missing or duplicated ({summary['missing']} "
                            f"missing, {summary['duplicated']} stored twice)")
    return failures

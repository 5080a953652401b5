"""``spillway reconcile``: compare GitHub's delivery log with what Spillway has, by hand.

``spillway reconcile [--hook SPEC …] [--since DURATION] [--dry-run] [--json] [--api-url URL]``
runs what the scheduled function runs (:mod:`chalicelib.reconcile.wiring`) for the hooks given
(default ``GITHUB_HOOKS``), looking back ``--since`` (default 3 days, GitHub's retention, which
is also the maximum). ``--dry-run`` lists what it would redeliver and changes nothing, at
GitHub or in the database (no state, no audit row). Needs ``DATABASE_URL`` (with
``migrations/app`` applied), the backend's settings (``SPILLWAY_BACKEND`` …; ``spillway --local reconcile`` reads the local
stack's) and a credential (``GITHUB_TOKEN`` …, see ``chalicelib/adapters/github/auth.py``).

One hook's error (a malformed delivery-log item, a ``Link`` loop, GitHub's or the database's
failure) is that hook's: it is recorded in ``reconcile_runs`` and the other hooks are still
reconciled; ``--json`` prints one document whatever happened.

``spillway reconcile unpark --hook SPEC --reason TEXT [--by WHO]`` clears the wait GitHub asked
for (``Retry-After`` / ``X-RateLimit-Reset``, bounded to an hour) so the next run asks again;
it writes one audit record (``spillway.ops.audit``, verb ``reconcile unpark``). ``spillway
status`` lists parked hooks.

Exit status: 0 when every hook's run completed, 1 when one stopped on an error, a spent budget
or GitHub's rate limit (it resumes on the next run), 2 for a usage mistake (message, no
traceback). ``unpark``: 0 when the hook was parked and now is not, 1 when it was not parked
(nothing changed, nothing audited), 2 for a usage mistake or a hook never reconciled.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Any

from chalicelib.core.reconcile import RETENTION_S
from spillway.commands.audited import add_who_why, when
from spillway.commands.breaker import parse_duration
from spillway.json_output import print_json


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``reconcile`` command to an argparse ``subparsers``; returns its parser."""
    p = subparsers.add_parser("reconcile", help="redeliver from GitHub what never reached "
                                                "Spillway (GitHub's delivery log)")
    p.add_argument("--hook", action="append", metavar="SPEC",
                   help="repo:OWNER/REPO:HOOK_ID, org:ORG:HOOK_ID or app[:HOOK_ID]; repeat for "
                        "several (default: $GITHUB_HOOKS)")
    p.add_argument("--since", type=parse_duration, default=float(RETENTION_S),
                   metavar="DURATION", help="look back this far: 30m, 6h, 3d (default and "
                                            "maximum: 3d, what GitHub keeps)")
    p.add_argument("--dry-run", action="store_true",
                   help="list what would be redelivered; ask GitHub for nothing, change nothing")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--api-url", default=None,
                   help="GitHub's REST root (default: $GITHUB_API_URL or https://api.github.com)")
    p.set_defaults(func=run)
    verbs = p.add_subparsers(dest="reconcile_verb", metavar="{unpark}")
    unpark = verbs.add_parser("unpark", help="clear the wait GitHub asked for on a hook, so "
                                             "the next run asks again (audited)")
    unpark.add_argument("--hook", required=True, metavar="SPEC",
                        help="the parked hook: repo:OWNER/REPO:HOOK_ID, org:ORG:HOOK_ID or "
                             "app[:HOOK_ID] (as `spillway status` lists it)")
    unpark.add_argument("--json", action="store_true", help="print one JSON document")
    add_who_why(unpark)
    unpark.set_defaults(func=run_unpark)
    return p


def run(args: argparse.Namespace) -> int:
    from chalicelib.errors import ConfigError
    from chalicelib.reconcile.settings import ReconcileSettings
    from chalicelib.reconcile.wiring import build_reconciler

    if args.since > RETENTION_S:
        return _usage("--since is at most 3d: GitHub keeps deliveries for 3 days")
    env = dict(os.environ)
    if args.hook:
        env["GITHUB_HOOKS"] = ",".join(args.hook)
    if args.api_url:
        env["GITHUB_API_URL"] = args.api_url
    try:
        if not ReconcileSettings.from_env(env).hooks:
            return _usage("no hook to reconcile: pass --hook SPEC or set GITHUB_HOOKS")
        reconciler, settings = build_reconciler(env, metrics=None)
    except ConfigError as exc:
        return _usage(str(exc))
    options = dataclasses.replace(settings.options, window_s=args.since, dry_run=args.dry_run)
    reports = []
    for hook in settings.hooks:  # run_hook never raises: a hook's error is in its report
        if not args.json:
            print(f"reconciling {hook.key} …", file=sys.stderr, flush=True)
        reports.append(reconciler.run_hook(hook, options))
    if args.json:
        print_json(json.dumps({"dry_run": args.dry_run, "hooks": reports}, sort_keys=True))
    else:
        for r in reports:
            _print(r, args.dry_run)
    return 0 if all(r["stopped"] == "completed" for r in reports) else 1


def run_unpark(args: argparse.Namespace) -> int:
    """``spillway reconcile unpark``: audited, then the hook's ``not_before`` is cleared."""
    import time

    from chalicelib import wiring
    from chalicelib.adapters.github.client import HookRef
    from chalicelib.errors import ConfigError, SpillwayError
    from chalicelib.reconcile.store import ReconcileStore
    from spillway.commands.audited import wiring_state
    from spillway.ops import audit

    try:
        hook = HookRef.parse(args.hook).key
        if not str(args.reason or "").strip():
            raise ConfigError("--reason must not be blank")
        store = ReconcileStore(wiring.app_pool())
        if hook not in store.known_hooks():
            return _usage(f"{hook} was never reconciled here (no reconcile_cursors row)",
                          "reconcile unpark")
        state = wiring_state()

        def audited(not_before: float) -> None:
            audit.record(state, verb="reconcile unpark", by=args.by, reason=args.reason,
                         details={"hook": hook, "not_before": not_before})

        was = store.unpark(hook, time.time(), before_change=audited)
    except ConfigError as exc:
        return _usage(str(exc), "reconcile unpark")
    except SpillwayError as exc:
        print(f"spillway reconcile unpark: {exc}", file=sys.stderr)
        return 1
    result = {"hook": hook, "unparked": was is not None, "was_parked_until": was}
    if args.json:
        print_json(json.dumps(result, sort_keys=True))
    elif was is None:
        print(f"{hook}: not parked; nothing changed")
    else:
        print(f"{hook}: unparked (it was parked until {when(was)}); the next run "
              "asks GitHub again")
    return 0 if was is not None else 1


def _print(report: dict, dry_run: bool) -> None:
    verb = "would redeliver" if dry_run else "redelivery requested"
    print(f"{report['hook']}: {report['stopped']}, {report['pages']} page(s), "
          f"{report['requests']} request(s), rate limit left {report['rate_remaining']}")
    gap = (f"unknown (log not checked; {report['gap']} known)" if report.get("gap_unknown")
           else str(report["gap"]))
    print(f"  checked {report['checked']}  ok at GitHub {report['ok_at_github']}  "
          f"failed at GitHub {report['failed_at_github']}  already stored "
          f"{report['already_stored']}  gap {gap}")
    if report.get("parked_until"):
        print(f"  parked until {when(report['parked_until'])} (GitHub's wait, at most 1 h; "
              f"`spillway reconcile unpark --hook {report['hook']} --reason ...` clears it)")
    print(f"  {verb} {len(report['redeliver'])}  cool-down {report['skipped_cooldown']}  "
          f"outside window {report['skipped_outside_window']}  budget spent "
          f"{report['budget_exhausted']}")
    for guid in report["redeliver"]:
        print(f"    {guid}")
    for guid in report.get("redelivery_unconfirmed", []):
        print(f"    {guid} (request sent, no answer in time: counted as asked)")
    if report["error"]:
        print(f"  error: {report['error']}")


def _usage(message: str, verb: str = "reconcile") -> int:
    print(f"spillway {verb}: {message}", file=sys.stderr)
    return 2

"""``spillway status [--json]``: the system on one screen -- health (with its reasons), the
breaker, queue depths and oldest ages, concurrency and slots, the tier, lanes and each alarm's
state. ``--json`` prints the dashboard's snapshot (the same document as its ``/api/status``;
shape in ``spillway.dashboard.snapshot`` and ``spillway.ops.status``)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from chalicelib.ports import QUEUES
from spillway.commands.audited import when
from spillway.json_output import print_json


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("status", help="health, breaker, queues, concurrency, lanes and "
                                             "alarms on one screen")
    p.add_argument("--json", action="store_true", help="the dashboard's snapshot, as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spillway.dashboard.local import status_snapshot

    snap = status_snapshot()
    if args.json:
        print_json(json.dumps(snap, sort_keys=True, allow_nan=False))
        return 0
    print("\n".join(render(snap)))
    return 0


def render(snap: Mapping[str, Any]) -> list[str]:
    """The one-screen text of a snapshot (lines without newlines)."""
    health = snap.get("health") or {}
    lines = [f"health       {health.get('status', 'unknown').upper()}"
             f"  ({(snap.get('labels') or {}).get('backend', '?')} backend)"]
    lines += [f"  - {reason}" for reason in health.get("reasons", [])]
    for signal, why in (health.get("not_assessed") or {}).items():
        lines.append(f"  (not assessed: {signal}: {why})")
    tier = snap.get("tier") or {}
    lines.append("tier         " + (f"{tier['name']} (queue capacity {tier['queue_capacity']}, "
                                    f"from {tier['source']})" if "name" in tier
                                    else _missing(tier)))
    if "lift" in tier:
        lines.append("tier lift    " + _lift(tier["lift"]))
    b = snap.get("breaker")
    lines.append("breaker      " + (_breaker(b) if b else _missing({"reason": (
        snap.get("errors") or {}).get("breaker", "disabled (BREAKER_ENABLED off)")})))
    queues = snap.get("queues") or {}
    if not queues:
        lines.append("queues       " + _missing({"reason": (snap.get("errors") or {}).get(
            "queues", "no reading")}))
    for name in QUEUES:
        if name in queues:
            q = queues[name]
            lines.append(f"queue {name:<6} visible {q['visible']:>6}  in flight "
                         f"{q['in_flight']:>6}  delayed {q['delayed']:>6}  oldest "
                         f"{q['oldest_age_s']:>8.1f} s")
    c = snap.get("concurrency") or {}
    lines += _concurrency(c) if "in_use" in c else ["concurrency  " + _missing(c)]
    lines.append("db slots     " + _db_slots(snap.get("db_slots") or {}))
    lines += _lanes(snap.get("lanes") or {})
    lines += _reconcile(snap.get("reconcile") or {})
    alarms = snap.get("alarms") or {}
    if isinstance(alarms.get("alarms"), list):
        lines.append("alarms")
        lines += [f"  {a.get('name', '?'):<40} {a.get('state', '?')}" for a in alarms["alarms"]]
    else:
        lines.append("alarms       " + _section(alarms))
    return lines


def _concurrency(c: Mapping[str, Any]) -> list[str]:
    """``concurrency  2 in use now, at most 7 at once in the last step, of 12`` then one line
    per pool (executions; the peak is what a once-a-second reading of "now" misses)."""
    lines = [f"concurrency  {c['in_use']} in use now, at most {c.get('peak', c['in_use'])} at "
             f"once in the last step, of {c['limit'] or '?'}"]
    lines += [f"  {name:<14} now {p['in_use']:>3}  peak {p.get('peak', p['in_use']):>3}  of "
              f"{p.get('limit') or '?'}" for name, p in sorted((c.get("pools") or {}).items())]
    return lines


def _breaker(b: Mapping[str, Any]) -> str:
    """``OPEN  trips 2  retry after 30 s``; a forced state says who set it, why and until when
    (as ``spillway breaker status`` does); CLOSED / HALF_OPEN only the trips."""
    text = f"{b['state']}  trips {b['trips']}"
    forced = b.get("forced")
    if forced:
        until = when(forced["until"]) if forced.get("until") else "changed by hand"
        return text + f"  set by {forced.get('by', '?')}: {forced.get('reason', '')!r}, until {until}"
    if b["state"] == "OPEN":
        text += f"  retry after {b['retry_after_s']:.0f} s"
    return text


def _db_slots(d: Mapping[str, Any]) -> str:
    """``3 in use of 10 (max 10), 2 waiting, oldest lease 4 s, 1 expired``: the shared
    database slots (``spillway slots status`` lists each holder)."""
    if "in_use" not in d:
        return _missing(d)
    expired = sum(1 for x in d.get("holders", []) if x.get("expired"))
    return (f"{d['in_use']} in use of {d['limit']} (max {d.get('max_limit') or '?'}), "
            f"{d['waiters']} waiting, oldest lease {d['oldest_lease_s']:.0f} s"
            + (f", {expired} expired" if expired else ""))


def _lanes(data: Mapping[str, Any]) -> list[str]:
    """``lanes`` then one line per worker function: each lane's state and MaximumConcurrency."""
    if not isinstance(data.get("functions"), list):
        return ["lanes        " + _section(data)]
    lines = [f"lanes        (tier {data.get('tier', '?')})"]
    for fn in data["functions"]:
        cells = []
        for lane in fn.get("lanes", []):
            state = lane.get("state", "?")
            if state == "disabled":
                state += f" ({lane.get('reason', '')})"
            elif state == "ejected":
                state += f" until {when(lane.get('ejected_until'))}"
            cells.append(f"{lane.get('lane')} {state} max {lane.get('maximum_concurrency')}")
        lines.append(f"  {fn.get('function', '?'):<14} " + "; ".join(cells))
    return lines


def _reconcile(data: Mapping[str, Any]) -> list[str]:
    """``reconcile    gap 0 (2 hook(s))``, or ``gap unknown`` and one line per hook whose log
    was not checked: parked (until when, and the verb that clears it) or stopped on an error."""
    if not isinstance(data.get("hooks"), list):
        return ["reconcile    " + _section(data)]
    hooks = data["hooks"]
    if not hooks:
        return ["reconcile    gap unknown (no reconciler run recorded)"]
    gap = "unknown" if data.get("gap") is None else str(data["gap"])
    lines = [f"reconcile    gap {gap} ({len(hooks)} hook(s))"]
    for h in hooks:
        if h.get("parked_until"):
            lines.append(f"  {h['hook']}: parked by GitHub until {when(h['parked_until'])}; "
                         f"`spillway reconcile unpark --hook {h['hook']} --reason ...` clears it")
        elif h.get("gap_unknown"):
            lines.append(f"  {h['hook']}: not checked ({h.get('stopped')}: "
                         f"{h.get('error') or '?'})")
    return lines


def _lift(lift: Mapping[str, Any] | None) -> str:
    if not lift:
        return "none"
    if lift.get("available") is False:
        return _missing(lift)
    return (f"{lift['from']} -> {lift['to']} for {lift['remaining_s']:.0f} s more (by "
            f"{lift['by']}: {lift['reason']})")


def _section(data: Mapping[str, Any]) -> str:
    if data.get("available") is False:
        return _missing(data)
    return json.dumps(data, sort_keys=True)


def _missing(data: Mapping[str, Any]) -> str:
    return f"unavailable: {data.get('reason', 'no reading')}"

"""The pass/fail rule of a demo or load-test run (pure): issue 11's thresholds.

A run fails when a delivery is missing or stored twice, a rejected delivery was stored anyway
(half-stored), the queues did not drain, the acknowledgement p95 is 3 s or more (GitHub allows
10 s; the original strategy promised < 3 s), the error rate is 5 % or more -- 503s aside while a
planned fault makes the edge refuse (``Fault.planned_503``) -- or recovery after the last fault
took 60 s or more *after its work could be seen again*: a fault that kills invocations
(``Fault.returns_after_s``: the stack's longest visibility timeout) leaves batches invisible that
long by SQS design (as on Lambda: visibility >= 6 x the function timeout + batching window), so
its limit is that plus 60 s (:func:`recovery_limit_s`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

P95_ACK_LIMIT_MS = 3000.0
ERROR_RATE_LIMIT = 0.05
RECOVERY_LIMIT_S = 60.0


def error_rate(statuses: Sequence[int], *, excuse_503: bool,
               excuse_unreachable: bool = False) -> float:
    """Share (0..1) of answers that are not 2xx, 503s left out when ``excuse_503``, and
    unanswered sends (status 0: the edge was not reachable) when ``excuse_unreachable``."""
    if not statuses:
        return 0.0
    excused = {503} if excuse_503 else set()
    if excuse_unreachable:
        excused.add(0)
    errors = sum(1 for s in statuses if not 200 <= s < 300 and s not in excused)
    return errors / len(statuses)


def recovery_limit_s(faults: Sequence[Any] = ()) -> float:
    """Seconds recovery may take after the last fault: :data:`RECOVERY_LIMIT_S` plus the
    longest ``returns_after_s`` of ``faults`` (seconds their killed batches stay invisible;
    0 for faults that kill nothing)."""
    return RECOVERY_LIMIT_S + max((float(getattr(f, "returns_after_s", 0) or 0) for f in faults),
                                  default=0.0)


def violations(summary: Mapping[str, Any], rate: float,
               recovery_limit: float = RECOVERY_LIMIT_S) -> list[str]:
    """What broke the thresholds (empty when the run passed). ``summary`` keys read:
    ``missing``, ``duplicated``, ``drained``, ``ack_p95_ms``, optional ``half_stored``,
    ``lost`` (GitHub's view), ``uncounted`` (the ledger could not be read) and ``recovery_s``
    (present when faults ran; None = never recovered)."""
    out = []
    if "uncounted" in summary:
        out.append(f"not counted: {summary['uncounted'].get('reason')}")
    if summary.get("lost", 0):
        out.append(f"{summary['lost']} lost (sent by GitHub, neither stored nor dead-lettered)")
    if summary.get("half_stored", 0) is None:
        out.append("rejected deliveries could not be checked for half-storing")
    if summary.get("missing", 0):
        out.append(f"{summary['missing']} missing")
    if summary.get("duplicated", 0):
        out.append(f"{summary['duplicated']} stored twice")
    if summary.get("half_stored", 0):
        out.append(f"{summary['half_stored']} rejected yet stored")
    if not summary.get("drained", False):
        out.append("queues did not drain")
    if summary.get("ack_p95_ms", 0.0) >= P95_ACK_LIMIT_MS:
        out.append(f"ack p95 {summary['ack_p95_ms']} ms >= {P95_ACK_LIMIT_MS:g} ms")
    if rate >= ERROR_RATE_LIMIT:
        out.append(f"error rate {rate:.1%} >= {ERROR_RATE_LIMIT:.0%}")
    if "recovery_s" in summary:
        rec = summary["recovery_s"]
        if rec is None or rec >= recovery_limit:
            out.append(f"recovery {rec} s >= {recovery_limit:g} s")
    return out


def checks(summary: Mapping[str, Any], rate: float | None = None) -> list[dict[str, Any]]:
    """Each threshold of a run, for a person: ``[{"name", "limit", "measured", "ok"}]`` (text,
    text, text, bool or None when it was not measured), in the order of the module docstring;
    ``rate`` the error rate (0..1; default the summary's ``error_rate``). The same rules as
    :func:`violations`, one row per rule whether it passed or not."""
    rate = summary.get("error_rate") if rate is None else rate

    def count(key: str, what: str, limit: str = "0") -> dict[str, Any]:
        value = summary.get(key, 0) if key != "lost" else summary.get(key)
        return {"name": what, "limit": limit, "measured": "not counted" if value is None
                else str(value), "ok": None if value is None else value == 0}

    rows = [count("missing", "deliveries missing (accepted, neither stored nor dead-lettered)"),
            count("duplicated", "deliveries stored twice"),
            count("half_stored", "rejected deliveries stored anyway")]
    if "lost" in summary:
        rows.append(count("lost", "deliveries lost at GitHub (sent, never stored)"))
    rows.append({"name": "queues drained at the end", "limit": "yes",
                 "measured": "yes" if summary.get("drained") else "no",
                 "ok": bool(summary.get("drained"))})
    p95 = summary.get("ack_p95_ms")
    rows.append({"name": "acknowledgement latency p95", "limit": f"< {P95_ACK_LIMIT_MS:g} ms",
                 "measured": "not measured" if p95 is None else f"{p95:g} ms",
                 "ok": None if p95 is None else p95 < P95_ACK_LIMIT_MS})
    rows.append({"name": "error rate (non-2xx answers; planned 503s excused)",
                 "limit": f"< {ERROR_RATE_LIMIT:.0%}",
                 "measured": "not measured" if rate is None else f"{rate:.2%}",
                 "ok": None if rate is None else rate < ERROR_RATE_LIMIT})
    if "recovery_s" in summary:
        rec = summary["recovery_s"]
        rows.append({"name": "recovery after the last fault (until drained)",
                     "limit": f"< {RECOVERY_LIMIT_S:g} s",
                     "measured": "never recovered" if rec is None else f"{rec:g} s",
                     "ok": rec is not None and rec < RECOVERY_LIMIT_S})
    return rows


def verdict(summary: Mapping[str, Any], results: Sequence[Any],
            faults: Sequence[Any] = (), *, excuse_unreachable: bool = False) -> dict[str, Any]:
    """``{"ok", "violations", "error_rate", "recovery_limit_s"}`` for a demo run: ``results``
    the sender's results (``.status``), ``faults`` the :class:`spillway.chaos.Fault` s that ran
    (their ``returns_after_s`` sets the recovery limit, :func:`recovery_limit_s`);
    ``excuse_unreachable`` when the edge was made unreachable on purpose (then ``lost``, not the
    error rate, judges those deliveries)."""
    excuse = any(getattr(f, "planned_503", False) for f in faults)
    rate = error_rate([r.status for r in results], excuse_503=excuse,
                      excuse_unreachable=excuse_unreachable)
    limit = recovery_limit_s(faults)
    found = violations(summary, rate, limit)
    return {"ok": not found, "violations": found, "error_rate": round(rate, 4),
            "recovery_limit_s": limit}

"""Evaluate an alarm definition over local figures the way CloudWatch would (pure, no I/O).

The local stack has no CloudWatch that evaluates alarms (moto never does), so ``spillway
--local alarms --states`` and ``status`` evaluate each alarm from the collector's
``edge_function_metrics`` rows: the rows are bucketed into the alarm's periods, each bucket
reduced by its statistic, and the alarm is ALARM when the last ``EvaluationPeriods`` buckets
all breach (CloudWatch's default, DatapointsToAlarm = EvaluationPeriods), missing buckets
counting as not breaching (the template's ``TreatMissingData: notBreaching``). INSUFFICIENT_DATA
when the local stack has no figure for the alarm at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}
REDUCE: dict[str, Callable[[list[float]], float]] = {
    "Maximum": max, "Minimum": min, "Sum": sum,
    "Average": lambda xs: sum(xs) / len(xs),
}


def evaluate(definition: Mapping[str, Any], samples: Iterable[tuple[float, float | None]],
             now: float) -> dict[str, Any]:
    """``samples``: (epoch seconds, value or None) pairs of the alarm's figure;
    ``definition``: an :func:`spillway.ops.alarms.alarm_definitions` entry (``period_s``,
    ``evaluation_periods``, ``threshold``, ``comparison``, ``statistic``). Returns
    ``{"state": "OK"|"ALARM"|"INSUFFICIENT_DATA", "reason": text, "datapoints": [...]}``
    (one value per evaluated period, oldest first, None where no sample fell)."""
    period = float(definition["period_s"])
    periods = int(definition["evaluation_periods"])
    known = [(t, v) for t, v in samples if v is not None]
    if not known:
        return {"state": "INSUFFICIENT_DATA", "datapoints": [],
                "reason": "no local figure for this metric"}
    reduce = REDUCE.get(str(definition["statistic"]), max)  # p95 of per-run p95s: their max
    compare = COMPARE[definition["comparison"]]
    last = math.floor(now / period)
    buckets: dict[int, list[float]] = {}
    for t, v in known:
        index = last - math.floor(t / period)
        if 0 <= index < periods:
            buckets.setdefault(index, []).append(float(v))
    points = [reduce(buckets[i]) if i in buckets else None for i in reversed(range(periods))]
    breaching = [p is not None and compare(p, float(definition["threshold"])) for p in points]
    state = "ALARM" if all(breaching) else "OK"
    return {"state": state, "datapoints": points,
            "reason": f"{sum(breaching)} of {periods} period(s) of {period:g} s breach "
                      f"{definition['comparison']} {definition['threshold']:g}"}

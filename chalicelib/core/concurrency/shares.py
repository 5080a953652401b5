"""Split a whole number of units (slots, reserved concurrency) over weighted parts.

One job: :func:`allocate`, used by the tier plan (reserved concurrency per worker function,
MaximumConcurrency per lane) and by the slot partitions (guaranteed slots per priority), so both
round the same way.
"""

from __future__ import annotations

from collections.abc import Mapping


def allocate(total: int, weights: Mapping[str, float], minimum: int = 0) -> dict[str, int]:
    """Split ``total`` units over ``weights`` (name -> weight > 0) in proportion to the weights,
    each part getting at least ``minimum`` units, by the largest-remainder method (ties go to
    the name listed first). The parts always sum to ``total`` when ``total >= minimum *
    len(weights)``; below that every part gets ``minimum`` and the sum exceeds ``total`` -- the
    callers' rules then refuse the result with numbers, rather than this function hiding it.

    Parts whose proportional share falls below ``minimum`` are fixed at ``minimum`` and the rest
    is shared among the others again, so a small part never pushes a large one below its share.
    Raises ValueError for a negative ``total`` or ``minimum`` or a weight <= 0."""
    if total < 0 or minimum < 0:
        raise ValueError(f"total and minimum must be >= 0, got {total}, {minimum}")
    if any(w <= 0 for w in weights.values()):
        raise ValueError(f"weights must be > 0, got {dict(weights)}")
    names = list(weights)
    fixed: dict[str, int] = {}
    while True:
        free = [n for n in names if n not in fixed]
        left = total - sum(fixed.values())
        weight_sum = sum(weights[n] for n in free)
        raw = {n: left * weights[n] / weight_sum for n in free} if free else {}
        small = [n for n in free if raw[n] < minimum]
        if not small:
            break
        for name in small:
            fixed[name] = minimum
    parts = {n: int(raw[n]) for n in raw}
    spare = left - sum(parts.values())
    by_remainder = sorted(raw, key=lambda n: (-(raw[n] - parts[n]), names.index(n)))
    for name in by_remainder[:max(spare, 0)]:
        parts[name] += 1
    return {n: fixed.get(n, parts.get(n, minimum)) for n in names}

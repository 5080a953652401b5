"""Exponential backoff with jitter (pure).

The original strategy retried 3 times, exponentially from 1 minute to 1 hour, plus up to 30 %
jitter (DESIGN.md 2c); Spillway keeps the shape and makes base and cap settings.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def backoff_s(attempt: int, *, base_s: float = 60.0, max_s: float = 3600.0,
              jitter: float = 0.3, rand: Callable[[], float] = random.random) -> int:
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` ≥ 1 is the one that failed).

    ``base_s * 2**(attempt-1)`` capped at ``max_s``, plus up to ``jitter`` (fraction) of it,
    rounded up to whole seconds (SQS visibility timeouts are integers, max 43,200 s per the
    AWS SQS quotas).
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    delay = min(max_s, base_s * (2 ** min(attempt - 1, 30)))
    delay += delay * jitter * rand()
    return min(43_200, max(0, int(-(-delay // 1))))

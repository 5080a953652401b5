"""One helper to count an event on a Powertools-style metrics object (``add_metric``)."""

from __future__ import annotations

from typing import Any


def count_metric(metrics: Any, name: str, value: int = 1) -> None:
    """Add ``value`` to the ``Count`` metric ``name`` on ``metrics`` (duck-typed as Powertools
    ``Metrics.add_metric(name=..., unit="Count", value=...)``); None counts nothing."""
    if metrics is not None:
        metrics.add_metric(name=name, unit="Count", value=value)

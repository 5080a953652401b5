"""One collector run: gather the figures (:mod:`chalicelib.collector.sources`; an expired tier
lift is reverted on the way), write one
``edge_function_metrics`` row, delete rows past the retention, emit the queue figures as EMF.

A figure that cannot be read is stored as NULL with its reason in ``notes``; only the queue
depths are required (a run whose queues cannot be read raises). Database errors leave as
:mod:`chalicelib.errors` (``pooled``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.adapters.postgres.pool import pooled
from chalicelib.metrics import count_metric
from chalicelib.ports import DLQ, WORK_QUEUES

#: Columns of ``edge_function_metrics`` a run writes (``id`` is the table's).
COLUMNS = ("collected_at", "source", "current_concurrency", "peak_concurrency",
           "concurrency_limit", "throttled_requests", "high_depth", "medium_depth",
           "low_depth", "heavy_depth", "batch_depth", "dlq_depth", "high_oldest_age_s",
           "medium_oldest_age_s", "low_oldest_age_s", "heavy_oldest_age_s",
           "batch_oldest_age_s", "breaker_state", "p95_latency_ms", "error_rate_pct", "notes")
_INSERT = (f"INSERT INTO edge_function_metrics ({', '.join(COLUMNS)}) VALUES "
           f"({', '.join(['%s'] * len(COLUMNS))}) RETURNING id")


def merge(*parts: dict[str, Any]) -> dict[str, Any]:
    """Later parts win, except ``notes``, which are merged."""
    row: dict[str, Any] = {"notes": {}}
    for part in parts:
        notes = part.get("notes") or {}
        row.update({k: v for k, v in part.items() if k != "notes"})
        row["notes"].update(notes)
    return row


@dataclass(frozen=True)
class Collector:
    """``figures`` are zero-argument callables returning column dicts, called in order; the
    first is the queue figures (required). ``clock`` gives epoch seconds."""

    #: The application database's psycopg pool (rows go to ``edge_function_metrics``).
    pool: Any
    figures: list[Callable[[], dict[str, Any]]]
    _: KW_ONLY
    #: Rows older than this many days are deleted on each run.
    retention_days: int
    #: Powertools-style metrics object (see :mod:`chalicelib.metrics`); None records nothing.
    metrics: Any = None
    clock: Callable[[], float] = time.time

    def run(self) -> dict[str, Any]:
        """Collect, store and prune once; returns the row written (with ``id`` and
        ``pruned``, the rows deleted past the retention)."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        queue, *others = self.figures
        parts = [queue()]
        for figure in others:
            try:
                parts.append(figure())
            except Exception as exc:  # one source down: the others are still worth a row
                name = getattr(figure, "__name__", "figures")
                parts.append({"notes": {name: f"unavailable: {type(exc).__name__}: {exc}"}})
        row = merge({"source": "none", "notes": {}}, *parts)
        row["collected_at"] = now
        self._emit(row)
        values = [json.dumps(row["notes"]) if c == "notes" else row.get(c) for c in COLUMNS]
        cutoff = now - timedelta(days=self.retention_days)
        with pooled(self.pool) as conn:
            row["id"] = conn.execute(_INSERT, values).fetchone()[0]
            row["pruned"] = conn.execute("DELETE FROM edge_function_metrics "
                                         "WHERE collected_at < %s", (cutoff,)).rowcount
        row["collected_at"] = now.isoformat()
        return row

    def _emit(self, row: dict[str, Any]) -> None:
        """EMF: ``QueueDepth_<queue>`` (Count) and ``OldestMessageAge_<queue>`` (Seconds)."""
        for name in (*WORK_QUEUES, DLQ):
            count_metric(self.metrics, f"QueueDepth_{name}", row.get(f"{name}_depth") or 0)
            age = row.get(f"{name}_oldest_age_s")
            if age is not None:
                count_metric(self.metrics, f"OldestMessageAge_{name}", age, unit="Seconds")

"""The reconciler's state and audit in the application database (``migrations/app/
app_0003_reconcile.sql``): per hook the cursor (``reconcile_cursors``), the open gaps with
their cool-down records (``reconcile_gaps``), and one audit row per run (``reconcile_runs``,
``reconcile_decisions``).

Instants are written from the reconciler's clock (epoch seconds via ``to_timestamp``), never
``now()``, so tests move time. Database errors leave as :mod:`chalicelib.errors` (``pooled``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.postgres.pool import pooled
from chalicelib.core.reconcile import (
    OK_AT_GITHUB,
    REDELIVER,
    Attempt,
    Cursor,
    Gap,
    Plan,
    Window,
)


@dataclass(frozen=True)
class RunRecord:
    """What one run of one hook did, for the audit row. ``stopped``: ``completed``,
    ``budget`` (request budget spent), ``rate_limited`` (GitHub refused) or ``error``.
    ``requested``: GUIDs GitHub accepted a redelivery for (202)."""

    hook: str
    started_at: float
    finished_at: float
    window: Window
    stopped: str
    pages: int
    requests: int
    plan: Plan
    requested: frozenset[str]
    rate_remaining: int | None = None
    error: str | None = None


_UPSERT_GAP = """
INSERT INTO reconcile_gaps AS g (hook, guid, attempt_id, delivered_at, event, action,
    first_seen_at, last_requested_at, requests, outcome, closed_at)
VALUES (%(hook)s, %(guid)s, %(attempt_id)s, to_timestamp(%(delivered_at)s), %(event)s,
    %(action)s, to_timestamp(%(now)s), to_timestamp(%(requested_at)s), %(requests)s,
    %(outcome)s, to_timestamp(%(closed_at)s))
ON CONFLICT (hook, guid) DO UPDATE SET
    attempt_id = greatest(g.attempt_id, EXCLUDED.attempt_id),
    delivered_at = greatest(g.delivered_at, EXCLUDED.delivered_at),
    last_requested_at = coalesce(EXCLUDED.last_requested_at, g.last_requested_at),
    requests = g.requests + EXCLUDED.requests,
    outcome = EXCLUDED.outcome, closed_at = EXCLUDED.closed_at
"""

_RUN_COLUMNS = ("ok_at_github", "failed_at_github", "already_stored", "skipped_cooldown",
                "skipped_outside_window", "budget_exhausted")


class ReconcileStore:
    """Reads and writes the reconcile tables through a ``psycopg_pool.ConnectionPool``."""

    def __init__(self, pool: Any):
        self._pool = pool

    @contextmanager
    def exclusive(self, hook: str) -> Iterator[bool]:
        """Hold ``hook``'s advisory lock for one run (a session lock on a connection kept for
        the block): yields False when another run (the schedule, ``spillway reconcile``) holds
        it, so two runs never decide about the same hook at once and a cool-down holds."""
        with pooled(self._pool) as conn:
            key = ("spillway.reconcile:" + hook,)
            (got,) = conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))",
                                  key).fetchone()
            conn.commit()
            try:
                yield bool(got)
            finally:
                if got:
                    conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", key)

    def cursor(self, hook: str) -> tuple[Cursor, float | None]:
        """``(cursor, not_before)`` of ``hook`` (epoch seconds or None); a fresh cursor when
        the hook never ran."""
        with pooled(self._pool) as conn:
            row = conn.execute(
                "SELECT high_water_id, resume_cursor, resume_floor_id, resume_top_id, "
                "extract(epoch FROM not_before) FROM reconcile_cursors WHERE hook = %s",
                (hook,)).fetchone()
        if row is None:
            return Cursor(), None
        return Cursor(row[0], row[1], row[2], row[3]), (float(row[4]) if row[4] else None)

    def open_gaps(self, hook: str) -> dict[str, Gap]:
        """The open gaps of ``hook``, GUID -> :class:`Gap` (its newest attempt as last seen;
        a carried-over attempt counts as failed: status 0)."""
        with pooled(self._pool) as conn:
            rows = conn.execute(
                "SELECT guid, attempt_id, extract(epoch FROM delivered_at), event, action, "
                "extract(epoch FROM last_requested_at), requests FROM reconcile_gaps "
                "WHERE hook = %s AND closed_at IS NULL", (hook,)).fetchall()
        return {guid: Gap(guid, Attempt(aid, guid, float(at), True, 0, 0.0, event, action),
                          float(req) if req is not None else None, n)
                for guid, aid, at, event, action, req, n in rows}

    def record(self, run: RunRecord, cursor: Cursor, *, not_before: float | None = None
               ) -> int:
        """Write the run's audit rows, its gaps and the new cursor in one transaction.
        Returns the run id (the runner never records a dry run). Gap rows are safe to write
        after an error too: every run checks the known set again before asking."""
        counts = run.plan.counts
        with pooled(self._pool) as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO reconcile_runs (hook, started_at, finished_at, window_since, "
                "window_now, stopped, pages, requests, checked, redelivery_requested, "
                "gap, rate_remaining, error, " + ", ".join(_RUN_COLUMNS) + ") VALUES "
                "(%s, to_timestamp(%s), to_timestamp(%s), to_timestamp(%s), to_timestamp(%s), "
                "%s, %s, %s, %s, %s, %s, %s, %s, " + ", ".join(["%s"] * len(_RUN_COLUMNS))
                + ") RETURNING id",
                (run.hook, run.started_at, run.finished_at, run.window.since, run.window.now,
                 run.stopped, run.pages, run.requests, counts["checked"],
                 len(run.requested), run.plan.gap, run.rate_remaining, run.error,
                 *(counts[c] for c in _RUN_COLUMNS)))
            (run_id,) = cur.fetchone()
            shown = [d for d in run.plan.decisions if d.outcome != OK_AT_GITHUB]
            cur.executemany(
                "INSERT INTO reconcile_decisions (run_id, guid, attempt_id, outcome, reason, "
                "known_as) VALUES (%s, %s, %s, %s, %s, %s)",
                [(run_id, d.guid, d.attempt_id, _audit_outcome(d, run), d.reason, d.known_as)
                 for d in shown])
            gaps = [d for d in run.plan.decisions if d.failed_at_github or d.was_open]
            cur.executemany(_UPSERT_GAP, [_gap_params(d, run) for d in gaps])
            cur.execute(
                "INSERT INTO reconcile_cursors AS c (hook, high_water_id, resume_cursor, "
                "resume_floor_id, resume_top_id, not_before, updated_at) VALUES "
                "(%s, %s, %s, %s, %s, to_timestamp(%s), to_timestamp(%s)) "
                "ON CONFLICT (hook) DO UPDATE SET high_water_id = EXCLUDED.high_water_id, "
                "resume_cursor = EXCLUDED.resume_cursor, "
                "resume_floor_id = EXCLUDED.resume_floor_id, "
                "resume_top_id = EXCLUDED.resume_top_id, not_before = EXCLUDED.not_before, "
                "updated_at = EXCLUDED.updated_at",
                (run.hook, cursor.high_water_id, cursor.resume, cursor.resume_floor_id,
                 cursor.resume_top_id, not_before, run.finished_at))
        return run_id

    def runs(self, hook: str | None = None, limit: int = 20) -> list[dict]:
        """The latest audit rows, newest first (operator tooling, tests)."""
        sql = "SELECT * FROM reconcile_runs" + (" WHERE hook = %s" if hook else "")
        with pooled(self._pool) as conn, conn.cursor() as cur:
            cur.execute(sql + " ORDER BY id DESC LIMIT %s", (*([hook] if hook else []), limit))
            names = [c.name for c in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _audit_outcome(decision, run: RunRecord) -> str:
    """``redeliver`` becomes ``redelivery_requested`` once GitHub said 202; a redeliver
    GitHub refused stays ``redeliver`` (open, asked for again next run)."""
    if decision.outcome != REDELIVER:
        return decision.outcome
    return "redelivery_requested" if decision.guid in run.requested else REDELIVER


def _gap_params(decision, run: RunRecord) -> dict:
    requested = decision.guid in run.requested
    closed = not decision.open
    return {"hook": run.hook, "guid": decision.guid, "attempt_id": decision.attempt_id,
            "delivered_at": decision.delivered_at, "event": decision.event,
            "action": decision.action, "now": run.finished_at,
            "requested_at": run.finished_at if requested else None,
            "requests": int(requested),
            "outcome": _audit_outcome(decision, run),
            "closed_at": run.finished_at if closed else None}

"""The reconciler's state and audit in the application database (``migrations/app/
app_0003_reconcile.sql``, ``app_0006_reconcile_parked.sql``): per hook the cursor
(``reconcile_cursors``, with ``not_before``: the hook is *parked* until then), the open gaps
with their cool-down records (``reconcile_gaps``), and one audit row per run
(``reconcile_runs``, ``reconcile_decisions``).

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
    parked_until,
)

#: The audit outcome of a redelivery request sent without an answer in time (counted as asked).
REDELIVERY_UNCONFIRMED = "redelivery_unconfirmed"


@dataclass(frozen=True)
class RunRecord:
    """What one run of one hook did, for the audit row. ``stopped``: ``completed``,
    ``budget`` (request budget spent), ``rate_limited`` (GitHub refused) or ``error``.
    ``requested``: GUIDs GitHub accepted a redelivery for (202); ``unconfirmed``: GUIDs whose
    redelivery request got no answer in time (counted as asked: the cool-down applies);
    ``gap_unknown``: the log was not checked (parked, error); ``parked_until``: epoch s."""

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
    unconfirmed: frozenset[str] = frozenset()
    gap_unknown: bool = False
    parked_until: float | None = None


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

_INSERT_RUN = (
    "INSERT INTO reconcile_runs (hook, started_at, finished_at, window_since, window_now, "
    "stopped, pages, requests, checked, redelivery_requested, gap, rate_remaining, error, "
    "gap_unknown, parked_until, redelivery_unconfirmed, {columns}) VALUES (%s, "
    "to_timestamp(%s), to_timestamp(%s), to_timestamp(%s), to_timestamp(%s), %s, %s, %s, %s, "
    "%s, %s, %s, %s, %s, to_timestamp(%s), %s, {values}) RETURNING id")

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
        """``(cursor, not_before)`` of ``hook`` (epoch seconds or None; bounded by
        :func:`~chalicelib.core.reconcile.parked_until` from when it was set); a fresh cursor
        when the hook never ran."""
        with pooled(self._pool) as conn:
            row = conn.execute(
                "SELECT high_water_id, resume_cursor, resume_floor_id, resume_top_id, "
                "extract(epoch FROM not_before), "
                "extract(epoch FROM coalesce(not_before_set_at, updated_at)) "
                "FROM reconcile_cursors WHERE hook = %s", (hook,)).fetchone()
        if row is None:
            return Cursor(), None
        return Cursor(row[0], row[1], row[2], row[3]), _parked(row[4], row[5])

    def parked(self, now: float) -> list[dict]:
        """Hooks GitHub parked past ``now`` (epoch s): ``[{"hook", "parked_until" (epoch s,
        bounded)}]``, by hook."""
        with pooled(self._pool) as conn:
            rows = conn.execute(
                "SELECT hook, extract(epoch FROM not_before), "
                "extract(epoch FROM coalesce(not_before_set_at, updated_at)) "
                "FROM reconcile_cursors WHERE not_before IS NOT NULL ORDER BY hook").fetchall()
        found = [{"hook": hook, "parked_until": _parked(nb, at)} for hook, nb, at in rows]
        return [p for p in found if p["parked_until"] > now]

    def unpark(self, hook: str, now: float, before_change: Any = None) -> float | None:
        """Clear ``hook``'s wait so the next run asks GitHub again. Returns the ``not_before``
        it had (epoch s, as stored), or None when it was not parked past ``now`` (nothing
        changed). ``before_change(not_before)`` runs inside the transaction, after the row
        is locked and before it changes (the audit record: if it raises, nothing changes)."""
        with pooled(self._pool) as conn, conn.transaction():
            row = conn.execute(
                "SELECT extract(epoch FROM not_before), "
                "extract(epoch FROM coalesce(not_before_set_at, updated_at)) "
                "FROM reconcile_cursors WHERE hook = %s FOR UPDATE", (hook,)).fetchone()
            until = _parked(row[0], row[1]) if row else None
            if until is None or until <= now:
                return None
            if before_change is not None:
                before_change(float(row[0]))
            conn.execute("UPDATE reconcile_cursors SET not_before = NULL, "
                         "not_before_set_at = NULL WHERE hook = %s", (hook,))
        return float(row[0])

    def known_hooks(self) -> list[str]:
        """Every hook with a cursor (reconciled at least once), by name."""
        with pooled(self._pool) as conn:
            return [r[0] for r in conn.execute(
                "SELECT hook FROM reconcile_cursors ORDER BY hook").fetchall()]

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
                _INSERT_RUN.format(columns=", ".join(_RUN_COLUMNS),
                                   values=", ".join(["%s"] * len(_RUN_COLUMNS))),
                (run.hook, run.started_at, run.finished_at, run.window.since, run.window.now,
                 run.stopped, run.pages, run.requests, counts["checked"],
                 len(run.requested), run.plan.gap, run.rate_remaining, run.error,
                 run.gap_unknown, run.parked_until, len(run.unconfirmed),
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
                "resume_floor_id, resume_top_id, not_before, not_before_set_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, to_timestamp(%s), "
                "CASE WHEN %s::float8 IS NULL THEN NULL ELSE to_timestamp(%s) END, "
                "to_timestamp(%s)) "
                "ON CONFLICT (hook) DO UPDATE SET high_water_id = EXCLUDED.high_water_id, "
                "resume_cursor = EXCLUDED.resume_cursor, "
                "resume_floor_id = EXCLUDED.resume_floor_id, "
                "resume_top_id = EXCLUDED.resume_top_id, not_before = EXCLUDED.not_before, "
                "not_before_set_at = CASE WHEN EXCLUDED.not_before IS NOT DISTINCT FROM "
                "c.not_before THEN c.not_before_set_at ELSE EXCLUDED.not_before_set_at END, "
                "updated_at = EXCLUDED.updated_at",
                (run.hook, cursor.high_water_id, cursor.resume, cursor.resume_floor_id,
                 cursor.resume_top_id, not_before, not_before, run.finished_at,
                 run.finished_at))
        return run_id

    def record_failure(self, hook: str, started_at: float, finished_at: float, window: Window,
                       error: str) -> int:
        """The audit row of a run that failed before it could decide (``stopped = "error"``,
        gap unknown); the cursor and the gaps are left as they were. Returns the run id."""
        counts = dict.fromkeys(_RUN_COLUMNS, 0)
        with pooled(self._pool) as conn:
            (run_id,) = conn.execute(
                _INSERT_RUN.format(columns=", ".join(_RUN_COLUMNS),
                                   values=", ".join(["%s"] * len(_RUN_COLUMNS))),
                (hook, started_at, finished_at, window.since, window.now, "error", 0, 0, 0, 0,
                 0, None, error[:2000], True, None, 0, *counts.values())).fetchone()
        return run_id

    def latest_runs(self) -> list[dict]:
        """The latest audit row of each hook (``hook``, ``stopped``, ``finished_at`` epoch s,
        ``gap``, ``gap_unknown``, ``error``), by hook."""
        with pooled(self._pool) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT DISTINCT ON (hook) hook, stopped, "
                "extract(epoch FROM finished_at)::float8 AS finished_at, gap, gap_unknown, "
                "error FROM reconcile_runs ORDER BY hook, id DESC")
            names = [c.name for c in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def runs(self, hook: str | None = None, limit: int = 20) -> list[dict]:
        """The latest audit rows, newest first (operator tooling, tests)."""
        sql = "SELECT * FROM reconcile_runs" + (" WHERE hook = %s" if hook else "")
        with pooled(self._pool) as conn, conn.cursor() as cur:
            cur.execute(sql + " ORDER BY id DESC LIMIT %s", (*([hook] if hook else []), limit))
            names = [c.name for c in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _parked(not_before: Any, set_at: Any) -> float | None:
    if not_before is None:
        return None
    return parked_until(float(not_before), None if set_at is None else float(set_at))


def _audit_outcome(decision, run: RunRecord) -> str:
    """``redeliver`` becomes ``redelivery_requested`` once GitHub said 202, or
    ``redelivery_unconfirmed`` when the request got no answer in time; a redeliver GitHub
    refused stays ``redeliver`` (open, asked for again next run)."""
    if decision.outcome != REDELIVER:
        return decision.outcome
    if decision.guid in run.unconfirmed:
        return REDELIVERY_UNCONFIRMED
    return "redelivery_requested" if decision.guid in run.requested else REDELIVER


def _gap_params(decision, run: RunRecord) -> dict:
    requested = decision.guid in run.requested or decision.guid in run.unconfirmed
    closed = not decision.open
    return {"hook": run.hook, "guid": decision.guid, "attempt_id": decision.attempt_id,
            "delivered_at": decision.delivered_at, "event": decision.event,
            "action": decision.action, "now": run.finished_at,
            "requested_at": run.finished_at if requested else None,
            "requests": int(requested),
            "outcome": _audit_outcome(decision, run),
            "closed_at": run.finished_at if closed else None}

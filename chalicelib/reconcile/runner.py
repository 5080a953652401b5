"""The reconciler run: page through each hook's GitHub delivery log, decide
(:mod:`chalicelib.core.reconcile`), ask for redeliveries, record what it saw and did.

Per hook and run: at most ``max_requests`` GitHub requests (pages and redeliveries), fewer when
the primary rate limit's ``X-RateLimit-Remaining`` minus ``rate_reserve`` is lower (the token
may serve other tools). A 403/429 rate limit stops the hook cleanly and stores ``not_before``
(bounded to :data:`~chalicelib.core.reconcile.MAX_WAIT_S`: the hook is *parked* until then);
a spent budget stores the ``Link`` cursor, and the next run resumes there. A dry run reads
everything, requests nothing and writes nothing (no state, no audit row).

One hook's trouble is that hook's alone: a malformed delivery-log item, a ``Link`` cursor that
loops back to a page already read, GitHub's or the database's errors, even a bug, end that
hook's run with ``stopped = "error"`` (recorded in ``reconcile_runs`` when the database
answers) and the next hook is reconciled. A redelivery ``POST`` that got no answer in time
(:class:`~chalicelib.adapters.github.client.GitHubTimedOut`) may have been accepted: it counts
as asked (the cool-down applies) and is audited as ``redelivery_unconfirmed``.

A hook whose log this run did not check (parked by GitHub, or stopped on an error) has an
*unknown* gap: its report says ``gap_unknown`` and ``gap`` is only what is known missing.

Metrics (Powertools EMF, namespace ``Spillway``), once per run summed over the hooks:
``ReconcileGap`` (GUIDs failed at GitHub that Spillway does not have, as far as known; an alarm
on it staying above zero means deliveries are being lost), ``ReconcileHooksUnchecked`` (hooks
whose log this run did not check: parked or stopped on an error; an alarm on it staying above
zero for longer than GitHub may ask to wait means nothing is being checked, whatever the gap
says) and ``RedeliveriesRequested``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.github.client import (
    GitHubDeliveries,
    GitHubRateLimited,
    GitHubTimedOut,
    HookNotFound,
    HookRef,
)
from chalicelib.core.reconcile import (
    OUTCOMES,
    REDELIVER,
    Cursor,
    DeliveryLogError,
    Scan,
    Window,
    bounded_wait,
    decide,
    group,
)
from chalicelib.errors import PermanentDependencyError, SpillwayError
from chalicelib.reconcile.store import ReconcileStore, RunRecord

log = logging.getLogger("spillway.reconcile")

#: Why a run ended that leaves the hook's gap unknown (its log was not checked to the end and
#: the next run does not simply resume: GitHub parked it, or something failed).
UNCHECKED = frozenset({"rate_limited", "error"})

#: ``known(hook_id, guids) -> {guid: "ledger" | "accepted" | "dead_letter"}``.
KnownLookup = Callable[[str | None, Sequence[str]], dict[str, str]]


@dataclass(frozen=True)
class RunOptions:
    """``window_s``: how far back to look (seconds, clipped to GitHub's 3 days);
    ``cooldown_s``: seconds between two redelivery requests for one GUID; ``max_requests``:
    GitHub requests per hook and run; ``rate_reserve``: requests of the primary limit left
    untouched; ``per_page``: 1..100; ``dry_run``: decide only; ``deadline``: epoch seconds
    after which no new GitHub request starts (the scheduled function sets it from the Lambda
    context's remaining time, so the run is recorded before the function times out)."""

    window_s: float = 3 * 24 * 3600
    cooldown_s: float = 900.0
    max_requests: int = 100
    rate_reserve: int = 500
    per_page: int = 100
    dry_run: bool = False
    deadline: float | None = None


class Reconciler:
    """Runs reconciliation. ``github``: the REST adapter; ``store``: the reconcile tables;
    ``known``: the :data:`KnownLookup` over the ledger, dedup records and DLQ; ``metrics``:
    Powertools ``Metrics`` or None; ``clock``: epoch seconds."""

    def __init__(self, github: GitHubDeliveries, store: ReconcileStore, known: KnownLookup, *,
                 metrics: Any = None, clock: Callable[[], float] = time.time):
        self._github = github
        self._store = store
        self._known = known
        self._metrics = metrics
        self._clock = clock

    def run(self, hooks: Sequence[HookRef], options: RunOptions) -> list[dict]:
        """Reconcile every hook; returns one report dict per hook (see :meth:`run_hook`).
        Emits ``ReconcileGap``, ``ReconcileHooksUnchecked`` and ``RedeliveriesRequested``
        once, summed over the hooks, so an alarm on a minimum over a few runs means "it stays
        above zero"."""
        reports = [self.run_hook(hook, options) for hook in hooks]
        self._emit(sum(r["gap"] for r in reports),
                   sum(r["stopped"] in UNCHECKED for r in reports),
                   sum(r["redelivery_requested"] for r in reports))
        return reports

    def run_hook(self, hook: HookRef, options: RunOptions) -> dict:
        """Reconcile one hook. Never raises for GitHub's or the ledger's failures: they end
        the hook's run with ``stopped = "error"`` (recorded) and the report's ``error``.

        Report: ``hook``, ``stopped``, ``pages``, ``requests``, ``checked``, ``ok_at_github``,
        ``failed_at_github``, ``already_stored``, ``redelivery_requested``,
        ``skipped_cooldown``, ``skipped_outside_window``, ``budget_exhausted``, ``gap``
        (GUIDs known missing: a lower bound when ``gap_unknown``), ``gap_unknown`` (True when
        this run did not check the log: ``stopped`` in :data:`UNCHECKED`, or ``busy``),
        ``parked_until`` (epoch s while GitHub's wait holds, else None), ``redeliver`` (GUIDs
        asked for, or that a dry run would ask for), ``redelivery_unconfirmed`` (GUIDs whose
        redelivery request got no answer in time: counted as asked), ``rate_remaining``,
        ``error``, ``recorded`` (the ``reconcile_runs`` row was written). ``stopped`` is
        ``busy`` (nothing done, nothing recorded) while another run holds the hook.
        """
        started = self._clock()
        try:
            with self._store.exclusive(hook.key) as mine:
                if not mine:
                    return _empty_report(hook, "busy", None)
                return self._run_hook(hook, options)
        except Exception as exc:  # one hook's failure must not end the others' runs
            # a dependency's failure is expected (one line); anything else is a bug (traceback)
            log.warning("reconcile of %s failed: %s", hook.key, exc,
                        exc_info=not isinstance(exc, SpillwayError))
            error = f"{type(exc).__name__}: {exc}"
            report = _empty_report(hook, "error", error)
            if not options.dry_run:
                report["recorded"] = self._record_failure(hook, started, options, error)
            return report

    def _record_failure(self, hook: HookRef, started: float, options: RunOptions,
                        error: str) -> bool:
        try:
            self._store.record_failure(hook.key, started, self._clock(),
                                       Window.last(options.window_s, started), error)
        except Exception as exc:
            log.warning("could not record the failed run of %s: %s", hook.key, exc,
                        exc_info=not isinstance(exc, SpillwayError))
            return False
        return True

    def _run_hook(self, hook: HookRef, options: RunOptions) -> dict:
        started = self._clock()
        window = Window.last(options.window_s, started)
        cursor, not_before = self._store.cursor(hook.key)  # not_before: bounded, or None
        gaps = self._store.open_gaps(hook.key)
        scan = Scan(cursor, window)
        state = _Progress(budget=options.max_requests, reserve=options.rate_reserve,
                          deadline=options.deadline, clock=self._clock)
        if not_before is not None and not_before > started:
            state.stop("rate_limited", f"parked: GitHub asked to wait until {not_before:.0f} "
                                       "(epoch s)")
        else:
            not_before = None
            self._scan(hook, scan, state, options)
        known = self._lookup(hook, scan, gaps, state)
        plan = decide(hook.key, scan.attempts, now=self._clock(), gaps=gaps, known=known,
                      cooldown_s=options.cooldown_s,
                      budget=state.budget if state.stopped is None else 0)
        requested: set[str] = set()
        unconfirmed: set[str] = set()
        if not options.dry_run:
            self._redeliver(hook, plan.to_redeliver(), requested, unconfirmed, state)
        finished = self._clock()
        stopped = state.stopped or "completed"
        parked_until = state.not_before or not_before
        run = RunRecord(hook=hook.key, started_at=started, finished_at=finished, window=window,
                        stopped=stopped, pages=scan.pages, requests=state.requests, plan=plan,
                        requested=frozenset(requested), unconfirmed=frozenset(unconfirmed),
                        rate_remaining=state.remaining, error=state.error,
                        gap_unknown=stopped in UNCHECKED, parked_until=parked_until)
        new_cursor = scan.finish() if state.stopped != "error" else cursor
        recorded = False
        if not options.dry_run:  # a dry run changes nothing, not even the audit
            self._store.record(run, new_cursor, not_before=parked_until)
            recorded = True
        counts = plan.counts
        counts.pop("redeliver")
        return {"hook": hook.key, "stopped": run.stopped, "pages": scan.pages,
                "requests": state.requests, **counts, "redelivery_requested": len(requested),
                "gap": plan.gap, "gap_unknown": run.gap_unknown, "parked_until": parked_until,
                "rate_remaining": state.remaining, "error": state.error,
                "redeliver": sorted(requested) if not options.dry_run
                else [d.guid for d in plan.to_redeliver()],
                "redelivery_unconfirmed": sorted(unconfirmed), "recorded": recorded}

    def _scan(self, hook: HookRef, scan: Scan, state: _Progress, options: RunOptions) -> None:
        next_cursor = scan.start_cursor()
        while True:
            if not state.may_request():
                return
            try:
                page = self._github.list_page(hook, next_cursor, options.per_page)
            except GitHubRateLimited as exc:
                state.rate_limited(exc, self._clock())
                return
            except PermanentDependencyError as exc:
                if next_cursor and scan.pages == 0 and scan.cursor.resume:
                    # A stale resume cursor: start again from the newest, down to its floor.
                    log.warning("resume cursor refused for %s (%s); rescanning", hook.key, exc)
                    scan.cursor = Cursor(high_water_id=scan.cursor.resume_floor_id)
                    next_cursor = None
                    continue
                state.stop("error", str(exc))
                return
            except SpillwayError as exc:
                state.stop("error", str(exc))
                return
            state.spent(page.rate)
            try:
                more = scan.add_page(page.items, page.next_cursor, read_with=next_cursor)
            except DeliveryLogError as exc:  # this hook's error: recorded, cursor kept
                log.warning("delivery log of %s: %s", hook.key, exc)
                state.stop("error", f"delivery log: {exc}")
                return
            if not more:
                return
            next_cursor = scan.next_cursor

    def _lookup(self, hook: HookRef, scan: Scan, gaps: dict, state: _Progress
                ) -> dict[str, str]:
        """Where Spillway has the GUIDs whose every attempt failed (only those matter)."""
        failed = [g for g, items in group(scan.attempts).items()
                  if all(a.failed for a in items)]
        wanted = sorted(set(failed) | set(gaps))
        try:
            return self._known(hook.hook_id, wanted)
        except SpillwayError as exc:  # never redeliver blind: without the ledger, ask nothing
            state.stop("error", f"known-deliveries lookup: {exc}")
            return {}

    def _redeliver(self, hook: HookRef, todo: list, requested: set[str], unconfirmed: set[str],
                   state: _Progress) -> None:
        for decision in todo:
            if not state.may_request():
                return
            try:
                state.spent(self._github.redeliver(hook, decision.attempt_id))
            except GitHubTimedOut as exc:  # sent: GitHub may have accepted it; never ask twice
                state.spent(None)
                unconfirmed.add(decision.guid)
                state.stop("error", f"redelivery of {decision.guid}: {exc}")
                return
            except GitHubRateLimited as exc:
                state.rate_limited(exc, self._clock())
                return
            except HookNotFound as exc:
                log.warning("redelivery of %s refused: %s", decision.guid, exc)
                continue
            except SpillwayError as exc:
                state.stop("error", str(exc))
                return
            requested.add(decision.guid)

    def _emit(self, gap: int, unchecked: int, requested: int) -> None:
        if self._metrics is None:
            return
        self._metrics.add_metric(name="ReconcileGap", unit="Count", value=gap)
        self._metrics.add_metric(name="ReconcileHooksUnchecked", unit="Count", value=unchecked)
        self._metrics.add_metric(name="RedeliveriesRequested", unit="Count", value=requested)


def _empty_report(hook: HookRef, stopped: str, error: str | None) -> dict:
    """The report of a run that did nothing (``busy``) or failed before deciding."""
    counts = dict.fromkeys((*OUTCOMES, "checked", "failed_at_github"), 0)
    counts.pop(REDELIVER)
    return {"hook": hook.key, "stopped": stopped, "pages": 0, "requests": 0, **counts,
            "redelivery_requested": 0, "gap": 0, "gap_unknown": True, "parked_until": None,
            "rate_remaining": None, "error": error, "redeliver": [],
            "redelivery_unconfirmed": [], "recorded": False}


@dataclass
class _Progress:
    """Requests spent and left in one hook's run, and why it stopped (None: not stopped)."""

    budget: int
    reserve: int
    deadline: float | None = None
    clock: Callable[[], float] = time.time
    requests: int = 0
    remaining: int | None = None
    stopped: str | None = None
    error: str | None = None
    not_before: float | None = None

    def may_request(self) -> bool:
        """False (and stopped: ``budget`` or ``deadline``) when no request may start now."""
        if self.budget <= 0:
            self.stop("budget", None)
        elif self.deadline is not None and self.clock() >= self.deadline:
            self.stop("deadline", None)
        return self.stopped is None

    def spent(self, rate: Any) -> None:
        self.requests += 1
        self.budget -= 1
        if rate is not None:
            self.remaining = rate.remaining
            self.budget = min(self.budget, rate.remaining - self.reserve)

    def stop(self, why: str, error: str | None) -> None:
        self.stopped = self.stopped or why
        self.error = self.error or error

    def rate_limited(self, exc: GitHubRateLimited, now: float) -> None:
        self.requests += 1
        self.remaining = exc.remaining if exc.remaining is not None else self.remaining
        self.not_before = now + bounded_wait(exc.retry_after_s)
        self.stop("rate_limited", None)

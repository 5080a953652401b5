"""Reconciliation with GitHub's delivery log: the pure decision core (no I/O, clock passed in).

GitHub records every attempt to deliver a webhook and never retries a failed one by itself; it
keeps the log for 3 days and redelivers on request with the same ``X-GitHub-Delivery`` GUID
(GitHub docs, "Handling failed webhook deliveries"). This module decides, from pages of that log,
which deliveries Spillway must ask GitHub to redeliver. The runner
(:mod:`chalicelib.reconcile.runner`) does the I/O around it.

Shapes (GitHub REST, "List deliveries for a repository webhook", schema ``hook-delivery-item``):
a page is a list of objects with ``id`` (int, one per attempt), ``guid`` (str, shared by every
attempt of an event and by every hook subscribed to it), ``delivered_at`` (ISO 8601),
``redelivery`` (bool), ``duration`` (seconds, float), ``status_code`` (int, 0 when no answer),
``event``, ``action`` (str or null). Pages come newest first; the ``Link`` header's ``next``
cursor walks towards older attempts.

Rules:

* attempts are grouped by GUID within one hook; the key of a decision is ``(hook, guid)``
  because a GUID is shared by all hooks subscribed to the event (DESIGN.md, "X-GitHub-Delivery");
* an attempt failed when its status is not 2xx or it took 10 s or more (GitHub waits 10 s for an
  answer, then records a failure: "Best practices for using webhooks"); a GUID failed only if
  **all** its attempts failed, redeliveries included;
* a failed GUID Spillway knows (stored in the ledger, accepted by the edge, dead-lettered) is
  never redelivered; one asked for within ``cooldown_s`` is not asked for again; one whose latest
  attempt is older than the 3 days GitHub keeps cannot be redelivered any more;
* every request (a page, a redelivery) spends one unit of ``budget``; when it is spent the scan
  stops cleanly and the :class:`Cursor` says where the next run resumes;
* a ``Link`` ``next`` cursor already read in this scan is a loop: the scan stops
  (:class:`RepeatedCursor`) instead of spending the budget on the same page;
* a wait GitHub asks for (``Retry-After``, ``X-RateLimit-Reset``) is bounded by
  :data:`MAX_WAIT_S` (:func:`bounded_wait`): one header must never park a hook for longer than
  GitHub's own rate-limit window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from chalicelib.core.delivery_log import (  # noqa: F401 -- the log's names, read here
    GITHUB_TIMEOUT_S,
    MAX_GUID_CHARS,
    MAX_ID,
    Attempt,
    DeliveryLogError,
    RepeatedCursor,
    parse_attempt,
)

#: How long GitHub keeps the delivery log and accepts redelivery requests, seconds (GitHub docs,
#: "Handling failed webhook deliveries": deliveries from the past 3 days).
RETENTION_S = 3 * 24 * 3600
#: GitHub's largest page (``per_page`` max 100, REST "List deliveries for a repository webhook").
MAX_PER_PAGE = 100
#: The longest wait a GitHub answer may impose on a hook, seconds. GitHub's primary rate limit
#: is counted per hour, so ``X-RateLimit-Reset`` is at most an hour away, and its secondary
#: limits ask for seconds to minutes (GitHub docs, "Rate limits for the REST API"). A longer
#: ``Retry-After`` or reset is not a wait GitHub can mean: honouring ``Retry-After:
#: 99999999999`` parked a hook until the year 5195 with nothing checked. At most an hour, a
#: hook is asked again on the first run after it, and GitHub answers again if it still refuses.
MAX_WAIT_S = 3600.0
#: The shortest wait, seconds (a reset already past, ``Retry-After: 0``).
MIN_WAIT_S = 1.0

OK_AT_GITHUB = "ok_at_github"
ALREADY_STORED = "already_stored"
REDELIVER = "redeliver"
SKIPPED_COOLDOWN = "skipped_cooldown"
SKIPPED_OUTSIDE_WINDOW = "skipped_outside_window"
BUDGET_EXHAUSTED = "budget_exhausted"
OUTCOMES = (OK_AT_GITHUB, ALREADY_STORED, REDELIVER, SKIPPED_COOLDOWN, SKIPPED_OUTSIDE_WINDOW,
            BUDGET_EXHAUSTED)
#: Outcomes that leave a GUID open: a later run looks at it again.
OPEN_OUTCOMES = frozenset({REDELIVER, SKIPPED_COOLDOWN, BUDGET_EXHAUSTED})


def bounded_wait(requested_s: float) -> float:
    """The wait to honour for one GitHub answer asking for ``requested_s`` seconds: clipped to
    ``[MIN_WAIT_S, MAX_WAIT_S]``; NaN counts as the maximum."""
    if requested_s != requested_s:  # NaN
        return MAX_WAIT_S
    return min(MAX_WAIT_S, max(MIN_WAIT_S, requested_s))


def parked_until(not_before: float | None, set_at: float | None) -> float | None:
    """When a hook whose stored ``not_before`` (epoch s) was written at ``set_at`` (epoch s)
    may be asked again: ``not_before`` bounded to ``set_at + MAX_WAIT_S`` (a value stored
    before the bound existed, or by a clock that jumped, cannot park a hook for ever)."""
    if not_before is None:
        return None
    if set_at is None:
        return not_before
    return min(not_before, set_at + MAX_WAIT_S)


@dataclass(frozen=True)
class Window:
    """The part of the log a run looks at: attempts delivered in ``[since, now]`` (epoch s)."""

    since: float
    now: float

    @classmethod
    def last(cls, seconds: float, now: float) -> Window:
        """The last ``seconds`` before ``now``, clipped to GitHub's 3-day retention."""
        if seconds <= 0:
            raise ValueError(f"window must be positive, got {seconds} s")
        return cls(since=now - min(seconds, RETENTION_S), now=now)

    def __post_init__(self):
        if self.since > self.now:
            raise ValueError("window: since is after now")
        if self.now - self.since > RETENTION_S:
            object.__setattr__(self, "since", self.now - RETENTION_S)


@dataclass(frozen=True)
class Cursor:
    """Where a hook's scans stand, persisted between runs.

    ``high_water_id``: the newest attempt id a completed scan covered; the next scan stops below
    it. ``resume``: the ``Link`` cursor an interrupted scan (budget spent) continues from, with
    ``resume_floor_id`` (where that scan was to stop) and ``resume_top_id`` (its newest id, the
    high-water mark once it completes).
    """

    high_water_id: int | None = None
    resume: str | None = None
    resume_floor_id: int | None = None
    resume_top_id: int | None = None

    @property
    def floor_id(self) -> int | None:
        """Attempts with an id at or below this were covered by an earlier scan."""
        return self.resume_floor_id if self.resume else self.high_water_id


@dataclass
class Scan:
    """One scan of a hook's log, page by page (mutable; the runner feeds it pages).

    Call :meth:`start_cursor` for the first request's cursor, :meth:`add_page` per page; it says
    whether to fetch the next one. :meth:`finish` gives the new :class:`Cursor`.
    """

    cursor: Cursor
    window: Window
    attempts: list[Attempt] = field(default_factory=list)
    pages: int = 0
    top_id: int | None = None
    next_cursor: str | None = None
    done: bool = False
    outside_window: int = 0
    read_cursors: set[str] = field(default_factory=set)

    def start_cursor(self) -> str | None:
        return self.cursor.resume

    def add_page(self, items: Iterable[Mapping], next_cursor: str | None, *,
                 read_with: str | None = None) -> bool:
        """Take one page (newest first), fetched with cursor ``read_with`` (None: the newest
        page). Returns True when another page should be fetched. Raises
        :class:`RepeatedCursor` when ``next_cursor`` names a page this scan already read, and
        :class:`DeliveryLogError` on an item without GitHub's shape."""
        self.pages += 1
        if read_with:
            self.read_cursors.add(read_with)
        if next_cursor and next_cursor in self.read_cursors:
            raise RepeatedCursor(f"Link rel=\"next\" cursor {next_cursor[:80]!r} of page "
                                 f"{self.pages} names a page already read: a loop, stopped")
        floor = self.cursor.floor_id
        for attempt in map(parse_attempt, items):
            if floor is not None and attempt.id <= floor:
                self.done = True
                break
            if attempt.delivered_at < self.window.since:
                self.outside_window += 1
                self.done = True
                break
            if self.top_id is None or attempt.id > self.top_id:
                self.top_id = attempt.id
            if attempt.delivered_at <= self.window.now:
                self.attempts.append(attempt)
        if not next_cursor:
            self.done = True
        self.next_cursor = None if self.done else next_cursor
        return not self.done

    def finish(self) -> Cursor:
        """The cursor after this scan: complete, or interrupted (budget spent) at
        :attr:`next_cursor`."""
        old = self.cursor
        top = max((i for i in (self.top_id, old.resume_top_id if old.resume else None,
                               old.high_water_id) if i is not None), default=None)
        if self.done:
            return Cursor(high_water_id=top)
        if old.resume:  # an interrupted resume: keep its floor and top
            return replace(old, resume=self.next_cursor)
        return Cursor(high_water_id=old.high_water_id, resume=self.next_cursor,
                      resume_floor_id=old.high_water_id, resume_top_id=top)


@dataclass(frozen=True)
class Gap:
    """A GUID left open by an earlier run: its newest attempt and the last redelivery request
    (``last_requested_at`` epoch seconds or None; ``requests``: how many so far)."""

    guid: str
    latest: Attempt
    last_requested_at: float | None = None
    requests: int = 0


@dataclass(frozen=True)
class Decision:
    """What to do about one ``(hook, guid)``: ``outcome`` (one of :data:`OUTCOMES`),
    ``reason`` (human text), ``attempt_id`` (the newest attempt, the one a redelivery targets),
    ``attempts`` (how many this run saw), ``known_as`` (``ledger``/``accepted``/``dead_letter``
    or None), ``requests`` (redeliveries asked before this run), ``was_open`` (an earlier run
    left it open)."""

    hook: str
    guid: str
    outcome: str
    reason: str
    attempt_id: int
    delivered_at: float
    event: str
    action: str | None
    attempts: int
    failed_at_github: bool
    known_as: str | None = None
    requests: int = 0
    was_open: bool = False

    @property
    def open(self) -> bool:
        return self.outcome in OPEN_OUTCOMES


@dataclass(frozen=True)
class Plan:
    """Decisions for one hook, sorted oldest first, and their counts per outcome."""

    hook: str
    decisions: tuple[Decision, ...]

    @property
    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(OUTCOMES, 0)
        for d in self.decisions:
            out[d.outcome] += 1
        out["checked"] = len(self.decisions)
        out["failed_at_github"] = sum(d.failed_at_github for d in self.decisions)
        return out

    @property
    def gap(self) -> int:
        """GUIDs that failed at GitHub and that Spillway does not have (``ReconcileGap``)."""
        return sum(d.failed_at_github and d.known_as is None and d.outcome != OK_AT_GITHUB
                   for d in self.decisions)

    def to_redeliver(self) -> list[Decision]:
        return [d for d in self.decisions if d.outcome == REDELIVER]


def group(attempts: Iterable[Attempt]) -> dict[str, list[Attempt]]:
    """Attempts per GUID, newest first within each."""
    out: dict[str, list[Attempt]] = {}
    for a in attempts:
        out.setdefault(a.guid, []).append(a)
    for items in out.values():
        items.sort(key=lambda a: a.id, reverse=True)
    return out


def decide(hook: str, attempts: Iterable[Attempt], *, now: float,
           known: Mapping[str, str], gaps: Mapping[str, Gap] | None = None,
           cooldown_s: float, budget: int) -> Plan:
    """Decide about every GUID seen in ``attempts`` and every open ``gaps`` entry of ``hook``.

    ``known``: GUID -> where Spillway has it (``ledger``, ``accepted``, ``dead_letter``), for
    this hook. ``cooldown_s``: seconds between two redelivery requests for a GUID. ``budget``:
    requests left; each redelivery spends one, the rest become ``budget_exhausted`` (open).
    Oldest GUIDs are redelivered first (closest to the end of GitHub's retention).
    """
    gaps = gaps or {}
    by_guid = group(attempts)
    pending: list[tuple[float, str, list[Attempt], Gap | None]] = []
    for guid, items in by_guid.items():
        pending.append((items[-1].delivered_at, guid, items, gaps.get(guid)))
    for guid, gap in gaps.items():
        if guid not in by_guid:
            pending.append((gap.latest.delivered_at, guid, [], gap))
    pending.sort(key=lambda p: (p[0], p[1]))
    decisions = []
    for _, guid, items, gap in pending:
        d = _decide_one(hook, guid, items, gap, now=now, known=known, cooldown_s=cooldown_s,
                        budget=budget)
        if d.outcome == REDELIVER:
            budget -= 1
        decisions.append(d)
    return Plan(hook, tuple(decisions))


def _decide_one(hook: str, guid: str, items: list[Attempt], gap: Gap | None, *, now: float,
                known: Mapping[str, str], cooldown_s: float, budget: int) -> Decision:
    latest = items[0] if items else gap.latest  # newest first
    if gap is not None and gap.latest.id > latest.id:
        latest = gap.latest
    requests = gap.requests if gap else 0
    base = dict(hook=hook, guid=guid, attempt_id=latest.id, delivered_at=latest.delivered_at,
                event=latest.event, action=latest.action, attempts=len(items),
                requests=requests, was_open=gap is not None)
    ok = [a for a in items if not a.failed]
    if ok:
        return Decision(**base, outcome=OK_AT_GITHUB, failed_at_github=False,
                        reason=f"attempt {ok[0].id} answered {ok[0].status_code}")
    where = known.get(guid)
    if where is not None:
        return Decision(**base, outcome=ALREADY_STORED, failed_at_github=True, known_as=where,
                        reason=f"failed at GitHub but Spillway has it ({where})")
    if now - latest.delivered_at >= RETENTION_S:
        return Decision(**base, outcome=SKIPPED_OUTSIDE_WINDOW, failed_at_github=True,
                        reason="newest attempt is older than GitHub's 3-day retention")
    last = gap.last_requested_at if gap else None
    if last is not None and now - last < cooldown_s:
        return Decision(**base, outcome=SKIPPED_COOLDOWN, failed_at_github=True,
                        reason=f"redelivery asked {now - last:.0f} s ago "
                               f"(cool-down {cooldown_s:.0f} s)")
    if budget <= 0:
        return Decision(**base, outcome=BUDGET_EXHAUSTED, failed_at_github=True,
                        reason="rate-limit budget spent; next run asks")
    return Decision(**base, outcome=REDELIVER, failed_at_github=True,
                    reason=f"all {max(len(items), 1)} attempt(s) failed "
                           f"(newest: {latest.status_code}, {latest.duration_s:.1f} s)")

"""Classify a delivery: which priority queue it goes to and which kind of worker it needs.

The table is written for a **contributor-analytics** user: what people do in repositories
(code, reviews, issues, comments) is ``high`` and must stay fresh under load; signals about
repositories, membership and releases are ``medium``; machine traffic (CI checks, statuses,
workflows, deployments), ``ping`` and every event we do not know are ``low``. Under a burst the
low queue waits, the high queue does not.

Target (kind of worker):

* ``heavy`` -- body larger than :data:`HEAVY_BODY_BYTES`, whatever the event;
* ``batch`` -- the bulk machine events of :data:`BATCH_EVENTS` (many per commit, processed in
  large batches);
* ``light`` -- everything else.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.core.queues import DEFAULT_PRIORITY, PRIORITIES

HIGH, MEDIUM, LOW = PRIORITIES
# DEFAULT_PRIORITY (low): events not in PRIORITY_BY_EVENT, unknown events included.
TARGETS: tuple[str, ...] = ("light", "heavy", "batch")
LIGHT, HEAVY, BATCH = TARGETS

#: Bodies above this many bytes go to the ``heavy`` target: 256 KiB is the SQS message size
#: limit of older queues and IaC defaults (AWS SQS quotas), so such payloads usually travel by
#: claim check and need a worker with more memory. A ``push`` with many commits (GitHub caps
#: the list at 2048, GitHub Docs "push") lands here by size.
HEAVY_BODY_BYTES = 256 * 1024

#: Priority of each event (``X-GitHub-Event``). Events not listed are :data:`DEFAULT_PRIORITY`.
PRIORITY_BY_EVENT: dict[str, str] = {
    # contribution activity: the analytics themselves
    "push": HIGH,
    "pull_request": HIGH,
    "pull_request_review": HIGH,
    "pull_request_review_comment": HIGH,
    "pull_request_review_thread": HIGH,
    "issues": HIGH,
    "issue_comment": HIGH,
    # repository, community and membership signals: useful, may lag a little
    "commit_comment": MEDIUM,
    "discussion": MEDIUM,
    "discussion_comment": MEDIUM,
    "gollum": MEDIUM,  # wiki edits are contributions too
    "release": MEDIUM,
    "create": MEDIUM,
    "delete": MEDIUM,
    "fork": MEDIUM,
    "star": MEDIUM,
    "watch": MEDIUM,
    "public": MEDIUM,
    "label": MEDIUM,
    "milestone": MEDIUM,
    "repository": MEDIUM,
    "member": MEDIUM,
    "membership": MEDIUM,
    "organization": MEDIUM,
    "team": MEDIUM,
    "team_add": MEDIUM,
    # which repositories are tracked at all (an app gaining a repository needs a backfill)
    "installation": MEDIUM,
    "installation_repositories": MEDIUM,
    # explicitly low (also the default): machine traffic and hook housekeeping
    "ping": LOW,
    "meta": LOW,
    "check_run": LOW,
    "check_suite": LOW,
    "status": LOW,
    "workflow_job": LOW,
    "workflow_run": LOW,
    "workflow_dispatch": LOW,
    "deployment": LOW,
    "deployment_status": LOW,
    "deployment_review": LOW,
    "deployment_protection_rule": LOW,
    "merge_group": LOW,
}

#: Per-action exceptions to :data:`PRIORITY_BY_EVENT`, keyed by ``(event, action)``.
#: Triage changes (labels, assignees, review requests, locks, pins, milestones) do not change
#: who contributed what, so they drop a level; opened/closed/reopened/edited/synchronize and
#: everything else keep the event's priority (``pull_request`` ``closed`` -- a merge -- stays
#: high).
ACTION_OVERRIDES: dict[tuple[str, str], str] = {
    **{("pull_request", a): MEDIUM for a in (
        "labeled", "unlabeled", "assigned", "unassigned", "review_requested",
        "review_request_removed", "locked", "unlocked", "milestoned", "demilestoned",
        "auto_merge_enabled", "auto_merge_disabled", "enqueued", "dequeued",
    )},
    **{("issues", a): MEDIUM for a in (
        "labeled", "unlabeled", "assigned", "unassigned", "locked", "unlocked",
        "milestoned", "demilestoned", "pinned", "unpinned",
    )},
    **{("discussion", a): LOW for a in (
        "labeled", "unlabeled", "locked", "unlocked", "pinned", "unpinned", "category_changed",
    )},
}

#: Bulk machine events, routed to the ``batch`` target unless heavy.
BATCH_EVENTS: frozenset[str] = frozenset(
    {"check_run", "check_suite", "status", "workflow_job", "workflow_run", "deployment_status"}
)


@dataclass(frozen=True)
class Classification:
    """``priority`` is one of ``"high" | "medium" | "low"`` (the queue); ``target`` one of
    ``"light" | "heavy" | "batch"`` (the worker kind)."""

    priority: str
    target: str


def priority_for(event: str, action: str | None) -> str:
    """The priority of ``event``/``action``: the action override, else the event's, else low."""
    if action is not None:
        override = ACTION_OVERRIDES.get((event, action))
        if override is not None:
            return override
    return PRIORITY_BY_EVENT.get(event, DEFAULT_PRIORITY)


def target_for(event: str, body_bytes: int) -> str:
    """``heavy`` above :data:`HEAVY_BODY_BYTES`, ``batch`` for :data:`BATCH_EVENTS`, else
    ``light``."""
    if body_bytes > HEAVY_BODY_BYTES:
        return HEAVY
    return BATCH if event in BATCH_EVENTS else LIGHT


def classify(event: str, action: str | None, body_bytes: int) -> Classification:
    """Classify a delivery of ``event`` (``X-GitHub-Event``) with ``action`` (the payload's
    ``action`` or None) and a raw body of ``body_bytes`` bytes. Total: every input gets a
    classification. Raises ValueError if ``body_bytes`` is negative."""
    if body_bytes < 0:
        raise ValueError(f"body_bytes must be >= 0, got {body_bytes}")
    return Classification(priority=priority_for(event, action),
                          target=target_for(event, body_bytes))

"""Classify a delivery: its priority, which kind of worker it needs, and so which work queue it goes to.

The table is written for a **contributor-analytics** user: what people do in repositories
(code, reviews, issues, comments) is ``high`` and must stay fresh under load; signals about
repositories, membership and releases are ``medium``; machine traffic (CI checks, statuses,
workflows, deployments), ``ping`` and every event we do not know are ``low``. Under a burst the
low queue waits, the high queue does not.

Target (kind of worker): decided by :func:`chalicelib.core.concurrency.routing.route`, the one
rule set (heavy by size, commit count or event; batch for bulk machine events; else light).
The classification's :attr:`Classification.queue` is where the delivery is sent
(:func:`chalicelib.core.queues.queue_for`): a light delivery to its priority queue, a heavy or
batch one to the ``heavy`` / ``batch`` queue (still carrying its priority).
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.core.concurrency.routing import (
    BATCH,
    BATCH_EVENTS,
    HEAVY,
    HEAVY_BODY_BYTES,
    LIGHT,
    TARGETS,
    route,
)
from chalicelib.core.queues import DEFAULT_PRIORITY, PRIORITIES, queue_for

__all__ = ["BATCH", "BATCH_EVENTS", "HEAVY", "HEAVY_BODY_BYTES", "LIGHT", "TARGETS",
           "Classification", "classify", "priority_for", "target_for"]

HIGH, MEDIUM, LOW = PRIORITIES
# DEFAULT_PRIORITY (low): events not in PRIORITY_BY_EVENT, unknown events included.

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

@dataclass(frozen=True)
class Classification:
    """``priority`` is one of ``"high" | "medium" | "low"``; ``target`` one of
    ``"light" | "heavy" | "batch"`` (the worker kind). :attr:`queue` is where it is sent."""

    priority: str
    target: str

    @property
    def queue(self) -> str:
        """The work queue: the priority queue for ``light``, else ``heavy`` / ``batch``."""
        return queue_for(self.priority, self.target)


def priority_for(event: str, action: str | None) -> str:
    """The priority of ``event``/``action``: the action override, else the event's, else low."""
    if action is not None:
        override = ACTION_OVERRIDES.get((event, action))
        if override is not None:
            return override
    return PRIORITY_BY_EVENT.get(event, DEFAULT_PRIORITY)


def target_for(event: str, action: str | None, body_bytes: int, items: int = 0) -> str:
    """The target, as :func:`chalicelib.core.concurrency.routing.route` decides it (``items``:
    :func:`~chalicelib.core.concurrency.routing.items_of` of the payload, 0 if unknown)."""
    return route(event, action, body_bytes, items)


def classify(event: str, action: str | None, body_bytes: int,
             items: int = 0) -> Classification:
    """Classify a delivery of ``event`` (``X-GitHub-Event``) with ``action`` (the payload's
    ``action`` or None), a raw body of ``body_bytes`` bytes and ``items`` items (commits of a
    push, repositories of an installation event: ``routing.items_of``; 0 if unknown). Total:
    every input gets a classification. Raises ValueError if ``body_bytes`` or ``items`` is
    negative."""
    if body_bytes < 0:
        raise ValueError(f"body_bytes must be >= 0, got {body_bytes}")
    return Classification(priority=priority_for(event, action),
                          target=target_for(event, action, body_bytes, items))

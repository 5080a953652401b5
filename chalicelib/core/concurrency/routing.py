"""Target router: which kind of worker (``light`` / ``heavy`` / ``batch``) a delivery needs.

The one source of truth for targets; :func:`chalicelib.core.classify.target_for` should
delegate to :func:`route`. Calibrated on the real corpus (``../shared/github-webhooks``, 261
published payloads of 60 events, 0.9-27 KB, median about 8 KB): a pull_request is about 23 KB
only because it embeds two full repository objects, so payload size in that range says nothing
about work, and a "< 1 KB is light" rule would route nothing light. Rules, first match wins:

1. ``heavy`` -- body over :data:`HEAVY_BODY_BYTES` (64 KiB: over twice the largest published
   payload; above 256 KiB it travels by S3 claim check anyway, AWS SQS quotas), or a ``push``
   with more than :data:`HEAVY_PUSH_COMMITS` commits (GitHub lists up to 2048, GitHub Docs
   "push"), or an event of :data:`HEAVY_EVENTS` (runs and suites embedding pull requests and
   head commits, package metadata, code-scanning analyses).
2. ``batch`` -- an event of :data:`BATCH_EVENTS`: machine events that arrive many per commit
   (checks, statuses, jobs, deployment statuses) and bulk membership changes (an installation
   gaining or losing repositories, repository imports), processed in large batches.
3. ``light`` -- everything else.

On the corpus this sends about 8 % heavy, 10 % batch and 82 % light
(``tests/unit/test_concurrency_routing.py`` checks the split).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TARGETS: tuple[str, ...] = ("light", "heavy", "batch")
LIGHT, HEAVY, BATCH = TARGETS

#: Bytes of raw body above which a delivery is heavy whatever its event.
HEAVY_BODY_BYTES = 64 * 1024

#: A push listing more commits than this is heavy (each commit is ~0.5-1 KB of work to store).
HEAVY_PUSH_COMMITS = 20

HEAVY_EVENTS: frozenset[str] = frozenset(
    {"workflow_run", "check_suite", "package", "registry_package", "code_scanning_alert"}
)

BATCH_EVENTS: frozenset[str] = frozenset(
    {"check_run", "status", "workflow_job", "deployment_status",
     "installation", "installation_repositories", "repository_import"}
)

#: The list that measures a payload's bulk, per event (:func:`items_of`).
_ITEM_LISTS: dict[str, tuple[str, ...]] = {
    "push": ("commits",),
    "installation_repositories": ("repositories_added", "repositories_removed"),
    "installation": ("repositories",),
}


def items_of(event: str, payload: Mapping[str, Any]) -> int:
    """How many items ``payload`` carries: commits of a push, repositories of an installation
    event; 0 for other events or a missing/ill-typed list (never raises on a payload)."""
    total = 0
    for key in _ITEM_LISTS.get(event, ()):
        value = payload.get(key)
        if isinstance(value, list):
            total += len(value)
    return total


def route(event: str, action: str | None, body_bytes: int, items: int = 0) -> str:
    """The target of a delivery of ``event`` (``X-GitHub-Event``) / ``action`` with a raw
    body of ``body_bytes`` bytes carrying ``items`` items (:func:`items_of`; 0 if unknown).
    ``action`` is accepted so per-action rules can be added; none is needed on the corpus.
    Raises ValueError for negative ``body_bytes`` or ``items``."""
    if body_bytes < 0 or items < 0:
        raise ValueError(f"body_bytes and items must be >= 0, got {body_bytes}, {items}")
    if body_bytes > HEAVY_BODY_BYTES or event in HEAVY_EVENTS:
        return HEAVY
    if event == "push" and items > HEAVY_PUSH_COMMITS:
        return HEAVY
    if event in BATCH_EVENTS:
        return BATCH
    return LIGHT

"""Per-event extraction: which rows each GitHub event gives, and :func:`normalize`.

Pure: the standard library and this package only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.core.normalize.builders import (
    comment_row,
    issue_row,
    pull_request_row,
    push_rows,
    repository_row,
    review_row,
    user_row,
)
from chalicelib.core.normalize.coerce import (
    as_id,
    as_str,
    as_ts,
    dicts,
    dig,
)
from chalicelib.core.normalize.rows import Collector, NormalizedRows


def _on_pull_request(out: Collector, payload: dict, repo_id: int | None, action: str | None):
    pr = dig(payload, "pull_request")
    out.add("pull_requests", pull_request_row(pr, repo_id, action))
    for user in (pr.get("user"), pr.get("merged_by"), *dicts(pr.get("assignees")),
                 *dicts(pr.get("requested_reviewers"))):
        out.add("users", user_row(user))
    return as_id(pr.get("id"))


def _on_issue(out: Collector, payload: dict, repo_id: int | None, action: str | None,
              deleted: bool = False):
    issue = dig(payload, "issue")
    out.add("issues", issue_row(issue, repo_id, action, deleted))
    for user in (issue.get("user"), *dicts(issue.get("assignees"))):
        out.add("users", user_row(user))
    return as_id(issue.get("id"))


def _ev_pull_request(out, payload, repo_id, action):
    _on_pull_request(out, payload, repo_id, action)


def _ev_issues(out, payload, repo_id, action):
    _on_issue(out, payload, repo_id, action, deleted=action == "deleted")


def _ev_review(out, payload, repo_id, action):
    pr_id = _on_pull_request(out, payload, repo_id, None)
    review = dig(payload, "review")
    out.add("reviews", review_row(review, pr_id, repo_id, action))
    out.add("users", user_row(review.get("user")))


def _ev_review_comment(out, payload, repo_id, action):
    pr_id = _on_pull_request(out, payload, repo_id, None)
    comment = dig(payload, "comment")
    out.add("comments", comment_row("pull_request_review", comment, repo_id, action,
                                 pull_request_id=pr_id))
    out.add("users", user_row(comment.get("user")))


def _ev_issue_comment(out, payload, repo_id, action):
    issue_id = _on_issue(out, payload, repo_id, None)
    comment = dig(payload, "comment")
    out.add("comments", comment_row("issue", comment, repo_id, action, issue_id=issue_id))
    out.add("users", user_row(comment.get("user")))


def _ev_commit_comment(out, payload, repo_id, action):
    comment = dig(payload, "comment")
    out.add("comments", comment_row("commit", comment, repo_id, action))
    out.add("users", user_row(comment.get("user")))


def _ev_discussion_comment(out, payload, repo_id, action):
    discussion = dig(payload, "discussion")
    comment = dig(payload, "comment")
    out.add("comments", comment_row("discussion", comment, repo_id, action,
                                 discussion_id=as_id(discussion.get("id"))))
    out.add("users", user_row(comment.get("user")))
    out.add("users", user_row(discussion.get("user")))


def _ev_push(out, payload, repo_id, action):
    for table, row in push_rows(payload, repo_id, as_id(dig(payload, "sender").get("id"))):
        out.add(table, row)


def _ev_star(out, payload, repo_id, action):
    user_id = as_id(dig(payload, "sender").get("id"))
    if repo_id is None or user_id is None or action not in ("created", "deleted"):
        return
    starred_at = as_ts(payload.get("starred_at"))
    out.add("stars", {
        "repository_id": repo_id,
        "user_id": user_id,
        "starred": action == "created",
        "starred_at": starred_at,
        # The star's event time (precedence.py); an un-star has none (starred_at is null).
        "updated_at": starred_at,
    })


_HANDLERS: dict[str, Callable[[Collector, dict, int | None, str | None], None]] = {
    "pull_request": _ev_pull_request,
    "issues": _ev_issues,
    "pull_request_review": _ev_review,
    "pull_request_review_comment": _ev_review_comment,
    "issue_comment": _ev_issue_comment,
    "commit_comment": _ev_commit_comment,
    "discussion_comment": _ev_discussion_comment,
    "push": _ev_push,
    "star": _ev_star,
}


def normalize(event: str, payload: Any) -> NormalizedRows:
    """Rows for the normalized tables from one delivery of ``event`` (``X-GitHub-Event``).

    Every event contributes its ``repository``, the repository owner, ``sender`` and
    ``organization`` (as a user row of type ``Organization``) when they carry an id. Known
    events add their objects: ``pull_request``, ``issues``, ``pull_request_review``,
    ``pull_request_review_comment``, ``issue_comment``, ``commit_comment``,
    ``discussion_comment``, ``push`` (a push row plus one row per listed commit) and ``star``.
    Never raises; ``payload`` of any type is accepted (non-dicts give no rows).
    """
    out = Collector()
    if not isinstance(payload, dict):
        return out.result()
    repo = dig(payload, "repository")
    repo_row = repository_row(repo)
    out.add("repositories", repo_row)
    out.add("users", user_row(payload.get("sender")))
    out.add("users", user_row(repo.get("owner")))
    out.add("users", user_row(payload.get("organization"), default_type="Organization"))
    handler = _HANDLERS.get(event) if isinstance(event, str) else None
    if handler is not None:
        handler(out, payload, repo_row["id"] if repo_row else None, as_str(payload.get("action")))
    return out.result()

"""Row builders: one function per normalized table, from one payload object to a row dict
(column -> value ready for psycopg) or None when the object has no usable key.

Pure: the standard library and this package only.
"""

from __future__ import annotations

from typing import Any

from chalicelib.core.normalize.coerce import (
    MAX_SHA_BYTES,
    as_bool,
    as_id,
    as_int,
    as_obj,
    as_str,
    as_ts,
    dig,
    indexed,
    labels,
    length,
)


def _fields(obj: dict, coerce: Any, *keys: str) -> dict:
    """``{key: coerce(obj.get(key))}`` for each of ``keys``: the columns named as the payload's
    own fields, all coerced the same way."""
    return {key: coerce(obj.get(key)) for key in keys}


def _ref_id(obj: dict, key: str) -> int | None:
    """The ``id`` of the object under ``key`` (``user``, ``owner``, ...), or None."""
    return as_id(as_obj(obj.get(key)).get("id"))


def _keyed(row: dict) -> dict | None:
    """``row``, or None when its ``id`` is not a usable key (missing, not a positive id)."""
    return row if row["id"] is not None else None


def user_row(obj: Any, default_type: str | None = None) -> dict | None:
    obj = as_obj(obj)
    return _keyed({
        "id": as_id(obj.get("id")),
        "login": indexed(obj.get("login")),
        "type": as_str(obj.get("type")) or default_type,
        "site_admin": as_bool(obj.get("site_admin")),
        **_fields(obj, as_str, "node_id", "name", "email"),
        "updated_at": None,
    })


def repository_row(obj: dict) -> dict | None:
    return _keyed({
        "id": as_id(obj.get("id")),
        "full_name": indexed(obj.get("full_name")),
        "owner_id": _ref_id(obj, "owner"),
        **_fields(obj, as_str, "node_id", "name", "default_branch", "language"),
        **_fields(obj, as_bool, "private", "fork", "archived"),
        **_fields(obj, as_int, "stargazers_count", "forks_count", "open_issues_count"),
        **_fields(obj, as_ts, "created_at", "pushed_at", "updated_at"),
    })


def pull_request_row(pr: dict, repo_id: int | None, action: str | None) -> dict | None:
    head, base = as_obj(pr.get("head")), as_obj(pr.get("base"))
    return _keyed({
        "id": as_id(pr.get("id")),
        "repository_id": repo_id or _ref_id(base, "repo"),
        "user_id": _ref_id(pr, "user"),
        "merged_by_id": _ref_id(pr, "merged_by"),
        "head_ref": as_str(head.get("ref")),
        "head_sha": as_str(head.get("sha")),
        "base_ref": as_str(base.get("ref")),
        "labels": labels(pr.get("labels")),
        "last_action": action,
        **_fields(pr, as_str, "node_id", "title", "state", "author_association"),
        **_fields(pr, as_bool, "draft", "locked", "merged"),
        **_fields(pr, as_int, "number", "commits", "additions", "deletions", "changed_files",
                  "comments", "review_comments"),
        **_fields(pr, as_ts, "created_at", "closed_at", "merged_at", "updated_at"),
    })


def issue_row(issue: dict, repo_id: int | None, action: str | None, deleted: bool) -> dict | None:
    return _keyed({
        "id": as_id(issue.get("id")),
        "repository_id": repo_id,
        "locked": as_bool(issue.get("locked")),
        "is_pull_request": isinstance(issue.get("pull_request"), dict),
        "deleted": deleted,
        "user_id": _ref_id(issue, "user"),
        "labels": labels(issue.get("labels")),
        "last_action": action,
        **_fields(issue, as_str, "node_id", "title", "state", "state_reason",
                  "author_association"),
        **_fields(issue, as_int, "number", "comments"),
        **_fields(issue, as_ts, "created_at", "closed_at", "updated_at"),
    })


def review_row(review: dict, pr_id: int | None, repo_id: int | None,
            action: str | None) -> dict | None:
    submitted = as_ts(review.get("submitted_at"))
    return _keyed({
        "id": as_id(review.get("id")),
        "pull_request_id": pr_id,
        "repository_id": repo_id,
        "user_id": _ref_id(review, "user"),
        **_fields(review, as_str, "state", "body", "commit_id", "author_association"),
        "last_action": action,
        "submitted_at": submitted,
        "updated_at": as_ts(review.get("updated_at")) or submitted,
    })


def comment_row(kind: str, comment: dict, repo_id: int | None, action: str | None,
             **links: Any) -> dict | None:
    row = _keyed({
        "kind": kind,
        "id": as_id(comment.get("id")),
        "repository_id": repo_id,
        "user_id": _ref_id(comment, "user"),
        "issue_id": None,
        "pull_request_id": None,
        "review_id": as_id(comment.get("pull_request_review_id")),
        "discussion_id": None,
        "parent_id": as_id(comment.get("in_reply_to_id")) or as_id(comment.get("parent_id")),
        "deleted": action == "deleted",
        "last_action": action,
        **_fields(comment, as_str, "commit_id", "path", "body", "author_association"),
        **_fields(comment, as_ts, "created_at", "updated_at"),
    })
    if row is not None:
        row.update(links)
    return row


def push_rows(payload: dict, repo_id: int | None, sender_id: int | None) -> list[tuple[str, dict]]:
    ref = indexed(payload.get("ref"))
    before, after = (indexed(payload.get(k), MAX_SHA_BYTES) for k in ("before", "after"))
    if repo_id is None or ref is None or before is None or after is None:
        return []
    commits = [c for c in payload.get("commits") or [] if isinstance(c, dict)] \
        if isinstance(payload.get("commits"), list) else []
    pusher = dig(payload, "pusher")
    out: list[tuple[str, dict]] = [("pushes", {
        "repository_id": repo_id,
        "ref": ref,
        "before_sha": before,
        "after_sha": after,
        "pusher_name": as_str(pusher.get("name")),
        "pusher_email": as_str(pusher.get("email")),
        "sender_id": sender_id,
        "commit_count": len(commits),
        "distinct_count": sum(1 for c in commits if c.get("distinct") is not False),
        **_fields(payload, as_bool, "created", "deleted", "forced"),
        "head_commit_at": as_ts(dig(payload, "head_commit").get("timestamp")),
    })]
    for commit in commits:
        sha = indexed(commit.get("id"), MAX_SHA_BYTES)
        if not sha:
            continue
        author, committer = as_obj(commit.get("author")), as_obj(commit.get("committer"))
        out.append(("commits", {
            "repository_id": repo_id,
            "sha": sha,
            "ref": ref,
            "message": as_str(commit.get("message")),
            "author_name": as_str(author.get("name")),
            "author_email": indexed(author.get("email")),
            "author_username": indexed(author.get("username")),
            "committer_name": as_str(committer.get("name")),
            "committer_email": as_str(committer.get("email")),
            "committer_username": as_str(committer.get("username")),
            "committed_at": as_ts(commit.get("timestamp")),
            "is_distinct": as_bool(commit.get("distinct")),
            **{f"files_{key}": length(commit.get(key)) for key in ("added", "removed", "modified")},
        }))
    return out

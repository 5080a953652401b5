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


def user_row(obj: Any, default_type: str | None = None) -> dict | None:
    obj = as_obj(obj)
    uid = as_id(obj.get("id"))
    if uid is None:
        return None
    return {
        "id": uid,
        "login": indexed(obj.get("login")),
        "node_id": as_str(obj.get("node_id")),
        "type": as_str(obj.get("type")) or default_type,
        "site_admin": as_bool(obj.get("site_admin")),
        "name": as_str(obj.get("name")),
        "email": as_str(obj.get("email")),
        "updated_at": None,
    }


def repository_row(obj: dict) -> dict | None:
    rid = as_id(obj.get("id"))
    if rid is None:
        return None
    return {
        "id": rid,
        "node_id": as_str(obj.get("node_id")),
        "name": as_str(obj.get("name")),
        "full_name": indexed(obj.get("full_name")),
        "owner_id": as_id(as_obj(obj.get("owner")).get("id")),
        "private": as_bool(obj.get("private")),
        "fork": as_bool(obj.get("fork")),
        "archived": as_bool(obj.get("archived")),
        "default_branch": as_str(obj.get("default_branch")),
        "language": as_str(obj.get("language")),
        "stargazers_count": as_int(obj.get("stargazers_count")),
        "forks_count": as_int(obj.get("forks_count")),
        "open_issues_count": as_int(obj.get("open_issues_count")),
        "created_at": as_ts(obj.get("created_at")),
        "pushed_at": as_ts(obj.get("pushed_at")),
        "updated_at": as_ts(obj.get("updated_at")),
    }


def pull_request_row(pr: dict, repo_id: int | None, action: str | None) -> dict | None:
    pid = as_id(pr.get("id"))
    if pid is None:
        return None
    head, base = as_obj(pr.get("head")), as_obj(pr.get("base"))
    return {
        "id": pid,
        "repository_id": repo_id or as_id(as_obj(base.get("repo")).get("id")),
        "number": as_int(pr.get("number")),
        "node_id": as_str(pr.get("node_id")),
        "title": as_str(pr.get("title")),
        "state": as_str(pr.get("state")),
        "draft": as_bool(pr.get("draft")),
        "locked": as_bool(pr.get("locked")),
        "merged": as_bool(pr.get("merged")),
        "user_id": as_id(as_obj(pr.get("user")).get("id")),
        "merged_by_id": as_id(as_obj(pr.get("merged_by")).get("id")),
        "head_ref": as_str(head.get("ref")),
        "head_sha": as_str(head.get("sha")),
        "base_ref": as_str(base.get("ref")),
        "labels": labels(pr.get("labels")),
        "commits": as_int(pr.get("commits")),
        "additions": as_int(pr.get("additions")),
        "deletions": as_int(pr.get("deletions")),
        "changed_files": as_int(pr.get("changed_files")),
        "comments": as_int(pr.get("comments")),
        "review_comments": as_int(pr.get("review_comments")),
        "author_association": as_str(pr.get("author_association")),
        "last_action": action,
        "created_at": as_ts(pr.get("created_at")),
        "closed_at": as_ts(pr.get("closed_at")),
        "merged_at": as_ts(pr.get("merged_at")),
        "updated_at": as_ts(pr.get("updated_at")),
    }


def issue_row(issue: dict, repo_id: int | None, action: str | None, deleted: bool) -> dict | None:
    iid = as_id(issue.get("id"))
    if iid is None:
        return None
    return {
        "id": iid,
        "repository_id": repo_id,
        "number": as_int(issue.get("number")),
        "node_id": as_str(issue.get("node_id")),
        "title": as_str(issue.get("title")),
        "state": as_str(issue.get("state")),
        "state_reason": as_str(issue.get("state_reason")),
        "locked": as_bool(issue.get("locked")),
        "is_pull_request": isinstance(issue.get("pull_request"), dict),
        "deleted": deleted,
        "user_id": as_id(as_obj(issue.get("user")).get("id")),
        "labels": labels(issue.get("labels")),
        "comments": as_int(issue.get("comments")),
        "author_association": as_str(issue.get("author_association")),
        "last_action": action,
        "created_at": as_ts(issue.get("created_at")),
        "closed_at": as_ts(issue.get("closed_at")),
        "updated_at": as_ts(issue.get("updated_at")),
    }


def review_row(review: dict, pr_id: int | None, repo_id: int | None,
            action: str | None) -> dict | None:
    rid = as_id(review.get("id"))
    if rid is None:
        return None
    submitted = as_ts(review.get("submitted_at"))
    return {
        "id": rid,
        "pull_request_id": pr_id,
        "repository_id": repo_id,
        "user_id": as_id(as_obj(review.get("user")).get("id")),
        "state": as_str(review.get("state")),
        "body": as_str(review.get("body")),
        "commit_id": as_str(review.get("commit_id")),
        "author_association": as_str(review.get("author_association")),
        "last_action": action,
        "submitted_at": submitted,
        "updated_at": as_ts(review.get("updated_at")) or submitted,
    }


def comment_row(kind: str, comment: dict, repo_id: int | None, action: str | None,
             **links: Any) -> dict | None:
    cid = as_id(comment.get("id"))
    if cid is None:
        return None
    row = {
        "kind": kind,
        "id": cid,
        "repository_id": repo_id,
        "user_id": as_id(as_obj(comment.get("user")).get("id")),
        "issue_id": None,
        "pull_request_id": None,
        "review_id": as_id(comment.get("pull_request_review_id")),
        "discussion_id": None,
        "parent_id": as_id(comment.get("in_reply_to_id")) or as_id(comment.get("parent_id")),
        "commit_id": as_str(comment.get("commit_id")),
        "path": as_str(comment.get("path")),
        "body": as_str(comment.get("body")),
        "author_association": as_str(comment.get("author_association")),
        "deleted": action == "deleted",
        "last_action": action,
        "created_at": as_ts(comment.get("created_at")),
        "updated_at": as_ts(comment.get("updated_at")),
    }
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
        "created": as_bool(payload.get("created")),
        "deleted": as_bool(payload.get("deleted")),
        "forced": as_bool(payload.get("forced")),
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
            "files_added": length(commit.get("added")),
            "files_removed": length(commit.get("removed")),
            "files_modified": length(commit.get("modified")),
        }))
    return out

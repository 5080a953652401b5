"""Pure normalization of GitHub webhook payloads into rows for the application database.

No I/O. Two steps, both total (they never raise on odd input):

* :func:`sanitize` makes a decoded payload storable: PostgreSQL ``jsonb`` and ``text`` reject the
  NUL character (``\\u0000``; PostgreSQL docs, "JSON Types"), and a lone UTF-16 surrogate (which
  ``json.loads`` accepts from ``"\\ud800"``) cannot be encoded to UTF-8. Both become U+FFFD.
* :func:`normalize` extracts rows for the normalized tables (``migrations/app/``). Keys are
  GitHub ids (ints); objects whose id is missing or of the wrong type are skipped. Unknown events
  give the repository and sender rows only. Payload shapes follow GitHub's "Webhook events and
  payloads" docs and ``@octokit/webhooks-schemas``; every field is optional here.
  Strings bound for indexed columns (logins, full names, refs, SHAs, commit authors) longer
  than a btree entry can hold are dropped (:data:`MAX_INDEXED_BYTES`), so they never fail the
  delivery's transaction.

Row dicts hold Python values ready for psycopg: ``int``, ``str``, ``bool``, ``None``, aware
``datetime`` (UTC) and ``list[str]``. Missing fields are ``None``. Rows of each table are
de-duplicated by key and sorted by key, so concurrent writers lock rows in the same order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

REPLACEMENT = "\ufffd"
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")

#: PostgreSQL ``bigint`` / ``integer`` ranges; ids or counts outside them are dropped.
_BIGINT_MAX = 2**63 - 1
_INT_MAX = 2**31 - 1
#: Longest string (UTF-8 bytes) written to an indexed text column. A btree index entry holds at
#: most 2704 bytes (PostgreSQL docs, "B-Tree Indexes": 1/3 of an 8 KiB page); a longer value
#: would fail the whole transaction, ledger row included. The pushes key has three such columns
#: (``ref`` at this size, the two SHAs at :data:`MAX_SHA_BYTES`), so it stays under the limit.
MAX_INDEXED_BYTES = 1024
#: Longest commit SHA kept (bytes); real ones are 40 (SHA-1) or 64 (SHA-256) hex digits.
MAX_SHA_BYTES = 256


# --- sanitize ----------------------------------------------------------------------------------
def _clean(s: str) -> str:
    return _BAD_CHARS.sub(REPLACEMENT, s)


def _needs_cleaning(obj: Any) -> bool:
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _BAD_CHARS.search(item):
                return True
        elif isinstance(item, dict):
            for key, value in item.items():
                if isinstance(key, str) and _BAD_CHARS.search(key):
                    return True
                stack.append(value)
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def _rebuild(obj: Any) -> Any:
    """Copy ``obj`` with every string and key cleaned, iteratively (no recursion)."""
    if isinstance(obj, str):
        return _clean(obj)
    if not isinstance(obj, dict | list | tuple):
        return obj
    root: Any = {} if isinstance(obj, dict) else []
    stack: list[tuple[Any, Any]] = [(obj, root)]
    while stack:
        source, target = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, value in items:
            if isinstance(value, dict | list | tuple):
                new: Any = {} if isinstance(value, dict) else []
                stack.append((value, new))
            elif isinstance(value, str):
                new = _clean(value)
            else:
                new = value
            if isinstance(target, dict):
                target[_clean(key) if isinstance(key, str) else key] = new
            else:
                target.append(new)
    return root


def sanitize(obj: Any) -> tuple[Any, bool]:
    """Replace NUL characters and lone surrogates in every string and dict key with U+FFFD.

    Returns ``(clean, changed)``. When nothing needed replacing, ``clean`` is ``obj`` itself
    (no copy). Walks iteratively, so hostile nesting depth cannot exhaust the stack. Two keys
    that become equal after cleaning keep the later value. Tuples come back as lists (JSON).
    """
    if not _needs_cleaning(obj):
        return obj, False
    return _rebuild(obj), True


# --- field coercion (never raises) --------------------------------------------------------------
def _id(value: Any) -> int | None:
    """A GitHub id as a positive bigint, from an int or a string of digits; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, int) and 0 < value <= _BIGINT_MAX:
        return value
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and -_INT_MAX <= value <= _INT_MAX:
        return value
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _indexed(value: Any, max_bytes: int = MAX_INDEXED_BYTES) -> str | None:
    """A string for an indexed column: None when it is not a str or its UTF-8 form is longer
    than ``max_bytes`` (a key column then gives no row; other columns store NULL)."""
    if not isinstance(value, str) or len(value) > max_bytes:  # every character is >= 1 byte
        return None
    return value if len(value.encode("utf-8", "surrogatepass")) <= max_bytes else None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _ts(value: Any) -> datetime | None:
    """ISO 8601 string (``2019-05-15T15:20:40Z``) or epoch seconds (GitHub's push payloads
    give ``repository.created_at`` as an int) to an aware UTC datetime; else None."""
    try:
        if isinstance(value, str) and value:
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _obj(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _get(payload: dict, *path: str) -> dict:
    current: Any = payload
    for part in path:
        current = _obj(current).get(part)
    return _obj(current)


def _labels(value: Any) -> list[str] | None:
    if not isinstance(value, list):
        return None
    return [name for label in value if isinstance(name := _obj(label).get("name"), str)]


def _dicts(value: Any) -> Iterable[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


# --- rows ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NormalizedRows:
    """Rows per normalized table, each a tuple of dicts (column -> value)."""

    repositories: tuple[dict, ...] = ()
    users: tuple[dict, ...] = ()
    pull_requests: tuple[dict, ...] = ()
    issues: tuple[dict, ...] = ()
    reviews: tuple[dict, ...] = ()
    comments: tuple[dict, ...] = ()
    pushes: tuple[dict, ...] = ()
    commits: tuple[dict, ...] = ()
    stars: tuple[dict, ...] = ()

    def tables(self) -> list[tuple[str, tuple[dict, ...]]]:
        """``(table, rows)`` pairs in a fixed order, non-empty tables only."""
        return [(f.name, getattr(self, f.name)) for f in fields(self) if getattr(self, f.name)]

    def count(self) -> int:
        return sum(len(rows) for _, rows in self.tables())


#: Primary key columns of each table (must match ``migrations/app/``).
KEYS: dict[str, tuple[str, ...]] = {
    "repositories": ("id",),
    "users": ("id",),
    "pull_requests": ("id",),
    "issues": ("id",),
    "reviews": ("id",),
    "comments": ("kind", "id"),
    "pushes": ("repository_id", "ref", "before_sha", "after_sha"),
    "commits": ("repository_id", "sha"),
    "stars": ("repository_id", "user_id"),
}


class _Collector:
    """Accumulates rows per table, merging duplicates by key (first non-None value wins)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[tuple, dict]] = {name: {} for name in KEYS}

    def add(self, table: str, row: dict | None) -> None:
        if row is None:
            return
        key = tuple(row.get(col) for col in KEYS[table])
        if any(part is None for part in key):
            return
        existing = self.rows[table].get(key)
        if existing is None:
            self.rows[table][key] = row
        else:
            for col, value in row.items():
                if existing.get(col) is None:
                    existing[col] = value

    def result(self) -> NormalizedRows:
        return NormalizedRows(**{
            table: tuple(rows[k] for k in sorted(rows, key=_sort_key))
            for table, rows in self.rows.items()
        })


def _sort_key(key: tuple) -> tuple:
    return tuple((0, part, "") if isinstance(part, int) else (1, 0, str(part)) for part in key)


def _user(obj: Any, default_type: str | None = None) -> dict | None:
    obj = _obj(obj)
    uid = _id(obj.get("id"))
    if uid is None:
        return None
    return {
        "id": uid,
        "login": _indexed(obj.get("login")),
        "node_id": _str(obj.get("node_id")),
        "type": _str(obj.get("type")) or default_type,
        "site_admin": _bool(obj.get("site_admin")),
        "name": _str(obj.get("name")),
        "email": _str(obj.get("email")),
        "updated_at": None,
    }


def _repository(obj: dict) -> dict | None:
    rid = _id(obj.get("id"))
    if rid is None:
        return None
    return {
        "id": rid,
        "node_id": _str(obj.get("node_id")),
        "name": _str(obj.get("name")),
        "full_name": _indexed(obj.get("full_name")),
        "owner_id": _id(_obj(obj.get("owner")).get("id")),
        "private": _bool(obj.get("private")),
        "fork": _bool(obj.get("fork")),
        "archived": _bool(obj.get("archived")),
        "default_branch": _str(obj.get("default_branch")),
        "language": _str(obj.get("language")),
        "stargazers_count": _int(obj.get("stargazers_count")),
        "forks_count": _int(obj.get("forks_count")),
        "open_issues_count": _int(obj.get("open_issues_count")),
        "created_at": _ts(obj.get("created_at")),
        "pushed_at": _ts(obj.get("pushed_at")),
        "updated_at": _ts(obj.get("updated_at")),
    }


def _pull_request(pr: dict, repo_id: int | None, action: str | None) -> dict | None:
    pid = _id(pr.get("id"))
    if pid is None:
        return None
    head, base = _obj(pr.get("head")), _obj(pr.get("base"))
    return {
        "id": pid,
        "repository_id": repo_id or _id(_obj(base.get("repo")).get("id")),
        "number": _int(pr.get("number")),
        "node_id": _str(pr.get("node_id")),
        "title": _str(pr.get("title")),
        "state": _str(pr.get("state")),
        "draft": _bool(pr.get("draft")),
        "locked": _bool(pr.get("locked")),
        "merged": _bool(pr.get("merged")),
        "user_id": _id(_obj(pr.get("user")).get("id")),
        "merged_by_id": _id(_obj(pr.get("merged_by")).get("id")),
        "head_ref": _str(head.get("ref")),
        "head_sha": _str(head.get("sha")),
        "base_ref": _str(base.get("ref")),
        "labels": _labels(pr.get("labels")),
        "commits": _int(pr.get("commits")),
        "additions": _int(pr.get("additions")),
        "deletions": _int(pr.get("deletions")),
        "changed_files": _int(pr.get("changed_files")),
        "comments": _int(pr.get("comments")),
        "review_comments": _int(pr.get("review_comments")),
        "author_association": _str(pr.get("author_association")),
        "last_action": action,
        "created_at": _ts(pr.get("created_at")),
        "closed_at": _ts(pr.get("closed_at")),
        "merged_at": _ts(pr.get("merged_at")),
        "updated_at": _ts(pr.get("updated_at")),
    }


def _issue(issue: dict, repo_id: int | None, action: str | None, deleted: bool) -> dict | None:
    iid = _id(issue.get("id"))
    if iid is None:
        return None
    return {
        "id": iid,
        "repository_id": repo_id,
        "number": _int(issue.get("number")),
        "node_id": _str(issue.get("node_id")),
        "title": _str(issue.get("title")),
        "state": _str(issue.get("state")),
        "state_reason": _str(issue.get("state_reason")),
        "locked": _bool(issue.get("locked")),
        "is_pull_request": isinstance(issue.get("pull_request"), dict),
        "deleted": deleted,
        "user_id": _id(_obj(issue.get("user")).get("id")),
        "labels": _labels(issue.get("labels")),
        "comments": _int(issue.get("comments")),
        "author_association": _str(issue.get("author_association")),
        "last_action": action,
        "created_at": _ts(issue.get("created_at")),
        "closed_at": _ts(issue.get("closed_at")),
        "updated_at": _ts(issue.get("updated_at")),
    }


def _review(review: dict, pr_id: int | None, repo_id: int | None,
            action: str | None) -> dict | None:
    rid = _id(review.get("id"))
    if rid is None:
        return None
    submitted = _ts(review.get("submitted_at"))
    return {
        "id": rid,
        "pull_request_id": pr_id,
        "repository_id": repo_id,
        "user_id": _id(_obj(review.get("user")).get("id")),
        "state": _str(review.get("state")),
        "body": _str(review.get("body")),
        "commit_id": _str(review.get("commit_id")),
        "author_association": _str(review.get("author_association")),
        "last_action": action,
        "submitted_at": submitted,
        "updated_at": _ts(review.get("updated_at")) or submitted,
    }


def _comment(kind: str, comment: dict, repo_id: int | None, action: str | None,
             **links: Any) -> dict | None:
    cid = _id(comment.get("id"))
    if cid is None:
        return None
    row = {
        "kind": kind,
        "id": cid,
        "repository_id": repo_id,
        "user_id": _id(_obj(comment.get("user")).get("id")),
        "issue_id": None,
        "pull_request_id": None,
        "review_id": _id(comment.get("pull_request_review_id")),
        "discussion_id": None,
        "parent_id": _id(comment.get("in_reply_to_id")) or _id(comment.get("parent_id")),
        "commit_id": _str(comment.get("commit_id")),
        "path": _str(comment.get("path")),
        "body": _str(comment.get("body")),
        "author_association": _str(comment.get("author_association")),
        "deleted": action == "deleted",
        "last_action": action,
        "created_at": _ts(comment.get("created_at")),
        "updated_at": _ts(comment.get("updated_at")),
    }
    row.update(links)
    return row


def _push(payload: dict, repo_id: int | None, sender_id: int | None) -> list[tuple[str, dict]]:
    ref = _indexed(payload.get("ref"))
    before, after = (_indexed(payload.get(k), MAX_SHA_BYTES) for k in ("before", "after"))
    if repo_id is None or ref is None or before is None or after is None:
        return []
    commits = [c for c in payload.get("commits") or [] if isinstance(c, dict)] \
        if isinstance(payload.get("commits"), list) else []
    pusher = _get(payload, "pusher")
    out: list[tuple[str, dict]] = [("pushes", {
        "repository_id": repo_id,
        "ref": ref,
        "before_sha": before,
        "after_sha": after,
        "pusher_name": _str(pusher.get("name")),
        "pusher_email": _str(pusher.get("email")),
        "sender_id": sender_id,
        "commit_count": len(commits),
        "distinct_count": sum(1 for c in commits if c.get("distinct") is not False),
        "created": _bool(payload.get("created")),
        "deleted": _bool(payload.get("deleted")),
        "forced": _bool(payload.get("forced")),
        "head_commit_at": _ts(_get(payload, "head_commit").get("timestamp")),
    })]
    for commit in commits:
        sha = _indexed(commit.get("id"), MAX_SHA_BYTES)
        if not sha:
            continue
        author, committer = _obj(commit.get("author")), _obj(commit.get("committer"))
        out.append(("commits", {
            "repository_id": repo_id,
            "sha": sha,
            "ref": ref,
            "message": _str(commit.get("message")),
            "author_name": _str(author.get("name")),
            "author_email": _indexed(author.get("email")),
            "author_username": _indexed(author.get("username")),
            "committer_name": _str(committer.get("name")),
            "committer_email": _str(committer.get("email")),
            "committer_username": _str(committer.get("username")),
            "committed_at": _ts(commit.get("timestamp")),
            "is_distinct": _bool(commit.get("distinct")),
            "files_added": _len(commit.get("added")),
            "files_removed": _len(commit.get("removed")),
            "files_modified": _len(commit.get("modified")),
        }))
    return out


def _len(value: Any) -> int | None:
    return len(value) if isinstance(value, list) else None


# --- per-event extraction -----------------------------------------------------------------------
def _on_pull_request(out: _Collector, payload: dict, repo_id: int | None, action: str | None):
    pr = _get(payload, "pull_request")
    out.add("pull_requests", _pull_request(pr, repo_id, action))
    for user in (pr.get("user"), pr.get("merged_by"), *_dicts(pr.get("assignees")),
                 *_dicts(pr.get("requested_reviewers"))):
        out.add("users", _user(user))
    return _id(pr.get("id"))


def _on_issue(out: _Collector, payload: dict, repo_id: int | None, action: str | None,
              deleted: bool = False):
    issue = _get(payload, "issue")
    out.add("issues", _issue(issue, repo_id, action, deleted))
    for user in (issue.get("user"), *_dicts(issue.get("assignees"))):
        out.add("users", _user(user))
    return _id(issue.get("id"))


def _ev_pull_request(out, payload, repo_id, action):
    _on_pull_request(out, payload, repo_id, action)


def _ev_issues(out, payload, repo_id, action):
    _on_issue(out, payload, repo_id, action, deleted=action == "deleted")


def _ev_review(out, payload, repo_id, action):
    pr_id = _on_pull_request(out, payload, repo_id, None)
    review = _get(payload, "review")
    out.add("reviews", _review(review, pr_id, repo_id, action))
    out.add("users", _user(review.get("user")))


def _ev_review_comment(out, payload, repo_id, action):
    pr_id = _on_pull_request(out, payload, repo_id, None)
    comment = _get(payload, "comment")
    out.add("comments", _comment("pull_request_review", comment, repo_id, action,
                                 pull_request_id=pr_id))
    out.add("users", _user(comment.get("user")))


def _ev_issue_comment(out, payload, repo_id, action):
    issue_id = _on_issue(out, payload, repo_id, None)
    comment = _get(payload, "comment")
    out.add("comments", _comment("issue", comment, repo_id, action, issue_id=issue_id))
    out.add("users", _user(comment.get("user")))


def _ev_commit_comment(out, payload, repo_id, action):
    comment = _get(payload, "comment")
    out.add("comments", _comment("commit", comment, repo_id, action))
    out.add("users", _user(comment.get("user")))


def _ev_discussion_comment(out, payload, repo_id, action):
    discussion = _get(payload, "discussion")
    comment = _get(payload, "comment")
    out.add("comments", _comment("discussion", comment, repo_id, action,
                                 discussion_id=_id(discussion.get("id"))))
    out.add("users", _user(comment.get("user")))
    out.add("users", _user(discussion.get("user")))


def _ev_push(out, payload, repo_id, action):
    for table, row in _push(payload, repo_id, _id(_get(payload, "sender").get("id"))):
        out.add(table, row)


def _ev_star(out, payload, repo_id, action):
    user_id = _id(_get(payload, "sender").get("id"))
    if repo_id is None or user_id is None or action not in ("created", "deleted"):
        return
    out.add("stars", {
        "repository_id": repo_id,
        "user_id": user_id,
        "starred": action == "created",
        "starred_at": _ts(payload.get("starred_at")),
        "updated_at": None,
    })


_HANDLERS: dict[str, Callable[[_Collector, dict, int | None, str | None], None]] = {
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
    out = _Collector()
    if not isinstance(payload, dict):
        return out.result()
    repo = _get(payload, "repository")
    repo_row = _repository(repo)
    out.add("repositories", repo_row)
    out.add("users", _user(payload.get("sender")))
    out.add("users", _user(repo.get("owner")))
    out.add("users", _user(payload.get("organization"), default_type="Organization"))
    handler = _HANDLERS.get(event) if isinstance(event, str) else None
    if handler is not None:
        handler(out, payload, repo_row["id"] if repo_row else None, _str(payload.get("action")))
    return out.result()

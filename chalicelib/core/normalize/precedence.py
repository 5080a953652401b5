"""Which of two versions of one normalized row wins, whatever order they arrive in.

The work queues (priorities and targets) reorder deliveries by design, and GitHub's ``updated_at`` has one-second
resolution, so neither arrival order nor ``updated_at`` alone orders two deliveries of one
object. A stored row is replaced only when the new version's *version key* is ``>=`` the
stored one (compared in SQL, under the row lock taken by ``INSERT ... ON CONFLICT``, so
concurrent workers agree). The key, compared left to right:

1. ``event time``: GitHub's ``updated_at`` (``-infinity`` when absent); for ``stars``, whose
   payloads carry no ``updated_at``, the star's ``starred_at`` and, for an un-star (GitHub
   sends ``starred_at: null``), the time the edge received it;
2. ``precedence`` (:func:`precedence`): terminal states over open ones at the same time;
3. ``last_seen_at``: when the edge received the delivery (a property of the delivery, not of
   the order workers store it in);
4. ``last_delivery_id``: the last resort, so two versions never tie.

Pure: the standard library only.
"""

from __future__ import annotations

#: Per table: (column, value -> rank) read by :func:`precedence`; a higher rank wins a tie.
#: Documented in docs/DESIGN.md ("Out-of-order ties").
_RANKS: dict[str, tuple[tuple[str, dict], ...]] = {
    "pull_requests": (("merged", {True: 3}), ("state", {"closed": 2, "open": 1})),
    "issues": (("deleted", {True: 3}), ("state", {"closed": 2, "open": 1})),
    "comments": (("deleted", {True: 1}),),
    "reviews": (("state", {"dismissed": 2, "approved": 1, "changes_requested": 1,
                           "commented": 1}),),
    "stars": (("starred", {False: 1}),),
}

#: Tables with a ``precedence`` column (every versioned table; ``pushes``/``commits`` are
#: immutable).
VERSIONED = frozenset({"repositories", "users", "pull_requests", "issues", "reviews",
                       "comments", "stars"})


def precedence(table: str, row: dict) -> int:
    """The row's tie rank (``smallint``): the first rule of :data:`_RANKS` whose column value
    has a rank, else 0. E.g. a merged pull request 3, closed 2, open 1; a deleted issue 3."""
    for column, ranks in _RANKS.get(table, ()):
        rank = ranks.get(row.get(column))
        if rank is not None:
            return rank
    return 0


def version_key_sql(table: str, alias: str) -> str:
    """The SQL row-constructor of the version key for ``alias`` (``t`` or ``excluded``)."""
    if table == "stars":
        event_time = f"coalesce({alias}.updated_at, {alias}.last_seen_at)"
    else:
        event_time = f"coalesce({alias}.updated_at, '-infinity')"
    return (f"({event_time}, {alias}.precedence, {alias}.last_seen_at, "
            f"{alias}.last_delivery_id)")


def version_key(table: str, row: dict, seen_at) -> tuple:
    """The version key of ``row`` (a versioned table's row, with its ``precedence``) written
    by a delivery received at ``seen_at`` (aware datetime), as :func:`version_key_sql` computes
    it, *without* its last part (``last_delivery_id``: PostgreSQL compares text under the
    database's collation, which Python cannot reproduce). ``(0,)`` stands for ``-infinity``."""
    event_time = row.get("updated_at")
    if event_time is None and table == "stars":
        event_time = seen_at
    return ((0,) if event_time is None else (1, event_time), row.get("precedence", 0), seen_at)

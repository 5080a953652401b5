"""Which queued messages a filtered move (a redrive by event, age or dead-letter reason) takes:
a pure predicate over a message's string attributes and its send instant, applied by both queue
adapters (:meth:`chalicelib.ports.QueuePort.move` and ``peek``). The PostgreSQL adapter
evaluates the same rule in SQL; the contract suite holds the two to it.

May import: the standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class MessageFilter:
    """Every given criterion must hold (None: any).

    ``event``: the ``event`` attribute equals it exactly (the ``X-GitHub-Event`` name, e.g.
    ``issues``); ``since``: sent at or after this instant (epoch seconds); ``error``: the
    ``error`` attribute (the dead-letter reason the worker writes; absent on messages SQS
    redrove after ``maxReceiveCount`` receives) contains it, case-insensitively (ASCII case).
    """

    event: str | None = None
    since: float | None = None
    error: str | None = None

    @property
    def is_empty(self) -> bool:
        return self.event is None and self.since is None and self.error is None

    def matches(self, attributes: Mapping[str, str], sent_at: float) -> bool:
        """Whether a message with ``attributes`` sent at ``sent_at`` (epoch s) is taken."""
        if self.event is not None and attributes.get("event") != self.event:
            return False
        if self.since is not None and sent_at < self.since:
            return False
        if self.error is not None:
            reason = attributes.get("error")
            if reason is None or _ascii_lower(self.error) not in _ascii_lower(reason):
                return False
        return True

    def to_dict(self) -> dict[str, object]:
        """The criteria that are set (for audit records and ``--json`` output)."""
        return {k: v for k, v in (("event", self.event), ("since", self.since),
                                  ("error", self.error)) if v is not None}


def _ascii_lower(text: str) -> str:
    # ASCII only, as PostgreSQL's lower() under the C collation: both adapters agree.
    return text.translate(_LOWER)


_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}

"""Test fakes of our ports, held to the same contract suites as the real adapters.

:class:`MemoryState`: an in-memory :class:`~chalicelib.ports.StatePort`, one process,
thread-safe (``tests/contract/test_state_contract.py`` and the breaker store suite run against
it beside DynamoDB and PostgreSQL). Shared state across Lambda instances needs DynamoDB
(``DynamoState``) or PostgreSQL (``PgState``).
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Mapping
from typing import Any

from chalicelib.errors import ConflictError
from chalicelib.ports import StateItem


class MemoryState:
    """Items in a dict behind a lock. ``data`` is copied through JSON on write (so it must be
    JSON-serialisable, as for the real stores) and deep-copied on read. Expired items stay
    (``expires_at`` is checked by callers, as the port says)."""

    def __init__(self) -> None:
        self._items: dict[str, StateItem] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> StateItem | None:
        with self._lock:
            item = self._items.get(key)
            return None if item is None else _copy(item)

    def put(self, key: str, data: Mapping[str, Any], *, expected_version: int | None,
            expires_at: float | None = None) -> StateItem:
        """Compare-and-set on ``version``; raises ConflictError when it differs (or, with
        ``expected_version=None``, when the item exists)."""
        payload = json.loads(json.dumps(dict(data)))
        with self._lock:
            current = self._items.get(key)
            current_version = None if current is None else current.version
            if current_version != expected_version:
                raise ConflictError(f"state item {key!r} is at version {current_version}, "
                                    f"expected {expected_version}")
            item = StateItem(key=key, version=(expected_version or 0) + 1, data=payload,
                             expires_at=None if expires_at is None else float(expires_at))
            self._items[key] = item
            return _copy(item)

    def delete(self, key: str, *, expected_version: int | None = None) -> None:
        with self._lock:
            current = self._items.get(key)
            if expected_version is not None:
                if current is None or current.version != expected_version:
                    raise ConflictError(f"state item {key!r} is not at version "
                                        f"{expected_version}")
            self._items.pop(key, None)

    def scan(self, prefix: str) -> list[StateItem]:
        """Items whose key starts with ``prefix``, sorted by key."""
        with self._lock:
            return [_copy(self._items[k]) for k in sorted(self._items) if k.startswith(prefix)]


def _copy(item: StateItem) -> StateItem:
    return StateItem(key=item.key, version=item.version, data=copy.deepcopy(dict(item.data)),
                     expires_at=item.expires_at)


class MemoryDedup:
    """The edge's dedup records in a dict (:class:`chalicelib.dedup.DedupStore`), for unit tests
    of code that only needs a claim to succeed once: one record per id, replaced only as
    :func:`chalicelib.dedup.takeover_allowed` says, as the real stores' write condition does."""

    def __init__(self) -> None:
        self.records: dict[str, object] = {}

    def claim(self, record_id: str, *, validation: str, now: float, in_progress_s: float,
              ttl_s: int):
        from chalicelib.dedup import INPROGRESS, Claim, Prior, takeover_allowed

        prior = self.records.get(record_id)
        if prior is not None and not takeover_allowed(prior, validation, now):
            return Claim(written=False, prior=prior)
        self.records[record_id] = Prior(INPROGRESS, int(now + ttl_s),
                                        int((now + in_progress_s) * 1000), validation)
        return Claim(written=True, prior=prior)

    def release(self, record_id: str) -> None:
        self.records.pop(record_id, None)

    def accepted(self, hook_id, guids, now) -> set[str]:
        return set()

"""A circuit breaker's item in the shared state (:class:`~chalicelib.ports.StatePort`): its
key and the compare-and-set update every writer (Lambda instances, operator tooling) goes
through."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.core.breaker import BreakerState
from chalicelib.errors import ConflictError
from chalicelib.ports import StateItem, StatePort

#: Key prefix of breaker items: ``breaker#<name>``.
KEY_PREFIX = "breaker#"


def breaker_key(name: str) -> str:
    return KEY_PREFIX + name


def cas_update(store: StatePort, key: str,
               fn: Callable[[BreakerState], tuple[BreakerState | None, list, Any]], *,
               item: StateItem | None | bool = False, attempts: int = 5,
               on_item: Callable[[StateItem | None], None] | None = None,
               decode: Callable[[Any], Any] = BreakerState.from_dict,
               pause: Callable[[int], None] | None = None) -> tuple[list, Any]:
    """Read-modify-write a shared item (the breaker's, or any other whose state has
    ``to_dict``: ``decode`` turns the stored ``data``, None when absent, into it) by
    compare-and-set.

    ``fn(state) -> (new_state or None, events, result)``; None means nothing to write.
    ``item``: the last-seen item to try first (``False``: read it now). On ConflictError the
    item is re-read and ``fn`` re-applied, up to ``attempts`` times, then ConflictError is
    raised. ``on_item`` sees every item read or written. Returns ``(events, result)`` of the
    application that stuck. ``pause(n)`` (optional) runs before the n-th re-read after a lost
    race (a jittered backoff for a contended item). Store errors propagate.
    """
    if item is False:
        item = store.get(key)
        if on_item:
            on_item(item)
    for attempt in range(attempts):
        new, events, result = fn(decode(item.data if item else None))
        if new is None:
            return events, result
        try:
            item = store.put(key, new.to_dict(),
                             expected_version=item.version if item else None)
        except ConflictError:
            if pause is not None:
                pause(attempt + 1)
            item = store.get(key)
        else:
            if on_item:
                on_item(item)
            return events, result
        if on_item:
            on_item(item)
    raise ConflictError(f"{key}: gave up after {attempts} compare-and-set attempts")



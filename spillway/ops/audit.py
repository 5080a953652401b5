"""The audit trail of the operator verbs: one record per change an operator made (breaker
force/reset, promote, redrive, and the tier/lanes verbs once they call :func:`record`), kept
in the state store (:class:`~chalicelib.ports.StatePort`: the DynamoDB state table or the
PostgreSQL ``state`` table) beside the breaker items, each with an expiry.

Item: key ``audit#<at, 17.6f>#<6 hex>`` (sorted by key = by time), ``expires_at`` = ``at`` +
:data:`RETENTION_S`; its data, and what :func:`record` and :func:`list_actions` return::

    {"id": "audit#...", "verb": "redrive", "by": "alice", "reason": "db back",
     "at": 1764700000.123456, "details": {...}}

``verb`` names the command (``"breaker force"``, ``"breaker reset"``, ``"promote"``,
``"redrive"``); ``at`` is epoch seconds; ``details`` says what changed (JSON-serialisable:
for the breaker ``name``, ``from``, ``to``, ``until``; for a move ``source``, ``moved``, the
filter ...). Records written before this module by :mod:`spillway.ops.breaker` (key prefix
``breaker-audit#``) are read too, as ``breaker <action>`` records.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.errors import ConfigError
from chalicelib.ports import StatePort

PREFIX = "audit#"
#: Key prefix of the breaker's audit records before the trail was unified (read only).
LEGACY_BREAKER_PREFIX = "breaker-audit#"
#: Records are kept (``expires_at``) for 400 days: over a year of history for reviews.
RETENTION_S = 400 * 24 * 3600


def record(store: StatePort, *, verb: str, by: str, reason: str, details: Mapping[str, Any],
           clock: Callable[[], float] = time.time) -> dict:
    """Write one audit record (shape in the module docstring) and return it. Raises
    :class:`~chalicelib.errors.ConfigError` when ``verb``, ``by`` or ``reason`` is blank (an
    unexplained change is refused before it is made: call this first, or right after the change
    with the outcome in ``details``), and the store's errors (:mod:`chalicelib.errors`)."""
    for name, value in (("verb", verb), ("by", by), ("reason", reason)):
        if not str(value or "").strip():
            raise ConfigError(f"the audit record needs a non-empty {name}")
    at = clock()
    key = f"{PREFIX}{at:017.6f}#{uuid.uuid4().hex[:6]}"
    data = {"id": key, "verb": verb, "by": by, "reason": reason, "at": at,
            "details": dict(details)}
    store.put(key, data, expected_version=None, expires_at=at + RETENTION_S)
    return data


def list_actions(store: StatePort, *, limit: int | None = 50, since: float | None = None,
                 verb: str | None = None) -> list[dict]:
    """The last ``limit`` records (None: all, 0: none) at or after ``since`` (epoch s; None: all kept),
    oldest first; ``verb`` keeps only that verb or its sub-verbs (``"breaker"`` matches
    ``"breaker force"``). Expired records not yet deleted by the store are left out."""
    now = time.time()
    found = [dict(item.data) for item in store.scan(PREFIX) if not item.expired(now)]
    found += [_from_legacy(item.key, item.data) for item in store.scan(LEGACY_BREAKER_PREFIX)
              if not item.expired(now)]
    found = [r for r in found if (since is None or r["at"] >= since)
             and (verb is None or r["verb"] == verb or r["verb"].startswith(verb + " "))]
    found.sort(key=lambda r: (r["at"], r["id"]))
    if limit is None:
        return found
    return found[-limit:] if limit > 0 else []


def _from_legacy(key: str, data: Mapping[str, Any]) -> dict:
    return {"id": key, "verb": f"breaker {data.get('action')}", "by": data.get("by"),
            "reason": data.get("reason"), "at": float(data.get("at") or 0.0),
            "details": {k: data.get(k) for k in ("name", "from", "to", "until")}}

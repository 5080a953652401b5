"""The audit trail of the operator verbs: one record per change an operator made (breaker
force/reset, promote, redrive, tier set/lift, lanes disable/enable), kept
in the state store (:class:`~chalicelib.ports.StatePort`: the DynamoDB state table or the
PostgreSQL ``state`` table) beside the breaker items, each with an expiry.

Item: key ``audit#<at, 17.6f>#<6 hex>`` (sorted by key = by time), ``expires_at`` = ``at`` +
:data:`RETENTION_S`; its data, and what :func:`record` and :func:`list_actions` return::

    {"id": "audit#...", "verb": "redrive", "by": "alice", "reason": "db back",
     "at": 1764700000.123456, "details": {...}}

``verb`` names the command (``"breaker force"``, ``"breaker reset"``, ``"promote"``,
``"redrive"``, ``"tier set"``, ``"tier lift"``, ``"tier lift end"``, ``"lanes disable"``,
``"lanes enable"``, and ``"tier revert"``, ``"lanes eject"``, ``"lanes readmit"`` by the
collector); :func:`record` is :func:`chalicelib.audit_record.record`; ``at`` is epoch
seconds; ``details`` says what changed (JSON-serialisable:
for the breaker ``name``, ``from``, ``to``, ``until``; for a move ``source``, ``moved``, the
filter ...). Records written before this module by :mod:`spillway.ops.breaker` (key prefix
``breaker-audit#``) are read too, as ``breaker <action>`` records.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from chalicelib.audit_record import PREFIX, RETENTION_S, record
from chalicelib.ports import StatePort

__all__ = ["PREFIX", "RETENTION_S", "list_actions", "record"]

#: Key prefix of the breaker's audit records before the trail was unified (read only).
LEGACY_BREAKER_PREFIX = "breaker-audit#"


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

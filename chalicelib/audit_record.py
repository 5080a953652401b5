"""Writing one audit record into the state store: the one shape every changing verb leaves
(operator tooling's :mod:`spillway.ops.audit`, which also lists them) and the scheduled
collector's automatic changes -- the revert of a tier lift (:mod:`chalicelib.tier_lift`), a
lane's mapping switched (:mod:`chalicelib.collector.lanes`) -- which ship to Lambda and so
cannot import ``spillway``.

Item: key ``audit#<at, 17.6f>#<6 hex>`` (sorted by key = by time), ``expires_at`` = ``at`` +
:data:`RETENTION_S`; data ``{"id", "verb", "by", "reason", "at" (epoch s), "details"}``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.errors import ConfigError
from chalicelib.ports import StatePort

PREFIX = "audit#"
#: Records are kept (``expires_at``) for 400 days: over a year of history for reviews.
RETENTION_S = 400 * 24 * 3600


def record(store: StatePort, *, verb: str, by: str, reason: str, details: Mapping[str, Any],
           clock: Callable[[], float] = time.time) -> dict:
    """Write one audit record and return its data. Raises
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

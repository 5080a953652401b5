"""Operator verbs over the shared database slots (:mod:`chalicelib.shared_slots`): who holds
them (:func:`status`) and freeing a dead holder's leases at once (:func:`release`, audited
through :mod:`spillway.ops.audit`), rather than waiting out their expiry.

A holder is ``<queue>:<instance id>:<thread>`` (:func:`chalicelib.batch_slots.batch_identity`);
a live holder renews its lease every quarter of ``lease_s`` while its batch runs, so a lease
whose ``renewed_ago_s`` keeps growing past that belongs to an instance that died. Releasing a
live holder's lease is harmless: its heartbeat notices (``SlotLeasesLost``) and the batch goes
on; its stores are idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from chalicelib.breaker_item import cas_update
from chalicelib.core.concurrency.slots import SlotState, revoke
from chalicelib.errors import ConfigError
from chalicelib.ports import StatePort
from chalicelib.shared_slots import slots_key
from spillway.ops import audit
from spillway.ops.health import slots_status

#: The pool the workers share: the application database's (``wiring.BREAKER_NAME``).
DEFAULT_POOL = "postgres"


def _decode(data: Any) -> SlotState:
    return SlotState.from_dict(data, default_limit=0)


def status(store: StatePort, name: str = DEFAULT_POOL, *, max_limit: int | None = None,
           clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """The pool ``name`` (the fields of :func:`spillway.ops.health.slots_status`) plus
    ``holders``: one dict per lease in the item, oldest first -- ``holder``, ``priority``,
    ``count`` (slots), ``acquired_at`` / ``expires_at`` (epoch s), ``age_s`` (since granted),
    ``expires_in_s`` (negative: expired, reclaimed by the next decision) and ``expired``; and
    ``waiting``: ``holder``, ``priority``, ``count``, ``waiting_s`` (since first refused),
    ``expires_at``. Two reads. Raises the store's :class:`~chalicelib.errors.DependencyError`."""
    now = clock()
    (pool,) = slots_status(store, name, max_limit=max_limit, clock=lambda: now)
    item = store.get(slots_key(name))
    state = _decode(item.data if item else None)
    holders = [{"holder": x.holder, "priority": x.priority, "count": x.count,
                "acquired_at": x.acquired_at, "expires_at": x.expires_at,
                "age_s": round(now - x.acquired_at, 3),
                "expires_in_s": round(x.expires_at - now, 3), "expired": x.expires_at <= now}
               for x in state.leases]
    waiting = [{"holder": w.holder, "priority": w.priority, "count": w.count,
                "waiting_s": round(now - w.since, 3), "expires_at": w.expires_at}
               for w in state.waiters if w.expires_at > now]
    return {**pool, "holders": holders, "waiting": waiting, "at": now}


def release(store: StatePort, name: str = DEFAULT_POOL, *, holders: Iterable[str] | None,
            by: str, reason: str, clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """Remove the leases of ``holders`` (None: every lease) from pool ``name`` in one
    compare-and-set, then write one audit record (verb ``"slots release"``, details ``name``,
    ``released``: the holders freed, ``slots``: how many). Returns ``{"name", "released",
    "slots", "audit"}`` (``audit`` None when nothing was held, so nothing changed and nothing is
    recorded). Raises :class:`~chalicelib.errors.ConfigError` for a blank ``by`` / ``reason``
    or a named holder that holds no lease (nothing is changed then), and the store's errors."""
    if not str(reason or "").strip() or not str(by or "").strip():
        raise ConfigError("slots release needs a non-empty --reason and --by")
    wanted = None if holders is None else frozenset(holders)
    if wanted is not None and not wanted:
        raise ConfigError("name a --holder, or pass --all")

    def step(state: SlotState) -> tuple[SlotState | None, list, Any]:
        if wanted is not None:
            unknown = sorted(wanted - {x.holder for x in state.leases})
            if unknown:
                raise ConfigError(f"no lease held by {', '.join(unknown)} in slots#{name} "
                                  "(see `spillway slots status`)")
        new, gone = revoke(state, wanted)
        return (new if gone else None), [], gone

    _, gone = cas_update(store, slots_key(name), step, decode=_decode)
    out: dict[str, Any] = {"name": name, "released": [x.holder for x in gone],
                           "slots": sum(x.count for x in gone), "audit": None}
    if gone:
        out["audit"] = audit.record(store, verb="slots release", by=by, reason=reason,
                                    details={k: out[k] for k in ("name", "released", "slots")},
                                    clock=clock)
    return out

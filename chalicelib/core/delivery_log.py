"""GitHub's webhook delivery log, one item at a time: an attempt's shape, read strictly.

Shape (GitHub REST, "List deliveries for a repository webhook", schema ``hook-delivery-item``):
``id`` (int, one per attempt), ``guid`` (str, shared by every attempt of an event and by every
hook subscribed to it), ``delivered_at`` (ISO 8601), ``redelivery`` (bool), ``duration``
(seconds, float), ``status_code`` (int, 0 when no answer), ``event``, ``action`` (str or null).
Pure: no I/O. The decisions over many attempts are :mod:`chalicelib.core.reconcile`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

#: GitHub's answer timeout, seconds ("Best practices for using webhooks": 10 s).
GITHUB_TIMEOUT_S = 10.0
#: Bounds of an item's ``id`` (a ``bigint`` in ``reconcile_gaps``) and ``guid`` (a UUID is 36
#: characters; anything far longer is not GitHub's).
MAX_ID = 2**63 - 1
MAX_GUID_CHARS = 100

class DeliveryLogError(ValueError):
    """An item of the delivery log does not have GitHub's shape; the message names the field."""


class RepeatedCursor(DeliveryLogError):
    """The ``Link`` header's ``next`` cursor names a page this scan already read (a loop)."""


@dataclass(frozen=True)
class Attempt:
    """One attempt of a delivery. ``delivered_at``: epoch seconds; ``duration_s``: seconds."""

    id: int
    guid: str
    delivered_at: float
    redelivery: bool
    status_code: int
    duration_s: float
    event: str
    action: str | None = None

    @property
    def failed(self) -> bool:
        """Not 2xx, or answered only after GitHub's 10 s."""
        return not 200 <= self.status_code < 300 or self.duration_s >= GITHUB_TIMEOUT_S


def parse_attempt(item: Mapping) -> Attempt:
    """An :class:`Attempt` from one ``hook-delivery-item``. Raises :class:`DeliveryLogError`."""
    if not isinstance(item, Mapping):
        raise DeliveryLogError(f"delivery item must be an object, got {type(item).__name__}")
    try:
        ident, guid, when = item["id"], item["guid"], item["delivered_at"]
        status, event = item["status_code"], item["event"]
    except KeyError as exc:
        raise DeliveryLogError(f"delivery item lacks {exc.args[0]!r}") from None
    if isinstance(ident, bool) or not isinstance(ident, int) or not 0 < ident <= MAX_ID:
        raise DeliveryLogError(f"delivery item 'id' must be a positive 64-bit integer, got "
                               f"{str(ident)[:40]!r}")
    if not isinstance(guid, str) or not guid or len(guid) > MAX_GUID_CHARS:
        raise DeliveryLogError(f"delivery item 'guid' must be a string of 1..{MAX_GUID_CHARS} "
                               f"characters, got {str(guid)[:40]!r}")
    if isinstance(status, bool) or not isinstance(status, int):
        raise DeliveryLogError(f"delivery item 'status_code' must be an integer, got {status!r}")
    try:
        delivered_at = datetime.fromisoformat(str(when).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise DeliveryLogError(f"delivery item 'delivered_at' is not a date: {when!r}") from None
    action = item.get("action")
    if not isinstance(event, str) or not (action is None or isinstance(action, str)):
        raise DeliveryLogError(f"delivery item 'event'/'action' must be strings, got "
                               f"{str(event)[:40]!r}/{str(action)[:40]!r}")
    duration = item.get("duration") or 0.0
    if not isinstance(duration, int | float) or isinstance(duration, bool):
        raise DeliveryLogError(f"delivery item 'duration' must be a number, got {duration!r}")
    return Attempt(id=ident, guid=guid, delivered_at=delivered_at,
                   redelivery=bool(item.get("redelivery")), status_code=status,
                   duration_s=float(duration), event=event, action=action)

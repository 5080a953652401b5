"""The edge's dedup record: one conditional write per accepted delivery, and what a repeat means.

One record per (hook id, delivery id), in the DynamoDB idempotency table (aws) or the
``idempotency_records`` table (postgres), written by :meth:`DedupStore.claim` in **one request**:

* absent, or past its ``expiration`` (epoch s, :data:`TTL <chalicelib.settings>`): written,
  :data:`NEW` -- the edge sends the message;
* ``INPROGRESS`` past its ``in_progress_expiration`` (epoch ms: the edge's deadline) with the same
  payload fingerprint: rewritten, :data:`RESEND` -- the edge that wrote it answered long ago, and
  whether it sent is unknown (it may have died between the write and the send), so the message is
  sent again; the workers store each (hook id, delivery id) once, so a second copy costs a
  message, never a second row. Answered 200 ``duplicate``;
* otherwise not written, and the stored record decides: another fingerprint
  :data:`REUSED` (409 ``delivery_id_reused``), ``COMPLETED`` :data:`DUPLICATE` (200, not sent:
  a record from the Powertools idempotency edge, written after its send), else
  :data:`IN_PROGRESS` (409 ``in_progress``).

The record's shape and its key are Powertools idempotency's (``id``, ``status``, ``expiration``,
``in_progress_expiration``, ``validation``; :func:`record_id`), so records written before this
module replaced Powertools still deduplicate, and the reconciler reads both with the same key.
A failed send deletes the record (:meth:`DedupStore.release`) before the 503.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Protocol

#: The record's ``status`` values (Powertools idempotency's names).
INPROGRESS = "INPROGRESS"
COMPLETED = "COMPLETED"
#: Prefix of every record id (Powertools' ``key_prefix`` as the edge configured it).
KEY_PREFIX = "delivery"

#: Text ``json.dumps`` writes unchanged between its quotes (printable ASCII but ``"`` and ``\\``).
_PLAIN = re.compile(r'[ !#-\[\]-~]*')

#: Verdicts of :func:`verdict`.
NEW = "new"
RESEND = "resend"
DUPLICATE = "duplicate"
IN_PROGRESS = "in_progress"
REUSED = "reused"


def record_id(hook_id: str, delivery_id: str) -> str:
    """The dedup record's id for ``(hook_id, delivery_id)``: ``"delivery#" + md5`` of the JSON
    ``{"delivery_id", "hook_id"}`` (sorted keys), exactly the key Powertools idempotency built
    with ``key_prefix="delivery"`` and ``event_key_jmespath="{hook_id: hook_id, delivery_id:
    delivery_id}"`` (tied to it by ``tests/contract/test_dedup_contract.py``). The edge writes
    and the reconciler reads records under this one function."""
    if _PLAIN.fullmatch(hook_id) and _PLAIN.fullmatch(delivery_id):  # no escape needed
        text = f'{{"delivery_id": "{delivery_id}", "hook_id": "{hook_id}"}}'
    else:
        text = json.dumps({"hook_id": hook_id, "delivery_id": delivery_id}, sort_keys=True)
    return f"{KEY_PREFIX}#{hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()}"


def fingerprint(payload_sha256: str) -> str:
    """The record's ``validation`` for a payload whose SHA-256 is ``payload_sha256`` (hex):
    md5 of its JSON string, as Powertools payload validation stored it."""
    text = f'"{payload_sha256}"' if _PLAIN.fullmatch(payload_sha256) else json.dumps(
        payload_sha256)
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Prior:
    """A record found by a claim: ``status``, ``expiration`` (epoch s), ``in_progress_expiration``
    (epoch ms, or None) and ``validation`` (``""`` when the record has none)."""

    status: str
    expiration: int
    in_progress_expiration: int | None
    validation: str


@dataclass(frozen=True)
class Claim:
    """What one conditional write did: ``written`` (this request's record is stored) and
    ``prior`` (the record it found, or None when there was none or the store does not say)."""

    written: bool
    prior: Prior | None


def takeover_allowed(prior: Prior, validation: str, now: float) -> bool:
    """The write condition, for stores that evaluate it in code: ``prior`` (epoch ``now`` s) may
    be replaced when expired, or in progress past its window with the same fingerprint."""
    return (prior.expiration < now
            or (prior.status == INPROGRESS and prior.in_progress_expiration is not None
                and prior.in_progress_expiration < now * 1000 and prior.validation == validation))


def verdict(claim: Claim, validation: str, now: float) -> str:
    """What the edge does after ``claim`` at epoch ``now`` s: :data:`NEW`, :data:`RESEND`,
    :data:`DUPLICATE`, :data:`IN_PROGRESS` or :data:`REUSED` (see the module docstring)."""
    prior = claim.prior
    if claim.written:
        return NEW if prior is None or prior.expiration < now else RESEND
    if prior is None:  # lost a race to a record the store did not return: someone holds it
        return IN_PROGRESS
    if prior.validation != validation:
        return REUSED
    return DUPLICATE if prior.status == COMPLETED else IN_PROGRESS


class DedupStore(Protocol):
    """Where the edge's dedup records live (``chalicelib.adapters.aws.dynamo_dedup``,
    ``chalicelib.adapters.postgres.idempotency``). Store failures raise
    :class:`~chalicelib.errors.DedupUnavailable`."""

    def claim(self, record_id: str, *, validation: str, now: float, in_progress_s: float,
              ttl_s: int) -> Claim:
        """One conditional write of an ``INPROGRESS`` record expiring ``ttl_s`` s after epoch
        ``now`` s, its in-progress window ``in_progress_s`` s; replaces a record only as
        :func:`takeover_allowed` says."""

    def release(self, record_id: str) -> None:
        """Delete the record (its send failed), whatever its state."""

    def accepted(self, hook_id: str | None, guids: list[str], now: float) -> set[str]:
        """The GUIDs of ``guids`` (for ``hook_id``; None: unknown, answers nothing) with an
        unexpired ``COMPLETED`` record at epoch ``now`` s: proof that an edge queued them.
        Records written by :meth:`claim` are never proof (the edge may have died before its
        send), so only records from before this module count."""

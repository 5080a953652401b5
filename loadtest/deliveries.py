"""Signed GitHub deliveries for the load tests, built from the payload corpus (no Locust import,
so tests can use it without gevent's monkey-patching).

Corpus: ``$LOADTEST_CORPUS`` if set, else ``shared/github-webhooks`` beside the checkout, else
the bundled ``spillway/samples``. Each is iterated through its ``MANIFEST.tsv`` (columns
``path``, ``event``, ``action``, ...). Bodies are compact JSON, what GitHub puts on the wire;
each request gets a fresh ``X-GitHub-Delivery``.
"""

from __future__ import annotations

import csv
import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from chalicelib.core.classify import priority_for
from chalicelib.core.signature import sign
from spillway.paths import ROOT, SAMPLES

CANDIDATE_CORPORA = (
    ROOT.parent / "shared" / "github-webhooks",
    SAMPLES,
)


@dataclass(frozen=True)
class Delivery:
    """One corpus payload: ``event`` (``X-GitHub-Event``), ``priority`` (the queue the edge
    will pick), ``source`` (file) and ``body`` (compact JSON bytes, signed as is)."""

    event: str
    priority: str
    source: str
    body: bytes


def find_corpus(env: Mapping[str, str] | None = None) -> Path:
    """The corpus folder (one holding ``MANIFEST.tsv``); ``FileNotFoundError`` if none."""
    env = os.environ if env is None else env
    candidates = [Path(env["LOADTEST_CORPUS"])] if env.get("LOADTEST_CORPUS") else []
    for folder in [*candidates, *CANDIDATE_CORPORA]:
        if (folder / "MANIFEST.tsv").is_file():
            return folder
    raise FileNotFoundError("no payload corpus with a MANIFEST.tsv (set LOADTEST_CORPUS)")


def load_corpus(folder: Path) -> list[Delivery]:
    """Every payload listed in ``folder/MANIFEST.tsv``, in manifest order. Raises ``ValueError``
    naming a listed file that is not JSON."""
    out = []
    with (folder / "MANIFEST.tsv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            path = folder / row["path"]
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ValueError(f"{path}: not a JSON payload ({exc})") from None
            body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            out.append(Delivery(event=row["event"],
                                priority=priority_for(row["event"], row.get("action") or None),
                                source=row["path"], body=body))
    return out


def by_priority(deliveries: list[Delivery]) -> dict[str, list[Delivery]]:
    """Deliveries grouped by priority (only priorities that occur)."""
    groups: dict[str, list[Delivery]] = {}
    for d in deliveries:
        groups.setdefault(d.priority, []).append(d)
    return groups


def signed_headers(delivery: Delivery, secret: str, hook_id: str) -> dict[str, str]:
    """Request headers GitHub would send: a fresh ``X-GitHub-Delivery`` GUID every call, and
    ``X-Hub-Signature-256`` over ``delivery.body``."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/spillway-loadtest",
        "X-GitHub-Event": delivery.event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-GitHub-Hook-ID": hook_id,
        "X-Hub-Signature-256": sign(secret, delivery.body),
    }

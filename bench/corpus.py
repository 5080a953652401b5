"""The deliveries every benchmark of ``make bench`` runs on: the real GitHub payload corpus,
signed as GitHub signs them.

The corpus is ``SPILLWAY_CORPUS`` if set, else ``../shared/github-webhooks`` beside the
repository (a fresh clone, CI), else ``/work/shared/github-webhooks`` (a git worktree elsewhere,
as tests/corpus.py looks), else the subset bundled in ``spillway/samples`` (same layout).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from chalicelib.core.signature import sign
from spillway.replay import iter_payloads

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "spillway" / "samples"
#: The webhook secret the benchmarks sign with (and configure the edge with).
SECRET = "bench-secret"
HOOK_ID = "4242"


def corpus_path() -> Path:
    """The corpus folder (see the module docstring)."""
    for candidate in (os.environ.get("SPILLWAY_CORPUS"), ROOT.parent / "shared" / "github-webhooks",
                      "/work/shared/github-webhooks"):
        if candidate and (Path(candidate) / "MANIFEST.tsv").is_file():
            return Path(candidate)
    return SAMPLES


@dataclass(frozen=True)
class SignedDelivery:
    """One delivery as it arrives at the edge: ``headers`` and the raw ``body`` bytes."""

    event: str
    headers: dict[str, str]
    body: bytes


def deliveries(path: Path | None = None, *, secret: str = SECRET) -> list[SignedDelivery]:
    """Every payload of the corpus at ``path`` (default :func:`corpus_path`) as a signed
    delivery with a fresh ``X-GitHub-Delivery`` GUID. Raises ValueError if there is none."""
    out = []
    for payload in iter_payloads([path or corpus_path()]):
        headers = {"Content-Type": "application/json", "X-GitHub-Event": payload.event,
                   "X-GitHub-Delivery": str(uuid.uuid4()), "X-GitHub-Hook-ID": HOOK_ID,
                   "X-Hub-Signature-256": sign(secret, payload.body),
                   "User-Agent": "GitHub-Hookshot/bench"}
        out.append(SignedDelivery(payload.event, headers, payload.body))
    if not out:
        raise ValueError(f"no payloads under {path or corpus_path()}")
    return out


def renamed(delivery: SignedDelivery) -> SignedDelivery:
    """``delivery`` with a new ``X-GitHub-Delivery`` GUID (same signed body), so it is not a
    duplicate of an earlier send."""
    return SignedDelivery(delivery.event,
                          {**delivery.headers, "X-GitHub-Delivery": str(uuid.uuid4())},
                          delivery.body)

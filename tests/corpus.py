"""Where the real GitHub payload corpus is, for every test that reads it.

Looked up in order: ``SPILLWAY_CORPUS``; ``../shared/github-webhooks`` beside the repository
(how CI and a fresh clone lay it out); ``/work/shared/github-webhooks``. When none exists the
tests fall back to the subset bundled in ``spillway/samples`` (same layout and MANIFEST.tsv),
so they never pass by skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

from spillway.paths import ROOT, SAMPLES


def find_corpus() -> Path:
    candidates = [os.environ.get("SPILLWAY_CORPUS"), ROOT.parent / "shared" / "github-webhooks",
                  Path("/work/shared/github-webhooks")]
    for candidate in candidates:
        if candidate and (Path(candidate) / "MANIFEST.tsv").is_file():
            return Path(candidate)
    return SAMPLES


CORPUS = find_corpus()

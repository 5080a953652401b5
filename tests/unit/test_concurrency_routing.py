"""The target router on the real payload corpus, and its rules at their edges."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pytest

from chalicelib.core.concurrency.routing import (
    BATCH,
    HEAVY,
    HEAVY_BODY_BYTES,
    HEAVY_PUSH_COMMITS,
    LIGHT,
    items_of,
    route,
)
from tests.corpus import CORPUS


def _corpus():
    with (CORPUS / "MANIFEST.tsv").open() as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    out = []
    for row in rows:
        payload = json.loads((CORPUS / row["path"]).read_bytes())
        items = items_of(row["event"], payload) if isinstance(payload, dict) else 0
        out.append((row["event"], row["action"] or None, int(row["bytes"]), items))
    return out


ROWS = _corpus()


def _split(rows, scale=1.0):
    counts = Counter(route(e, a, int(b * scale), i) for e, a, b, i in rows)
    return {target: counts[target] / len(rows) for target in (LIGHT, HEAVY, BATCH)}


def test_each_target_gets_a_non_trivial_share_of_the_corpus():
    split = _split(ROWS)
    assert all(share >= 0.05 for share in split.values()), split
    assert split[LIGHT] > 0.5, split  # most deliveries stay on the cheap worker


def test_the_split_is_stable_under_payload_growth_and_order():
    assert _split(ROWS, scale=2.0) == _split(ROWS)  # twice the size: same routes
    assert _split(list(reversed(ROWS))) == _split(ROWS)


def test_a_one_kilobyte_rule_would_route_nothing_light():
    assert min(b for _, _, b, _ in ROWS) > 900
    assert max(b for _, _, b, _ in ROWS) < HEAVY_BODY_BYTES / 2


def test_rules_at_their_edges():
    assert route("push", None, 8000, HEAVY_PUSH_COMMITS) == LIGHT
    assert route("push", None, 8000, HEAVY_PUSH_COMMITS + 1) == HEAVY
    assert route("issues", "opened", HEAVY_BODY_BYTES) == LIGHT
    assert route("issues", "opened", HEAVY_BODY_BYTES + 1) == HEAVY
    assert route("check_run", "completed", HEAVY_BODY_BYTES + 1) == HEAVY
    assert route("check_run", "completed", 9000) == BATCH
    assert route("workflow_run", "completed", 2000) == HEAVY
    assert route("installation_repositories", "added", 3000, 1) == BATCH
    assert route("some_future_event", None, 5000) == LIGHT
    with pytest.raises(ValueError):
        route("push", None, -1)


def test_items_of_never_raises_on_a_payload():
    assert items_of("push", {"commits": [{}, {}]}) == 2
    assert items_of("push", {"commits": "many"}) == 0
    assert items_of("installation_repositories",
                    {"repositories_added": [1, 2], "repositories_removed": [3]}) == 3
    assert items_of("issues", {"commits": [1]}) == 0

"""Pure tests of chalicelib.core.normalize: sanitize and normalize never raise, keep keys typed."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.appdb import REPLACEMENT, sanitize
from chalicelib.core.normalize import KEYS, NormalizedRows, normalize
from tests.corpus import CORPUS, SAMPLES


def corpus() -> list[tuple[str, str, dict]]:
    if not (CORPUS / "MANIFEST.tsv").exists():
        return []
    with open(CORPUS / "MANIFEST.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [(r["path"], r["event"], json.loads((CORPUS / r["path"]).read_text("utf-8")))
            for r in rows]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)


# --- sanitize -----------------------------------------------------------------------------------
def test_sanitize_replaces_nul_in_values_and_keys():
    clean, changed = sanitize({"a\x00b": ["x\x00", {"k": "\x00"}], "ok": 1})
    assert changed
    assert clean == {f"a{REPLACEMENT}b": [f"x{REPLACEMENT}", {"k": REPLACEMENT}], "ok": 1}


def test_sanitize_replaces_lone_surrogates_from_json():
    payload = json.loads('{"t": "a\\ud800b", "\\udfff": "\\ud83d\\ude00"}')
    clean, changed = sanitize(payload)
    assert changed
    assert clean == {"t": f"a{REPLACEMENT}b", REPLACEMENT: "\U0001f600"}
    json.dumps(clean, ensure_ascii=False).encode("utf-8")  # encodable now


def test_sanitize_returns_same_object_when_clean():
    payload = {"title": "héllo 世界 🎉", "n": [1, 2.5, None, True]}
    clean, changed = sanitize(payload)
    assert clean is payload and not changed


def test_sanitize_survives_hostile_depth():
    deep: list = ["\x00"]
    for _ in range(100_000):
        deep = [deep]
    clean, changed = sanitize({"d": deep})
    assert changed
    node = clean["d"]
    for _ in range(100_000):
        node = node[0]
    assert node == [REPLACEMENT]


@given(json_values)
@settings(max_examples=200, deadline=None)
def test_sanitize_output_is_utf8_and_nul_free(value):
    clean, _ = sanitize(value)
    text = json.dumps(clean, ensure_ascii=False)
    text.encode("utf-8")
    assert "\x00" not in text and "\\u0000" not in text


# --- normalize ----------------------------------------------------------------------------------
def _check_rows(rows: NormalizedRows) -> None:
    for table, table_rows in rows.tables():
        keys = [tuple(r[c] for c in KEYS[table]) for r in table_rows]
        assert len(keys) == len(set(keys)), table
        assert all(part is not None for key in keys for part in key)
        assert len({tuple(r) for r in table_rows}) == 1, f"{table}: rows differ in columns"


@pytest.mark.parametrize("path,event,payload", corpus(), ids=lambda v: v if isinstance(v, str)
                         else "")
def test_normalize_every_corpus_payload(path, event, payload):
    rows = normalize(event, payload)
    _check_rows(rows)
    if isinstance(payload.get("repository"), dict):
        assert rows.repositories[0]["id"] == payload["repository"]["id"]
    if isinstance(payload.get("sender"), dict) and "id" in payload["sender"]:
        assert payload["sender"]["id"] in {u["id"] for u in rows.users}


def test_corpus_present():
    """The shared corpus (261 payloads) is there; with only the bundled samples (72) this
    skips with the reason, and with neither it fails."""
    payloads = corpus()
    assert payloads, f"no payloads: {CORPUS / 'MANIFEST.tsv'} is missing"
    if CORPUS == SAMPLES:
        pytest.skip(f"only the {len(payloads)} bundled samples ({SAMPLES}); the shared corpus "
                    "(../shared/github-webhooks or SPILLWAY_CORPUS) is absent")
    assert len(payloads) >= 200


def _load(path: str) -> dict:
    return json.loads((CORPUS / path).read_text("utf-8"))


def test_pull_request_rows():
    payload = _load("pull_request/opened.payload.json")
    rows = normalize("pull_request", payload)
    (pr,) = rows.pull_requests
    assert pr["id"] == payload["pull_request"]["id"]
    assert pr["number"] == payload["number"]
    assert pr["repository_id"] == payload["repository"]["id"]
    assert pr["last_action"] == "opened"
    assert pr["updated_at"].tzinfo is not None


def test_push_rows_and_epoch_timestamps():
    payload = _load("push/payload.json")
    rows = normalize("push", payload)
    (push,) = rows.pushes
    assert push["commit_count"] == len(payload["commits"]) == len(rows.commits)
    assert push["ref"] == payload["ref"]
    created = payload["repository"]["created_at"]
    if isinstance(created, int):
        assert rows.repositories[0]["created_at"] == datetime.fromtimestamp(created, tz=UTC)


def test_comment_kinds():
    kinds = {
        "issue_comment": ("issue_comment/created.1.payload.json", "issue"),
        "pull_request_review_comment": ("pull_request_review_comment/edited.payload.json",
                                        "pull_request_review"),
        "commit_comment": ("commit_comment/created.payload.json", "commit"),
        "discussion_comment": ("discussion_comment/created.payload.json", "discussion"),
    }
    for event, (path, kind) in kinds.items():
        (comment,) = normalize(event, _load(path)).comments
        assert comment["kind"] == kind
        assert isinstance(comment["user_id"], int)


def test_star_and_review():
    star = normalize("star", _load("star/created.payload.json")).stars
    assert star[0]["starred"] is True
    review = normalize("pull_request_review", _load("pull_request_review/submitted.payload.json"))
    assert review.reviews[0]["pull_request_id"] == review.pull_requests[0]["id"]


def test_unknown_event_gives_repository_and_sender_only():
    payload = _load("pull_request/opened.payload.json")
    rows = normalize("never_seen_event", payload)
    assert {t for t, _ in rows.tables()} == {"repositories", "users"}


def test_odd_types_are_skipped_not_raised():
    payload = {
        "action": 7,
        "repository": {"id": "123", "owner": None, "created_at": "not a date"},
        "sender": {"id": True, "login": "bool-id"},
        "pull_request": {"id": None, "user": None},
        "issue": ["not", "a", "dict"],
        "comment": {"id": 2**70},
        "commits": "nope",
    }
    for event in ("pull_request", "issues", "issue_comment", "push", "star", "x"):
        rows = normalize(event, payload)
        assert [r["id"] for r in rows.repositories] == [123]
        assert rows.users == () and rows.pull_requests == () and rows.comments == ()
    assert normalize("push", None) == NormalizedRows()
    assert normalize(None, [1, 2]) == NormalizedRows()  # type: ignore[arg-type]


@given(st.sampled_from(["pull_request", "issues", "issue_comment", "push", "star",
                        "pull_request_review", "discussion_comment", "zzz"]),
       st.dictionaries(st.sampled_from(["repository", "sender", "pull_request", "issue",
                                        "comment", "review", "commits", "ref", "before",
                                        "after", "discussion", "action", "organization"]),
                       json_values, max_size=8))
@settings(max_examples=300, deadline=None)
def test_normalize_never_raises(event, payload):
    _check_rows(normalize(event, payload))

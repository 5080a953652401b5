"""classify: the table is total, the analytics choices hold, every corpus event classifies."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.core.classify import (
    ACTION_OVERRIDES,
    BATCH_EVENTS,
    HEAVY_BODY_BYTES,
    PRIORITY_BY_EVENT,
    TARGETS,
    Classification,
    classify,
)
from chalicelib.core.concurrency.routing import HEAVY_EVENTS, HEAVY_PUSH_COMMITS, route
from chalicelib.ports import PRIORITIES
from tests.corpus import CORPUS

MANIFEST = CORPUS / "MANIFEST.tsv"


def corpus_event_actions() -> set[tuple[str, str | None]]:
    if not MANIFEST.is_file():
        pytest.skip(f"corpus manifest not found at {MANIFEST} (set SPILLWAY_CORPUS)")
    rows = [line.split("\t") for line in MANIFEST.read_text("utf-8").splitlines()[1:]]
    return {(event, action or None) for _path, event, action, *_ in rows}


def test_the_table_is_total_and_consistent():
    assert set(PRIORITY_BY_EVENT.values()) <= set(PRIORITIES)
    assert set(ACTION_OVERRIDES.values()) <= set(PRIORITIES)
    # an override must refine an event the table names, and must change something
    for (event, action), priority in ACTION_OVERRIDES.items():
        assert event in PRIORITY_BY_EVENT, (event, action)
        assert priority != PRIORITY_BY_EVENT[event], (event, action)
    # the router's event sets name events the priority table knows (none falls to the default
    # by a typo)
    assert (BATCH_EVENTS | HEAVY_EVENTS) - {"package", "registry_package",
                                            "code_scanning_alert", "repository_import"} \
        <= set(PRIORITY_BY_EVENT)


def test_every_corpus_event_classifies():
    pairs = corpus_event_actions()
    assert len({event for event, _ in pairs}) >= 50
    for event, action in pairs:
        result = classify(event, action, 10_000)
        assert result.priority in PRIORITIES and result.target in TARGETS, (event, action)


#: Expected (priority, target) -> the (event, action) pairs classified so.
ANALYTICS_CHOICES = {
    ("high", "light"): [
        ("push", None), ("pull_request", "opened"), ("pull_request", "closed"),
        ("pull_request", "synchronize"), ("pull_request_review", "submitted"),
        ("pull_request_review_comment", "created"), ("pull_request_review_thread", "resolved"),
        ("issues", "opened"), ("issue_comment", "created"),
    ],
    ("medium", "light"): [
        ("pull_request", "labeled"), ("pull_request", "unlabeled"), ("pull_request", "assigned"),
        ("issues", "labeled"), ("release", "published"), ("star", "created"),
        ("discussion", "created"),
    ],
    ("low", "light"): [
        ("discussion", "pinned"), ("ping", None), ("deployment", "created"),
        ("sponsorship", "created"),
    ],
    ("low", "batch"): [
        ("check_run", "completed"), ("status", None),
        ("workflow_job", "queued"), ("deployment_status", "created"),
    ],
    ("medium", "batch"): [
        ("installation", "created"), ("installation_repositories", "added"),
    ],
    ("low", "heavy"): [
        ("check_suite", "requested"), ("workflow_run", "completed"),
    ],
}

#: Expected queue of each (priority, target) above: light to its priority queue, else the
#: target's own queue.
QUEUE_OF = {("high", "light"): "high", ("medium", "light"): "medium",
            ("low", "light"): "low", ("low", "batch"): "batch", ("medium", "batch"): "batch",
            ("low", "heavy"): "heavy"}


@pytest.mark.parametrize(
    ("event", "action", "expected"),
    [(event, action, Classification(*expected))
     for expected, pairs in ANALYTICS_CHOICES.items() for event, action in pairs],
)
def test_analytics_choices(event, action, expected):
    result = classify(event, action, 1_000)
    assert result == expected
    assert result.queue == QUEUE_OF[(result.priority, result.target)]


@pytest.mark.parametrize("event", ["some_future_event", "", "PUSH", "pull_request.extra"])
def test_unknown_events_are_low_and_light(event):
    assert classify(event, "opened", 100) == Classification("low", "light")


def test_an_action_without_an_override_keeps_the_event_priority():
    assert classify("pull_request", "some_new_action", 100).priority == "high"
    assert classify("label", "labeled", 100).priority == "medium"  # overrides are per event


def test_heavy_is_by_size_and_wins_over_batch():
    assert classify("push", None, HEAVY_BODY_BYTES).target == "light"
    assert classify("push", None, HEAVY_BODY_BYTES + 1) == Classification("high", "heavy")
    assert classify("check_run", "completed", HEAVY_BODY_BYTES + 1).target == "heavy"
    assert classify("unknown", None, 25 * 10**6) == Classification("low", "heavy")


def test_a_push_with_many_commits_is_heavy_and_keeps_its_priority():
    assert classify("push", None, 5_000, HEAVY_PUSH_COMMITS).queue == "high"
    many = classify("push", None, 5_000, HEAVY_PUSH_COMMITS + 1)
    assert many == Classification("high", "heavy") and many.queue == "heavy"


def test_negative_size_is_a_programming_error():
    with pytest.raises(ValueError):
        classify("push", None, -1)


@given(event=st.text(max_size=120), action=st.none() | st.text(max_size=120),
       body_bytes=st.integers(0, 10**9))
def test_classify_is_total(event, action, body_bytes):
    result = classify(event, action, body_bytes)
    assert result.priority in PRIORITIES
    assert result.target in TARGETS
    # one rule set: the router's
    assert result.target == route(event, action, body_bytes)
    assert (result.target == "heavy") == (body_bytes > HEAVY_BODY_BYTES
                                          or event in HEAVY_EVENTS)
    if event not in PRIORITY_BY_EVENT:
        assert result.priority == "low"

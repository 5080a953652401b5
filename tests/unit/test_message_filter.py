"""The redrive filter (pure) and the audited verbs' flag parsing: which dead letters a
``--event``/``--since``/``--error`` filter takes, rates and ``--since`` values."""

from __future__ import annotations

import argparse

import pytest

from chalicelib.ports import MessageFilter
from spillway.commands.audited import Since, parse_rate

T = 1_800_000_000.0
ISSUE = {"event": "issues", "error": "OperationalError: connection refused"}


@pytest.mark.parametrize("match, attributes, sent_at, taken", [
    (MessageFilter(), {}, T, True),
    (MessageFilter(event="issues"), ISSUE, T, True),
    (MessageFilter(event="issue"), ISSUE, T, False),          # exact event name, no prefix
    (MessageFilter(event="issues"), {}, T, False),
    (MessageFilter(since=T), ISSUE, T, True),                 # at the instant: taken
    (MessageFilter(since=T + 0.001), ISSUE, T, False),
    (MessageFilter(error="CONNECTION refused"), ISSUE, T, True),
    (MessageFilter(error="timeout"), ISSUE, T, False),
    (MessageFilter(error="refused"), {"event": "issues"}, T, False),  # no reason recorded
    (MessageFilter(event="issues", since=T - 60, error="operational"), ISSUE, T, True),
    (MessageFilter(event="push", since=T - 60, error="operational"), ISSUE, T, False),
    (MessageFilter(error="É"), {"error": "é"}, T, False),    # ASCII case folding only, as SQL
])
def test_filter_takes_what_every_criterion_allows(match, attributes, sent_at, taken):
    assert match.matches(attributes, sent_at) is taken


def test_filter_dict_has_only_the_criteria_set():
    assert MessageFilter().to_dict() == {} and MessageFilter().is_empty
    assert MessageFilter(event="push", since=T).to_dict() == {"event": "push", "since": T}


@pytest.mark.parametrize("text, rate", [("5/s", 5.0), ("5", 5.0), ("120/m", 2.0),
                                        ("0.5/s", 0.5), ("7200/h", 2.0)])
def test_rates(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["fast", "0/s", "-1", "5/week", "inf", "nan"])
def test_bad_rates_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_rate(text)


def test_since_is_a_duration_back_from_now_or_an_instant():
    assert Since("2h").at(T) == T - 7200
    assert Since("90").at(T) == T - 90
    assert Since("2027-01-15T08:00:00Z").at(T) == Since("2027-01-15T08:00:00").at(0)
    assert Since("2027-01-15T09:00:00+01:00").at(T) == Since("2027-01-15T08:00:00Z").at(T)
    with pytest.raises(argparse.ArgumentTypeError, match="bad --since"):
        Since("last tuesday")

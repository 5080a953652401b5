"""``EDGE_DEADLINE_S``: validated once in settings, and the edge's per-call timeouts fit in it."""

from __future__ import annotations

import pytest

from chalicelib.edge import EDGE_DEPENDENCY_CALLS, call_timeouts
from chalicelib.errors import ConfigError
from chalicelib.settings import DEFAULT_EDGE_DEADLINE_S, Settings


def test_default_deadline_is_five_seconds_under_githubs_ten():
    assert Settings.from_env({}).edge_deadline_s == DEFAULT_EDGE_DEADLINE_S == 5.0


def test_deadline_is_read_as_seconds():
    assert Settings.from_env({"EDGE_DEADLINE_S": "2.5"}).edge_deadline_s == 2.5


@pytest.mark.parametrize("raw", ["0", "0.5", "10", "9.5", "nan", "-1", "five", "inf"])
def test_bad_deadline_names_the_key(raw):
    with pytest.raises(ConfigError, match="EDGE_DEADLINE_S"):
        Settings.from_env({"EDGE_DEADLINE_S": raw})


@pytest.mark.parametrize("deadline_s", [1.0, 2.5, 5.0, 9.0])
def test_every_call_timing_out_still_ends_within_the_deadline(deadline_s):
    connect_s, read_s = call_timeouts(deadline_s)
    assert 0 < connect_s < read_s
    assert EDGE_DEPENDENCY_CALLS * (connect_s + read_s) == pytest.approx(deadline_s)

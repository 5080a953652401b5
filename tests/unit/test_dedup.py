"""The pure half of the edge's dedup records (:mod:`chalicelib.dedup`): the record id's fast
path is the JSON dump it stands for, and each stored state maps to one verdict."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.dedup import (
    COMPLETED,
    DUPLICATE,
    IN_PROGRESS,
    INPROGRESS,
    NEW,
    RESEND,
    REUSED,
    Claim,
    Prior,
    fingerprint,
    record_id,
    takeover_allowed,
    verdict,
)

NOW = 1_900_000_000.0
MINE, OTHER = fingerprint("a" * 64), fingerprint("b" * 64)


@given(hook=st.text(max_size=30), guid=st.text(max_size=40))
def test_record_id_is_the_md5_of_the_sorted_json_dump(hook, guid):
    text = json.dumps({"hook_id": hook, "delivery_id": guid}, sort_keys=True)
    assert record_id(hook, guid) == "delivery#" + hashlib.md5(text.encode()).hexdigest()


@given(sha=st.text(max_size=70))
def test_fingerprint_is_the_md5_of_the_json_string(sha):
    assert fingerprint(sha) == hashlib.md5(json.dumps(sha).encode()).hexdigest()


def prior(status: str = INPROGRESS, *, expires_in: float = 3600, window_in: float | None = 5,
          validation: str = MINE) -> Prior:
    return Prior(status=status, expiration=int(NOW + expires_in),
                 in_progress_expiration=None if window_in is None else int(
                     (NOW + window_in) * 1000), validation=validation)


@pytest.mark.parametrize(("claim", "expected"), [
    (Claim(True, None), NEW),
    (Claim(True, prior(expires_in=-10)), NEW),  # an expired record counts as absent
    (Claim(True, prior(window_in=-1)), RESEND),  # the writer may have died before its send
    (Claim(False, prior()), IN_PROGRESS),
    (Claim(False, None), IN_PROGRESS),  # lost a race the store did not describe
    (Claim(False, prior(validation=OTHER)), REUSED),
    (Claim(False, prior(window_in=-1, validation=OTHER)), REUSED),
    (Claim(False, prior(COMPLETED, window_in=None)), DUPLICATE),
    (Claim(False, prior(COMPLETED, window_in=None, validation="")), REUSED),  # no fingerprint
], ids=["absent", "expired", "window-over", "in-window", "race", "other-payload",
        "other-payload-later", "completed", "completed-unfingerprinted"])
def test_verdicts(claim, expected):
    assert verdict(claim, MINE, NOW) == expected


def test_takeover_needs_expiry_or_a_finished_window_with_the_same_payload():
    assert takeover_allowed(prior(expires_in=-1, validation=OTHER), MINE, NOW)
    assert takeover_allowed(prior(window_in=-1), MINE, NOW)
    assert not takeover_allowed(prior(window_in=-1, validation=OTHER), MINE, NOW)
    assert not takeover_allowed(prior(), MINE, NOW)
    assert not takeover_allowed(prior(COMPLETED, window_in=None), MINE, NOW)

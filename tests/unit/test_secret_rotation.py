"""Webhook secret rotation, pure: a tuple of secrets verifies a delivery signed with any of
them (GitHub's docs vector among them), the previous secret is accepted only inside its window,
and the settings that open the window are validated once, naming their key."""

from __future__ import annotations

import pytest

from chalicelib.core.signature import accepted_secrets, sign, verify_signature
from chalicelib.errors import ConfigError, SignatureInvalid
from chalicelib.settings import Settings
from tests.unit.test_signature import DOCS_BODY, DOCS_SECRET, DOCS_SIGNATURE

NEW, OLD = "new-secret", "old-secret"
T = 1_764_700_000.0


def test_either_secret_of_the_tuple_verifies():
    verify_signature((NEW, DOCS_SECRET), DOCS_BODY, DOCS_SIGNATURE)  # the old one matches
    verify_signature([DOCS_SECRET, NEW], DOCS_BODY, DOCS_SIGNATURE)
    verify_signature((NEW, OLD), b"x", sign(NEW, b"x"))
    verify_signature((NEW, OLD.encode()), b"x", sign(OLD, b"x"))


def test_a_signature_of_neither_is_refused():
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_signature((NEW, OLD), b"x", sign("third", b"x"))
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_signature((NEW, OLD), b"x", "sha256=" + "0" * 64)
    with pytest.raises(SignatureInvalid, match="hexadecimal"):
        verify_signature((NEW, OLD), b"x", "sha256=" + "z" * 64)


def test_an_empty_secret_or_none_at_all_is_a_configuration_error():
    with pytest.raises(ConfigError):
        verify_signature((NEW, ""), b"x", sign(NEW, b"x"))
    with pytest.raises(ConfigError):
        verify_signature((), b"x", sign(NEW, b"x"))


@pytest.mark.parametrize("previous, until, now, expected", [
    (None, None, T, (NEW,)),                 # no rotation
    (OLD, None, T, (NEW, OLD)),              # a window with no end: until cleared by hand
    (OLD, T + 60, T, (NEW, OLD)),            # inside the window
    (OLD, T + 60, T + 59.999, (NEW, OLD)),
    (OLD, T + 60, T + 60, (NEW,)),           # the expiry instant itself is outside
    (OLD, T + 60, T + 3600, (NEW,)),         # after it
    (NEW, None, T, (NEW,)),                  # step 1 of the procedure: previous = current
])
def test_previous_secret_is_accepted_only_inside_its_window(previous, until, now, expected):
    assert accepted_secrets(NEW, previous, until, now=now) == expected


def test_old_signature_verifies_inside_the_window_and_not_after():
    header = sign(OLD, b"body")
    verify_signature(accepted_secrets(NEW, OLD, T + 60, now=T), b"body", header)
    with pytest.raises(SignatureInvalid):
        verify_signature(accepted_secrets(NEW, OLD, T + 60, now=T + 61), b"body", header)


def test_rotation_settings_are_read_and_validated():
    s = Settings.from_env({"GITHUB_WEBHOOK_SECRET": NEW, "GITHUB_WEBHOOK_SECRET_PREVIOUS": OLD,
                           "GITHUB_WEBHOOK_SECRET_PREVIOUS_UNTIL": "2026-12-02T18:00:00Z"})
    assert (s.webhook_secret, s.webhook_secret_previous) == (NEW, OLD)
    assert s.webhook_secret_previous_until == 1_796_234_400.0  # date -d 2026-12-02T18:00Z +%s
    naive = Settings.from_env({"GITHUB_WEBHOOK_SECRET_PREVIOUS_PARAM": "/p/prev",
                               "GITHUB_WEBHOOK_SECRET_PREVIOUS_UNTIL": "2026-12-02T18:00:00"})
    assert naive.webhook_secret_previous_until == s.webhook_secret_previous_until  # UTC
    epoch = Settings.from_env({"GITHUB_WEBHOOK_SECRET_PREVIOUS": OLD,
                               "GITHUB_WEBHOOK_SECRET_PREVIOUS_UNTIL": str(T)})
    assert epoch.webhook_secret_previous_until == T
    assert Settings.from_env({}).webhook_secret_previous_until is None


@pytest.mark.parametrize("env, message", [
    ({"GITHUB_WEBHOOK_SECRET_PREVIOUS": OLD, "GITHUB_WEBHOOK_SECRET_PREVIOUS_UNTIL": "soon"},
     "GITHUB_WEBHOOK_SECRET_PREVIOUS_UNTIL must be an ISO 8601 instant"),
    ({"GITHUB_WEBHOOK_SECRET_PREVIOUS_UNTIL": "2026-12-02T18:00:00Z"},
     "GITHUB_WEBHOOK_SECRET_PREVIOUS_UNTIL is set but there is no previous secret"),
])
def test_bad_rotation_settings_name_their_key(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)

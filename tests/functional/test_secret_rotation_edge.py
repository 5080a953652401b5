"""Secret rotation through the real edge route (``chalice.test.Client``, each backend): during
the window a delivery signed with the previous secret is accepted and queued, after its expiry
it is refused with 401; the new secret always works; garbage is 401. On AWS the previous
secret comes from its own SSM parameter (moto server), and a deleted one closes the window
without failing the edge."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.functional.conftest import SECRET, sign

BODY = b'{"action":"opened","issue":{"number":7}}'
OLD = "the-secret-before-rotation"


def _post(edge, secret: str | None, signature: str | None = None):
    return edge.post(BODY, signature=signature or sign(BODY, secret))


def test_old_secret_accepted_inside_the_window_refused_after(edge):
    edge.configure(GITHUB_WEBHOOK_SECRET_PREVIOUS=OLD,
                   GITHUB_WEBHOOK_SECRET_PREVIOUS_UNTIL=str(time.time() + 3600))
    inside = _post(edge, OLD)
    assert inside.status == 202, inside.body
    assert _post(edge, SECRET).status == 202
    assert edge.depths()["high"] == 2
    edge.configure(GITHUB_WEBHOOK_SECRET_PREVIOUS_UNTIL=str(time.time() - 1))
    after = _post(edge, OLD)
    assert after.status == 401 and after.body["error"] == "invalid_signature", after.body
    assert _post(edge, SECRET).status == 202
    assert _post(edge, None, signature="sha256=" + "ab" * 32).status == 401
    assert _post(edge, None, signature="garbage").status == 401
    assert edge.depths()["high"] == 3


def test_without_a_previous_secret_only_the_current_one_is_accepted(edge):
    assert _post(edge, OLD).status == 401
    assert _post(edge, SECRET).status == 202


def test_previous_secret_from_ssm_and_a_deleted_parameter_closes_the_window(edge):
    if edge.backend != "aws":
        pytest.skip("the SSM parameter is the AWS deployment's; the variable is tested above")
    from chalicelib import wiring

    name = f"/spillway/test/previous-{uuid.uuid4().hex[:8]}"
    ssm = wiring.boto_client("ssm")
    ssm.put_parameter(Name=name, Value=OLD, Type="SecureString")
    edge.configure(GITHUB_WEBHOOK_SECRET_PREVIOUS_PARAM=name)
    assert _post(edge, OLD).status == 202
    missing = f"/spillway/test/deleted-{uuid.uuid4().hex[:8]}"
    edge.configure(GITHUB_WEBHOOK_SECRET_PREVIOUS_PARAM=missing)
    assert _post(edge, OLD).status == 401  # not a 503: the current secret still answers
    assert _post(edge, SECRET).status == 202

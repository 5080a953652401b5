"""X-Hub-Signature-256: GitHub's docs vector, every malformed header, sign/verify properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.core.signature import sign, verify_signature
from chalicelib.errors import ConfigError, SignatureInvalid

# GitHub Docs, "Validating webhook deliveries", "Testing the webhook payload validation".
DOCS_SECRET = "It's a Secret to Everybody"
DOCS_BODY = b"Hello, World!"
DOCS_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_docs_vector_signs():
    assert sign(DOCS_SECRET, DOCS_BODY) == DOCS_SIGNATURE
    assert sign(DOCS_SECRET.encode("utf-8"), DOCS_BODY) == DOCS_SIGNATURE


def test_docs_vector_verifies():
    verify_signature(DOCS_SECRET, DOCS_BODY, DOCS_SIGNATURE)
    verify_signature(DOCS_SECRET.encode(), DOCS_BODY, DOCS_SIGNATURE)


def test_uppercase_hex_and_surrounding_spaces_are_accepted():
    verify_signature(DOCS_SECRET, DOCS_BODY, DOCS_SIGNATURE.upper())
    verify_signature(DOCS_SECRET, DOCS_BODY, f"  {DOCS_SIGNATURE}\t")


def test_unicode_secret_is_utf8_encoded():
    import hashlib
    import hmac

    secret = "clé-🔑"
    expected = hmac.new(secret.encode("utf-8"), b"x", hashlib.sha256).hexdigest()
    assert sign(secret, b"x") == "sha256=" + expected


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing"),
        ("", "missing"),
        ("   ", "missing"),
        ("sha1=" + "0" * 40, "must start with 'sha256='"),
        ("757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", "must start"),
        ("sha256=", "64 hex digits, got 0"),
        (DOCS_SIGNATURE[:-1], "64 hex digits, got 63"),
        (DOCS_SIGNATURE + "0", "64 hex digits, got 65"),
        ("sha256=" + "g" * 64, "not hexadecimal"),
        ("sha256=" + "0x" + "0" * 62, "not hexadecimal"),
        ("sha256=" + "é" * 64, "non-ASCII"),
        ("sha256=" + "０" * 64, "non-ASCII"),  # fullwidth digits: str.isdigit() would say yes
        ("sha256=" + "0" * 64, "does not match"),
    ],
)
def test_bad_headers_are_rejected_with_a_clear_message(header, message):
    with pytest.raises(SignatureInvalid, match=message) as info:
        verify_signature(DOCS_SECRET, DOCS_BODY, header)
    assert info.value.status == 401


def test_wrong_secret_is_rejected():
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_signature("another secret", DOCS_BODY, DOCS_SIGNATURE)


def test_empty_secret_is_a_configuration_error():
    with pytest.raises(ConfigError):
        sign("", DOCS_BODY)
    with pytest.raises(ConfigError):
        verify_signature(b"", DOCS_BODY, DOCS_SIGNATURE)


secrets = st.one_of(st.text(min_size=1), st.binary(min_size=1))


@given(secret=secrets, body=st.binary())
def test_sign_then_verify_roundtrips(secret, body):
    signature = sign(secret, body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert signature == signature.lower()
    verify_signature(secret, body, signature)


@given(secret=secrets, body=st.binary(min_size=1), data=st.data())
def test_any_flipped_byte_of_the_body_fails(secret, body, data):
    signature = sign(secret, body)
    index = data.draw(st.integers(0, len(body) - 1), label="index")
    mask = data.draw(st.integers(1, 255), label="mask")
    tampered = bytearray(body)
    tampered[index] ^= mask
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_signature(secret, bytes(tampered), signature)


@given(secret=secrets, body=st.binary(), extra=st.binary(min_size=1, max_size=4))
def test_appended_bytes_fail(secret, body, extra):
    with pytest.raises(SignatureInvalid):
        verify_signature(secret, body + extra, sign(secret, body))

"""HMAC-SHA256 webhook signatures (``X-Hub-Signature-256``), pure and constant-time.

GitHub signs the *raw request body bytes* with the hook's secret and sends
``X-Hub-Signature-256: sha256=<64 lowercase hex>`` (GitHub Docs, "Validating webhook
deliveries"). We verify those exact bytes, before any parsing, and compare digests with
:func:`hmac.compare_digest`. A ``str`` secret is UTF-8 encoded, as GitHub does.

Rotation: GitHub holds one secret per hook, so deliveries signed with the old secret keep
arriving until the hook is updated (and redeliveries of older deliveries are signed with the
secret the hook has when redelivered). :func:`verify_signature` therefore takes a tuple of
secrets (current first), and :func:`accepted_secrets` says which are accepted at an instant:
the previous one only until its expiry.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from chalicelib.errors import ConfigError, SignatureInvalid

#: The only scheme GitHub uses in ``X-Hub-Signature-256`` ("always starts with sha256=").
PREFIX = "sha256="
_HEX_DIGITS = frozenset("0123456789abcdef")
_DIGEST_HEX_LEN = 2 * hashlib.sha256().digest_size  # 64


def _key(secret: str | bytes) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if not key:
        # An empty key signs nothing: anyone could forge deliveries. Refuse to run with it.
        raise ConfigError("the webhook secret is empty")
    return key


def sign(secret: str | bytes, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value for ``body``: ``"sha256=" + 64 lowercase hex digits``.

    Raises :class:`~chalicelib.errors.ConfigError` if ``secret`` is empty.
    """
    return PREFIX + hmac.new(_key(secret), body, hashlib.sha256).hexdigest()


Secret = str | bytes


def accepted_secrets(current: Secret, previous: Secret | None = None,
                     previous_until: float | None = None, *, now: float) -> tuple[Secret, ...]:
    """The secrets a delivery may be signed with at ``now`` (epoch s): ``current``, then
    ``previous`` while a rotation window is open (``previous`` set and ``previous_until`` None
    or later than ``now``). A previous secret equal to the current one adds nothing."""
    if previous is None or (previous_until is not None and now >= previous_until) \
            or previous == current:
        return (current,)
    return (current, previous)


def verify_signature(secret: Secret | Sequence[Secret], body: bytes,
                     header: str | None) -> None:
    """Check ``header`` (the ``X-Hub-Signature-256`` value) against ``body`` (raw bytes),
    signed with ``secret`` or, given a tuple or list of secrets (a rotation window, see
    :func:`accepted_secrets`), with any of them.

    Returns None when the signature matches. Every secret is tried, each comparison
    constant-time, so the answer's timing does not tell which one matched. Hex digits are
    accepted in either case and the ``sha256=`` prefix case-insensitively; surrounding
    spaces/tabs are ignored.

    Raises :class:`~chalicelib.errors.SignatureInvalid` (HTTP 401) when the header is missing
    or empty, contains non-ASCII characters, lacks the ``sha256=`` prefix, is not 64 hex
    digits, or does not match any secret. Raises :class:`~chalicelib.errors.ConfigError` if a
    secret is empty or none is given.
    """
    candidates = (secret,) if isinstance(secret, (str, bytes, bytearray)) else tuple(secret)
    if not candidates:
        raise ConfigError("no webhook secret given")
    keys = [_key(s) for s in candidates]
    if header is None or not header.strip(" \t"):
        raise SignatureInvalid("X-Hub-Signature-256 header is missing")
    if not header.isascii():
        raise SignatureInvalid("X-Hub-Signature-256 header contains non-ASCII characters")
    value = header.strip(" \t").lower()
    if not value.startswith(PREFIX):
        raise SignatureInvalid("X-Hub-Signature-256 must start with 'sha256='")
    digest = value[len(PREFIX):]
    if len(digest) != _DIGEST_HEX_LEN:
        raise SignatureInvalid(
            f"X-Hub-Signature-256 digest must be {_DIGEST_HEX_LEN} hex digits, got {len(digest)}"
        )
    if not _HEX_DIGITS.issuperset(digest):
        raise SignatureInvalid("X-Hub-Signature-256 digest is not hexadecimal")
    given = digest.encode("ascii")
    matched = False
    for key in keys:
        expected = hmac.new(key, body, hashlib.sha256).hexdigest().encode("ascii")
        matched |= hmac.compare_digest(expected, given)
    if not matched:
        raise SignatureInvalid("X-Hub-Signature-256 does not match the request body")

"""HMAC-SHA256 webhook signatures (``X-Hub-Signature-256``), pure and constant-time.

GitHub signs the *raw request body bytes* with the hook's secret and sends
``X-Hub-Signature-256: sha256=<64 lowercase hex>`` (GitHub Docs, "Validating webhook
deliveries"). We verify those exact bytes, before any parsing, and compare digests with
:func:`hmac.compare_digest`. A ``str`` secret is UTF-8 encoded, as GitHub does.
"""

from __future__ import annotations

import hashlib
import hmac

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


def verify_signature(secret: str | bytes, body: bytes, header: str | None) -> None:
    """Check ``header`` (the ``X-Hub-Signature-256`` value) against ``body`` (raw bytes).

    Returns None when the signature matches. Hex digits are accepted in either case and the
    ``sha256=`` prefix case-insensitively; surrounding spaces/tabs are ignored.

    Raises :class:`~chalicelib.errors.SignatureInvalid` (HTTP 401) when the header is missing
    or empty, contains non-ASCII characters, lacks the ``sha256=`` prefix, is not 64 hex
    digits, or does not match. Raises :class:`~chalicelib.errors.ConfigError` if ``secret`` is
    empty.
    """
    key = _key(secret)
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
    expected = hmac.new(key, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), digest.encode("ascii")):
        raise SignatureInvalid("X-Hub-Signature-256 does not match the request body")

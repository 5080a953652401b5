"""Pure normalisation of GitHub webhook payloads into application-database rows.

May import: the standard library and :mod:`chalicelib.core`; no I/O, no vendor SDKs.
"""

from chalicelib.core.normalize.handlers import (
    KEYS,
    MAX_INDEXED_BYTES,
    REPLACEMENT,
    NormalizedRows,
    normalize,
    sanitize,
)

__all__ = ["KEYS", "MAX_INDEXED_BYTES", "REPLACEMENT", "NormalizedRows", "normalize", "sanitize"]

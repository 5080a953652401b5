"""Field coercion for normalisation: total functions (never raise) turning a payload field
of any type into the value a column takes, or None.

Pure: the standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

#: PostgreSQL ``bigint`` / ``integer`` ranges; ids or counts outside them are dropped.
_BIGINT_MAX = 2**63 - 1
_INT_MAX = 2**31 - 1
#: Longest string (UTF-8 bytes) written to an indexed text column. A btree index entry holds at
#: most 2704 bytes (PostgreSQL docs, "B-Tree Indexes": 1/3 of an 8 KiB page); a longer value
#: would fail the whole transaction, ledger row included. The pushes key has three such columns
#: (``ref`` at this size, the two SHAs at :data:`MAX_SHA_BYTES`), so it stays under the limit.
MAX_INDEXED_BYTES = 1024
#: Longest commit SHA kept (bytes); real ones are 40 (SHA-1) or 64 (SHA-256) hex digits.
MAX_SHA_BYTES = 256


def as_id(value: Any) -> int | None:
    """A GitHub id as a positive bigint, from an int or a string of digits; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, int) and 0 < value <= _BIGINT_MAX:
        return value
    return None


def as_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and -_INT_MAX <= value <= _INT_MAX:
        return value
    return None


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def indexed(value: Any, max_bytes: int = MAX_INDEXED_BYTES) -> str | None:
    """A string for an indexed column: None when it is not a str or its UTF-8 form is longer
    than ``max_bytes`` (a key column then gives no row; other columns store NULL)."""
    if not isinstance(value, str) or len(value) > max_bytes:  # every character is >= 1 byte
        return None
    return value if len(value.encode("utf-8", "surrogatepass")) <= max_bytes else None


def as_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def as_ts(value: Any) -> datetime | None:
    """ISO 8601 string (``2019-05-15T15:20:40Z``) or epoch seconds (GitHub's push payloads
    give ``repository.created_at`` as an int) to an aware UTC datetime; else None."""
    try:
        if isinstance(value, str) and value:
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def as_obj(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def dig(payload: dict, *path: str) -> dict:
    current: Any = payload
    for part in path:
        current = as_obj(current).get(part)
    return as_obj(current)


def labels(value: Any) -> list[str] | None:
    if not isinstance(value, list):
        return None
    return [name for label in value if isinstance(name := as_obj(label).get("name"), str)]


def dicts(value: Any) -> Iterable[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def length(value: Any) -> int | None:
    return len(value) if isinstance(value, list) else None



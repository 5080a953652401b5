"""The rule that makes a payload storable in PostgreSQL (:func:`sanitize`).

Pure: the standard library only.
"""

from __future__ import annotations

import re
from typing import Any

#: PostgreSQL ``jsonb`` and ``text`` reject the NUL character (U+0000; PostgreSQL docs,
#: "JSON Types"), and a lone UTF-16 surrogate (which ``json.loads`` accepts from ``"\\ud800"``)
#: cannot be encoded to UTF-8. :func:`sanitize` replaces both with this character (U+FFFD).
REPLACEMENT = "\ufffd"
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")


def _clean(s: str) -> str:
    return _BAD_CHARS.sub(REPLACEMENT, s)


def _needs_cleaning(obj: Any) -> bool:
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _BAD_CHARS.search(item):
                return True
        elif isinstance(item, dict):
            for key, value in item.items():
                if isinstance(key, str) and _BAD_CHARS.search(key):
                    return True
                stack.append(value)
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def _rebuild(obj: Any) -> Any:
    """Copy ``obj`` with every string and key cleaned, iteratively (no recursion)."""
    if isinstance(obj, str):
        return _clean(obj)
    if not isinstance(obj, dict | list | tuple):
        return obj
    root: Any = {} if isinstance(obj, dict) else []
    stack: list[tuple[Any, Any]] = [(obj, root)]
    while stack:
        source, target = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, value in items:
            if isinstance(value, dict | list | tuple):
                new: Any = {} if isinstance(value, dict) else []
                stack.append((value, new))
            elif isinstance(value, str):
                new = _clean(value)
            else:
                new = value
            if isinstance(target, dict):
                target[_clean(key) if isinstance(key, str) else key] = new
            else:
                target.append(new)
    return root


def sanitize(obj: Any) -> tuple[Any, bool]:
    """Replace NUL characters and lone surrogates in every string and dict key with U+FFFD.

    Returns ``(clean, changed)``. When nothing needed replacing, ``clean`` is ``obj`` itself
    (no copy). Walks iteratively, so hostile nesting depth cannot exhaust the stack. Two keys
    that become equal after cleaning keep the later value. Tuples come back as lists (JSON).
    """
    if not _needs_cleaning(obj):
        return obj, False
    return _rebuild(obj), True

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



def _suspect(text: str) -> bool:
    """Cheap first look (substring searches, no regular expression over ASCII text): could
    this JSON text hold NUL or a surrogate, raw or as an escape? False positives are fine."""
    if "\\u" in text and ("\\u0000" in text or "\\ud" in text or "\\uD" in text):
        return True
    return not text.isascii() and _BAD_CHARS.search(text) is not None

#: Every escape of a JSON text, left to right (so ``\\`` is consumed before what follows it):
#: a surrogate pair (kept), a NUL or lone surrogate escape (replaced), any other escape (kept);
#: or a raw NUL or surrogate character (replaced).
_ESCAPES = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    r"|(\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2}))"
    r"|\\."
    r"|([\x00\ud800-\udfff])", re.DOTALL)


def sanitize_text(text: str) -> tuple[str, bool]:
    """Replace NUL and lone surrogates in a JSON document's *text* with U+FFFD, leaving every
    other character, escape and number exactly as written.

    ``text``: a JSON document (as GitHub sent it, decoded from UTF-8). Escapes ``\\u0000`` and
    lone ``\\uD800``-``\\uDFFF`` become the escape ``\\ufffd``; raw NUL or surrogate code points
    become U+FFFD; an escaped surrogate *pair* is kept. Returns ``(text, changed)``; ``text``
    itself when nothing needed replacing (a few substring searches, no parse). Parsing the
    result gives what :func:`sanitize` gives for the parsed ``text``.
    """
    if not _suspect(text):
        return text, False
    changed = False

    def fix(match: re.Match) -> str:
        nonlocal changed
        if match.group(1) is not None:
            changed = True
            return "\\ufffd"
        if match.group(2) is not None:
            changed = True
            return REPLACEMENT
        return match.group(0)

    clean = _ESCAPES.sub(fix, text)
    return clean, changed

"""Text from outside (a payload's ``action``, a repository name) made safe to print on a
terminal: control characters -- escape sequences that could retitle the window, clear the
screen or fake a line -- are shown escaped, and long text is cut with a marker."""

from __future__ import annotations


def printable(text: str, limit: int = 200) -> str:
    """``text`` with each non-printable character (``str.isprintable`` false: controls, ESC,
    CR, LF, ...) written as its Python escape (``\\x1b``), cut to ``limit`` characters with a
    final ``…`` when longer."""
    safe = text if text.isprintable() else "".join(
        c if c.isprintable() else repr(c)[1:-1] for c in text)
    return safe if len(safe) <= limit else safe[:limit - 1] + "…"

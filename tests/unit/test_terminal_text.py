"""Text from a payload printed on an operator's terminal (``spillway local``'s delivery lines,
``spillway ledger``): escape sequences are shown, never run, and a long value is cut with a
marker (an adversarial run retitled the terminal and faked a "stored" line through ``action``)."""

from __future__ import annotations

from spillway.commands.ledger import cell
from spillway.terminal import printable

HOSTILE = "op\x1b]0;PWNED\x07\x1b[2J\r\nfake stored line"


def test_control_characters_are_shown_escaped():
    out = printable(HOSTILE)
    assert out == "op\\x1b]0;PWNED\\x07\\x1b[2J\\r\\nfake stored line"
    assert out.isprintable()


def test_ordinary_text_is_unchanged_and_long_text_is_cut_with_a_marker():
    assert printable("opened") == "opened"
    assert printable("héllo wörld ✓") == "héllo wörld ✓"
    long = printable("a" * 300_000, limit=200)
    assert len(long) == 200 and long.endswith("…")


def test_a_ledger_cell_never_carries_an_escape_sequence():
    text = cell(HOSTILE, 14)
    assert text.isprintable() and len(text) == 14 and text.endswith("…")

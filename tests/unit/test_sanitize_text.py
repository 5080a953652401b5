"""sanitize_text (chalicelib.appdb.sanitize): the JSON text's NUL and lone surrogates replaced,
everything else exactly as written, and parsing the result gives what sanitize gives for the
parsed text (the rule the ledger followed when it stored re-encoded payloads)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.appdb.sanitize import REPLACEMENT, sanitize, sanitize_text

_CHARS = st.sampled_from(["a", "\x00", "\ud800", "\udfff", "\ud83d", "\ude00", "\\", '"', "é",
                          "\U0001f600", "u", "0", "d8"])
_STR = st.lists(_CHARS, max_size=6).map("".join)
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | _STR,
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(_STR, inner, max_size=3), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(_JSON, st.booleans())
def test_parsing_the_sanitized_text_gives_the_sanitized_value(value, ascii_only):
    text = json.dumps(value, ensure_ascii=ascii_only)
    clean, changed = sanitize_text(text)
    expected, expected_changed = sanitize(json.loads(text))
    assert json.loads(clean) == expected
    assert changed == expected_changed
    assert not changed or clean != text


def test_numbers_escapes_and_pairs_stay_as_written():
    text = r'{"n":[3.141592653589793238462643383279,1.10,1e400],"s":"\\u0000\ud83d\ude00\n"}'
    assert sanitize_text(text) == (text, False)


def test_nul_and_lone_surrogates_become_the_replacement_character():
    assert sanitize_text(r'["\u0000","\uD800x","\\\udc00"]') == (
        r'["\ufffd","\ufffdx","\\\ufffd"]', True)
    assert sanitize_text('["\x00", "\ud800"]') == (f'["{REPLACEMENT}", "{REPLACEMENT}"]', True)

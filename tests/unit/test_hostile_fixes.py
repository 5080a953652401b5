"""Pure checks of the fixes found by the hostile-input suite (tests/functional/test_hostile_input.py):
numbers that overflow a double, strings too long for a btree entry, claim-check keys."""

from __future__ import annotations

import json

import pytest

from chalicelib.core.delivery import loads_strict


@pytest.mark.parametrize("text", ["1e400", "-1e400", "1E+999", '{"a":[1e309]}'])
def test_numbers_overflowing_a_double_are_not_json_we_accept(text):
    with pytest.raises(ValueError, match="out of range"):
        loads_strict(text)


def test_indexed_strings_longer_than_a_btree_entry_are_dropped():
    from chalicelib.core.normalize import MAX_INDEXED_BYTES, normalize

    long = "é" * (MAX_INDEXED_BYTES // 2 + 1)  # few characters, too many UTF-8 bytes
    rows = normalize("push", {"ref": long, "before": "a", "after": "b",
                              "repository": {"id": 1, "full_name": long},
                              "sender": {"id": 2, "login": long}})
    assert rows.pushes == () and rows.commits == ()
    assert rows.repositories[0]["full_name"] is None and rows.users[0]["login"] is None
    fits = "é" * (MAX_INDEXED_BYTES // 2)
    rows = normalize("push", {"ref": fits, "before": "a", "after": "b", "repository": {"id": 1}})
    assert rows.pushes[0]["ref"] == fits


def test_claim_check_key_is_the_escaped_idempotency_key():
    from chalicelib.core.delivery import Delivery
    from chalicelib.edge import claim_check_key

    def key(hook: str, delivery: str) -> str:
        return claim_check_key(Delivery(event="e", action=None, delivery_id=delivery,
                                        hook_id=hook, payload_json="{}", payload={},
                                        body_bytes=2, received_at=0.0))

    assert key("1001", "abc-def") == "1001:abc-def"
    assert key("a/b", "c") != key("a", "b/c")
    assert key("", "x") != key("-", "x")
    assert "/" not in key("../..", "../../x")
    assert json.dumps(key("", "x")) == '":x"'

"""``spillway breaker status|open|close|reset`` (``spillway.commands.breaker``) on each state
store: what the operator types, what it prints, and the audit trail it leaves."""

from __future__ import annotations

import argparse
import json
import time

import pytest

from spillway.commands import breaker as breaker_command
from spillway.ops.breaker import audit_log
from tests.contract.test_breaker_store import open_store


@pytest.fixture(params=["memory", "aws", "postgres"])
def store(request):
    return open_store(request.param, request)


def run_cli(store, *argv: str, capsys) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="spillway")
    breaker_command.register(parser.add_subparsers(dest="command"), store_factory=lambda: store)
    args = parser.parse_args(list(argv))
    code = args.func(args)
    return code, capsys.readouterr().out


def test_cli_open_status_close_reset(store, capsys):
    code, out = run_cli(store, "breaker", "open", "postgres", "--for", "5m", "--reason",
                        "failover", "--by", "carol", capsys=capsys)
    assert code == 0 and "FORCED_OPEN" in out
    code, out = run_cli(store, "breaker", "status", "postgres", "--json", capsys=capsys)
    data = json.loads(out)
    assert data["state"] == "FORCED_OPEN" and data["forced"]["reason"] == "failover"
    assert data["forced"]["until"] == pytest.approx(time.time() + 300, abs=30)
    code, out = run_cli(store, "breaker", "close", "postgres", "--reason", "ok", capsys=capsys)
    assert "FORCED_CLOSED" in out
    code, out = run_cli(store, "breaker", "reset", "postgres", "--reason", "done", capsys=capsys)
    assert code == 0 and "CLOSED" in out
    code, out = run_cli(store, "breaker", "status", capsys=capsys)
    assert "postgres" in out and "CLOSED" in out
    assert [r["to"] for r in audit_log(store, "postgres")] == ["FORCED_OPEN", "FORCED_CLOSED",
                                                               "CLOSED"]


@pytest.mark.parametrize("argv", [
    ["breaker", "open", "mysql", "--reason", "x"],
    ["breaker", "close", "mysql", "--reason", "x"],
    ["breaker", "reset", "mysql", "--reason", "x"],
    ["breaker", "status", "postgrse"],
    ["breaker", "status", "postgrse", "--json"],
])
def test_unknown_breaker_names_are_refused(argv, capsys):
    """A typo neither forces a breaker nothing reads (exit 0 protecting nothing) nor invents a
    CLOSED one: exit 2, one line naming the known breakers, nothing on stdout (issue 19)."""
    from spillway.cli import main

    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "no breaker named" in err and "known: postgres" in err


def test_unknown_name_never_reaches_the_store(capsys):
    opened = []
    parser = argparse.ArgumentParser(prog="spillway")
    breaker_command.register(parser.add_subparsers(dest="command"),
                             store_factory=lambda: opened.append(1))
    args = parser.parse_args(["breaker", "open", "mysql", "--reason", "x"])
    from chalicelib.errors import ConfigError

    with pytest.raises(ConfigError, match="mysql"):
        args.func(args)
    assert opened == []

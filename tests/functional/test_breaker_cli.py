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

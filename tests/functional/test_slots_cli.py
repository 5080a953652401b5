"""``spillway slots status|release`` (``spillway.commands.slots``) on each state store: a dead
holder's leases as the operator sees them, freed by the verb, and the audit record it leaves."""

from __future__ import annotations

import argparse
import json
import time

import pytest

from chalicelib.core.concurrency.limit import Bounds
from chalicelib.errors import ConfigError
from chalicelib.shared_slots import SharedSlots, SlotLease
from spillway import cli
from spillway.commands import slots as slots_command
from spillway.ops.audit import list_actions
from tests.contract.test_breaker_store import open_store


@pytest.fixture(params=["aws", "postgres", "memory"])
def store(request):
    return open_store(request.param, request)


def dead_instance(store, n: int = 3) -> list[str]:
    """An instance that took ``n`` slots and died (no release, no heartbeat)."""
    slots = SharedSlots("postgres", store, bounds=Bounds(3, n), lease_s=20)
    holders = [f"high:dead0instance:{i}" for i in range(n)]
    for holder in holders:
        assert isinstance(slots.acquire(holder, "high"), SlotLease)
    return holders


def run_cli(store, *argv: str, capsys) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="spillway")
    slots_command.register(parser.add_subparsers(dest="command"), store_factory=lambda: store)
    args = parser.parse_args(list(argv))
    return args.func(args), capsys.readouterr().out


def test_status_shows_each_holder_its_age_and_expiry(store, capsys):
    holders = dead_instance(store)
    code, out = run_cli(store, "slots", "status", "--json", capsys=capsys)
    data = json.loads(out)
    assert code == 0 and data["in_use"] == 3 and data["name"] == "postgres"
    assert sorted(x["holder"] for x in data["holders"]) == holders
    assert all(0 < x["expires_in_s"] <= 20 and x["age_s"] >= 0 and not x["expired"]
               for x in data["holders"])
    assert data["holders"][0]["expires_at"] == pytest.approx(time.time() + 20, abs=15)
    code, out = run_cli(store, "slots", "status", capsys=capsys)
    assert code == 0 and out.startswith("slots#postgres  3 in use of limit 3")
    assert all(h in out for h in holders) and "expires" in out


def test_release_frees_one_holder_then_all_and_is_audited(store, capsys):
    holders = dead_instance(store)
    code, out = run_cli(store, "slots", "release", "--holder", holders[0], "--reason",
                        "instance died", "--by", "carol", capsys=capsys)
    assert code == 0 and f"released 1 slot(s) of {holders[0]}" in out
    code, out = run_cli(store, "slots", "release", "--all", "--reason", "instance died",
                        "--json", capsys=capsys)
    data = json.loads(out)
    assert sorted(data["released"]) == holders[1:] and data["slots"] == 2
    assert data["audit"]["verb"] == "slots release"
    code, out = run_cli(store, "slots", "status", "--json", capsys=capsys)
    assert json.loads(out)["holders"] == []
    code, out = run_cli(store, "slots", "release", "--all", "--reason", "again", capsys=capsys)
    assert code == 0 and "nothing released" in out
    records = list_actions(store, verb="slots release")
    assert [(r["by"], r["details"]["slots"]) for r in records][0] == ("carol", 1)
    assert sorted(r["details"]["slots"] for r in records) == [1, 2]


def test_an_unknown_holder_is_refused_and_nothing_changes(store, capsys):
    dead_instance(store)
    with pytest.raises(ConfigError, match="no lease held by nobody"):
        run_cli(store, "slots", "release", "--holder", "nobody", "--reason", "typo",
                capsys=capsys)
    assert json.loads(run_cli(store, "slots", "status", "--json", capsys=capsys)[1])[
        "in_use"] == 3
    assert list_actions(store, verb="slots") == []


def test_release_without_holder_or_all_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["slots", "release", "--reason", "x"])
    assert exc.value.code == 2
    assert "one of the arguments --holder --all is required" in capsys.readouterr().err

"""The time-boxed tier lift's pure parts with a fake clock: durations, the active / expired
decision, the effective slot bounds, the adaptive limit's jump to a raised budget, the cached
view's cost; and the CLI's refusals (exit 2, a message, no traceback)."""

from __future__ import annotations

import argparse

import pytest

from chalicelib.core.concurrency.lift import (
    MAX_LIFT_S,
    Lift,
    LiftState,
    effective_bounds,
    end,
    expire,
    start,
)
from chalicelib.core.concurrency.limit import Aimd, Bounds
from chalicelib.core.concurrency.manager import adapt, decide
from chalicelib.core.concurrency.plan import build_plan
from chalicelib.core.concurrency.slots import Granted, SlotState
from chalicelib.tier_lift import LIFT_KEY, LiftView
from spillway.cli import main
from spillway.commands.audited import parse_duration
from spillway.ops.tier import prepare_lift
from tests.fakes import MemoryState

T0 = 1_800_000_000.0
FREE = Bounds(3, 15)


def lift_to(to: str = "enterprise", *, at: float = T0, for_s: float = 1800) -> Lift:
    return prepare_lift(to=to, duration_s=for_s, by="ops", reason="launch day",
                        from_tier="free", now=at)


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("2h", 7200), ("90s", 90),
                                               ("90", 90), ("1.5h", 5400)])
def test_durations_parse_to_seconds(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-5m", "0", "m", "", "inf", "30x"])
def test_bad_durations_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_a_lift_is_active_until_its_until_and_never_after():
    lift = lift_to(for_s=1800)
    state, replaced = start(LiftState(), lift)
    assert replaced is None and lift.until == T0 + 1800
    assert state.active(T0) == lift and state.active(T0 + 1799.9) == lift
    assert state.active(T0 + 1800) is None  # expiry is exact, whatever TTL does
    assert lift.remaining_s(T0 + 600) == 1200 and lift.remaining_s(T0 + 9999) == 0
    assert LiftState.from_dict(state.to_dict()) == state
    assert LiftState.from_dict(None) == LiftState()


def test_the_lifted_plan_s_bounds_apply_only_while_active_and_never_lower_a_limit():
    lift = lift_to()
    enterprise = build_plan("enterprise")
    assert (lift.slot_min_limit, lift.slot_max_limit) == (enterprise.slot_min_limit,
                                                          enterprise.slot_max_limit)
    state, _ = start(LiftState(), lift)
    assert effective_bounds(FREE, state, T0 + 1) == Bounds(3, enterprise.slot_max_limit)
    assert effective_bounds(FREE, state, T0 + 1800) == FREE
    assert effective_bounds(FREE, None, T0) == FREE and effective_bounds(FREE, LiftState(),
                                                                         T0) == FREE
    big = Bounds(10, 500)  # a deployed plan bigger than the lift keeps its own bounds
    assert effective_bounds(big, state, T0 + 1) == big


def test_end_and_expire_clear_the_lift_and_say_how():
    state, _ = start(LiftState(), lift_to())
    assert expire(state, T0 + 10) == (None, None)  # still active: nothing to revert
    ended, lift = end(state, T0 + 10, "carol")
    assert lift.to == "enterprise" and ended.lift is None
    assert ended.ended == {"to": "enterprise", "from": "free", "until": T0 + 1800,
                           "at": T0 + 10, "by": "carol", "how": "end"}
    assert end(ended, T0 + 11, "carol") == (None, None)  # nothing active to end
    reverted, lift = expire(state, T0 + 1800)
    assert lift.to == "enterprise" and reverted.ended["how"] == "revert"
    assert reverted.ended["by"] == "collector"
    assert expire(reverted, T0 + 1801) == (None, None)


def test_a_new_lift_replaces_an_active_one_and_reports_it():
    first, _ = start(LiftState(), lift_to("pro"))
    second, replaced = start(first, lift_to("enterprise", at=T0 + 60))
    assert replaced.to == "pro" and second.lift.to == "enterprise"
    _, replaced = start(second, lift_to("pro", at=T0 + 7200))  # the earlier one had expired
    assert replaced is None


def test_start_refuses_a_lift_longer_than_the_maximum():
    lift = lift_to()
    with pytest.raises(ValueError, match="within"):
        start(LiftState(), Lift(**{**vars(lift), "until": T0 + MAX_LIFT_S + 1}))


def test_a_raised_budget_starts_at_its_max_and_a_lowered_one_clamps():
    """The adaptive limit jumps to a lift's higher max once (the item records the bound it
    was last held to), keeps adapting inside it, and falls back to the deployed max after."""
    state = adapt(SlotState(limit=15), T0, Aimd(), FREE)
    assert state.limit == 15 and state.limiter["max_limit"] == 15
    lifted = Bounds(3, 92)
    state = adapt(state, T0 + 1, Aimd(), lifted)
    assert state.limit == 92 and state.limiter["max_limit"] == 92
    failed = SlotState(**{**vars(state), "samples": 1, "latency_s_sum": 0.1, "failures": 1})
    state = adapt(failed, T0 + 2, Aimd(), lifted)
    assert state.limit == int(92 * 0.9)  # a sick database still backs it off, no second jump
    state = adapt(state, T0 + 3, Aimd(), FREE)
    assert state.limit == 15 and state.limiter["max_limit"] == 15
    legacy = SlotState(limit=10, limiter={"limit": 10.0})  # an item from before: no jump
    assert adapt(legacy, T0, Aimd(), lifted).limit == 10


def test_acquires_beyond_the_deployed_limit_are_granted_only_under_the_lift():
    enterprise = build_plan("enterprise").slot_max_limit
    state = SlotState(limit=15)
    for n in range(15):
        result = decide(state, f"h{n}", "high", 1, T0, 35.0, Aimd(), FREE)
        assert isinstance(result, Granted)
        state = result.state
    assert not isinstance(decide(state, "h15", "high", 1, T0, 35.0, Aimd(), FREE), Granted)
    lifted = effective_bounds(FREE, start(LiftState(), lift_to())[0], T0 + 1)
    result = decide(state, "h15", "high", 1, T0 + 1, 35.0, Aimd(), lifted)
    assert isinstance(result, Granted) and result.state.limit == enterprise


def test_the_view_reads_the_item_once_per_cache_interval():
    store = MemoryState()
    tick = [0.0]
    view = LiftView(store, cache_ttl_s=5.0, clock=lambda: tick[0])
    assert view.bounds(FREE, T0) == FREE and view.reads == 1
    lifted, _ = start(LiftState(), lift_to())
    store.put(LIFT_KEY, lifted.to_dict(), expected_version=None)
    for _ in range(100):  # a hundred acquires within the interval: no more reads
        assert view.bounds(FREE, T0 + 1) == FREE
    assert view.reads == 1
    tick[0] = 5.0
    assert view.bounds(FREE, T0 + 1).max_limit == build_plan("enterprise").slot_max_limit
    assert view.reads == 2
    # expiry is decided on the caller's clock, even from a cached read
    assert view.bounds(FREE, T0 + 1800) == FREE and view.reads == 2


@pytest.mark.parametrize(("argv", "message"), [
    (["--to", "enterprise", "--for", "25h"], "at most 24 h"),
    (["--to", "platinum", "--for", "30m"], "unknown tier 'platinum'"),
    (["--to", "free", "--for", "30m"], "does not lift the limits of 'free'"),
    (["--to", "pro", "--for", "30m", "--from", "pro"], "does not lift the limits of 'pro'"),
    (["--to", "custom", "--for", "30m"], "needs"),
    (["--to", "enterprise", "--for", "30m", "--set", "max_connections=20"], "refused"),
    (["--for", "30m"], "needs --to TIER and --for DURATION"),
    (["--to", "enterprise"], "needs --to TIER and --for DURATION"),
    (["--end", "--to", "pro"], "--end takes no --to or --for"),
])
def test_lift_mistakes_exit_2_with_a_message(argv, message, capsys, monkeypatch):
    monkeypatch.setenv("SPILLWAY_TIER", "free")
    assert main(["tier", "lift", *argv, "--reason", "r", "--by", "ops"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["--to", "pro", "--for", "soon", "--reason", "r"],
                                  ["--to", "pro", "--for", "-5m", "--reason", "r"],
                                  ["--to", "pro", "--for", "30m"]])
def test_lift_flags_argparse_refuses_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["tier", "lift", *argv])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err and err.strip()


def test_the_help_says_what_a_lift_cannot_change(capsys):
    with pytest.raises(SystemExit):
        main(["tier", "lift", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "deploy-time" in out and "reserved concurrency" in out.lower()

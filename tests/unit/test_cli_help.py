"""The command line's help: every option and argument of every verb has a help text, no text
shows reStructuredText markup, and ``--local`` works before or after the verb."""

from __future__ import annotations

import argparse
import re

import pytest

from spillway.cli import build_parser
from spillway.commands import tier

#: Markup that docstrings use and a terminal shows raw: ``literal``, :role:`target`, **bold**.
RST = re.compile(r"``|:[a-z]+:`|\*\*|\.\. [a-z]+::")


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("spillway",)):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


PARSERS = list(_parsers(build_parser()))


def test_every_verb_is_walked():
    names = {" ".join(path) for path, _ in PARSERS}
    assert {"spillway local", "spillway replay", "spillway ledger", "spillway dlq",
            "spillway breaker close", "spillway db migrate"} <= names


@pytest.mark.parametrize("path,parser", PARSERS, ids=[" ".join(p) for p, _ in PARSERS])
def test_every_option_and_argument_has_help(path, parser):
    missing = [a.option_strings or a.dest for a in parser._actions
               if not isinstance(a, argparse._HelpAction) and not a.help
               and not isinstance(a, argparse._SubParsersAction)]
    assert not missing, f"{' '.join(path)}: no help for {missing}"


@pytest.mark.parametrize("path,parser", PARSERS, ids=[" ".join(p) for p, _ in PARSERS])
def test_no_markup_in_help(path, parser):
    text = parser.format_help()
    assert not RST.search(text), f"{' '.join(path)} --help shows markup: {RST.findall(text)}"


@pytest.mark.parametrize("argv", [["--local", "status"], ["status", "--local"],
                                  ["breaker", "status", "--local"], ["replay", "x", "--local"]])
def test_local_before_or_after_the_verb(argv):
    assert build_parser().parse_args(argv).local is True


def test_without_local_it_is_false():
    assert build_parser().parse_args(["status"]).local is False


def test_printed_hints_name_the_running_executable(monkeypatch, tmp_path):
    import sys

    from spillway.local.lifecycle import spillway_executable

    script = tmp_path / "bin" / "spillway"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    monkeypatch.setattr(sys, "argv", [str(script), "local"])
    assert spillway_executable() == str(script)  # runs as printed, PATH or not
    monkeypatch.setattr(sys, "argv", ["-c"])
    hint = spillway_executable()
    assert hint.endswith("/spillway") or hint.endswith("-m spillway.cli")
    assert hint.startswith("/")  # never a bare `spillway` that may not be on PATH


@pytest.mark.parametrize("argv", [["--local", "dlq"], ["dlq", "--local"]])
def test_a_printed_follow_up_keeps_local_when_the_command_had_it(argv):
    from spillway.commands.options import command_hint
    from spillway.local.lifecycle import spillway_executable

    args = build_parser().parse_args(argv)
    assert command_hint(args, "redrive --reason ...") == (
        f"{spillway_executable()} --local redrive --reason ...")
    plain = build_parser().parse_args(["dlq"])
    assert command_hint(plain, "redrive --reason ...") == (
        f"{spillway_executable()} redrive --reason ...")


def test_tier_lift_prints_an_end_hint_that_works_as_typed(capsys):
    from tests.fakes import MemoryState

    store = MemoryState()
    parser = argparse.ArgumentParser(prog="spillway")
    parser.add_argument("--local", action="store_true")
    tier.register(parser.add_subparsers(dest="command"), store_factory=lambda: store)
    args = parser.parse_args(["--local", "tier", "lift", "--to", "pro", "--for", "30m",
                              "--from", "free", "--reason", "launch", "--by", "ops"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "--local tier lift --end --reason ...`" in out


@pytest.mark.parametrize("argv", [["tier", "plan", "free", "--local"],
                                  ["bench", "burst", "--local"],
                                  ["cost", "--deliveries-per-month", "10", "--local"]])
def test_verbs_that_talk_to_no_stack_offer_no_local(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --local" in capsys.readouterr().err

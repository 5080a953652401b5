"""Every ``spillway`` command printed in README.md, RUNBOOK.md and docs/DEPLOY.md parses with the
real parser (``spillway.cli.build_parser``) as printed: a required flag left out, a renamed
option or an unknown verb fails here. Placeholders are ``<name>`` (tests/doc_commands.py);
``tests/e2e/test_doc_commands.py`` runs the ones that need no AWS or GitHub account."""

from __future__ import annotations

import argparse
import contextlib
import io

import pytest

from spillway.cli import build_parser
from tests.doc_commands import argv_variants, bare_metavariables, extract, names_a_verb

COMMANDS = extract()


class _Refused(Exception):
    pass


def _parse(argv: list[str]) -> str | None:
    """None if ``argv`` parses, else argparse's message."""
    parser = build_parser()

    def refuse(message: str):
        raise _Refused(message)

    for p in _all_parsers(parser):
        p.error = refuse  # type: ignore[method-assign]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(argv)
    except _Refused as exc:
        return str(exc)
    except SystemExit as exc:  # --version and --help exit 0 on purpose
        return None if exc.code == 0 else (err.getvalue().strip() or f"exit {exc.code}")
    return None


def _all_parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_parsers(sub)


def test_the_docs_print_commands():
    assert len(COMMANDS) > 60
    assert {c.source.split(":")[0] for c in COMMANDS} == {"README.md", "RUNBOOK.md",
                                                          "docs/DEPLOY.md"}


@pytest.mark.parametrize("command", COMMANDS, ids=[f"{c.source} {c.text}" for c in COMMANDS])
def test_every_printed_command_parses(command):
    for argv in argv_variants(command):
        if names_a_verb(argv):
            continue  # `spillway redrive` names the verb; the verb exists (checked there)
        problem = _parse(argv)
        assert problem is None, (f"{command.source}: `{command.text}` fails as printed "
                                 f"(as {argv}): {problem}")


@pytest.mark.parametrize("command", COMMANDS, ids=[f"{c.source} {c.text}" for c in COMMANDS])
def test_placeholders_have_one_form(command):
    assert not bare_metavariables(command), (
        f"{command.source}: `{command.text}` writes {bare_metavariables(command)} as "
        "placeholders; write <name> (tests/doc_commands.py)")


def test_the_expansion_reads_the_notation():
    from tests.doc_commands import DocCommand

    variants = argv_variants(DocCommand(
        "spillway promote medium\\|low [--max <n>] --reason <why> [--by <who>]", "x"))
    assert ["promote", "medium", "--reason", "x"] in variants
    assert ["promote", "low", "--reason", "x"] in variants
    assert ["promote", "medium", "--max", "5", "--reason", "x", "--by", "x"] in variants
    variants = argv_variants(DocCommand(
        "spillway local [--dashboard-port <n>|--no-dashboard]", "x"))
    assert variants == [["local"], ["local", "--dashboard-port", "5"],
                        ["local", "--no-dashboard"]]


def test_a_missing_required_flag_is_caught():
    from tests.doc_commands import DocCommand

    (argv,) = argv_variants(DocCommand("spillway promote medium --max 5", "x"))
    assert _parse(argv) is not None


def test_placeholders_in_another_form_are_caught():
    from tests.doc_commands import DocCommand

    assert bare_metavariables(DocCommand("spillway redrive --max N --reason TEXT", "x")) == [
        "N", "TEXT"]
    assert bare_metavariables(DocCommand('spillway breaker close postgres --reason ...', "x"))
    assert not bare_metavariables(DocCommand("spillway demo --chaos <kind>=<seconds> …", "x"))

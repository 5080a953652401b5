"""The command line's conventions (spillway/cli.py): ``--version``; ``--local`` refused where it
means nothing; table cells cut with a marker, never silently. ``--json`` giving one document on
stdout for every verb, child processes and all, is tests/e2e/test_doc_commands.py's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from spillway.cli import WITHOUT_LOCAL, build_parser, main
from spillway.commands.ledger import cell
from spillway.paths import ROOT

SCRIPT = Path(sys.executable).parent / "spillway"


def test_version():
    proc = subprocess.run([str(SCRIPT), "--version"], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 0
    assert proc.stdout.startswith("spillway ") and proc.stdout.split()[1][0].isdigit()


@pytest.mark.parametrize("verb", ["local", "demo", "deploy --stage dev", "loadtest",
                                  "cost --deliveries-per-month 1", "tier plan free"])
def test_local_after_a_verb_that_talks_to_no_stack_is_an_unknown_option(verb, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([*verb.split(), "--local"])
    assert exc.value.code == 2


@pytest.mark.parametrize("verb", ["demo", "local", "deploy --stage dev",
                                  "cost --deliveries-per-month 1"])
def test_local_before_such_a_verb_exits_2_with_one_line(verb, capsys):
    assert main(["--local", *verb.split()]) == 2
    err = capsys.readouterr().err.strip()
    assert "--local means nothing" in err and len(err.splitlines()) == 1


def test_the_verbs_without_local_exist():
    assert {"local", "demo", "deploy", "cost"} <= WITHOUT_LOCAL


def test_a_cut_cell_says_so():
    assert cell("opened", 8) == "opened  "
    assert cell("review_requested", 14) == "review_reques…"
    assert len(cell("review_requested", 14)) == 14

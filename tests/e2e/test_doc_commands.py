"""End to end: the docs' commands that need no AWS or GitHub account, run as printed (the
console script, ``--local``) against one running local stack shared by this module, and every
verb's ``--json`` giving exactly one JSON document on stdout.

The stack runs the pro tier (two lanes per worker), as prod does: RUNBOOK's lane commands name
``lane-2``, which the free tier does not have. It uses the postgres backend: the commands mean
the same on both, and the moto server answers replays too slowly on a loaded machine (a send
that times out is a 503, and replay exits 1). Placeholders are filled from
``tests/doc_commands.py``; each command runs in its shortest printed form.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from spillway.local.stack import LocalStack, StackOptions
from spillway.paths import ROOT, SAMPLES
from tests.doc_commands import argv_variants, extract, names_a_verb

pytestmark = pytest.mark.e2e
OUTSIDE_SERVERS = ("DATABASE_URL", "QUEUE_DATABASE_URL", "AWS_ENDPOINT_URL")
SCRIPT = Path(sys.executable).parent / "spillway"

#: Verbs that run against a local stack with no AWS or GitHub account and change nothing
#: outside it. Not run: local / demo / loadtest / bench (each starts systems of its own; demo
#: --json is run below), deploy and tier set / merge-template (AWS, or they write .chalice),
#: db migrate (a database URL of the reader's), reconcile without --dry-run (asks GitHub),
#: tier docs --write (rewrites the docs), and replays of the corpus outside the clone
#: (``../shared/github-webhooks``, 263 deliveries; the same verb replays the bundled samples).
LOCAL_VERBS = ("status", "ledger", "dlq", "audit", "alarms", "breaker", "lanes", "promote",
               "redrive", "tier plan", "tier lift", "tier docs", "cost", "replay",
               "reconcile --dry-run")


def _runnable(argv: list[str]) -> bool:
    text = " ".join(a for a in argv if a != "--local")
    if names_a_verb(argv):
        return False
    if text.startswith("replay ") and not (ROOT / argv[-1]).resolve().is_relative_to(ROOT):
        return False  # the published corpus beside the clone (263 deliveries): too slow here
    if text.startswith("tier docs") and "--write" in argv:
        return False
    if text.startswith("reconcile"):  # a --hook of the reader's is on GitHub, not the stand-in
        return "--dry-run" in argv and "--hook" not in argv
    return any(text == verb or text.startswith(verb + " ") for verb in LOCAL_VERBS)


def _commands() -> list[tuple[str, list[str]]]:
    """(source and text, argv) of each runnable doc command in its shortest form, once."""
    seen, out = set(), []
    for command in extract():
        argv = argv_variants(command)[0]
        key = tuple(a for a in argv if a != "--local")
        if _runnable(argv) and key not in seen:
            seen.add(key)
            out.append((f"{command.source} `{command.text}`", argv))
    return out


COMMANDS = _commands()


@pytest.fixture(scope="module")
def workdir():
    """Not under pytest's basetemp (see tests/e2e/test_dashboard_local_stack.py)."""
    path = tempfile.mkdtemp(prefix="spillway-test-docs-")
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def stack(workdir):
    saved = {k: os.environ.pop(k) for k in OUTSIDE_SERVERS if k in os.environ}
    try:
        with LocalStack(StackOptions(backend="postgres", workdir=workdir, tier="pro",
                                     fresh=True)) as running:
            yield running
    finally:
        os.environ.update(saved)


def spillway(workdir: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in OUTSIDE_SERVERS}
    env["SPILLWAY_WORKDIR"] = str(workdir)
    local = [] if "--local" in argv else ["--local"]
    if argv and argv[0] == "cost" or argv[:2] in (("tier", "plan"), ("tier", "docs")):
        local = []  # verbs that talk to no stack refuse --local
    return subprocess.run([str(SCRIPT), *local, *argv], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=300, stdin=subprocess.DEVNULL)


def test_the_docs_print_commands_a_local_stack_can_run():
    verbs = {" ".join(argv[:2]) for _, argv in COMMANDS}
    assert len(COMMANDS) >= 20, COMMANDS
    assert {"promote medium", "promote low", "lanes disable", "lanes enable",
            "breaker open", "tier lift"} <= verbs, verbs


@pytest.mark.parametrize("where,argv", COMMANDS, ids=[w for w, _ in COMMANDS])
def test_each_local_doc_command_runs_as_printed(stack, workdir, where, argv):
    """In document order, on the one stack (a lane disabled is enabled again further on)."""
    proc = spillway(workdir, *argv)
    assert proc.returncode == 0, (f"{where} as {argv}: exit {proc.returncode}: "
                                  f"{(proc.stderr or proc.stdout).strip()[-600:]}")


#: One invocation of each verb's --json (those that start their own systems aside: demo below,
#: loadtest and bench burst print their one document the same way, through spillway.cli).
JSON_VERBS = [
    ("status", "--json"), ("ledger", "--json"), ("dlq", "--json"), ("audit", "--json"),
    ("alarms", "--json"), ("breaker", "status", "--json"), ("lanes", "status", "--json"),
    ("tier", "plan", "free", "--json"), ("cost", "--deliveries-per-month", "1000000", "--json"),
    ("promote", "medium", "--reason", "docs e2e", "--json"),
    ("redrive", "--dry-run", "--json"),
    ("replay", str(SAMPLES / "ping"), "--json"),
    ("tier", "lift", "--to", "enterprise", "--for", "1m", "--reason", "docs e2e", "--json"),
    ("tier", "lift", "--end", "--reason", "docs e2e", "--json"),
    ("reconcile", "--dry-run", "--json"),
]


@pytest.mark.parametrize("argv", JSON_VERBS, ids=[" ".join(a[:3]) for a in JSON_VERBS])
def test_each_verbs_json_is_one_document_on_stdout(stack, workdir, argv):
    proc = spillway(workdir, *argv)
    try:
        json.loads(proc.stdout)
    except ValueError as exc:
        pytest.fail(f"{' '.join(argv)}: exit {proc.returncode}, stdout is not one JSON document "
                    f"({exc}): {proc.stdout[:300]!r} {proc.stderr[-300:]!r}")
    assert proc.returncode == 0, f"{' '.join(argv)}: {proc.stderr[-600:]}"


def test_demo_json_is_one_document_on_stdout():
    """``spillway demo PATH --json | python -m json.tool`` (README): the summary for people
    goes to stderr, the stack's children never write to stdout."""
    path = tempfile.mkdtemp(prefix="spillway-test-docs-demo-")
    try:
        env = {k: v for k, v in os.environ.items() if k not in OUTSIDE_SERVERS}
        proc = subprocess.run([str(SCRIPT), "demo", str(SAMPLES / "ping"), "--json",
                               "--no-dashboard", "--workdir", path], cwd=ROOT, env=env,
                              text=True, capture_output=True, timeout=600,
                              stdin=subprocess.DEVNULL)
    finally:
        shutil.rmtree(path, ignore_errors=True)
    summary = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert summary["missing"] == 0 and summary["stored"] >= 1
    assert "sent" in proc.stderr  # the text summary, for people

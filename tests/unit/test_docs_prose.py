"""Prose that names the queues keeps up with ``chalicelib/core/queues.py``: the commonest drift
was text written when there were three queues and three workers ("the three priority queues"
for all of them, ``spillway-high|medium|low``) after ``heavy`` and ``batch`` were added.

Two rules over the docs, docstrings and comments (README.md, RUNBOOK.md, docs/*.md, the
``chalicelib`` / ``spillway`` / ``bench`` sources, app.py, infra/):

* a count of queues or workers in words or digits matches the code: "N priority queues" is
  ``len(PRIORITIES)``, "N target queues" ``len(TARGET_QUEUES)``, "N queues" / "N work queues" /
  "N workers" / "N worker functions" ``len(WORK_QUEUES)``;
* a list of queue or worker names joined with ``|`` after ``spillway-``, ``<prefix>-``,
  ``worker_`` or ``Worker`` that starts with the priorities names the target queues too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chalicelib.core.queues import PRIORITIES, TARGET_QUEUES, WORK_QUEUES
from spillway.paths import ROOT

NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}
COUNT = re.compile(r"\b(?P<n>one|two|three|four|five|six|seven|[1-7])\s+(?P<kind>priority queues|"
                   r"target queues|work queues|SQS queues|queues|worker functions|workers|"
                   r"worker Lambdas)\b", re.I)
PARTIAL_LIST = re.compile(r"(?:spillway-|<prefix>-|worker_|Worker)high\|medium\|low(?!\|heavy)")


def _files() -> list[Path]:
    out = [ROOT / "README.md", ROOT / "RUNBOOK.md", ROOT / "app.py",
           *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "infra").glob("*.yaml"))]
    for package in ("chalicelib", "spillway", "bench"):
        out += sorted((ROOT / package).rglob("*.py"))
    return out


def _expected(kind: str) -> int:
    kind = kind.lower()
    if kind == "priority queues":
        return len(PRIORITIES)
    if kind == "target queues":
        return len(TARGET_QUEUES)
    return len(WORK_QUEUES)


def drift(text: str) -> list[str]:
    """What in ``text`` contradicts ``chalicelib.core.queues`` (pure; one line per finding)."""
    found = []
    flat = " ".join(text.split())
    for m in COUNT.finditer(flat):
        n = NUMBERS.get(m.group("n").lower()) or int(m.group("n"))
        if n != _expected(m.group("kind")):
            found.append(f"{m.group(0)!r}: there are {_expected(m.group('kind'))}")
    for m in PARTIAL_LIST.finditer(flat):
        found.append(f"{m.group(0)!r}: the work queues are {'|'.join(WORK_QUEUES)}")
    return found


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_queue_prose_matches_the_code(path):
    problems = drift(path.read_text(encoding="utf-8"))
    assert not problems, f"{path.relative_to(ROOT)}: " + "; ".join(problems)


def test_the_rules_catch_the_old_wording():
    assert drift("the three queues and three workers")
    assert drift("queues `spillway-high|medium|low`, the DLQ")
    assert drift("the priority trio as three\n   worker functions")
    assert not drift("the three priority queues and the two target queues: five work queues")
    assert not drift("`spillway-high|medium|low|heavy|batch`; priority high|medium|low")

"""The ``spillway`` commands printed in README.md, RUNBOOK.md and docs/DEPLOY.md, as argv lists
the real parser (``spillway.cli.build_parser``) can take.

How the docs write commands (README "Commands in these docs"):

* a command is a fenced line or an inline code span starting ``spillway `` or
  ``.venv/bin/spillway `` (not ``spillway <verb>: ...``, the shape of a message); a span that is only verbs (``spillway redrive``) names the verb and
  is checked to exist; anything with an argument must parse as printed;
* ``<name>`` is a placeholder (the only form): :data:`PLACEHOLDERS` gives the value a test
  puts in its place, anything else becomes ``x``;
* ``[...]`` is optional: each command is parsed without the optional parts and with all of
  them; ``a|b`` (``a\\|b`` in a table) is a choice: each alternative is parsed;
  ``…`` after a token means "repeatable" and is dropped.
"""

from __future__ import annotations

import argparse
import itertools
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from spillway.paths import ROOT

DOCUMENTS = ("README.md", "RUNBOOK.md", "docs/DEPLOY.md")
#: Placeholder -> the value a test substitutes (argparse checks types and choices).
PLACEHOLDERS = {
    "n": "5", "stage": "dev", "tier": "pro", "seconds": "20", "duration": "30m",
    "function": "worker_high", "lane": "lane-2", "event": "issues", "url": "http://127.0.0.1:9/",
    "rate": "5/s", "since": "10m", "file": "bench.json", "dir": "out", "path": "spillway/samples",
    "kind": "db-outage", "key": "edge_concurrency", "value": "20", "spec": "repo:octo/spill:1",
    "hours": "6h", "prefix": "spillway", "tier name": "pro", "application database":
    "postgresql://localhost/app", "queue database": "postgresql://localhost/queue",
    "proxy endpoint": "proxy.example.com", "edge reserved": "40", "edge function": "spillway-dev",
}
_START = re.compile(r"^(?:\.venv/bin/)?spillway(?= |$)")
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
_SPAN = re.compile(r"(?<!`)`([^`]+)`(?!`)")
_PLACEHOLDER = re.compile(r"<([a-z][a-z ]*)>")
#: A metavariable in argparse's style (``N``, ``TEXT``, ``KIND=S``): not this docs' form.
BARE_METAVAR = re.compile(r"^(?:--[a-z-]+=)?[A-Z][A-Z_]*(?:=[A-Z]+)?…?$")


@dataclass(frozen=True)
class DocCommand:
    """One command as printed: ``text``, and where (``source``: file and line)."""

    text: str
    source: str


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def extract(root: Path = ROOT) -> list[DocCommand]:
    """Every ``spillway`` command of :data:`DOCUMENTS`, in order, fenced and inline."""
    found = []
    for rel in DOCUMENTS:
        text = (root / rel).read_text(encoding="utf-8")
        fenced = []
        for block in _FENCE.finditer(text):
            fenced.append(block.span())
            body = block.group(1)
            start_line = _line_of(text, block.start(1))
            joined = re.sub(r"\\\n\s*", " ", body)
            for offset, line in enumerate(joined.splitlines()):
                line = re.sub(r"\s+#.*$", "", line).strip().removeprefix("$ ")
                if _START.match(line) and line.split()[0].endswith("spillway") and \
                        len(line.split()) > 1:
                    found.append(DocCommand(line, f"{rel}:{start_line + offset}"))
        for span in _SPAN.finditer(text):
            if any(a <= span.start() < b for a, b in fenced):
                continue
            inner = " ".join(span.group(1).split())
            if _START.match(inner) and len(inner.split()) > 1 and \
                    not inner.split()[1].startswith("<"):  # `spillway <verb>: <reason>`: a message
                found.append(DocCommand(inner, f"{rel}:{_line_of(text, span.start())}"))
    return found


def _tokens(text: str) -> list[str]:
    text = text.replace("\\|", "|")
    text = re.sub(r"^(?:\.venv/bin/)?spillway ", "", text)
    # keep placeholders with spaces as one token; brackets as their own tokens
    text = _PLACEHOLDER.sub(lambda m: "<" + m.group(1).replace(" ", "\0") + ">", text)
    text = text.replace("[", " [ ").replace("]", " ] ")
    return [t.replace("\0", " ") for t in shlex.split(text)]


def _expand(tokens: list[str]) -> list[list[str]]:
    """Variants of ``tokens``: optional groups left out / all in (each alternative of a group
    once), every ``a|b`` alternative once."""
    # parse into a list of items: str or ("opt", [alternatives as token lists])
    items: list = []
    stack: list[list] = [items]
    for tok in tokens:
        if tok == "[":
            group: list = []
            stack[-1].append(("opt", group))
            stack.append(group)
        elif tok == "]":
            stack.pop()
        else:
            stack[-1].append(tok)

    def variants(seq: list, include: bool) -> list[list[str]]:
        parts: list[list[list[str]]] = []
        for item in seq:
            if isinstance(item, tuple):
                if not include:
                    parts.append([[]])
                    continue
                alternatives = _split_alternatives(item[1])
                parts.append([v for alt in alternatives for v in variants(alt, include)])
            elif "|" in item and not item.startswith("<"):
                parts.append([[alt] for alt in item.split("|") if alt])
            else:
                parts.append([[item.removesuffix("…")]] if item != "…" else [[]])
        # each alternative once (others at their first), not the full product
        base = [p[0] for p in parts]
        out = [list(itertools.chain.from_iterable(base))]
        for i, choices in enumerate(parts):
            for choice in choices[1:]:
                alt = [*base[:i], choice, *base[i + 1:]]
                out.append(list(itertools.chain.from_iterable(alt)))
        return out

    seen, result = set(), []
    for v in variants(items, False) + variants(items, True):
        if tuple(v) not in seen:
            seen.add(tuple(v))
            result.append(v)
    return result


def _split_alternatives(group: list) -> list[list]:
    """``--a N|--b`` inside one optional group: alternatives split at a ``|`` inside a token
    that joins two options (``N|--b``)."""
    alts: list[list] = [[]]
    for item in group:
        if isinstance(item, str) and "|" in item and re.search(r"\|--", item):
            left, _, right = item.partition("|")
            if left:
                alts[-1].append(left)
            alts.append([right] if right else [])
        else:
            alts[-1].append(item)
    return alts


def fill_placeholders(argv: list[str]) -> list[str]:
    """``argv`` with each ``<name>`` replaced by :data:`PLACEHOLDERS`' value (else ``x``)."""
    return [_PLACEHOLDER.sub(lambda m: PLACEHOLDERS.get(m.group(1), "x"), a) for a in argv]


def argv_variants(command: DocCommand) -> list[list[str]]:
    """The argv lists (without ``spillway``) ``command`` stands for, placeholders filled."""
    return [fill_placeholders(v) for v in _expand(_tokens(command.text))]


def bare_metavariables(command: DocCommand) -> list[str]:
    """Tokens of ``command`` written as argparse metavariables (``N``, ``TEXT``) or as a bare
    ellipsis (``--reason ...``) instead of ``<name>`` placeholders."""
    tokens = _tokens(command.text)
    return [t for before, t in zip(["", *tokens], tokens, strict=False)
            if ("|" not in t and BARE_METAVAR.match(t))
            or (t in ("...", "…") and before.startswith("--"))]


def names_a_verb(argv: list[str]) -> bool:
    """True when ``argv`` is only verb names (``redrive``, ``tier set``): the docs name the
    verb there rather than print a command line."""
    from spillway.cli import build_parser

    parser: argparse.ArgumentParser = build_parser()
    rest = [a for a in argv if a != "--local"]
    while rest:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or rest[0] not in subs[0].choices:
            return False
        parser = subs[0].choices[rest.pop(0)]
    return True

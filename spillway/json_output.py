"""The one JSON document a ``--json`` verb prints (the command line's convention, kept by
``spillway.cli``): :func:`print_json` writes it to the real stdout, while file descriptor 1 --
``print``, loggers, child processes -- points at stderr for the verb's run."""

from __future__ import annotations

import sys
from typing import TextIO

#: The real stdout while ``spillway.cli`` runs a ``--json`` verb; None: ``sys.stdout``.
json_out: TextIO | None = None


def print_json(text: str) -> None:
    """Print the verb's JSON document ``text`` (one JSON value) and flush it."""
    print(text, file=json_out or sys.stdout, flush=True)

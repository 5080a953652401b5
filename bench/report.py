"""The figures of ``make bench``: one line each on stdout, and one JSON file the cost model reads.

A figure prints as ``name: value (baseline: text)``. The JSON file (default
:data:`DEFAULT_PATH`) holds every figure of one run plus the raw measurements behind them, the
time of the run (UTC, ISO 8601) and the machine it ran on::

    {"version": 1, "measured_at": "2026-12-02T19:00:00+00:00",
     "machine": {"platform": ..., "python": ..., "cpus": 2, "processor": ...},
     "corpus": {"path": ..., "deliveries": 261},
     "figures": {"edge_cpu_ratio": {"value": 1.9, "baseline": "...", "unit": "x",
                                    "detail": {...}}, ...}}

Figures are ratios or counts measured side by side in the same run: on a shared, noisy machine
only those mean something.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: Schema version of the results file.
VERSION = 1
#: Where ``make bench`` writes its results, relative to the project root.
DEFAULT_PATH = Path(".spillway") / "bench" / "last.json"

_LINE = re.compile(r"^(?P<name>[a-z][a-z0-9_]*): (?P<value>-?[0-9.]+(?:e[-+]?[0-9]+)?)"
                   r"(?: (?P<unit>\S+))? \(baseline: (?P<baseline>.*)\)$")


@dataclass(frozen=True)
class Figure:
    """One benchmark figure. ``value`` is a ratio (``unit`` ``"x"``) or a count per delivery;
    ``baseline`` says what it is compared with; ``detail`` holds the raw measurements (numbers,
    in the units their key names: ``_s`` seconds, ``_ms`` milliseconds, ``_bytes`` bytes)."""

    name: str
    value: float
    baseline: str
    unit: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """``name: value [unit] (baseline: ...)``, value to 3 significant digits."""
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.name}: {self.value:.3g}{unit} (baseline: {self.baseline})"


def parse_line(line: str) -> Figure:
    """The figure printed as ``line`` by :meth:`Figure.line` (no ``detail``). Raises
    ValueError when ``line`` is not such a line."""
    m = _LINE.match(line.strip())
    if m is None:
        raise ValueError(f"not a benchmark figure line: {line!r}")
    return Figure(m["name"], float(m["value"]), m["baseline"], m["unit"] or "")


def machine() -> dict[str, Any]:
    """Where the run happened: platform, Python version, CPU count, processor."""
    return {"platform": platform.platform(), "python": sys.version.split()[0],
            "cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()}


def results(figures: Iterable[Figure], *, corpus: Mapping[str, Any],
            now: datetime | None = None) -> dict[str, Any]:
    """The results document for ``figures`` (see the module docstring). Raises ValueError
    when two figures share a name."""
    out: dict[str, Any] = {}
    for fig in figures:
        if fig.name in out:
            raise ValueError(f"figure {fig.name} given twice")
        out[fig.name] = {"value": fig.value, "baseline": fig.baseline, "unit": fig.unit,
                         "detail": dict(fig.detail)}
    return {"version": VERSION, "measured_at": (now or datetime.now(UTC)).isoformat(),
            "machine": machine(), "corpus": dict(corpus), "figures": out}


def write(document: Mapping[str, Any], path: Path | str = DEFAULT_PATH) -> Path:
    """Write ``document`` as indented JSON to ``path`` (parents created), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read(path: Path | str = DEFAULT_PATH) -> dict[str, Any]:
    """The results document at ``path``. Raises FileNotFoundError if there is none and
    ValueError if it is not a results document of this :data:`VERSION`."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("version") != VERSION \
            or not isinstance(doc.get("figures"), dict):
        raise ValueError(f"{path}: not a version {VERSION} benchmark results file")
    for name, fig in doc["figures"].items():
        if not isinstance(fig, dict) or not isinstance(fig.get("value"), int | float):
            raise ValueError(f"{path}: figure {name} has no numeric value")
    return doc

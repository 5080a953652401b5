"""Locust's per-second history (``--csv PREFIX --csv-full-history`` writes
``PREFIX_stats_history.csv``) as latency series for the report's latency plot."""

from __future__ import annotations

import csv
from pathlib import Path


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:  # "N/A" before the first response
        return None


def latency_history(path: Path | str) -> dict[str, list]:
    """``{"t": [epoch s], "p50_ms": [...], "p95_ms": [...], "rps": [requests/s]}`` from the ``Aggregated`` rows of a
    Locust stats history CSV (Locust's columns ``Timestamp``, ``50%``, ``95%`` in milliseconds, ``Requests/s``;
    None where Locust wrote N/A). Empty lists when the file is absent."""
    out: dict[str, list] = {"t": [], "p50_ms": [], "p95_ms": [], "rps": []}
    path = Path(path)
    if not path.exists():
        return out
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row.get("Name") != "Aggregated":
                continue
            t = _number(row.get("Timestamp", ""))
            if t is None:
                continue
            out["t"].append(t)
            out["p50_ms"].append(_number(row.get("50%", "")))
            out["p95_ms"].append(_number(row.get("95%", "")))
            out["rps"].append(_number(row.get("Requests/s", "")))
    return out

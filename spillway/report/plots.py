"""PNG plots of a run from a dashboard snapshot's ``series`` (see
:mod:`spillway.dashboard.snapshot`): acknowledgement latency p50/p95 (ms), queue depth per
priority (messages), deliveries accepted and stored per second, concurrency per function
(the most executions at once in each step, see ``SlotReading.busiest``), and the circuit
breaker's state -- each over seconds since the run started, with the planned
faults shaded. matplotlib with the Agg backend (files only, no display)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spillway.report.thresholds import P95_ACK_LIMIT_MS

#: Breaker states drawn as levels, lowest = healthiest (resilience4j names).
BREAKER_LEVELS = ("CLOSED", "HALF_OPEN", "OPEN", "FORCED_OPEN")


@dataclass(frozen=True)
class Window:
    """A planned fault to shade: ``label``, ``start``/``end`` in epoch seconds (``end`` None
    when it never ended)."""

    label: str
    start: float
    end: float | None


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _figure(title: str, ylabel: str):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=100)
    ax.set_title(title)
    ax.set_xlabel("seconds since the run started")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


#: Shade colours of the faults, by order of first appearance.
FAULT_COLOURS = ("tab:red", "tab:olive", "tab:cyan", "tab:brown")


def _shade(ax, windows: Sequence[Window], t0: float, t_end: float) -> None:
    """Shade each fault window (one legend entry per kind) and show the whole run."""
    colours: dict[str, str] = {}
    for w in windows:
        end = w.end if w.end is not None else t_end
        first = w.label not in colours
        colour = colours.setdefault(w.label, FAULT_COLOURS[len(colours) % len(FAULT_COLOURS)])
        ax.axvspan(w.start - t0, end - t0, color=colour, alpha=0.15,
                   label=f"chaos: {w.label}" if first else None)
    ax.set_xlim(0, max(t_end - t0, 1.0))


def _save(fig, ax, path: Path) -> Path:
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(loc="best", fontsize="small")  # where it hides the least of the data
    fig.tight_layout()
    fig.savefig(path)
    _pyplot().close(fig)
    return path


def latency_scale(values: Sequence[float], threshold: float) -> tuple[str, float, float]:
    """``(scale, bottom, top)`` of a y axis that shows ``values`` (positive) *and* a
    ``threshold`` line: linear from 0 when the threshold is within 3x of the largest value,
    else logarithmic from below the smallest value to above the threshold, so 100-350 ms data
    is not flattened against a 3,000 ms line."""
    if not values:
        return "linear", 0.0, threshold * 1.1
    low, high = min(values), max(values)
    if threshold <= 3 * high:
        return "linear", 0.0, max(high, threshold) * 1.1
    return "log", max(low / 1.5, 0.1), threshold * 1.5


def _scale_to(ax, values: Sequence[float], threshold: float) -> None:
    scale, bottom, top = latency_scale(values, threshold)
    if scale == "log":
        ax.set_yscale("log")
        ax.set_ylabel("milliseconds (log scale)")
    ax.set_ylim(bottom, top)


def _integer_ticks():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _xs(series: dict[str, Any], t0: float) -> list[float]:
    return [t - t0 for t in series["t"]]


def _nan(values: Sequence[float | None]) -> list[float]:
    return [float("nan") if v is None else float(v) for v in values]


def write_plots(series: dict[str, Any], out_dir: Path, *, t0: float | None = None,
                windows: Sequence[Window] = (),
                latency: dict[str, Sequence[float | None]] | None = None) -> list[Path]:
    """Write the five PNGs into ``out_dir`` and return their paths. ``series``: a snapshot's
    ``series`` (``t`` in epoch seconds); ``t0``: the run's start (default the first sample);
    ``latency``: ``{"t", "p50_ms", "p95_ms", "rps"}`` to plot instead of the series' own
    acknowledgements (Locust's per-second history when the requests were sent from another
    process: its requests/s replace "accepted at the edge")."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ts = series.get("t") or []
    t0 = t0 if t0 is not None else (ts[0] if ts else 0.0)
    t_end = ts[-1] if ts else t0
    xs = _xs(series, t0)
    paths = []

    fig, ax = _figure("Acknowledgement latency", "milliseconds")
    lat = latency or {"t": ts, "p50_ms": series.get("ack_p50_ms", []),
                      "p95_ms": series.get("ack_p95_ms", [])}
    lx = [t - t0 for t in lat["t"]]
    ax.plot(lx, _nan(lat["p50_ms"]), label="p50", marker=".")
    ax.plot(lx, _nan(lat["p95_ms"]), label="p95", marker=".")
    ax.axhline(P95_ACK_LIMIT_MS, color="tab:red", linestyle="--", linewidth=1,
               label=f"p95 threshold {P95_ACK_LIMIT_MS:g} ms")
    _scale_to(ax, [v for v in (*lat["p50_ms"], *lat["p95_ms"]) if v], P95_ACK_LIMIT_MS)
    _shade(ax, windows, t0, t_end)
    paths.append(_save(fig, ax, out_dir / "ack_latency.png"))

    fig, ax = _figure("Queue depth per queue", "messages (visible + in flight + delayed)")
    for queue, values in series.get("depth", {}).items():
        ax.plot(xs, _nan(values), label=queue)
    _shade(ax, windows, t0, t_end)
    paths.append(_save(fig, ax, out_dir / "queue_depth.png"))

    fig, ax = _figure("Deliveries per second", "deliveries / s")
    if latency and "rps" in latency:
        ax.plot(lx, _nan(latency["rps"]), label="requests sent (Locust)")
    else:
        ax.plot(xs, _nan(series.get("accepted_per_s", [])), label="accepted at the edge")
    ax.plot(xs, _nan(series.get("stored_per_s", [])), label="stored in the ledger")
    _shade(ax, windows, t0, t_end)
    paths.append(_save(fig, ax, out_dir / "throughput.png"))

    fig, ax = _figure("Concurrency per function (most executions at once in each step)",
                      "executions")
    for pool, values in series.get("slots", {}).items():
        ax.step(xs, _nan(values), where="pre", label=pool)  # a sample covers the step before it
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(_integer_ticks())  # executions are whole
    _shade(ax, windows, t0, t_end)
    paths.append(_save(fig, ax, out_dir / "slots.png"))

    fig, ax = _figure("Circuit breaker state", "state")
    states = series.get("breaker_state", [])
    levels = [float("nan") if s is None else
              float(BREAKER_LEVELS.index(s)) if s in BREAKER_LEVELS else float(len(BREAKER_LEVELS))
              for s in states]
    ax.step(xs, levels, where="post", label="breaker", color="tab:purple")
    ax.set_yticks(range(len(BREAKER_LEVELS) + 1), [*BREAKER_LEVELS, "other"])
    _shade(ax, windows, t0, t_end)
    paths.append(_save(fig, ax, out_dir / "breaker.png"))
    return paths

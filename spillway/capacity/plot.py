"""``--plot DIR``: PNG charts of the predicted (and, when checking, measured) queue depth and
wait over time. Writes ``depth.png`` and ``wait.png``; returns their paths."""

from __future__ import annotations

from pathlib import Path

from spillway.capacity.model import PRIORITIES, QUEUES


def plot(series: dict, out_dir: Path, measured: dict | None = None) -> list[Path]:
    """Draw ``series`` (:attr:`spillway.capacity.model.Result.series`) and optionally
    ``measured`` (``{"t_s": [...], "depth_<queue>": [...], "wait_<priority>": [[t, s], ...]}``)
    into ``out_dir`` (created). Raises OSError if it cannot be written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    fig, axes = plt.subplots(len(QUEUES), 1, figsize=(10, 9), sharex=True)
    for i, (q, ax) in enumerate(zip(QUEUES, axes, strict=True)):
        color = f"C{i}"
        ax.plot(series["t_s"], series[f"depth_{q}"], color=color, label="predicted")
        if measured and measured.get(f"depth_{q}"):
            ax.plot(measured["t_s"], measured[f"depth_{q}"], color="black", linestyle=":",
                    label="measured")
        ax.set_ylabel(q)
        ax.legend(fontsize=7, loc="upper right")
    axes[0].set_title("queue depth (deliveries queued or in flight)")
    axes[-1].set_xlabel("time (s)")
    paths.append(out_dir / "depth.png")
    fig.tight_layout()
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(10, 4.5))
    for i, p in enumerate(PRIORITIES):
        color = f"C{i}"
        pts = [(t, w) for t, w in zip(series["t_s"], series[f"wait_{p}"], strict=True) if w is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), color=color, label=f"{p} (light queue) predicted")
        got = (measured or {}).get(f"wait_{p}")
        if got:
            ax.scatter(*zip(*got, strict=True), color=color, s=4, alpha=0.4, label=f"{p} measured")
    ax.set(xlabel="arrival time (s)", ylabel="wait enqueue -> stored (s)",
           title="wait by arrival time")
    ax.legend(fontsize=8)
    paths.append(out_dir / "wait.png")
    fig.tight_layout()
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths

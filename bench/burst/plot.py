"""One PNG of the burst: per system, deliveries accepted (by when their answer came) and
stored (by when their first row was written) over time, cumulative, the outage shaded."""

from __future__ import annotations

from pathlib import Path


def cumulative(times: list[float]) -> tuple[list[float], list[int]]:
    """``(sorted times, 1..n)``: a step series of how many had happened by each time."""
    ordered = sorted(times)
    return ordered, list(range(1, len(ordered) + 1))


def plot(runs: list[dict], path: Path) -> Path:
    """Write the figure to ``path`` and return it. ``runs``: one dict per system with
    ``system`` (name), ``acks`` (:class:`bench.burst.send.Ack` list), ``stored`` (delivery id ->
    :class:`bench.burst.summary.Stored`) and ``outage`` (``(start_s, end_s)`` or None)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(runs), 1, figsize=(9, 2.8 * len(runs)), sharex=True,
                             squeeze=False)
    for ax, run in zip(axes[:, 0], runs, strict=True):
        sent = {a.delivery_id for a in run["acks"]}
        accepted = [a.sent_at + a.ack_ms / 1000 for a in run["acks"] if 200 <= a.status < 300]
        stored = [s.first_at for d, s in run["stored"].items() if d in sent]
        ax.step(*cumulative([a.sent_at for a in run["acks"]]), where="post", label="sent",
                color="0.6", linestyle=":")
        ax.step(*cumulative(accepted), where="post", label="accepted (2xx)")
        ax.step(*cumulative(stored), where="post", label="stored")
        if run["outage"]:
            ax.axvspan(*run["outage"], color="red", alpha=0.12, label="database outage")
        ax.set_title(run["system"])
        ax.set_ylabel("deliveries")
        ax.legend(loc="upper left", fontsize="small")
    axes[-1, 0].set_xlabel("seconds from the start of the burst")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

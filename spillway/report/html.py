"""``index.html`` of a run report, for a person: what ran (date, corpus, backend, tier, chaos),
each threshold with pass or fail, the summary with units, the plots with one-line captions,
and links to extra files (Locust's HTML report). Pure: strings in, a page out."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from spillway.report.thresholds import checks

#: What a summary key means, and its unit ("" for none), where the key alone would not say.
LABELS: dict[str, tuple[str, str]] = {
    "sent": ("deliveries sent", "deliveries"),
    "accepted": ("accepted by the edge (2xx)", "deliveries"),
    "rejected": ("refused by the edge (not 2xx)", "deliveries"),
    "rejected_examples": ("refused deliveries (first five)", "file: answer"),
    "stored": ("stored in the ledger", "deliveries"),
    "dead_lettered": ("dead-lettered", "deliveries"),
    "missing": ("missing (accepted, neither stored nor dead-lettered)", "deliveries"),
    "duplicated": ("stored twice", "deliveries"),
    "half_stored": ("refused yet stored", "deliveries"),
    "replay_s": ("sending took", "s"),
    "drain_s": ("sending and draining took", "s"),
    "accepted_per_s": ("accepted per second (while sending)", "deliveries / s"),
    "stored_per_s": ("stored per second (end to end)", "deliveries / s"),
    "ack_p50_ms": ("acknowledgement latency p50", "ms"),
    "ack_p95_ms": ("acknowledgement latency p95", "ms"),
    "ack_max_ms": ("acknowledgement latency max", "ms"),
    "drained": ("queues drained at the end", ""),
    "worker_throttles": ("throttled invocations per worker function", "invocations"),
    "targets": ("accepted per target", "deliveries"),
    "queues": ("accepted per work queue", "deliveries"),
    "breaker_trips": ("circuit breaker trips", "trips"),
    "recovery_s": ("recovery after the last fault", "s"),
    "error_rate": ("error rate (answers not 2xx)", "% of answers"),
    "requests": ("requests sent (Locust)", "requests"),
    "failures": ("failed requests (Locust)", "requests"),
    "ledger_rows_added": ("ledger rows added", "rows"),
}
#: Keys shown elsewhere on the page (what ran, the verdict, the thresholds).
SHOWN_ELSEWHERE = frozenset({"ok", "violations", "threshold_violations", "chaos", "backend",
                             "tier", "report", "html", "locust_output"})
#: One line under each plot, by file name.
CAPTIONS: dict[str, str] = {
    "ack_latency.png": "How long the edge took to answer each delivery (p50 and p95 per "
                       "second); the dashed line is the 3 s threshold.",
    "queue_depth.png": "Messages waiting or being worked on in each queue: a rise is a burst "
                       "or an outage, the fall is the workers catching up.",
    "throughput.png": "Deliveries accepted at the edge and stored in the ledger per second.",
    "slots.png": "Concurrency per function: the most executions running at once in each "
                 "second (a once-a-second reading of 'now' would miss short invocations).",
    "breaker.png": "The database circuit breaker's state; shaded bands are the planned faults.",
}


def _unit(key: str) -> str:
    if key in LABELS:
        return LABELS[key][1]
    for suffix, unit in (("_per_s", "/ s"), ("_ms", "ms"), ("_s", "s")):
        if key.endswith(suffix):
            return unit
    return ""


def _text(value: Any) -> str:
    """A value as a person reads it: yes/no, "not measured", lists and mappings spelled out."""
    if value is None:
        return "not measured"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.1f}".removesuffix(".0")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_text(v)}" for k, v in value.items()) or "none"
    if isinstance(value, (list, tuple)):
        return "; ".join(_text(v) for v in value) or "none"
    return str(value)


def _value(key: str, value: Any) -> str:
    """A summary value as text; the error rate in percent, a refused example as its file's
    name and the status it got (the full answers are in the JSON summary)."""
    if key == "error_rate" and isinstance(value, float):
        return f"{value * 100:.2f}"
    if key == "rejected_examples" and isinstance(value, list):
        return "; ".join(f"{Path(str(r.get('source', '?'))).name}: HTTP {r.get('status')}"
                         for r in value if isinstance(r, Mapping)) or "none"
    return _text(value)


def _row(*cells: str, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<tr{attr}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"


def render_index(title: str, summary: Mapping[str, Any], plots: Sequence[Path],
                 links: Mapping[str, str] | None = None, verdict: str = "",
                 about: Mapping[str, Any] | None = None) -> str:
    """The page (str). ``about``: what ran, label -> value (date, corpus, backend, tier,
    chaos; :meth:`spillway.report.recorder.Recorder.finish` fills it; None: the summary's
    ``backend``, ``tier`` and ``chaos``); ``summary``: the run's
    summary dict (thresholds from :func:`spillway.report.thresholds.checks`, the other keys
    as a table with units); ``plots``: PNGs beside the page, each with its caption;
    ``links``: label -> relative href."""
    if about is None:  # what the summary itself says of the run
        about = {k: summary[k] for k in ("backend", "tier", "chaos") if k in summary}
    ran = "".join(_row(str(k), _text(v)) for k, v in about.items())
    thresholds = "".join(
        _row("pass" if c["ok"] else ("not measured" if c["ok"] is None else "FAIL"),
             c["name"], c["limit"], c["measured"],
             cls="pass" if c["ok"] else ("unknown" if c["ok"] is None else "fail"))
        for c in checks(summary))
    rows = "".join(
        _row(LABELS.get(k, (k.replace("_", " "), ""))[0], _value(k, v), _unit(k))
        for k, v in summary.items() if k not in SHOWN_ELSEWHERE and not k.startswith("_"))
    figures = "\n".join(
        f'<figure><img src="{html.escape(p.name)}" alt="{html.escape(p.stem)}">'
        f"<figcaption>{html.escape(CAPTIONS.get(p.name, p.stem.replace('_', ' ')))}"
        f"</figcaption></figure>" for p in plots)
    anchors = "".join(f'<li><a href="{html.escape(href)}">{html.escape(label)}</a></li>'
                      for label, href in (links or {}).items())
    ok = summary.get("ok")
    banner = "ok" if ok else ("bad" if ok is False else "")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,"DejaVu Sans",sans-serif;margin:2em;max-width:1000px;color:#1d2330}}
table{{border-collapse:collapse;margin-bottom:1.5em}}
th,td{{border:1px solid #ccd;padding:3px 10px;text-align:left;vertical-align:top}}
td:first-child{{min-width:14em}}
th{{background:#f3f4f7}}tr.pass td:first-child{{color:#2e7d32;font-weight:600}}
tr.fail td:first-child{{color:#c62828;font-weight:600}}tr.unknown td:first-child{{color:#777}}
.verdict{{padding:8px 12px;border-radius:4px;font-weight:600;background:#eee}}
.verdict.ok{{background:#e8f5e9;color:#1b5e20}}.verdict.bad{{background:#fdecea;color:#8a1c1c}}
figure{{margin:0 0 1.5em}}img{{max-width:100%}}figcaption{{color:#555}}</style>
</head><body>
<h1>{html.escape(title)}</h1>
<p class="verdict {banner}">{html.escape(verdict or "no verdict")}</p>
<h2>What ran</h2>
<table>{ran}</table>
<h2>Thresholds</h2>
<table><tr><th>result</th><th>threshold</th><th>limit</th><th>measured</th></tr>{thresholds}</table>
<h2>Summary</h2>
<table><tr><th>measure</th><th>value</th><th>unit</th></tr>{rows}</table>
<h2>Plots</h2>
<p>Time runs from the start of the run (seconds); shaded bands are the planned faults; a gap
is a second without a reading (the probe did not answer in time, e.g. a busy emulator).</p>
{figures}
{f"<h2>More</h2><ul>{anchors}</ul>" if anchors else ""}
</body></html>
"""


def write_index(out_dir: Path, title: str, summary: Mapping[str, Any], plots: Sequence[Path],
                links: Mapping[str, str] | None = None, verdict: str = "",
                about: Mapping[str, Any] | None = None) -> Path:
    """Write ``out_dir/index.html`` (see :func:`render_index`) and return its path."""
    path = out_dir / "index.html"
    path.write_text(render_index(title, summary, plots, links, verdict, about),
                    encoding="utf-8")
    return path

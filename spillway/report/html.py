"""``index.html`` of a run report: the summary table, the plots, and links to extra files
(Locust's HTML report)."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def _cell(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return f"<code>{html.escape(json.dumps(value, sort_keys=True))}</code>"
    return html.escape(str(value))


def render_index(title: str, summary: Mapping[str, Any], plots: Sequence[Path],
                 links: Mapping[str, str] | None = None, verdict: str = "") -> str:
    """The page (str): ``summary`` as a two-column table (keys sorted), one ``<img>`` per plot
    (by file name, relative to the page), ``links`` label -> relative href."""
    rows = "\n".join(f"<tr><th>{html.escape(str(k))}</th><td>{_cell(v)}</td></tr>"
                     for k, v in sorted(summary.items()))
    images = "\n".join(f'<figure><img src="{html.escape(p.name)}" alt="{html.escape(p.stem)}">'
                       f"</figure>" for p in plots)
    anchors = "".join(f'<li><a href="{html.escape(href)}">{html.escape(label)}</a></li>'
                      for label, href in (links or {}).items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
th,td{{border:1px solid #ccc;padding:2px 8px;text-align:left}}img{{max-width:100%}}</style>
</head><body>
<h1>{html.escape(title)}</h1>
<p><strong>{html.escape(verdict)}</strong></p>
<table>
{rows}
</table>
<ul>{anchors}</ul>
{images}
</body></html>
"""


def write_index(out_dir: Path, title: str, summary: Mapping[str, Any], plots: Sequence[Path],
                links: Mapping[str, str] | None = None, verdict: str = "") -> Path:
    """Write ``out_dir/index.html`` (see :func:`render_index`) and return its path."""
    path = out_dir / "index.html"
    path.write_text(render_index(title, summary, plots, links, verdict), encoding="utf-8")
    return path

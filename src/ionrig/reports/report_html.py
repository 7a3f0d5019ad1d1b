"""The report's HTML: its style sheet, the metadata table of a run, and a section's notes,
tables and figures; every value escaped."""

from __future__ import annotations

import datetime
import html
import json
from collections.abc import Sequence
from typing import Any

from ionrig.data.readers import read_solution_changes
from ionrig.reports.report_content import Content, Table, fmt

__all__ = ["CSS", "content_html", "escape", "metadata_rows", "when"]

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222;
       line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .92em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f3f5f7; } caption { text-align: left; font-weight: 600; padding: .3em 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { margin: 0; font-size: .9em; white-space: pre-wrap; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #555; }
.status-success { color: #1e7b34; } .status-fail, .status-abort { color: #b22222; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: .4em .8em; }
"""


def escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _json_cell(value: Any) -> str:
    if value is None or value == {} or value == []:
        return "—"
    if isinstance(value, dict | list):
        return f"<pre>{escape(json.dumps(value, indent=2, default=str, ensure_ascii=False))}</pre>"
    return escape(value)


def when(epoch_s: Any) -> str:
    if not isinstance(epoch_s, int | float):
        return "—"
    moment = datetime.datetime.fromtimestamp(float(epoch_s)).astimezone()
    return moment.isoformat(sep=" ", timespec="seconds")


def metadata_rows(run, streams: Sequence[str]) -> list[tuple[str, str]]:
    start = dict(run.metadata["start"])
    stop = dict(run.metadata.get("stop") or {})
    status = stop.get("exit_status")
    status_html = (
        f'<span class="status-{escape(status)}">{escape(status)}</span>'
        if status
        else "open (no stop document)"
    )
    if stop.get("reason"):
        status_html += f" — {escape(stop['reason'])}"
    rig = escape(start.get("rig", "?"))
    if start.get("simulated"):
        rig += f" (simulated, time_scale {escape(start.get('time_scale'))})"
    duration = ""
    if isinstance(stop.get("time"), int | float) and isinstance(start.get("time"), int | float):
        duration = f" ({fmt(stop['time'] - start['time'], 4)} s wall clock)"
    solutions: dict[str, Any] = {
        k: start[k]
        for k in ("solution", "solutions", "solution_composition_mM", "pipette_solution")
        if start.get(k) is not None
    }
    changes = read_solution_changes(run) if "perfusion" in streams else None
    if changes is not None and changes.t_s.size:
        solutions["perfusion changes (t_s: solution)"] = [
            f"{t:.1f} s: {name}" for t, name in zip(changes.t_s, changes.solution, strict=True)
        ]
    rows = [
        ("plan", f"<strong>{escape(start.get('plan_name', '?'))}</strong>"),
        ("uid", f"<code>{escape(start.get('uid'))}</code>"),
        ("rig", rig),
        ("started", escape(when(start.get("time")))),
        ("stopped", escape(when(stop.get("time"))) + escape(duration)),
        ("exit status", status_html),
        ("events", _json_cell(stop.get("num_events"))),
        ("plan_args", _json_cell(start.get("plan_args"))),
        ("solutions", _json_cell(solutions)),
        ("calibration", _json_cell(start.get("calibration"))),
        ("ionrig version", escape(start.get("ionrig_version", "?"))),
    ]
    return rows


def _table_html(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(_cell(value) for value in row) + "</tr>" for row in table.rows)
    return (
        f"<table><caption>{escape(table.caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _cell(value: str) -> str:
    try:
        float(value)
    except ValueError:
        return f"<td>{escape(value)}</td>"
    return f'<td class="num">{escape(value)}</td>'


def content_html(content: Content) -> str:
    parts = [f'<p class="note">{escape(note)}</p>' for note in content.notes]
    parts += [_table_html(table) for table in content.tables]
    for image in content.images:
        parts.append(
            f'<figure><a href="{escape(image.svg)}"><img src="{escape(image.png)}" '
            f'alt="{escape(image.caption)}"></a><figcaption>{escape(image.caption)} '
            f'(<a href="{escape(image.svg)}">SVG</a>)</figcaption></figure>'
        )
    return "\n".join(parts)

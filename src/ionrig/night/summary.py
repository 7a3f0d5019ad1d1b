"""The morning summary of an unattended night: what ran, what failed and why, what waited.

:func:`summarize_night` reads the night log (``<data>/queue/night.jsonl``, written by the
queue's notifiers), the catalog (runs, exit statuses, cells) and the data directory (bytes
written), and optionally the queue server's history; :func:`format_summary` prints it.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ionrig.data.catalog import DataLocation
from ionrig.night.notify import Notice, read_notices

__all__ = [
    "ItemOutcome",
    "NightSummary",
    "RunSpan",
    "Suspension",
    "format_summary",
    "night_figure",
    "run_spans",
    "summarize_night",
    "write_night_figures",
]


@dataclass(frozen=True)
class ItemOutcome:
    """One queue item: plan name, ``status`` (completed, failed, unknown…), the cause of a
    failure, and its wall-clock start (Unix s)."""

    name: str
    status: str
    cause: str = ""
    started: float | None = None


@dataclass(frozen=True)
class Suspension:
    """One suspension: the condition, its cause, and rig-clock start/end (s; end ``None``
    while it lasts)."""

    condition: str
    cause: str
    item: str
    start_s: float | None
    end_s: float | None

    @property
    def duration_s(self) -> float | None:
        if self.start_s is None or self.end_s is None:
            return None
        return self.end_s - self.start_s


@dataclass(frozen=True)
class NightSummary:
    """What happened since ``since`` (Unix s)."""

    since: float
    items: list[ItemOutcome]
    runs_by_status: dict[str, int]
    runs_by_plan: dict[str, int]
    cells_attempted: list[int]
    cells_recorded: list[int]
    failures: list[tuple[str, str]]  # (item, cause)
    suspensions: list[Suspension]
    data_bytes: int


def _items_from_history(history: Iterable[Mapping[str, Any]], since: float) -> list[ItemOutcome]:
    items = []
    for entry in history:
        result = entry.get("result", {})
        started = result.get("time_start")
        if started is not None and started < since:
            continue
        items.append(
            ItemOutcome(
                name=entry.get("name", "?"),
                status=result.get("exit_status", "?"),
                cause=(result.get("msg") or "").strip(),
                started=started,
            )
        )
    return items


def _items_from_notices(notices: list[Notice]) -> list[ItemOutcome]:
    items: list[ItemOutcome] = []
    open_item: dict[str, Any] | None = None
    for notice in notices:
        if notice.kind == "item_start":
            if open_item is not None:  # never ended: the process died
                items.append(ItemOutcome(open_item["name"], "unknown", "", open_item["time"]))
            open_item = {"name": notice.item, "time": notice.time, "cause": ""}
        elif notice.kind == "failure" and open_item is not None and notice.item:
            items.append(ItemOutcome(open_item["name"], "failed", notice.cause, open_item["time"]))
            open_item = None
        elif notice.kind == "item_end" and open_item is not None:
            items.append(ItemOutcome(open_item["name"], "completed", "", open_item["time"]))
            open_item = None
    if open_item is not None:
        items.append(ItemOutcome(open_item["name"], "running", "", open_item["time"]))
    return items


def _suspensions(notices: list[Notice]) -> list[Suspension]:
    open_by_condition: dict[str, Notice] = {}
    done = []
    for notice in notices:
        condition = str(notice.details.get("condition", "?"))
        if notice.kind == "suspension":
            open_by_condition[condition] = notice
        elif notice.kind == "resumption" and condition in open_by_condition:
            start = open_by_condition.pop(condition)
            done.append(Suspension(condition, start.cause, start.item, start.t_s, notice.t_s))
    for condition, start in open_by_condition.items():
        done.append(Suspension(condition, start.cause, start.item, start.t_s, None))
    return sorted(done, key=lambda s: (s.start_s is None, s.start_s or 0.0))


def _bytes_since(directories: Iterable[Path], since: float) -> int:
    total = 0
    for directory in directories:
        if not directory.is_dir():
            continue
        for root, _, files in os.walk(directory):
            for name in files:
                try:
                    stat = (Path(root) / name).stat()
                except FileNotFoundError:
                    continue
                if stat.st_mtime >= since:
                    total += stat.st_size
    return total


def summarize_night(
    data_dir: str | os.PathLike | None = None,
    *,
    since: float | None = None,
    history: Iterable[Mapping[str, Any]] | None = None,
    catalog: Any = None,
) -> NightSummary:
    """Summarize the night in ``data_dir`` since ``since`` (Unix s; default: 24 h ago).

    ``history``: the queue server's history items (``ionrig.night.queue.queue_history``); without
    it the items come from the night log. ``catalog``: an open catalog (default: opened here).
    """
    from ionrig.night.queue_settings import night_log_path

    location = DataLocation.at(data_dir)
    since = time.time() - 24 * 3600 if since is None else float(since)
    notices = [n for n in read_notices(night_log_path(location.root)) if n.time >= since]
    items = (
        _items_from_history(history, since) if history is not None else _items_from_notices(notices)
    )
    own_catalog = catalog is None
    if own_catalog:
        from ionrig.data.catalog import open_catalog

        catalog = open_catalog(location.root)
    by_status: Counter[str] = Counter()
    by_plan: Counter[str] = Counter()
    attempted: set[int] = set()
    recorded: set[int] = set()
    try:
        for uid in catalog.uids():
            metadata = catalog[uid].metadata
            start = metadata.get("start") or {}
            if start.get("time", 0.0) < since:
                continue
            stop = metadata.get("stop") or {}
            status = stop.get("exit_status", "open")
            by_status[status] += 1
            plan_name = start.get("plan_name", "?")
            by_plan[plan_name] += 1
            cell = start.get("cell_index")
            if isinstance(cell, int):
                attempted.add(cell)
                if plan_name == "trpm7_ramps" and status == "success":
                    recorded.add(cell)
    finally:
        if own_catalog:
            catalog.close()
    failures = [(n.item or "-", n.cause) for n in notices if n.kind == "failure"]
    return NightSummary(
        since=since,
        items=items,
        runs_by_status=dict(by_status),
        runs_by_plan=dict(by_plan),
        cells_attempted=sorted(attempted),
        cells_recorded=sorted(recorded),
        failures=failures,
        suspensions=_suspensions(notices),
        data_bytes=_bytes_since([location.raw_dir, location.journal_dir], since),
    )


def _size(n_bytes: int) -> str:
    value = float(n_bytes)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def format_summary(summary: NightSummary) -> str:
    """The summary as text for a terminal or an e-mail."""
    since = time.strftime("%Y-%m-%d %H:%M", time.localtime(summary.since))
    statuses = Counter(item.status for item in summary.items)
    lines = [
        f"Night since {since}",
        f"items: {len(summary.items)}"
        + (f" ({', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))})" if statuses else ""),
    ]
    for item in summary.items:
        cause = f": {item.cause.splitlines()[0][:100]}" if item.cause else ""
        lines.append(f"  {item.status:10s} {item.name}{cause}")
    runs = sum(summary.runs_by_status.values())
    lines.append(
        f"runs: {runs}"
        + (
            " (" + ", ".join(f"{n} {s}" for s, n in sorted(summary.runs_by_status.items())) + ")"
            if runs
            else ""
        )
    )
    for plan, n in sorted(summary.runs_by_plan.items()):
        lines.append(f"  {n:4d} {plan}")
    lines.append(
        f"cells: {len(summary.cells_attempted)} attempted, {len(summary.cells_recorded)} "
        f"recorded (TRPM7 ramps completed)"
    )
    lines.append(f"failures: {len(summary.failures)}")
    for item, cause in summary.failures:
        lines.append(f"  {item}: {cause.splitlines()[0][:120] if cause else '?'}")
    lines.append(f"suspensions: {len(summary.suspensions)}")
    for s in summary.suspensions:
        lasted = f"{s.duration_s:.0f} s" if s.duration_s is not None else "still suspended"
        at = f"{s.start_s:.0f} s" if s.start_s is not None else "?"
        lines.append(f"  {s.condition} at rig time {at}, {lasted}: {s.cause}")
    lines.append(f"data written: {_size(summary.data_bytes)}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class RunSpan:
    """One run of the night on the rig clock (s): plan, exit status, first and last reading."""

    uid: str
    plan_name: str
    exit_status: str
    start_s: float
    stop_s: float


def run_spans(catalog: Any, since: float) -> list[RunSpan]:
    """Every run started since ``since`` (Unix s) with its rig-clock span (from its streams'
    ``t_s``); runs without readings are left out."""
    spans = []
    for uid in catalog.uids():
        run = catalog[uid]
        start = run.metadata.get("start") or {}
        if start.get("time", 0.0) < since:
            continue
        times = []
        for stream in run:
            node = run[stream]
            if "t_s" in node:
                values = node["t_s"].read()
                if len(values):
                    times.extend([float(values[0]), float(values[-1])])
        if times:
            stop = run.metadata.get("stop") or {}
            spans.append(
                RunSpan(
                    uid,
                    start.get("plan_name", "?"),
                    stop.get("exit_status", "open"),
                    min(times),
                    max(times),
                )
            )
    return spans


def night_figure(summary: NightSummary, spans: list[RunSpan]):
    """The night at a glance: each run a bar on the rig clock (hours), one row per plan,
    coloured by exit status; suspensions shaded. Returns a matplotlib Figure (Agg)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    colours = {"success": "#2a9d8f", "fail": "#e76f51", "abort": "#f4a261", "open": "#8d99ae"}
    plans_ = sorted({s.plan_name for s in spans})
    figure = Figure(figsize=(10, 1.2 + 0.45 * max(1, len(plans_))), layout="constrained")
    axes = figure.add_subplot()
    for span in spans:
        row = plans_.index(span.plan_name)
        width_h = max((span.stop_s - span.start_s) / 3600.0, 1e-3)
        axes.barh(
            row,
            width_h,
            left=span.start_s / 3600.0,
            height=0.6,
            color=colours.get(span.exit_status, colours["open"]),
            edgecolor="black",
            linewidth=0.3,
        )
    for suspension in summary.suspensions:
        if suspension.start_s is not None:
            end = suspension.end_s if suspension.end_s is not None else suspension.start_s
            axes.axvspan(suspension.start_s / 3600.0, end / 3600.0, color="#ffd166", alpha=0.5)
    axes.set_yticks(range(len(plans_)), plans_)
    axes.set_xlabel("rig clock (h)")
    axes.set_title(
        f"{len(summary.items)} items, {len(spans)} runs, "
        f"{len(summary.cells_recorded)}/{len(summary.cells_attempted)} cells recorded, "
        f"{len(summary.suspensions)} suspensions"
    )
    handles = [Patch(color=c, label=k) for k, c in colours.items() if k != "open"]
    handles.append(Patch(color="#ffd166", alpha=0.5, label="suspended"))
    axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    axes.invert_yaxis()
    return figure


def write_night_figures(
    summary: NightSummary, catalog: Any, out_dir: str | os.PathLike
) -> list[Path]:
    """Write ``night.png`` and ``night.svg`` (:func:`night_figure`) into ``out_dir``."""
    from ionrig.reports.figures import save_figure

    return save_figure(night_figure(summary, run_spans(catalog, summary.since)), out_dir, "night")

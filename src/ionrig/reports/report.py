"""HTML reports of stored runs: metadata, key numbers and figures, one page per report.

``write_report(runs, out_dir)`` writes ``out_dir/index.html`` and the figures beside it (PNG,
linked relatively, and SVG). What each run shows depends on its plan:

- ``ratiometric_timecourse``, ``mg_uptake``: the 380-nm image with the ROIs, ratio and [Mg²⁺]ᵢ
  per ROI against time (the ratio recomputed from the ROI sums; [Mg²⁺]ᵢ with the in-situ
  calibration run the time course relies on, else the start document's calibration), bath
  solutions shaded when the run has a ``perfusion`` stream; mean ratio and [Mg²⁺]ᵢ per ROI and
  solution period.
- ``trpm7_ramps``: run-up at ±80 mV (stream ``trpm7``, leak-subtracted where the plan did so)
  with a mono-exponential fit, and the raw I-V of a few ramps (sweeps of ``primary``); peak
  currents and densities.
- ``membrane_test``: the sweeps and Ra, Rm, Cm, tau; several membrane tests also get a trend.
- ``form_seal``: seal resistance against time (stream ``seal``).
- any other plan: its metadata.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ionrig.reports.imaging_report import timecourse_section, uptake_section
from ionrig.reports.patch_report import (
    form_seal_section,
    membrane_test_section,
    membrane_trend_section,
    trpm7_section,
)
from ionrig.reports.report_content import Content, ReportWriter
from ionrig.reports.report_html import CSS, content_html, escape, metadata_rows, when

__all__ = ["REPORTED_PLANS", "write_report"]


_Handler = Callable[[Any, str, ReportWriter], Content]
_HANDLERS: dict[str, _Handler] = {
    "ratiometric_timecourse": timecourse_section,
    "mg_uptake": uptake_section,
    "trpm7_ramps": trpm7_section,
    "membrane_test": membrane_test_section,
    "form_seal": form_seal_section,
}
#: Plans whose runs get figures and key numbers; any other run gets its metadata.
REPORTED_PLANS = tuple(_HANDLERS)


def _stems(uids: Sequence[str]) -> dict[str, str]:
    """File-name stem per run: the uid's first 8 characters, longer where they clash."""
    stems = {}
    for uid in uids:
        length = 8
        while any(o != uid and o[:length] == uid[:length] for o in uids) and length < len(uid):
            length += 4
        stems[uid] = uid[:length]
    return stems


def _run_content(run, stem: str, writer: ReportWriter) -> Content:
    """The run's figures and key numbers by its plan; a note when there are none."""
    plan = run.metadata["start"].get("plan_name", "?")
    handler = _HANDLERS.get(plan)
    content = Content()
    if handler is None:
        content.notes.append(f"No figures for plan {plan!r}: metadata only.")
        return content
    try:
        return handler(run, stem, writer)
    except (ValueError, KeyError, IndexError) as error:
        content.notes.append(f"Figures and numbers unavailable: {error}")
        return content


def _run_section(run, stem: str, writer: ReportWriter) -> tuple[str, str]:
    """(the run's section, its row in the index of runs) as HTML."""
    start = run.metadata["start"]
    uid, plan = start["uid"], start.get("plan_name", "?")
    stop = run.metadata.get("stop") or {}
    content = _run_content(run, stem, writer)
    anchor = f"run-{stem}"
    metadata = "".join(
        f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in metadata_rows(run, list(run))
    )
    section = (
        f'<section id="{escape(anchor)}"><h2>{escape(plan)} '
        f"<small><code>{escape(uid[:8])}</code>"
        f"</small></h2>\n<table><caption>Run</caption><tbody>{metadata}</tbody></table>\n"
        f"{content_html(content)}</section>"
    )
    index_row = (
        f'<tr><td><a href="#{escape(anchor)}">{escape(uid[:8])}</a></td><td>{escape(plan)}</td>'
        f"<td>{escape(when(start.get('time')))}</td>"
        f"<td>{escape(stop.get('exit_status') or 'open')}</td></tr>"
    )
    return section, index_row


def _trend_section(ordered: Sequence[Any], writer: ReportWriter) -> str | None:
    """The membrane-test trend across runs as HTML (``None`` with fewer than two tests)."""
    membrane_runs = [r for r in ordered if r.metadata["start"].get("plan_name") == "membrane_test"]
    if len(membrane_runs) < 2:
        return None
    try:
        trend = membrane_trend_section(membrane_runs, writer)
    except (ValueError, KeyError, IndexError) as error:
        trend = Content(notes=[f"No membrane-test trend: {error}"])
    return (
        '<section id="membrane-test-trend"><h2>Membrane tests across runs</h2>\n'
        f"{content_html(trend)}</section>"
    )


def _page(n_runs: int, index_rows: Sequence[str], sections: Sequence[str]) -> str:
    """The whole page: title, the index of runs, then the sections."""
    generated = datetime.datetime.now().astimezone().isoformat(sep=" ", timespec="seconds")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>ionrig report: {n_runs} run{'s' if n_runs != 1 else ''}</title>\n"
        f"<style>{CSS}</style>\n</head>\n<body>\n<h1>ionrig report</h1>\n"
        f"<p>{n_runs} run{'s' if n_runs != 1 else ''}, generated {escape(generated)}."
        "</p>\n<table><caption>Runs</caption><thead><tr><th>uid</th><th>plan</th>"
        "<th>started</th><th>exit status</th></tr></thead><tbody>"
        + "".join(index_rows)
        + "</tbody></table>\n"
        + "\n".join(sections)
        + "\n</body>\n</html>\n"
    )


def write_report(runs: Iterable[Any], out_dir: str | os.PathLike, *, catalog: Any = None) -> Path:
    """Write an HTML report of ``runs`` (catalog entries: ``open_catalog()[uid]``) into
    ``out_dir`` (created): ``index.html`` with each run's metadata, key numbers and figures
    (PNG and SVG beside it). Runs are shown in start order; a run given twice appears once.

    With ``catalog`` (the :class:`~ionrig.data.catalog.Catalog` the runs come from), [Mg²⁺]ᵢ uses
    the in-situ calibration run a time course relies on
    (:func:`ionrig.data.readers.find_calibration_run`); otherwise, and when there is none, the
    calibration in the run's start document. Returns the path of ``index.html``."""
    unique: dict[str, Any] = {}
    for run in runs:
        start = run.metadata["start"]
        unique.setdefault(start["uid"], run)
    if not unique:
        raise ValueError("runs must hold at least one run (catalog entries)")
    ordered = sorted(unique.values(), key=lambda r: r.metadata["start"].get("time", 0.0))
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    writer = ReportWriter(directory, catalog)
    stems = _stems([r.metadata["start"]["uid"] for r in ordered])
    sections, index_rows = [], []
    for run in ordered:
        section, index_row = _run_section(run, stems[run.metadata["start"]["uid"]], writer)
        sections.append(section)
        index_rows.append(index_row)
    trend = _trend_section(ordered, writer)
    if trend is not None:
        sections.append(trend)
    index = directory / "index.html"
    index.write_text(_page(len(ordered), index_rows, sections), encoding="utf-8")
    return index

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
import html
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import NDArray

from ionrig import analysis
from ionrig.data.readers import (
    find_calibration_run,
    read_calibration,
    read_frame,
    read_solution_changes,
    read_stream,
    read_sweeps,
    read_timecourse,
    read_uptake_effect,
)
from ionrig.reports import figures

__all__ = ["REPORTED_PLANS", "write_report"]

#: Number of ramps whose I-V a trpm7_ramps report shows (first, last and evenly between).
IV_RAMPS = 5
#: Left out at the start of each ramp in the I-V figure (ms): the step's capacitive transient.
RAMP_SKIP_MS = 2.0
_MEMBRANE_KEYS = ("t_s", "ra_MOhm", "rm_MOhm", "cm_pF", "tau_ms")


@dataclass(frozen=True)
class _Table:
    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class _Image:
    png: str
    svg: str
    caption: str


@dataclass
class _Content:
    """What one run (or the cross-run trend) contributes besides its metadata."""

    tables: list[_Table] = field(default_factory=list)
    images: list[_Image] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class _Writer:
    """Saves figures into the report folder under per-run stems; remembers each membrane
    test's results (uid → stream arrays) for the trend across runs."""

    def __init__(self, out_dir: Path, catalog: Any = None) -> None:
        self.out_dir = out_dir
        self.catalog = catalog
        self.membrane_tests: dict[str, dict[str, NDArray[Any]]] = {}

    def add(self, content: _Content, figure: Figure, stem: str, caption: str) -> None:
        png, svg = figures.save_figure(figure, self.out_dir, stem)
        content.images.append(_Image(png.name, svg.name, caption))


# -- numbers ---------------------------------------------------------------------------------------
def _fmt(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits; non-finite values as such."""
    return figures.format_number(None if value is None else float(value), digits)


def _pair_series(timecourse) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(t_s per pair, ratio per pair and cell ROI) recomputed from the ROI sums: per-pixel
    means, background ROI subtracted, exposure-normalised (docs/data-model.md)."""
    pixels = timecourse.roi_pixels
    mean340 = timecourse.roi_sums_adu[340] / pixels
    mean380 = timecourse.roi_sums_adu[380] / pixels
    n = min(len(mean340), len(mean380))
    if n == 0:
        raise ValueError("the run holds no complete 340/380 pair")
    n_cells = pixels.size - 1
    ratios = analysis.ratio(
        mean340[:n, :-1],
        mean380[:n, :-1],
        background340=np.repeat(mean340[:n, -1:], n_cells, axis=1),
        background380=np.repeat(mean380[:n, -1:], n_cells, axis=1),
        exposure340_ms=timecourse.exposure_ms,
        exposure380_ms=timecourse.exposure_ms,
    )
    t_s = 0.5 * (timecourse.frame_t_s[340][:n] + timecourse.frame_t_s[380][:n])
    return t_s, np.asarray(ratios, dtype=np.float64).reshape(n, n_cells)


def _calibration(run, writer: _Writer) -> tuple[analysis.RatioCalibration | None, str]:
    """The calibration for [Mg²⁺]ᵢ and where it comes from: the in-situ calibration run the
    run relies on (when the report has the catalog to find it), else the start document's."""
    if writer.catalog is not None:
        found = find_calibration_run(writer.catalog, run)
        if found is not None:
            uid = found.metadata["start"]["uid"]
            return read_calibration(found), f"in-situ calibration run {uid[:8]}"
    assumed = run.metadata["start"].get("calibration")
    if not assumed:
        return None, ""
    calibration = analysis.RatioCalibration(
        r_min=assumed["r_min"], r_max=assumed["r_max"], beta=assumed["beta"], kd_mM=assumed["kd_mM"]
    )
    return calibration, f"start document ({assumed.get('source', 'source not given')})"


def _timecourse(run, stem: str, writer: _Writer) -> _Content:
    content = _Content()
    start = run.metadata["start"]
    timecourse = read_timecourse(run)
    t_s, ratios = _pair_series(timecourse)
    names = timecourse.roi_names
    calibration, source = _calibration(run, writer)
    mg = None
    if calibration is not None:
        mg = np.asarray(calibration.concentration(ratios), dtype=np.float64)
        content.tables.append(
            _Table(
                "Calibration used for [Mg²⁺]ᵢ",
                ("Rmin", "Rmax", "β", "Kd (mM)", "source"),
                (
                    (
                        _fmt(calibration.r_min, 4),
                        _fmt(calibration.r_max, 4),
                        _fmt(calibration.beta, 4),
                        _fmt(calibration.kd_mM, 4),
                        source,
                    ),
                ),
            )
        )
    else:
        content.notes.append("No calibration in the start document: ratios only, no [Mg²⁺]ᵢ.")
    changes = read_solution_changes(run)
    # the solution periods while the run imaged, from its first pair to its last
    begin_s, end_s = float(t_s[0]), float(t_s[-1])
    periods = changes.periods(begin_s, end_s) or [(begin_s, end_s, changes.initial or "whole run")]

    spec_rois = start.get("rois") or {}
    if spec_rois and "camera" in run["primary"]:
        image = read_frame(run, wavelength_nm=380, index=0)
        writer.add(
            content,
            figures.roi_image_figure(
                image,
                {name: spec_rois[name] for name in names if name in spec_rois},
                background_roi=start.get("background_roi"),
                title="First 380-nm frame and ROIs",
            ),
            f"{stem}-rois",
            "First 380-nm frame with the cell ROIs (solid) and the background ROI (dashed).",
        )
    writer.add(
        content,
        figures.ratio_timecourse_figure(
            t_s,
            {name: ratios[:, i] for i, name in enumerate(names)},
            mg_free_mM_by_roi=(
                {name: mg[:, i] for i, name in enumerate(names)} if mg is not None else None
            ),
            solution_periods=periods if changes.t_s.size else None,
            title="340/380 ratio" + (" and [Mg²⁺]ᵢ" if mg is not None else "") + " per ROI",
        ),
        f"{stem}-timecourse",
        "Background-subtracted, exposure-normalised F340/F380 per ROI, recomputed from the ROI "
        "sums"
        + (
            "; [Mg²⁺]ᵢ by the Grynkiewicz equation with the calibration in the table above"
            if mg is not None
            else ""
        )
        + ("; shaded: bath solutions from the perfusion stream." if changes.t_s.size else "."),
    )
    rows = []
    for i, name in enumerate(names):
        for j, (low, high, solution) in enumerate(periods):
            last = j == len(periods) - 1
            inside = (t_s >= low) & ((t_s <= high) if last else (t_s < high))
            count = int(inside.sum())
            mean_ratio = np.nanmean(ratios[inside, i]) if count else np.nan
            mean_mg = np.nanmean(mg[inside, i]) if (count and mg is not None) else np.nan
            rows.append(
                (
                    name,
                    solution,
                    _fmt(low, 4),
                    _fmt(high, 4),
                    str(count),
                    _fmt(mean_ratio),
                    _fmt(mean_mg) if mg is not None else "—",
                )
            )
    content.tables.append(
        _Table(
            "Mean per ROI and solution period",
            (
                "ROI",
                "solution",
                "from (s)",
                "to (s)",
                "pairs",
                "mean ratio F340/F380",
                "mean [Mg²⁺]ᵢ (mM)",
            ),
            tuple(rows),
        )
    )
    return content


def _chemistry_notes(run, content: _Content) -> None:
    """The tonicity warnings the run recorded (its start document's chemistry)."""
    for warning in (run.metadata["start"].get("chemistry") or {}).get("warnings", []):
        content.notes.append(f"Solutions: {warning}")


def _uptake(run, stem: str, writer: _Writer) -> _Content:
    """An mg_uptake run: the time course, and [Mg²⁺]ᵢ changes phase by phase — with a matched
    control, the Mg²⁺-specific change (treatment − control, paired per cell)."""
    content = _timecourse(run, stem, writer)
    _chemistry_notes(run, content)
    if writer.catalog is None:
        content.notes.append("Phase changes need the catalog (the run's calibration).")
        return content
    try:
        effect = read_uptake_effect(writer.catalog, run)
    except ValueError as error:  # a run cut short, a phase too short for its window
        content.notes.append(f"Phase changes not computed: {error}")
        return content
    rows = [
        (
            change.role,
            change.solution,
            _fmt(change.mean_change, 3),
            _fmt(change.mean_change_se, 2),
            str(change.change.size),
        )
        for change in effect.phases
    ]
    if effect.mg_specific is not None:
        rows.append(
            (
                "Mg²⁺-specific",
                "treatment − control, paired per cell",
                _fmt(effect.mg_specific.mean, 3),
                _fmt(effect.mg_specific.se, 2),
                str(effect.mg_specific.n_cells),
            )
        )
    content.tables.append(
        _Table(
            f"[Mg²⁺]ᵢ change by phase (plateau: mean of each phase's last {effect.window_s:g} s, "
            "minus the phase before)",
            ("phase", "solution", "mean change (mM)", "SE across cells (mM)", "cells"),
            tuple(rows),
        )
    )
    if effect.control is None:
        content.notes.append(
            "No matched control (mg_uptake control=…): the treatment's change includes what "
            "its K⁺, Na⁺, aspartate and tonicity do, not only its Mg²⁺."
        )
    return content


def _iv_ramps(run, stem: str, writer: _Writer, content: _Content) -> None:
    """The raw I-V of up to IV_RAMPS ramps, from the sweeps."""
    sweeps = read_sweeps(run)
    if sweeps.command_mV is None or sweeps.n_sweeps == 0:
        content.notes.append("The ramps' command could not be rebuilt: no I-V figure.")
        return
    picks = np.unique(np.linspace(0, sweeps.n_sweeps - 1, min(IV_RAMPS, sweeps.n_sweeps)))
    picks = picks.round().astype(int)
    # the ramp without its first RAMP_SKIP_MS: the capacitive transient of the step from the
    # holding potential to the ramp's start
    ramp = analysis.ramp_samples(sweeps.command_mV)
    skip = round(RAMP_SKIP_MS * 1e-3 * sweeps.sample_rate_Hz)
    samples = np.arange(ramp.start, ramp.stop)[skip:]
    curves = [
        analysis.iv_curve(
            sweeps.command_mV[samples], sweeps.current_pA[k, samples], at_mV=(-80.0, 80.0)
        )
        for k in picks
    ]
    since = sweeps.t_s - sweeps.t_s[0]
    writer.add(
        content,
        figures.iv_figure(
            [c.voltage_mV for c in curves],
            [c.current_pA for c in curves],
            labels=[f"ramp {k + 1}, t = {since[k]:.0f} s" for k in picks],
            title="I-V of the ramps (raw, not leak-subtracted)",
        ),
        f"{stem}-iv",
        f"Current during the voltage ramp of {len(picks)} of the {sweeps.n_sweeps} sweeps "
        f"(raw, not leak-subtracted; the ramp's first {RAMP_SKIP_MS:g} ms, the capacitive "
        "transient of the step to its start, left out); dotted lines at ±80 mV.",
    )


def _trpm7(run, stem: str, writer: _Writer) -> _Content:
    content = _Content()
    start = run.metadata["start"]
    data = read_stream(run, "trpm7")
    t_s = np.asarray(data["t_s"], dtype=np.float64)
    plus = np.asarray(data["i_plus80_pA"], dtype=np.float64)
    minus = np.asarray(data["i_minus80_pA"], dtype=np.float64)
    if t_s.size == 0:
        raise ValueError("stream 'trpm7' holds no ramps")
    cm_pF = start.get("cm_pF") or (start.get("plan_args") or {}).get("cm_pF")
    fit = None
    if t_s.size >= 4:
        try:
            fit = analysis.fit_run_up(t_s, plus)
        except ValueError as error:
            content.notes.append(f"No run-up fit: {error}")
    if fit is not None and fit.tau_s > t_s[-1] - t_s[0]:
        content.notes.append(
            f"The run-up fit's τ ({_fmt(fit.tau_s)} s) exceeds the recorded "
            f"{_fmt(t_s[-1] - t_s[0])} s: the run-up is not resolved."
        )
    args = start.get("plan_args") or {}
    mode = args.get("leak")
    if "raw_i_plus80_pA" in data and mode != "none":  # leak subtracted live, raw kept too
        if mode == "linear" and args.get("leak_fit_mV"):
            low, high = args["leak_fit_mV"]
            leak = f"leak-subtracted by the plan: a line fitted between {low:g} and {high:g} mV"
        elif mode == "first_ramps" and args.get("leak_ramps"):
            leak = f"leak-subtracted by the plan: the mean of the first {args['leak_ramps']} ramps"
        else:
            leak = f"leak-subtracted by the plan (leak={mode!r})"
    else:
        leak = "raw, not leak-subtracted"
    writer.add(
        content,
        figures.runup_figure(t_s - t_s[0], plus, minus, fit=fit, title="TRPM7 run-up"),
        f"{stem}-runup",
        "Current at +80 mV (outward) and −80 mV (inward) of each ramp from the run's trpm7 "
        f"stream, {leak}; a mono-exponential fit of the outward current; time from the first "
        "ramp.",
    )
    _iv_ramps(run, stem, writer, content)
    peak_plus, peak_minus = float(np.max(plus)), float(np.min(minus))
    rows = [
        ("currents", leak, ""),
        ("ramps", str(t_s.size), ""),
        ("duration", _fmt(t_s[-1] - t_s[0], 4), "s"),
        ("I(+80 mV), first ramp → last", f"{_fmt(plus[0])} → {_fmt(plus[-1])}", "pA"),
        ("I(−80 mV), first ramp → last", f"{_fmt(minus[0])} → {_fmt(minus[-1])}", "pA"),
        ("peak outward I(+80 mV)", _fmt(peak_plus), "pA"),
        ("peak inward I(−80 mV)", _fmt(peak_minus), "pA"),
    ]
    if cm_pF:
        rows += [
            ("Cm (given to the plan)", _fmt(cm_pF), "pF"),
            ("peak outward density", _fmt(peak_plus / float(cm_pF)), "pA/pF"),
            ("peak inward density", _fmt(peak_minus / float(cm_pF)), "pA/pF"),
        ]
    if fit is not None:
        rows += [
            ("run-up amplitude (outward)", _fmt(fit.amplitude_pA), "pA"),
            ("run-up τ / t½", f"{_fmt(fit.tau_s)} / {_fmt(fit.t_half_s)}", "s"),
        ]
    if "raw_i_plus80_pA" in data:
        raw_plus = np.asarray(data["raw_i_plus80_pA"], dtype=np.float64)
        raw_minus = np.asarray(data["raw_i_minus80_pA"], dtype=np.float64)
        rows += [
            ("raw I(+80 mV), last ramp", _fmt(raw_plus[-1]), "pA"),
            ("raw I(−80 mV), last ramp", _fmt(raw_minus[-1]), "pA"),
        ]
    content.tables.append(_Table("Key numbers", ("quantity", "value", "unit"), tuple(rows)))
    return content


def _membrane_data(run, writer: _Writer) -> dict[str, NDArray[Any]]:
    uid = run.metadata["start"]["uid"]
    if uid not in writer.membrane_tests:
        writer.membrane_tests[uid] = read_stream(run, "membrane_test", _MEMBRANE_KEYS)
    return writer.membrane_tests[uid]


def _membrane_test(run, stem: str, writer: _Writer) -> _Content:
    content = _Content()
    data = _membrane_data(run, writer)
    if np.asarray(data["t_s"]).size == 0:
        raise ValueError("stream 'membrane_test' holds no result")
    rows = tuple(
        (label, _fmt(np.asarray(data[key], dtype=np.float64)[-1]), unit)
        for key, label, unit in (
            ("ra_MOhm", "access resistance Ra", "MΩ"),
            ("rm_MOhm", "membrane resistance Rm", "MΩ"),
            ("cm_pF", "membrane capacitance Cm", "pF"),
            ("tau_ms", "time constant τ", "ms"),
        )
    )
    content.tables.append(_Table("Membrane test", ("quantity", "value", "unit"), rows))
    sweeps = read_sweeps(run)
    writer.add(
        content,
        figures.sweeps_figure(
            1000.0 * sweeps.time_s,
            sweeps.current_pA,
            command_mV=sweeps.command_mV,
            title="Membrane test sweeps",
        ),
        f"{stem}-sweeps",
        f"The {sweeps.n_sweeps} test-pulse sweeps (grey) and their mean.",
    )
    return content


def _form_seal(run, stem: str, writer: _Writer) -> _Content:
    content = _Content()
    args = run.metadata["start"].get("plan_args") or {}
    data = read_stream(run, "seal", ["t_s", "seal_GOhm"])
    t_s = np.asarray(data["t_s"], dtype=np.float64)
    seal = np.asarray(data["seal_GOhm"], dtype=np.float64)
    if t_s.size == 0:
        raise ValueError("stream 'seal' holds no seal test")
    target = args.get("target_GOhm")
    writer.add(
        content,
        figures.seal_figure(t_s, seal, target_GOhm=target, title="Seal formation"),
        f"{stem}-seal",
        "Seal resistance from a 5-mV test every 0.5 s of rig time, under suction.",
    )
    reached = np.flatnonzero(seal >= target) if target is not None else np.zeros(0, dtype=int)
    rows = [
        ("seal tests", str(t_s.size), ""),
        ("final seal resistance", _fmt(seal[-1]), "GΩ"),
        ("highest seal resistance", _fmt(np.nanmax(seal)), "GΩ"),
        ("target", _fmt(target), "GΩ"),
        (
            "time to reach the target",
            _fmt(t_s[reached[0]] - t_s[0], 4) if reached.size else "not reached",
            "s" if reached.size else "",
        ),
        ("suction", _fmt(args.get("suction_kPa")), "kPa"),
    ]
    content.tables.append(_Table("Key numbers", ("quantity", "value", "unit"), tuple(rows)))
    return content


_Handler = Callable[[Any, str, _Writer], _Content]
_HANDLERS: dict[str, _Handler] = {
    "ratiometric_timecourse": _timecourse,
    "mg_uptake": _uptake,
    "trpm7_ramps": _trpm7,
    "membrane_test": _membrane_test,
    "form_seal": _form_seal,
}
#: Plans whose runs get figures and key numbers; any other run gets its metadata.
REPORTED_PLANS = tuple(_HANDLERS)


def _membrane_trend(runs: Sequence[Any], writer: _Writer) -> _Content:
    """Ra, Rm, Cm across membrane_test runs (in start order). The x axis is the rig clock when
    it increases from run to run (one session), else the wall-clock start times."""
    rows = []
    for run in runs:
        data = _membrane_data(run, writer)
        if np.asarray(data["t_s"]).size:
            rows.append(
                (
                    float(np.asarray(data["t_s"])[-1]),
                    float(run.metadata["start"]["time"]),
                    *(float(np.asarray(data[k])[-1]) for k in ("ra_MOhm", "rm_MOhm", "cm_pF")),
                )
            )
    content = _Content()
    table = np.array(rows, dtype=np.float64)
    rig_t, wall_t = table[:, 0], table[:, 1]
    on_rig_clock = bool(np.all(np.diff(rig_t) > 0))
    t = rig_t - rig_t[0] if on_rig_clock else wall_t - wall_t[0]
    writer.add(
        content,
        figures.membrane_test_trend_figure(
            t, table[:, 2], table[:, 3], table[:, 4], title="Membrane tests across runs"
        ),
        "membrane-test-trend",
        f"Ra, Rm and Cm of {len(rows)} membrane tests, time from the first "
        + ("(rig clock)." if on_rig_clock else "(wall clock: the rig clocks differ)."),
    )
    return content


# -- HTML ------------------------------------------------------------------------------------------
_CSS = """
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


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _json_cell(value: Any) -> str:
    if value is None or value == {} or value == []:
        return "—"
    if isinstance(value, dict | list):
        return f"<pre>{_e(json.dumps(value, indent=2, default=str, ensure_ascii=False))}</pre>"
    return _e(value)


def _when(epoch_s: Any) -> str:
    if not isinstance(epoch_s, int | float):
        return "—"
    moment = datetime.datetime.fromtimestamp(float(epoch_s)).astimezone()
    return moment.isoformat(sep=" ", timespec="seconds")


def _metadata_rows(run, streams: Sequence[str]) -> list[tuple[str, str]]:
    start = dict(run.metadata["start"])
    stop = dict(run.metadata.get("stop") or {})
    status = stop.get("exit_status")
    status_html = (
        f'<span class="status-{_e(status)}">{_e(status)}</span>'
        if status
        else "open (no stop document)"
    )
    if stop.get("reason"):
        status_html += f" — {_e(stop['reason'])}"
    rig = _e(start.get("rig", "?"))
    if start.get("simulated"):
        rig += f" (simulated, time_scale {_e(start.get('time_scale'))})"
    duration = ""
    if isinstance(stop.get("time"), int | float) and isinstance(start.get("time"), int | float):
        duration = f" ({_fmt(stop['time'] - start['time'], 4)} s wall clock)"
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
        ("plan", f"<strong>{_e(start.get('plan_name', '?'))}</strong>"),
        ("uid", f"<code>{_e(start.get('uid'))}</code>"),
        ("rig", rig),
        ("started", _e(_when(start.get("time")))),
        ("stopped", _e(_when(stop.get("time"))) + _e(duration)),
        ("exit status", status_html),
        ("events", _json_cell(stop.get("num_events"))),
        ("plan_args", _json_cell(start.get("plan_args"))),
        ("solutions", _json_cell(solutions)),
        ("calibration", _json_cell(start.get("calibration"))),
        ("ionrig version", _e(start.get("ionrig_version", "?"))),
    ]
    return rows


def _table_html(table: _Table) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(_cell(value) for value in row) + "</tr>" for row in table.rows)
    return (
        f"<table><caption>{_e(table.caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _cell(value: str) -> str:
    try:
        float(value)
    except ValueError:
        return f"<td>{_e(value)}</td>"
    return f'<td class="num">{_e(value)}</td>'


def _content_html(content: _Content) -> str:
    parts = [f'<p class="note">{_e(note)}</p>' for note in content.notes]
    parts += [_table_html(table) for table in content.tables]
    for image in content.images:
        parts.append(
            f'<figure><a href="{_e(image.svg)}"><img src="{_e(image.png)}" '
            f'alt="{_e(image.caption)}"></a><figcaption>{_e(image.caption)} '
            f'(<a href="{_e(image.svg)}">SVG</a>)</figcaption></figure>'
        )
    return "\n".join(parts)


def _stems(uids: Sequence[str]) -> dict[str, str]:
    """File-name stem per run: the uid's first 8 characters, longer where they clash."""
    stems = {}
    for uid in uids:
        length = 8
        while any(o != uid and o[:length] == uid[:length] for o in uids) and length < len(uid):
            length += 4
        stems[uid] = uid[:length]
    return stems


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
    writer = _Writer(directory, catalog)
    stems = _stems([r.metadata["start"]["uid"] for r in ordered])

    sections = []
    index_rows = []
    for run in ordered:
        start = run.metadata["start"]
        uid, plan = start["uid"], start.get("plan_name", "?")
        stop = run.metadata.get("stop") or {}
        handler = _HANDLERS.get(plan)
        content = _Content()
        if handler is None:
            content.notes.append(f"No figures for plan {plan!r}: metadata only.")
        else:
            try:
                content = handler(run, stems[uid], writer)
            except (ValueError, KeyError, IndexError) as error:
                content.notes.append(f"Figures and numbers unavailable: {error}")
        anchor = f"run-{stems[uid]}"
        metadata = "".join(
            f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in _metadata_rows(run, list(run))
        )
        sections.append(
            f'<section id="{_e(anchor)}"><h2>{_e(plan)} <small><code>{_e(uid[:8])}</code>'
            f"</small></h2>\n<table><caption>Run</caption><tbody>{metadata}</tbody></table>\n"
            f"{_content_html(content)}</section>"
        )
        index_rows.append(
            f'<tr><td><a href="#{_e(anchor)}">{_e(uid[:8])}</a></td><td>{_e(plan)}</td>'
            f"<td>{_e(_when(start.get('time')))}</td>"
            f"<td>{_e(stop.get('exit_status') or 'open')}</td></tr>"
        )
    membrane_runs = [r for r in ordered if r.metadata["start"].get("plan_name") == "membrane_test"]
    if len(membrane_runs) >= 2:
        try:
            trend = _membrane_trend(membrane_runs, writer)
        except (ValueError, KeyError, IndexError) as error:
            trend = _Content(notes=[f"No membrane-test trend: {error}"])
        sections.append(
            '<section id="membrane-test-trend"><h2>Membrane tests across runs</h2>\n'
            f"{_content_html(trend)}</section>"
        )

    generated = datetime.datetime.now().astimezone().isoformat(sep=" ", timespec="seconds")
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>ionrig report: {len(ordered)} run{'s' if len(ordered) != 1 else ''}</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n<h1>ionrig report</h1>\n"
        f"<p>{len(ordered)} run{'s' if len(ordered) != 1 else ''}, generated {_e(generated)}."
        "</p>\n<table><caption>Runs</caption><thead><tr><th>uid</th><th>plan</th>"
        "<th>started</th><th>exit status</th></tr></thead><tbody>"
        + "".join(index_rows)
        + "</tbody></table>\n"
        + "\n".join(sections)
        + "\n</body>\n</html>\n"
    )
    index = directory / "index.html"
    index.write_text(page, encoding="utf-8")
    return index

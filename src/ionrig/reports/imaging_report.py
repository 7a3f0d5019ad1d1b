"""Report sections of imaging runs (``ratiometric_timecourse``, ``mg_uptake``): the ROIs on the
first 380-nm frame, ratio and [Mg²⁺]ᵢ per ROI against time with the bath solutions shaded, the
mean per ROI and solution period, and an uptake run's change phase by phase."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ionrig import analysis
from ionrig.data.readers import (
    find_calibration_run,
    read_calibration,
    read_frame,
    read_solution_changes,
    read_timecourse,
    read_uptake_effect,
)
from ionrig.reports import figures
from ionrig.reports.report_content import Content, ReportWriter, Table, fmt

__all__ = ["timecourse_section", "uptake_section"]


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


def _calibration(run, writer: ReportWriter) -> tuple[analysis.RatioCalibration | None, str]:
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


def _calibration_table(calibration: analysis.RatioCalibration, source: str) -> Table:
    """Rmin, Rmax, β, Kd (mM) and where the calibration comes from."""
    return Table(
        "Calibration used for [Mg²⁺]ᵢ",
        ("Rmin", "Rmax", "β", "Kd (mM)", "source"),
        (
            (
                fmt(calibration.r_min, 4),
                fmt(calibration.r_max, 4),
                fmt(calibration.beta, 4),
                fmt(calibration.kd_mM, 4),
                source,
            ),
        ),
    )


def _add_roi_image(
    run, names: list[str], stem: str, writer: ReportWriter, content: Content
) -> None:
    """The first 380-nm frame with the ROIs, when the start document has them and the run
    recorded camera frames."""
    start = run.metadata["start"]
    spec_rois = start.get("rois") or {}
    if not (spec_rois and "camera" in run["primary"]):
        return
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


def _add_timecourse_figure(
    t_s: NDArray[np.float64],
    ratios: NDArray[np.float64],
    mg: NDArray[np.float64] | None,
    names: list[str],
    shaded: list | None,
    stem: str,
    writer: ReportWriter,
    content: Content,
) -> None:
    """Ratio (and [Mg²⁺]ᵢ, mM) per ROI against time (s), the ``shaded`` solution periods."""
    writer.add(
        content,
        figures.ratio_timecourse_figure(
            t_s,
            {name: ratios[:, i] for i, name in enumerate(names)},
            mg_free_mM_by_roi=(
                {name: mg[:, i] for i, name in enumerate(names)} if mg is not None else None
            ),
            solution_periods=shaded,
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
        + ("; shaded: bath solutions from the perfusion stream." if shaded else "."),
    )


def _period_means_table(
    t_s: NDArray[np.float64],
    ratios: NDArray[np.float64],
    mg: NDArray[np.float64] | None,
    names: list[str],
    periods: list,
) -> Table:
    """Mean ratio and [Mg²⁺]ᵢ (mM) per ROI and solution period (the last period holds its
    end time)."""
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
                    fmt(low, 4),
                    fmt(high, 4),
                    str(count),
                    fmt(mean_ratio),
                    fmt(mean_mg) if mg is not None else "—",
                )
            )
    return Table(
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


def timecourse_section(run, stem: str, writer: ReportWriter) -> Content:
    """A time course: the calibration, the ROI image, ratio and [Mg²⁺]ᵢ against time, and the
    mean per ROI and solution period."""
    content = Content()
    timecourse = read_timecourse(run)
    t_s, ratios = _pair_series(timecourse)
    names = timecourse.roi_names
    calibration, source = _calibration(run, writer)
    mg = None
    if calibration is not None:
        mg = np.asarray(calibration.concentration(ratios), dtype=np.float64)
        content.tables.append(_calibration_table(calibration, source))
    else:
        content.notes.append("No calibration in the start document: ratios only, no [Mg²⁺]ᵢ.")
    changes = read_solution_changes(run)
    # the solution periods while the run imaged, from its first pair to its last
    begin_s, end_s = float(t_s[0]), float(t_s[-1])
    periods = changes.periods(begin_s, end_s) or [(begin_s, end_s, changes.initial or "whole run")]
    _add_roi_image(run, names, stem, writer, content)
    shaded = periods if changes.t_s.size else None
    _add_timecourse_figure(t_s, ratios, mg, names, shaded, stem, writer, content)
    content.tables.append(_period_means_table(t_s, ratios, mg, names, periods))
    return content


def _chemistry_notes(run, content: Content) -> None:
    """The tonicity warnings the run recorded (its start document's chemistry)."""
    for warning in (run.metadata["start"].get("chemistry") or {}).get("warnings", []):
        content.notes.append(f"Solutions: {warning}")


def uptake_section(run, stem: str, writer: ReportWriter) -> Content:
    """An mg_uptake run: the time course, and [Mg²⁺]ᵢ changes phase by phase — with a matched
    control, the Mg²⁺-specific change (treatment − control, paired per cell)."""
    content = timecourse_section(run, stem, writer)
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
            fmt(change.mean_change, 3),
            fmt(change.mean_change_se, 2),
            str(change.change.size),
        )
        for change in effect.phases
    ]
    if effect.mg_specific is not None:
        rows.append(
            (
                "Mg²⁺-specific",
                "treatment − control, paired per cell",
                fmt(effect.mg_specific.mean, 3),
                fmt(effect.mg_specific.se, 2),
                str(effect.mg_specific.n_cells),
            )
        )
    content.tables.append(
        Table(
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

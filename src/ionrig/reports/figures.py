"""Figures of recorded runs: arrays and analysis results in, ``matplotlib.figure.Figure`` out.

Every function builds a standalone :class:`~matplotlib.figure.Figure` on the Agg canvas (never
pyplot's global state), so figures are made headless and from any thread. Axes carry units;
colours are shared: ROI ``k`` has the same colour in the image and in the time course, and a
solution keeps its shade across panels. :func:`save_figure` writes PNG and SVG.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps, patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Polygon, Rectangle
from matplotlib.ticker import FuncFormatter
from numpy.typing import ArrayLike, NDArray

from ionrig import analysis

__all__ = [
    "PNG_DPI",
    "SolutionPeriod",
    "dose_response_figure",
    "format_number",
    "iv_figure",
    "membrane_test_trend_figure",
    "ratio_timecourse_figure",
    "roi_colour",
    "roi_image_figure",
    "runup_figure",
    "save_figure",
    "seal_figure",
    "sweeps_figure",
]

#: Resolution of saved PNGs (dots per inch); SVGs are vector.
PNG_DPI = 150
#: Spans longer than this are drawn in minutes.
MINUTES_ABOVE_S = 600.0
#: (start_s, stop_s, solution name) on the rig clock.
SolutionPeriod = tuple[float, float, str]

_FONT_PT = 10.0
_SMALL_PT = 8.5
_TITLE_PT = 11.0
_WIDTH_IN = 8.0
_SOLUTION_ALPHA = 0.45
_SOLUTION_PALETTE = "Pastel2"
_OUTWARD_COLOUR = "#c0392b"  # +80 mV: outward current
_INWARD_COLOUR = "#2c6fbb"  # −80 mV: inward current
_MG_LABEL = r"[Mg$^{2+}$]$_\mathrm{i}$ (mM)"


# -- helpers ---------------------------------------------------------------------------------------
def _figure(height_in: float, width_in: float = _WIDTH_IN) -> Figure:
    figure = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _vector(name: str, value: ArrayLike, *, size: int | None = None) -> NDArray[np.float64]:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be an array of numbers, got {value!r:.80}") from error
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if size is not None and array.size != size:
        raise ValueError(f"{name} must have {size} values (one per time point), got {array.size}")
    return array


def _times(t_s: ArrayLike) -> NDArray[np.float64]:
    t = _vector("t_s", t_s)
    if t.size == 0:
        raise ValueError("t_s must hold at least one time (s)")
    if not np.isfinite(t).all():
        raise ValueError("t_s must hold finite times (s)")
    return t


def _time_unit(span_s: float) -> tuple[float, str]:
    """(divisor, unit) for a time axis: minutes above 10 min, else seconds."""
    return (60.0, "min") if span_s > MINUTES_ABOVE_S else (1.0, "s")


def _style(ax: Axes) -> None:
    ax.tick_params(labelsize=_SMALL_PT + 0.5)
    ax.grid(True, color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def roi_colour(index: int, n_rois: int) -> tuple[float, float, float, float]:
    """The colour of ROI ``index`` of ``n_rois`` (tab10 up to 10 ROIs, tab20, then turbo)."""
    if n_rois <= 10:
        return colormaps["tab10"](index % 10)
    if n_rois <= 20:
        return colormaps["tab20"](index % 20)
    return colormaps["turbo"](0.05 + 0.9 * index / max(1, n_rois - 1))


def _solution_colours(names: Sequence[str]) -> dict[str, tuple[float, float, float, float]]:
    palette = colormaps[_SOLUTION_PALETTE]
    colours: dict[str, tuple[float, float, float, float]] = {}
    for name in names:
        if name not in colours:
            colours[name] = to_rgba(palette(len(colours) % palette.N), _SOLUTION_ALPHA)
    return colours


def _periods(periods: Sequence[SolutionPeriod] | None) -> list[SolutionPeriod]:
    checked = []
    for i, period in enumerate(periods or ()):
        try:
            start, stop, name = period
            start, stop = float(start), float(stop)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"solution_periods[{i}] must be (start_s, stop_s, solution_name), got {period!r}"
            ) from error
        if not (np.isfinite(start) and np.isfinite(stop) and stop >= start):
            raise ValueError(
                f"solution_periods[{i}] must have finite start_s <= stop_s, got {period!r}"
            )
        checked.append((start, stop, str(name)))
    return checked


def _shade_periods(
    axes: Sequence[Axes], periods: list[SolutionPeriod], divisor: float, *, labelled: Axes
) -> None:
    """Shade every period on every axes; name each period above ``labelled``."""
    colours = _solution_colours([name for _, _, name in periods])
    for ax in axes:
        for start, stop, name in periods:
            ax.axvspan(
                start / divisor,
                stop / divisor,
                facecolor=colours[name],
                edgecolor="none",
                zorder=0,
                gid="solution_period",
            )
    for start, stop, name in periods:
        labelled.text(
            0.5 * (start + stop) / divisor,
            1.01,
            name,
            transform=labelled.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=_SMALL_PT,
            color="0.2",
            bbox={"boxstyle": "round,pad=0.2", "facecolor": colours[name], "edgecolor": "none"},
            gid="solution_label",
        )


def _legend(ax: Axes, n_entries: int) -> None:
    if n_entries <= 1:
        return
    ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=_SMALL_PT,
        frameon=False,
        ncols=1 if n_entries <= 16 else 2,
        borderaxespad=0.0,
    )


def _title(figure: Figure, title: str | None) -> None:
    if title:
        figure.suptitle(title, fontsize=_TITLE_PT)


# -- ratiometric imaging ---------------------------------------------------------------------------
def ratio_timecourse_figure(
    t_s: ArrayLike,
    ratios_by_roi: Mapping[str, ArrayLike],
    *,
    mg_free_mM_by_roi: Mapping[str, ArrayLike] | None = None,
    solution_periods: Sequence[SolutionPeriod] | None = None,
    title: str | None = None,
) -> Figure:
    """F340/F380 ratio per ROI against time, and [Mg²⁺]ᵢ (mM) on a second panel when given.

    ``t_s`` is the rig-clock time (s) of each 340/380 pair; every ROI's series has one value per
    time (NaN leaves a gap). ``solution_periods`` lists ``(start_s, stop_s, solution_name)``:
    each is shaded on every panel and named above the top one. Spans over 10 min are drawn in
    minutes.
    """
    t = _times(t_s)
    if not ratios_by_roi:
        raise ValueError("ratios_by_roi must hold at least one ROI (name -> ratio per time)")
    ratios = {
        str(k): _vector(f"ratios_by_roi[{k!r}]", v, size=t.size) for k, v in ratios_by_roi.items()
    }
    mg = None
    if mg_free_mM_by_roi is not None:
        unknown = set(map(str, mg_free_mM_by_roi)) - set(ratios)
        if unknown:
            raise ValueError(
                f"mg_free_mM_by_roi has ROIs without a ratio: {sorted(unknown)}; "
                f"allowed: {sorted(ratios)}"
            )
        mg = {
            str(k): _vector(f"mg_free_mM_by_roi[{k!r}]", v, size=t.size)
            for k, v in mg_free_mM_by_roi.items()
        }
    periods = _periods(solution_periods)
    ends = [t.min(), t.max()] + [x for p in periods for x in p[:2]]
    divisor, unit = _time_unit(max(ends) - min(ends))

    figure = _figure(5.6 if mg is not None else 3.6)
    if mg is not None:
        ax_ratio, ax_mg = figure.subplots(2, 1, sharex=True)
        axes = [ax_ratio, ax_mg]
    else:
        ax_ratio = figure.subplots()
        ax_mg = None
        axes = [ax_ratio]
    names = list(ratios)
    marker = "o" if t.size <= 60 else None
    for i, name in enumerate(names):
        colour = roi_colour(i, len(names))
        style = {"color": colour, "linewidth": 1.4, "marker": marker, "markersize": 3.0}
        ax_ratio.plot(t / divisor, ratios[name], label=name, **style)
        if mg is not None and ax_mg is not None and name in mg:
            ax_mg.plot(t / divisor, mg[name], label=name, **style)
    ax_ratio.set_ylabel("ratio F340/F380", fontsize=_FONT_PT)
    if ax_mg is not None:
        ax_mg.set_ylabel(_MG_LABEL, fontsize=_FONT_PT)
    axes[-1].set_xlabel(f"time ({unit})", fontsize=_FONT_PT)
    for ax in axes:
        _style(ax)
    if periods:
        _shade_periods(axes, periods, divisor, labelled=ax_ratio)
    _legend(ax_ratio, len(names))
    _title(figure, title)
    return figure


def _roi_patch(roi: analysis.Roi, colour: Any, **style: Any) -> tuple[Any, tuple[float, float]]:
    """The outline of an ROI in image coordinates (pixel centres at integers) and its centre.

    Matches :func:`ionrig.analysis.roi_mask`: circles and polygons hold the pixel centres inside
    them; a rectangle holds the centres ``x <= col < x + width``, i.e. the pixel edges from
    ``x - 0.5`` to ``x + width - 0.5``.
    """
    common = {"fill": False, "edgecolor": colour, **style}
    if isinstance(roi, analysis.CircleRoi):
        return Circle((roi.x_px, roi.y_px), roi.radius_px, **common), (roi.x_px, roi.y_px)
    if isinstance(roi, analysis.RectangleRoi):
        corner = (roi.x_px - 0.5, roi.y_px - 0.5)
        centre = (corner[0] + roi.width_px / 2, corner[1] + roi.height_px / 2)
        return Rectangle(corner, roi.width_px, roi.height_px, **common), centre
    vertices = np.asarray(roi.vertices_px, dtype=np.float64)
    return Polygon(vertices, closed=True, **common), tuple(vertices.mean(axis=0))


def _roi_top(roi: analysis.Roi) -> tuple[float, float]:
    """The ROI's horizontal centre and its top edge (smallest row), in image coordinates."""
    if isinstance(roi, analysis.CircleRoi):
        return roi.x_px, roi.y_px - roi.radius_px
    if isinstance(roi, analysis.RectangleRoi):
        return roi.x_px - 0.5 + roi.width_px / 2, roi.y_px - 0.5
    vertices = np.asarray(roi.vertices_px, dtype=np.float64)
    return float(0.5 * (vertices[:, 0].min() + vertices[:, 0].max())), float(vertices[:, 1].min())


def _extent_px(roi: analysis.Roi) -> float:
    """The ROI's height (rows)."""
    if isinstance(roi, analysis.CircleRoi):
        return 2 * roi.radius_px
    if isinstance(roi, analysis.RectangleRoi):
        return roi.height_px
    rows = np.asarray(roi.vertices_px, dtype=np.float64)[:, 1]
    return float(rows.max() - rows.min())


def roi_image_figure(
    image_380: ArrayLike,
    rois: Mapping[str, Any] | Sequence[Any],
    *,
    background_roi: Mapping[str, Any] | None = None,
    title: str | None = None,
) -> Figure:
    """The 380-nm image (ADU, contrast from the 0.5-99.8 percentiles) with each ROI outlined
    and named in its time-course colour; ``background_roi`` is drawn dashed.

    ``rois`` maps names to ROI specs as in start documents (``{"shape": "circle", "x_px",
    "y_px", "radius_px"}``, rectangles, polygons; see docs/data-model.md) or ROI objects; a
    plain sequence is numbered 1, 2, ….
    """
    image = np.asarray(image_380, dtype=np.float64)
    if image.ndim == 3 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 2 or min(image.shape) < 2:
        raise ValueError(f"image_380 must be a 2-D image (rows, cols), got shape {image.shape}")
    if isinstance(rois, Mapping):
        named = {str(k): v for k, v in rois.items()}
    elif isinstance(rois, Sequence) and not isinstance(rois, str):
        named = {str(i + 1): roi for i, roi in enumerate(rois)}
    else:
        raise ValueError(f"rois must be a mapping name -> ROI or a sequence of ROIs, got {rois!r}")
    parsed = {
        name: analysis.roi_from_spec(spec, name=f"rois[{name!r}]") for name, spec in named.items()
    }

    rows, cols = image.shape
    height = min(6.5, max(3.5, 6.0 * rows / cols))
    figure = _figure(height, width_in=min(8.0, height * cols / rows + 1.6))
    ax = figure.subplots()
    finite = image[np.isfinite(image)]
    low, high = np.percentile(finite, (0.5, 99.8)) if finite.size else (0.0, 1.0)
    shown = ax.imshow(
        image, cmap="gray", vmin=low, vmax=max(high, low + 1e-9), interpolation="nearest"
    )
    colourbar = figure.colorbar(shown, ax=ax, shrink=0.85, pad=0.02)
    colourbar.set_label("intensity at 380 nm (ADU)", fontsize=_FONT_PT)
    colourbar.ax.tick_params(labelsize=_SMALL_PT)
    outline = [patheffects.withStroke(linewidth=3.0, foreground="black")]
    for i, (name, roi) in enumerate(parsed.items()):
        colour = roi_colour(i, len(parsed))
        patch, _ = _roi_patch(roi, colour, linewidth=1.6, gid="roi_outline")
        ax.add_patch(patch)
        # the name just above the outline (below it at the image's top edge): the cell stays seen
        x, top = _roi_top(roi)
        above = top > 0.06 * rows
        ax.text(
            x,
            top - 1.0 if above else top + 1.0 + _extent_px(roi),
            name,
            color=colour,
            fontsize=_SMALL_PT + 0.5,
            fontweight="bold",
            ha="center",
            va="bottom" if above else "top",
            bbox={
                "boxstyle": "round,pad=0.15",
                "facecolor": "white",
                "alpha": 0.85,
                "edgecolor": "none",
            },
            gid="roi_label",
        )
    if background_roi is not None:
        background = analysis.roi_from_spec(background_roi, name="background_roi")
        patch, (x, y) = _roi_patch(
            background, "#f5d142", linewidth=1.4, linestyle="--", gid="background_outline"
        )
        ax.add_patch(patch)
        ax.text(
            x,
            y,
            "bg",
            color="#f5d142",
            fontsize=_SMALL_PT,
            ha="center",
            va="center",
            path_effects=outline,
            gid="background_label",
        )
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    ax.set_xlabel("x (px)", fontsize=_FONT_PT)
    ax.set_ylabel("y (px)", fontsize=_FONT_PT)
    ax.tick_params(labelsize=_SMALL_PT + 0.5)
    _title(figure, title)
    return figure


# -- patch clamp -----------------------------------------------------------------------------------
def iv_figure(
    voltage_mV: ArrayLike | Sequence[ArrayLike],
    currents: ArrayLike | Sequence[ArrayLike],
    *,
    labels: Sequence[str] | None = None,
    cm_pF: float | None = None,
    title: str | None = None,
) -> Figure:
    """I-V curves: current (pA, or pA/pF with ``cm_pF``) against membrane potential (mV).

    ``voltage_mV`` is one voltage axis shared by every curve, or one per curve; ``currents`` one
    curve or several (a 2-D array, or a list of 1-D arrays). Colours run from early (dark) to
    late (light) in the order given; ``labels`` names each curve (e.g. its time). Dotted lines
    mark the ±80 mV read-outs of TRPM7 ramps (§8.1).
    """
    curves = [np.asarray(c, dtype=np.float64) for c in _as_curves("currents", currents)]
    volts_in = _as_curves("voltage_mV", voltage_mV)
    volts = [np.asarray(v, dtype=np.float64) for v in volts_in]
    if len(volts) == 1:
        volts = volts * len(curves)
    if len(volts) != len(curves):
        raise ValueError(
            f"voltage_mV must be one voltage axis or one per curve ({len(curves)}), "
            f"got {len(volts)}"
        )
    for i, (v, c) in enumerate(zip(volts, curves, strict=True)):
        if v.shape != c.shape:
            raise ValueError(
                f"currents[{i}] must have the length of its voltage axis ({v.size}), got {c.size}"
            )
    if labels is not None and len(labels) != len(curves):
        raise ValueError(f"labels must name each of the {len(curves)} curves, got {len(labels)}")
    scale, unit, quantity = 1.0, "pA", "current"
    if cm_pF is not None:
        if not (np.isfinite(cm_pF) and cm_pF > 0):
            raise ValueError(f"cm_pF must be a capacitance > 0 pF, got {cm_pF!r}")
        scale, unit, quantity = 1.0 / float(cm_pF), "pA/pF", "current density"

    figure = _figure(4.4, width_in=7.0)
    ax = figure.subplots()
    ax.axhline(0.0, color="0.4", linewidth=0.8)
    ax.axvline(0.0, color="0.4", linewidth=0.8)
    for at in (-80.0, 80.0):
        ax.axvline(at, color="0.6", linewidth=0.8, linestyle=":")
    colours = colormaps["viridis"](np.linspace(0.0, 0.85, len(curves)))
    for i, (v, c) in enumerate(zip(volts, curves, strict=True)):
        order = np.argsort(v, kind="stable")
        label = labels[i] if labels is not None else f"curve {i + 1}"
        ax.plot(v[order], c[order] * scale, color=colours[i], linewidth=1.3, label=label)
    _clip_outliers(ax, np.concatenate(curves) * scale)
    ax.set_xlabel("membrane potential (mV)", fontsize=_FONT_PT)
    ax.set_ylabel(f"{quantity} ({unit})", fontsize=_FONT_PT)
    _style(ax)
    _legend(ax, len(curves))
    _title(figure, title)
    return figure


def _clip_outliers(ax: Axes, values: NDArray[np.float64]) -> None:
    """Limit the y axis to the 1-99th percentiles (padded) when a few samples (e.g. a
    capacitive transient) span over three times that range, and say so on the axes."""
    finite = values[np.isfinite(values)]
    if finite.size < 20:
        return
    low, high = np.percentile(finite, (1.0, 99.0))
    if high <= low or finite.max() - finite.min() <= 3.0 * (high - low):
        return
    pad = 0.2 * (high - low)
    ax.set_ylim(low - pad, high + pad)
    ax.text(
        0.01,
        0.01,
        "y axis clipped to the 1-99th percentiles",
        transform=ax.transAxes,
        fontsize=_SMALL_PT - 1,
        color="0.4",
        ha="left",
        va="bottom",
    )


def _as_curves(name: str, value: ArrayLike | Sequence[ArrayLike]) -> list[NDArray[np.float64]]:
    if isinstance(value, np.ndarray):
        array = np.asarray(value, dtype=np.float64)
        curves = [array] if array.ndim == 1 else list(array) if array.ndim == 2 else None
    elif isinstance(value, Sequence) and value and np.ndim(value[0]) == 1:
        curves = [np.asarray(v, dtype=np.float64) for v in value]
    else:
        curves = [np.asarray(value, dtype=np.float64)]
    if not curves or any(c.ndim != 1 or c.size < 2 for c in curves):
        raise ValueError(f"{name} must be one or more 1-D arrays of >= 2 values")
    return curves


def runup_figure(
    t_s: ArrayLike,
    i_plus80_pA: ArrayLike,
    i_minus80_pA: ArrayLike,
    *,
    cm_pF: float | None = None,
    fit: analysis.RunUp | None = None,
    title: str | None = None,
) -> Figure:
    """TRPM7 run-up: outward current at +80 mV and inward at −80 mV against time (§8.1-8.2).

    Currents in pA (pA/pF when ``cm_pF`` is given). ``fit`` (a :class:`~ionrig.analysis.RunUp`
    of the outward current, t0 = the first time) is drawn over the outward points with its
    half-time.
    """
    t = _times(t_s)
    plus = _vector("i_plus80_pA", i_plus80_pA, size=t.size)
    minus = _vector("i_minus80_pA", i_minus80_pA, size=t.size)
    scale, unit = 1.0, "pA"
    if cm_pF is not None:
        if not (np.isfinite(cm_pF) and cm_pF > 0):
            raise ValueError(f"cm_pF must be a capacitance > 0 pF, got {cm_pF!r}")
        scale, unit = 1.0 / float(cm_pF), "pA/pF"
    divisor, t_unit = _time_unit(float(t.max() - t.min()))
    figure = _figure(4.0, width_in=7.5)
    ax = figure.subplots()
    ax.axhline(0.0, color="0.4", linewidth=0.8)
    marker = "o" if t.size <= 200 else None
    ax.plot(
        t / divisor,
        plus * scale,
        color=_OUTWARD_COLOUR,
        marker=marker,
        markersize=3.0,
        linewidth=1.2,
        label="+80 mV (outward)",
    )
    ax.plot(
        t / divisor,
        minus * scale,
        color=_INWARD_COLOUR,
        marker=marker,
        markersize=3.0,
        linewidth=1.2,
        label="−80 mV (inward)",
    )
    if fit is not None:
        dense = np.linspace(t.min(), t.max(), 200)
        model = fit.baseline_pA + fit.amplitude_pA * -np.expm1(-(dense - t.min()) / fit.tau_s)
        ax.plot(
            dense / divisor,
            model * scale,
            color="0.15",
            linestyle="--",
            linewidth=1.1,
            label=f"run-up fit, t½ = {format_number(fit.t_half_s)} s",
        )
    ax.set_xlabel(f"time ({t_unit})", fontsize=_FONT_PT)
    ax.set_ylabel(f"current at ±80 mV ({unit})", fontsize=_FONT_PT)
    _style(ax)
    ax.legend(fontsize=_SMALL_PT, frameon=False, loc="best")
    _title(figure, title)
    return figure


def membrane_test_trend_figure(
    t_s: ArrayLike,
    ra_MOhm: ArrayLike,
    rm_MOhm: ArrayLike,
    cm_pF: ArrayLike,
    *,
    title: str | None = None,
) -> Figure:
    """Access resistance Ra (MΩ), membrane resistance Rm (MΩ) and capacitance Cm (pF) of
    successive membrane tests against time (s, or min over 10 min), one panel each.
    Non-finite values (e.g. Rm = inf without a steady-state current step) are left out."""
    t = _times(t_s)
    series = [
        (_vector("ra_MOhm", ra_MOhm, size=t.size), r"R$_\mathrm{a}$ (MΩ)", "#8e44ad"),
        (_vector("rm_MOhm", rm_MOhm, size=t.size), r"R$_\mathrm{m}$ (MΩ)", "#16a085"),
        (_vector("cm_pF", cm_pF, size=t.size), r"C$_\mathrm{m}$ (pF)", "#d35400"),
    ]
    divisor, unit = _time_unit(float(t.max() - t.min()))
    figure = _figure(5.8, width_in=7.0)
    axes = figure.subplots(3, 1, sharex=True)
    for ax, (values, label, colour) in zip(axes, series, strict=True):
        keep = np.isfinite(values)
        ax.plot(
            t[keep] / divisor, values[keep], color=colour, marker="o", markersize=4.0, linewidth=1.2
        )
        ax.set_ylabel(label, fontsize=_FONT_PT)
        _style(ax)
        if keep.any():
            # at least ±10 % around the middle, so that small drifts are not magnified
            low, high = float(values[keep].min()), float(values[keep].max())
            middle, half = 0.5 * (low + high), 0.5 * (high - low)
            half = max(1.15 * half, 0.1 * abs(middle)) or 1.0
            ax.set_ylim(middle - half, middle + half)
    axes[-1].set_xlabel(f"time ({unit})", fontsize=_FONT_PT)
    _title(figure, title)
    return figure


def seal_figure(
    t_s: ArrayLike,
    seal_GOhm: ArrayLike,
    *,
    target_GOhm: float | None = None,
    title: str | None = None,
) -> Figure:
    """Seal resistance (GΩ, log scale) against time while sealing; the target dashed."""
    t = _times(t_s)
    seal = _vector("seal_GOhm", seal_GOhm, size=t.size)
    divisor, unit = _time_unit(float(t.max() - t.min()))
    figure = _figure(3.8, width_in=7.0)
    ax = figure.subplots()
    positive = np.isfinite(seal) & (seal > 0)
    ax.plot(
        (t[positive] - t.min()) / divisor,
        seal[positive],
        color="#2c3e50",
        marker="o",
        markersize=3.0,
        linewidth=1.2,
        label="seal test (5 mV)",
    )
    if target_GOhm is not None:
        ax.axhline(
            target_GOhm,
            color=_OUTWARD_COLOUR,
            linestyle="--",
            linewidth=1.0,
            label=f"target {target_GOhm:g} GΩ",
        )
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(_plain_number))
    ax.set_xlabel(f"time since first seal test ({unit})", fontsize=_FONT_PT)
    ax.set_ylabel("seal resistance (GΩ)", fontsize=_FONT_PT)
    _style(ax)
    ax.legend(fontsize=_SMALL_PT, frameon=False, loc="best")
    _title(figure, title)
    return figure


def sweeps_figure(
    time_ms: ArrayLike,
    current_pA: ArrayLike,
    *,
    command_mV: ArrayLike | None = None,
    title: str | None = None,
) -> Figure:
    """Current sweeps (pA) against time in the sweep (ms), each faint and their mean bold, with
    the command (mV) on a small panel above when given."""
    t = _vector("time_ms", time_ms)
    sweeps = np.atleast_2d(np.asarray(current_pA, dtype=np.float64))
    if sweeps.ndim != 2 or sweeps.shape[1] != t.size:
        raise ValueError(
            f"current_pA must be (n_sweeps, {t.size}) (one sample per time_ms), "
            f"got shape {np.shape(current_pA)}"
        )
    figure = _figure(4.6 if command_mV is not None else 3.6, width_in=7.0)
    if command_mV is not None:
        command = _vector("command_mV", command_mV, size=t.size)
        ax_cmd, ax = figure.subplots(2, 1, sharex=True, height_ratios=[1, 3])
        ax_cmd.plot(t, command, color="0.2", linewidth=1.2)
        ax_cmd.set_ylabel("command (mV)", fontsize=_FONT_PT)
        _style(ax_cmd)
    else:
        ax = figure.subplots()
    for sweep in sweeps:
        ax.plot(t, sweep, color="#7f8c8d", linewidth=0.6, alpha=0.5)
    ax.plot(
        t,
        sweeps.mean(axis=0),
        color="#2c3e50",
        linewidth=1.4,
        label=f"mean of {len(sweeps)} sweeps",
    )
    ax.set_xlabel("time in sweep (ms)", fontsize=_FONT_PT)
    ax.set_ylabel("current (pA)", fontsize=_FONT_PT)
    _style(ax)
    ax.legend(fontsize=_SMALL_PT, frameon=False, loc="best")
    _title(figure, title)
    return figure


# -- dose-response ---------------------------------------------------------------------------------
def dose_response_figure(
    concentration_mM: ArrayLike,
    response: ArrayLike,
    fit: analysis.HillFit | analysis.BiphasicHillFit,
    *,
    response_label: str = "response (fraction of control)",
    title: str | None = None,
) -> Figure:
    """Points and the Hill fit on a log concentration axis (mM), with the band the IC50's 95 %
    confidence interval spans (the fit evaluated at both ends of ``ic50_ci``, other parameters
    held) and the IC50 marked. Controls (0 mM) sit one decade left of the lowest concentration.
    ``fit`` is a :class:`~ionrig.analysis.HillFit` or :class:`~ionrig.analysis.BiphasicHillFit`.
    """
    x = _vector("concentration_mM", concentration_mM)
    y = _vector("response", response, size=x.size)
    if (x < 0).any() or not np.isfinite(x).all():
        raise ValueError("concentration_mM must be finite and >= 0 mM")
    positive = x > 0
    if not positive.any():
        raise ValueError("concentration_mM must hold at least one concentration > 0 mM")
    if not isinstance(fit, analysis.HillFit | analysis.BiphasicHillFit):
        raise ValueError(f"fit must be a HillFit or BiphasicHillFit, got {type(fit).__name__}")
    low, high = float(x[positive].min()), float(x[positive].max())
    dense = np.geomspace(low / 3.0, high * 3.0, 300)

    if isinstance(fit, analysis.HillFit):
        ends = [dataclasses.replace(fit, ic50=_finite_ci(c, dense)) for c in fit.ic50_ci]
        marks = [(fit.ic50, fit.ic50_ci, "IC50" if fit.decreasing else "EC50")]
        text = (
            f"{marks[0][2]} = {fit.ic50:.3g} mM (95 % CI {_ci_text(fit.ic50_ci)} mM)\n"
            f"Hill coefficient {fit.hill:.2g}"
        )
    else:
        ends = [
            dataclasses.replace(fit, ic50_1=_finite_ci(c1, dense), ic50_2=_finite_ci(c2, dense))
            for c1, c2 in zip(fit.ic50_1_ci, fit.ic50_2_ci, strict=True)
        ]
        marks = [(fit.ic50_1, fit.ic50_1_ci, "IC50₁"), (fit.ic50_2, fit.ic50_2_ci, "IC50₂")]
        text = (
            "\n".join(
                f"{label} = {value:.3g} mM (95 % CI {_ci_text(ci)} mM)"
                for value, ci, label in marks
            )
            + f"\nsite 1 fraction {fit.fraction_1:.2f}"
        )

    figure = _figure(4.4, width_in=7.0)
    controls = ~positive
    if controls.any():
        # a narrow linear panel for the 0-mM controls, left of the log axis (a broken axis)
        ax_control, ax = figure.subplots(1, 2, sharey=True, width_ratios=[1, 8])
        ax_control.plot(
            np.zeros(controls.sum()),
            y[controls],
            "s",
            color="#7f8c8d",
            markersize=5.0,
            label="control",
        )
        ax_control.set_xlim(-1.0, 1.0)
        ax_control.set_xticks([0.0], ["0"])
        ax_control.set_ylabel(response_label, fontsize=_FONT_PT)
        _style(ax_control)
        ax_control.spines["right"].set_visible(False)
        ax_control.grid(False, axis="x")
        for axis, side in ((ax_control, 1.0), (ax, 0.0)):
            axis.plot(
                [side],
                [0.0],
                transform=axis.transAxes,
                marker=[(-1, -2), (1, 2)],
                markersize=8,
                color="black",
                clip_on=False,
                linestyle="none",
            )
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="y", left=False)
    else:
        ax = figure.subplots()
        ax.set_ylabel(response_label, fontsize=_FONT_PT)
    curves = np.vstack([end.response(dense) for end in ends])
    ax.fill_between(
        dense,
        curves.min(axis=0),
        curves.max(axis=0),
        color="#aed6f1",
        alpha=0.6,
        linewidth=0,
        label="95 % CI of the IC50",
    )
    ax.plot(dense, fit.response(dense), color="#1f4e79", linewidth=1.6, label="Hill fit")
    ax.plot(x[positive], y[positive], "o", color="#222222", markersize=5.0, label="measured")
    for value, _, _ in marks:
        ax.axvline(value, color="#1f4e79", linewidth=0.9, linestyle="--")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(_plain_number))
    ax.set_xlabel("concentration (mM)", fontsize=_FONT_PT)
    ax.text(
        0.02 if fit.decreasing else 0.98,
        0.04,
        text,
        transform=ax.transAxes,
        ha="left" if fit.decreasing else "right",
        va="bottom",
        fontsize=_SMALL_PT,
        bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "0.8"},
    )
    _style(ax)
    handles, names = ax.get_legend_handles_labels()
    if controls.any():
        control_handles, _ = ax_control.get_legend_handles_labels()
        handles, names = [*handles, *control_handles], [*names, "control (0 mM)"]
    ax.legend(
        handles,
        names,
        fontsize=_SMALL_PT,
        frameon=False,
        loc="upper right" if fit.decreasing else "upper left",
    )
    _title(figure, title)
    return figure


def _plain_number(value: float, _position: int) -> str:
    """Tick label without powers of ten: 0.01, 0.1, 1, 10."""
    return f"{value:g}"


def format_number(value: float | None, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits, without an exponent between 1e-3 and 1e6
    (2640, 0.0123); "n/a" for NaN, "∞" for infinity, "—" for None."""
    if value is None:
        return "—"
    number = float(value)
    if np.isnan(number):
        return "n/a"
    if np.isinf(number):
        return "∞" if number > 0 else "−∞"
    rounded = float(f"{number:.{digits - 1}e}")
    if rounded == 0:
        return "0"
    magnitude = int(np.floor(np.log10(abs(rounded))))
    if not -3 <= magnitude < 6:
        return f"{rounded:.{digits - 1}e}"
    return f"{rounded:.{max(0, digits - 1 - magnitude)}f}"


def _finite_ci(value: float, dense: NDArray[np.float64]) -> float:
    """A confidence limit clipped into the plotted range (an unbounded limit is drawn at the
    edge)."""
    if not value > 0:
        return float(dense[0] / 10.0)
    return float(np.clip(value, dense[0] / 10.0, dense[-1] * 10.0))


def _ci_text(ci: tuple[float, float]) -> str:
    low, high = ci
    return f"{low:.3g}–{high:.3g}" if np.isfinite(high) else f"{low:.3g}–∞"


# -- files -----------------------------------------------------------------------------------------
def save_figure(figure: Figure, out_dir: str | os.PathLike, stem: str) -> list[Path]:
    """Write ``<stem>.png`` (``PNG_DPI``) and ``<stem>.svg`` into ``out_dir`` (created);
    returns their paths, PNG first. ``stem`` is a file name without suffix or folder."""
    if not stem or Path(stem).name != stem or stem in (".", ".."):
        raise ValueError(f"stem must be a plain file name without folders, got {stem!r}")
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{stem}.png", directory / f"{stem}.svg"]
    figure.savefig(paths[0], dpi=PNG_DPI, facecolor="white")
    figure.savefig(paths[1], facecolor="white")
    return paths

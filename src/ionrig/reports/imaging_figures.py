"""Figures of ratiometric imaging runs: the 340/380 ratio (and [Mg²⁺]ᵢ) per ROI against time,
and the 380-nm image with the ROIs outlined in their time-course colours."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Polygon, Rectangle
from numpy.typing import ArrayLike, NDArray

from ionrig import analysis
from ionrig.reports.figure_style import (
    FONT_PT,
    MG_LABEL,
    SMALL_PT,
    SolutionPeriod,
    checked_periods,
    legend_outside,
    new_figure,
    roi_colour,
    set_title,
    shade_periods,
    style_axes,
    time_unit,
    times,
    vector,
)

__all__ = ["ratio_timecourse_figure", "roi_image_figure"]


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
    t = times(t_s)
    if not ratios_by_roi:
        raise ValueError("ratios_by_roi must hold at least one ROI (name -> ratio per time)")
    ratios = {
        str(k): vector(f"ratios_by_roi[{k!r}]", v, size=t.size) for k, v in ratios_by_roi.items()
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
            str(k): vector(f"mg_free_mM_by_roi[{k!r}]", v, size=t.size)
            for k, v in mg_free_mM_by_roi.items()
        }
    periods = checked_periods(solution_periods)
    ends = [t.min(), t.max()] + [x for p in periods for x in p[:2]]
    divisor, unit = time_unit(max(ends) - min(ends))

    figure = new_figure(5.6 if mg is not None else 3.6)
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
    ax_ratio.set_ylabel("ratio F340/F380", fontsize=FONT_PT)
    if ax_mg is not None:
        ax_mg.set_ylabel(MG_LABEL, fontsize=FONT_PT)
    axes[-1].set_xlabel(f"time ({unit})", fontsize=FONT_PT)
    for ax in axes:
        style_axes(ax)
    if periods:
        shade_periods(axes, periods, divisor, labelled=ax_ratio)
    legend_outside(ax_ratio, len(names))
    set_title(figure, title)
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


def _image_2d(image_380: ArrayLike) -> NDArray[np.float64]:
    """The image (rows, cols) in ADU; a single-frame stack is unwrapped."""
    image = np.asarray(image_380, dtype=np.float64)
    if image.ndim == 3 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 2 or min(image.shape) < 2:
        raise ValueError(f"image_380 must be a 2-D image (rows, cols), got shape {image.shape}")
    return image


def _parsed_rois(rois: Mapping[str, Any] | Sequence[Any]) -> dict[str, analysis.Roi]:
    """ROI objects by name; a plain sequence is numbered 1, 2, …."""
    if isinstance(rois, Mapping):
        named = {str(k): v for k, v in rois.items()}
    elif isinstance(rois, Sequence) and not isinstance(rois, str):
        named = {str(i + 1): roi for i, roi in enumerate(rois)}
    else:
        raise ValueError(f"rois must be a mapping name -> ROI or a sequence of ROIs, got {rois!r}")
    return {
        name: analysis.roi_from_spec(spec, name=f"rois[{name!r}]") for name, spec in named.items()
    }


def _show_image(figure: Figure, ax: Axes, image: NDArray[np.float64]) -> None:
    """The image in grey (contrast from the 0.5-99.8 percentiles) with its colour bar (ADU)."""
    finite = image[np.isfinite(image)]
    low, high = np.percentile(finite, (0.5, 99.8)) if finite.size else (0.0, 1.0)
    shown = ax.imshow(
        image, cmap="gray", vmin=low, vmax=max(high, low + 1e-9), interpolation="nearest"
    )
    colourbar = figure.colorbar(shown, ax=ax, shrink=0.85, pad=0.02)
    colourbar.set_label("intensity at 380 nm (ADU)", fontsize=FONT_PT)
    colourbar.ax.tick_params(labelsize=SMALL_PT)


def _outline_roi(ax: Axes, roi: analysis.Roi, name: str, colour: Any, rows: int) -> None:
    """The ROI's outline and its name in its colour, just above the outline (below it at the
    image's top edge): the cell stays seen."""
    patch, _ = _roi_patch(roi, colour, linewidth=1.6, gid="roi_outline")
    ax.add_patch(patch)
    x, top = _roi_top(roi)
    above = top > 0.06 * rows
    ax.text(
        x,
        top - 1.0 if above else top + 1.0 + _extent_px(roi),
        name,
        color=colour,
        fontsize=SMALL_PT + 0.5,
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


def _outline_background(ax: Axes, background_roi: Mapping[str, Any]) -> None:
    """The background ROI dashed in yellow, marked "bg" at its centre."""
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
        fontsize=SMALL_PT,
        ha="center",
        va="center",
        path_effects=[patheffects.withStroke(linewidth=3.0, foreground="black")],
        gid="background_label",
    )


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
    image = _image_2d(image_380)
    parsed = _parsed_rois(rois)
    rows, cols = image.shape
    height = min(6.5, max(3.5, 6.0 * rows / cols))
    figure = new_figure(height, width_in=min(8.0, height * cols / rows + 1.6))
    ax = figure.subplots()
    _show_image(figure, ax, image)
    for i, (name, roi) in enumerate(parsed.items()):
        _outline_roi(ax, roi, name, roi_colour(i, len(parsed)), rows)
    if background_roi is not None:
        _outline_background(ax, background_roi)
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    ax.set_xlabel("x (px)", fontsize=FONT_PT)
    ax.set_ylabel("y (px)", fontsize=FONT_PT)
    ax.tick_params(labelsize=SMALL_PT + 0.5)
    set_title(figure, title)
    return figure

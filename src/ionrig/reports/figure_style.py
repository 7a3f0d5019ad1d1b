"""What every figure of :mod:`ionrig.reports.figures` shares: sizes and fonts (pt), colours
(ROI ``k`` keeps its colour in every panel, a solution keeps its shade), the checks of the
arrays they take, time axes (s, or min over 10 min), and saving as PNG and SVG.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "FONT_PT",
    "INWARD_COLOUR",
    "MG_LABEL",
    "MINUTES_ABOVE_S",
    "OUTWARD_COLOUR",
    "PNG_DPI",
    "SMALL_PT",
    "TITLE_PT",
    "WIDTH_IN",
    "SolutionPeriod",
    "checked_periods",
    "format_number",
    "legend_outside",
    "new_figure",
    "plain_number",
    "roi_colour",
    "save_figure",
    "set_title",
    "shade_periods",
    "style_axes",
    "time_unit",
    "times",
    "vector",
]

#: Resolution of saved PNGs (dots per inch); SVGs are vector.
PNG_DPI = 150
#: Spans longer than this are drawn in minutes.
MINUTES_ABOVE_S = 600.0
#: (start_s, stop_s, solution name) on the rig clock.
SolutionPeriod = tuple[float, float, str]

FONT_PT = 10.0
SMALL_PT = 8.5
TITLE_PT = 11.0
WIDTH_IN = 8.0
SOLUTION_ALPHA = 0.45
SOLUTION_PALETTE = "Pastel2"
OUTWARD_COLOUR = "#c0392b"  # +80 mV: outward current
INWARD_COLOUR = "#2c6fbb"  # −80 mV: inward current
MG_LABEL = r"[Mg$^{2+}$]$_\mathrm{i}$ (mM)"


def new_figure(height_in: float, width_in: float = WIDTH_IN) -> Figure:
    """A figure (inches) on the Agg canvas, with constrained layout (never pyplot's state)."""
    figure = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def vector(name: str, value: ArrayLike, *, size: int | None = None) -> NDArray[np.float64]:
    """``value`` as a 1-D float array (of ``size`` values when given); ``ValueError`` naming
    ``name`` otherwise."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be an array of numbers, got {value!r:.80}") from error
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if size is not None and array.size != size:
        raise ValueError(f"{name} must have {size} values (one per time point), got {array.size}")
    return array


def times(t_s: ArrayLike) -> NDArray[np.float64]:
    """Times (s): a non-empty 1-D array of finite values."""
    t = vector("t_s", t_s)
    if t.size == 0:
        raise ValueError("t_s must hold at least one time (s)")
    if not np.isfinite(t).all():
        raise ValueError("t_s must hold finite times (s)")
    return t


def time_unit(span_s: float) -> tuple[float, str]:
    """(divisor, unit) for a time axis: minutes above 10 min, else seconds."""
    return (60.0, "min") if span_s > MINUTES_ABOVE_S else (1.0, "s")


def style_axes(ax: Axes) -> None:
    """The shared look: small ticks, a light grid behind the data, no top or right spine."""
    ax.tick_params(labelsize=SMALL_PT + 0.5)
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


def solution_colours(names: Sequence[str]) -> dict[str, tuple[float, float, float, float]]:
    """A translucent shade per solution name, in order of first appearance."""
    palette = colormaps[SOLUTION_PALETTE]
    colours: dict[str, tuple[float, float, float, float]] = {}
    for name in names:
        if name not in colours:
            colours[name] = to_rgba(palette(len(colours) % palette.N), SOLUTION_ALPHA)
    return colours


def checked_periods(periods: Sequence[SolutionPeriod] | None) -> list[SolutionPeriod]:
    """``(start_s, stop_s, solution name)`` periods checked (finite, start <= stop)."""
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


def shade_periods(
    axes: Sequence[Axes], periods: list[SolutionPeriod], divisor: float, *, labelled: Axes
) -> None:
    """Shade every period on every axes; name each period above ``labelled``."""
    colours = solution_colours([name for _, _, name in periods])
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
            fontsize=SMALL_PT,
            color="0.2",
            bbox={"boxstyle": "round,pad=0.2", "facecolor": colours[name], "edgecolor": "none"},
            gid="solution_label",
        )


def legend_outside(ax: Axes, n_entries: int) -> None:
    """A legend right of the axes (two columns above 16 entries); none for a single entry."""
    if n_entries <= 1:
        return
    ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=SMALL_PT,
        frameon=False,
        ncols=1 if n_entries <= 16 else 2,
        borderaxespad=0.0,
    )


def set_title(figure: Figure, title: str | None) -> None:
    """The figure's title, when there is one."""
    if title:
        figure.suptitle(title, fontsize=TITLE_PT)


def plain_number(value: float, _position: int) -> str:
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

"""The dose-response figure: points and the Hill fit on a log concentration axis, the IC50's
95 % confidence band, the 0-mM controls on a broken axis."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from numpy.typing import ArrayLike, NDArray

from ionrig import analysis
from ionrig.reports.figure_style import (
    FONT_PT,
    SMALL_PT,
    new_figure,
    plain_number,
    set_title,
    style_axes,
    vector,
)

__all__ = ["dose_response_figure"]


def _checked_points(
    concentration_mM: ArrayLike, response: ArrayLike, fit: Any
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(concentrations in mM, responses) checked: finite, >= 0 mM, at least one > 0 mM, one
    response each; ``fit`` a Hill fit."""
    x = vector("concentration_mM", concentration_mM)
    y = vector("response", response, size=x.size)
    if (x < 0).any() or not np.isfinite(x).all():
        raise ValueError("concentration_mM must be finite and >= 0 mM")
    if not (x > 0).any():
        raise ValueError("concentration_mM must hold at least one concentration > 0 mM")
    if not isinstance(fit, analysis.HillFit | analysis.BiphasicHillFit):
        raise ValueError(f"fit must be a HillFit or BiphasicHillFit, got {type(fit).__name__}")
    return x, y


def _fit_ends_and_marks(
    fit: analysis.HillFit | analysis.BiphasicHillFit, dense: NDArray[np.float64]
) -> tuple[list[Any], list[tuple[float, tuple[float, float], str]], str]:
    """The fit at both ends of each IC50's confidence interval (other parameters held), the
    IC50s to mark (value in mM, CI, label) and the text box's lines."""
    if isinstance(fit, analysis.HillFit):
        ends = [dataclasses.replace(fit, ic50=_finite_ci(c, dense)) for c in fit.ic50_ci]
        marks = [(fit.ic50, fit.ic50_ci, "IC50" if fit.decreasing else "EC50")]
        text = (
            f"{marks[0][2]} = {fit.ic50:.3g} mM (95 % CI {_ci_text(fit.ic50_ci)} mM)\n"
            f"Hill coefficient {fit.hill:.2g}"
        )
        return ends, marks, text
    ends = [
        dataclasses.replace(fit, ic50_1=_finite_ci(c1, dense), ic50_2=_finite_ci(c2, dense))
        for c1, c2 in zip(fit.ic50_1_ci, fit.ic50_2_ci, strict=True)
    ]
    marks = [(fit.ic50_1, fit.ic50_1_ci, "IC50₁"), (fit.ic50_2, fit.ic50_2_ci, "IC50₂")]
    text = (
        "\n".join(
            f"{label} = {value:.3g} mM (95 % CI {_ci_text(ci)} mM)" for value, ci, label in marks
        )
        + f"\nsite 1 fraction {fit.fraction_1:.2f}"
    )
    return ends, marks, text


def _control_axes(figure: Figure, y_control: NDArray[np.float64], response_label: str) -> tuple:
    """A narrow linear panel for the 0-mM controls, left of the log axis (a broken axis);
    returns (control axes, log axes)."""
    ax_control, ax = figure.subplots(1, 2, sharey=True, width_ratios=[1, 8])
    ax_control.plot(
        np.zeros(y_control.size),
        y_control,
        "s",
        color="#7f8c8d",
        markersize=5.0,
        label="control",
    )
    ax_control.set_xlim(-1.0, 1.0)
    ax_control.set_xticks([0.0], ["0"])
    ax_control.set_ylabel(response_label, fontsize=FONT_PT)
    style_axes(ax_control)
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
    return ax_control, ax


def _plot_fit(
    ax: Axes,
    fit: Any,
    ends: list[Any],
    marks: list[tuple[float, tuple[float, float], str]],
    dense: NDArray[np.float64],
    x: NDArray[np.float64],
    y: NDArray[np.float64],
) -> None:
    """The IC50's confidence band, the fit, the measured points (> 0 mM) and the IC50s
    (dashed) on the log concentration axis (mM)."""
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
    ax.plot(x, y, "o", color="#222222", markersize=5.0, label="measured")
    for value, _, _ in marks:
        ax.axvline(value, color="#1f4e79", linewidth=0.9, linestyle="--")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(plain_number))
    ax.set_xlabel("concentration (mM)", fontsize=FONT_PT)


def _fit_text_and_legend(ax: Axes, ax_control: Axes | None, fit: Any, text: str) -> None:
    """The fit's numbers in a box at the bottom and the legend at the top, on the side the
    curve leaves free."""
    ax.text(
        0.02 if fit.decreasing else 0.98,
        0.04,
        text,
        transform=ax.transAxes,
        ha="left" if fit.decreasing else "right",
        va="bottom",
        fontsize=SMALL_PT,
        bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "0.8"},
    )
    style_axes(ax)
    handles, names = ax.get_legend_handles_labels()
    if ax_control is not None:
        control_handles, _ = ax_control.get_legend_handles_labels()
        handles, names = [*handles, *control_handles], [*names, "control (0 mM)"]
    ax.legend(
        handles,
        names,
        fontsize=SMALL_PT,
        frameon=False,
        loc="upper right" if fit.decreasing else "upper left",
    )


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
    x, y = _checked_points(concentration_mM, response, fit)
    positive = x > 0
    low, high = float(x[positive].min()), float(x[positive].max())
    dense = np.geomspace(low / 3.0, high * 3.0, 300)
    ends, marks, text = _fit_ends_and_marks(fit, dense)

    figure = new_figure(4.4, width_in=7.0)
    controls = ~positive
    ax_control = None
    if controls.any():
        ax_control, ax = _control_axes(figure, y[controls], response_label)
    else:
        ax = figure.subplots()
        ax.set_ylabel(response_label, fontsize=FONT_PT)
    _plot_fit(ax, fit, ends, marks, dense, x[positive], y[positive])
    _fit_text_and_legend(ax, ax_control, fit, text)
    set_title(figure, title)
    return figure


def _finite_ci(value: float, dense: NDArray[np.float64]) -> float:
    """A confidence limit clipped into the plotted range (an unbounded limit is drawn at the
    edge)."""
    if not value > 0:
        return float(dense[0] / 10.0)
    return float(np.clip(value, dense[0] / 10.0, dense[-1] * 10.0))


def _ci_text(ci: tuple[float, float]) -> str:
    low, high = ci
    return f"{low:.3g}–{high:.3g}" if np.isfinite(high) else f"{low:.3g}–∞"

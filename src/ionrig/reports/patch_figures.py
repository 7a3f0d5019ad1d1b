"""Figures of patch-clamp runs: I-V curves, TRPM7 run-up, membrane-test trends, sealing and
current sweeps."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from numpy.typing import ArrayLike, NDArray

from ionrig import analysis
from ionrig.reports.figure_style import (
    FONT_PT,
    INWARD_COLOUR,
    OUTWARD_COLOUR,
    SMALL_PT,
    format_number,
    legend_outside,
    new_figure,
    plain_number,
    set_title,
    style_axes,
    time_unit,
    times,
    vector,
)

__all__ = [
    "iv_figure",
    "membrane_test_trend_figure",
    "runup_figure",
    "seal_figure",
    "sweeps_figure",
]


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

    figure = new_figure(4.4, width_in=7.0)
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
    ax.set_xlabel("membrane potential (mV)", fontsize=FONT_PT)
    ax.set_ylabel(f"{quantity} ({unit})", fontsize=FONT_PT)
    style_axes(ax)
    legend_outside(ax, len(curves))
    set_title(figure, title)
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
        fontsize=SMALL_PT - 1,
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
    t = times(t_s)
    plus = vector("i_plus80_pA", i_plus80_pA, size=t.size)
    minus = vector("i_minus80_pA", i_minus80_pA, size=t.size)
    scale, unit = 1.0, "pA"
    if cm_pF is not None:
        if not (np.isfinite(cm_pF) and cm_pF > 0):
            raise ValueError(f"cm_pF must be a capacitance > 0 pF, got {cm_pF!r}")
        scale, unit = 1.0 / float(cm_pF), "pA/pF"
    divisor, t_unit = time_unit(float(t.max() - t.min()))
    figure = new_figure(4.0, width_in=7.5)
    ax = figure.subplots()
    ax.axhline(0.0, color="0.4", linewidth=0.8)
    marker = "o" if t.size <= 200 else None
    ax.plot(
        t / divisor,
        plus * scale,
        color=OUTWARD_COLOUR,
        marker=marker,
        markersize=3.0,
        linewidth=1.2,
        label="+80 mV (outward)",
    )
    ax.plot(
        t / divisor,
        minus * scale,
        color=INWARD_COLOUR,
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
    ax.set_xlabel(f"time ({t_unit})", fontsize=FONT_PT)
    ax.set_ylabel(f"current at ±80 mV ({unit})", fontsize=FONT_PT)
    style_axes(ax)
    ax.legend(fontsize=SMALL_PT, frameon=False, loc="best")
    set_title(figure, title)
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
    t = times(t_s)
    series = [
        (vector("ra_MOhm", ra_MOhm, size=t.size), r"R$_\mathrm{a}$ (MΩ)", "#8e44ad"),
        (vector("rm_MOhm", rm_MOhm, size=t.size), r"R$_\mathrm{m}$ (MΩ)", "#16a085"),
        (vector("cm_pF", cm_pF, size=t.size), r"C$_\mathrm{m}$ (pF)", "#d35400"),
    ]
    divisor, unit = time_unit(float(t.max() - t.min()))
    figure = new_figure(5.8, width_in=7.0)
    axes = figure.subplots(3, 1, sharex=True)
    for ax, (values, label, colour) in zip(axes, series, strict=True):
        keep = np.isfinite(values)
        ax.plot(
            t[keep] / divisor, values[keep], color=colour, marker="o", markersize=4.0, linewidth=1.2
        )
        ax.set_ylabel(label, fontsize=FONT_PT)
        style_axes(ax)
        if keep.any():
            # at least ±10 % around the middle, so that small drifts are not magnified
            low, high = float(values[keep].min()), float(values[keep].max())
            middle, half = 0.5 * (low + high), 0.5 * (high - low)
            half = max(1.15 * half, 0.1 * abs(middle)) or 1.0
            ax.set_ylim(middle - half, middle + half)
    axes[-1].set_xlabel(f"time ({unit})", fontsize=FONT_PT)
    set_title(figure, title)
    return figure


def seal_figure(
    t_s: ArrayLike,
    seal_GOhm: ArrayLike,
    *,
    target_GOhm: float | None = None,
    title: str | None = None,
) -> Figure:
    """Seal resistance (GΩ, log scale) against time while sealing; the target dashed."""
    t = times(t_s)
    seal = vector("seal_GOhm", seal_GOhm, size=t.size)
    divisor, unit = time_unit(float(t.max() - t.min()))
    figure = new_figure(3.8, width_in=7.0)
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
            color=OUTWARD_COLOUR,
            linestyle="--",
            linewidth=1.0,
            label=f"target {target_GOhm:g} GΩ",
        )
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(plain_number))
    ax.set_xlabel(f"time since first seal test ({unit})", fontsize=FONT_PT)
    ax.set_ylabel("seal resistance (GΩ)", fontsize=FONT_PT)
    style_axes(ax)
    ax.legend(fontsize=SMALL_PT, frameon=False, loc="best")
    set_title(figure, title)
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
    t = vector("time_ms", time_ms)
    sweeps = np.atleast_2d(np.asarray(current_pA, dtype=np.float64))
    if sweeps.ndim != 2 or sweeps.shape[1] != t.size:
        raise ValueError(
            f"current_pA must be (n_sweeps, {t.size}) (one sample per time_ms), "
            f"got shape {np.shape(current_pA)}"
        )
    figure = new_figure(4.6 if command_mV is not None else 3.6, width_in=7.0)
    if command_mV is not None:
        command = vector("command_mV", command_mV, size=t.size)
        ax_cmd, ax = figure.subplots(2, 1, sharex=True, height_ratios=[1, 3])
        ax_cmd.plot(t, command, color="0.2", linewidth=1.2)
        ax_cmd.set_ylabel("command (mV)", fontsize=FONT_PT)
        style_axes(ax_cmd)
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
    ax.set_xlabel("time in sweep (ms)", fontsize=FONT_PT)
    ax.set_ylabel("current (pA)", fontsize=FONT_PT)
    style_axes(ax)
    ax.legend(fontsize=SMALL_PT, frameon=False, loc="best")
    set_title(figure, title)
    return figure

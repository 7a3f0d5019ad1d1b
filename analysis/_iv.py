"""Current-voltage curves from ramps or steps: current at chosen voltages, reversal potential and
rectification index (TRPM7 read-outs, docs/reference/physiology.md §8.1-8.2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import finite_array, finite_number, finite_pair

__all__ = ["IVCurve", "iv_curve", "iv_from_ramp", "iv_from_steps", "ramp_samples"]


@dataclass(frozen=True)
class IVCurve:
    """An I-V curve sorted by voltage, with its read-outs.

    ``current_at_pA[i]`` is the current at ``at_mV[i]`` (linear interpolation);
    ``reversal_mV`` the zero crossing (median of the crossings if the noise makes several, NaN
    if the current does not change sign); ``rectification_index`` is
    ``I(max(at_mV)) / abs(I(min(at_mV)))``, i.e. I(+80)/|I(-80)| for the default voltages.
    """

    voltage_mV: NDArray[np.float64]
    current_pA: NDArray[np.float64]
    at_mV: tuple[float, ...]
    current_at_pA: tuple[float, ...]
    reversal_mV: float
    rectification_index: float


def _at_voltages(at_mV: Sequence[float], lo: float, hi: float) -> tuple[float, ...]:
    values = tuple(
        finite_number("at_mV", v) for v in np.atleast_1d(np.asarray(at_mV, dtype=object))
    )
    if len(values) < 2:
        raise ValueError(f"at_mV must hold >= 2 voltages, got {at_mV!r}")
    outside = [v for v in values if not lo <= v <= hi]
    if outside:
        raise ValueError(
            f"at_mV must lie within the measured voltage range [{lo:.6g}, {hi:.6g}] mV, "
            f"got {outside}"
        )
    return values


def _reversal(voltage: NDArray[np.float64], current: NDArray[np.float64]) -> float:
    crossings = list(voltage[current == 0])
    a, b = current[:-1], current[1:]
    idx = np.flatnonzero(a * b < 0)
    crossings.extend(voltage[idx] - a[idx] * (voltage[idx + 1] - voltage[idx]) / (b[idx] - a[idx]))
    return float(np.median(crossings)) if crossings else float("nan")


def iv_curve(
    voltage_mV: ArrayLike, current_pA: ArrayLike, *, at_mV: Sequence[float] = (-80.0, 80.0)
) -> IVCurve:
    """I-V read-outs from paired (voltage, current) points: ramp samples or step levels.

    Points are sorted by voltage and repeated voltages averaged; needs >= 2 distinct voltages,
    and ``at_mV`` (>= 2 values) inside their range.
    """
    v = finite_array("voltage_mV", voltage_mV, ndim=1, min_size=2)
    i = finite_array("current_pA", current_pA, ndim=1, min_size=2)
    if v.size != i.size:
        raise ValueError(
            f"voltage_mV and current_pA must have one length, got {v.size} and {i.size}"
        )
    levels, inverse = np.unique(v, return_inverse=True)
    if levels.size < 2:
        raise ValueError("voltage_mV must hold >= 2 distinct voltages")
    mean_i = np.bincount(inverse, weights=i) / np.bincount(inverse)
    at = _at_voltages(at_mV, float(levels[0]), float(levels[-1]))
    current_at = tuple(float(x) for x in np.interp(at, levels, mean_i))
    low = current_at[int(np.argmin(at))]
    high = current_at[int(np.argmax(at))]
    rectification = high / abs(low) if low != 0 else float("inf")
    return IVCurve(
        voltage_mV=levels,
        current_pA=mean_i,
        at_mV=at,
        current_at_pA=current_at,
        reversal_mV=_reversal(levels, mean_i),
        rectification_index=float(rectification),
    )


def ramp_samples(command_mV: ArrayLike) -> slice:
    """The samples of the longest monotone (rising or falling) run of the command: the ramp."""
    command = finite_array("command_mV", command_mV, ndim=1, min_size=3)
    dv = np.sign(np.diff(command))
    best, best_len = slice(0, 0), 0
    for direction in (1.0, -1.0):
        padded = np.concatenate([[0], (dv == direction).astype(np.int8), [0]])
        edges = np.flatnonzero(np.diff(padded))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            if stop - start > best_len:
                best, best_len = slice(int(start), int(stop) + 1), int(stop - start)
    if best_len < 2:
        raise ValueError("command_mV must contain a ramp (allowed: >= 3 monotone samples)")
    return best


def iv_from_ramp(
    current_pA: ArrayLike, command_mV: ArrayLike, *, at_mV: Sequence[float] = (-80.0, 80.0)
) -> IVCurve:
    """I-V curve from one ramp sweep: the longest monotone run of ``command_mV`` (§8.1)."""
    current = finite_array("current_pA", current_pA, ndim=1)
    command = finite_array("command_mV", command_mV, ndim=1)
    if current.size != command.size:
        raise ValueError(
            f"current_pA and command_mV must have one length, got {current.size} and {command.size}"
        )
    ramp = ramp_samples(command)
    return iv_curve(command[ramp], current[ramp], at_mV=at_mV)


def iv_from_steps(
    time_s: ArrayLike,
    sweeps_pA: ArrayLike,
    step_mV: ArrayLike,
    *,
    window_s: tuple[float, float],
    at_mV: Sequence[float] = (-80.0, 80.0),
) -> IVCurve:
    """I-V curve from a family of voltage steps: mean current of each sweep in ``window_s``.

    ``sweeps_pA`` is (n_steps, n_samples) on the time base ``time_s``; ``step_mV`` the voltage of
    each step; ``window_s = (start, stop)`` the (steady-state) part of the step to average, which
    must contain >= 1 sample.
    """
    t = finite_array("time_s", time_s, ndim=1)
    sweeps = finite_array("sweeps_pA", sweeps_pA, ndim=2)
    levels = finite_array("step_mV", step_mV, ndim=1)
    if sweeps.shape[1] != t.size:
        raise ValueError(
            f"sweeps_pA must have {t.size} samples per sweep (the length of time_s), "
            f"got shape {sweeps.shape}"
        )
    if levels.size != sweeps.shape[0]:
        raise ValueError(
            f"step_mV must have one voltage per sweep ({sweeps.shape[0]}), got {levels.size}"
        )
    start, stop = finite_pair("window_s", window_s)
    inside = (t >= start) & (t < stop)
    if not inside.any():
        raise ValueError(
            f"window_s must select >= 1 sample within [{t[0]:.6g}, {t[-1]:.6g}] s, got {window_s!r}"
        )
    return iv_curve(levels, sweeps[:, inside].mean(axis=1), at_mV=at_mV)

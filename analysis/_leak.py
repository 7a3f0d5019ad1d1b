"""P/N leak subtraction (Bezanilla & Armstrong, J Gen Physiol 70:549 (1977)).

The leak pulses are scaled copies (factor ``p_over_n``) of the test pulse, small enough (or of the
opposite sign) to stay in the linear range; their mean response, less the holding current and
divided by ``p_over_n``, is the linear (leak + capacitive) response to the test pulse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import finite_array, finite_number, finite_pair, positive_int

__all__ = ["LinearLeak", "fit_linear_leak", "leak_subtract"]


def leak_subtract(
    sweep: ArrayLike,
    leak_sweeps: ArrayLike,
    p_over_n: float,
    *,
    baseline_samples: int = 0,
) -> NDArray[np.float64]:
    """Leak-subtracted current (pA): ``sweep - (mean(leak_sweeps) - holding) / p_over_n``.

    ``sweep`` is the test-pulse current, (n,) or (m, n) sweeps; ``leak_sweeps`` the currents of
    the N leak pulses, (n,) or (N, n), on the same sample grid; ``p_over_n`` the amplitude of each
    leak pulse relative to the test pulse (``0.25`` for P/4, ``-0.25`` for P/-4; finite, non-zero,
    ``abs(p_over_n) <= 1``). ``holding`` is the mean of the leak sweeps' first
    ``baseline_samples`` samples (at the holding potential, before the pulse); with the default 0
    the leak sweeps must already be baseline-free, or their holding current is scaled by
    ``1/p_over_n`` into the result. The test sweep keeps its own holding current.
    """
    test = finite_array("sweep", sweep, ndim=(1, 2))
    leak = finite_array("leak_sweeps", leak_sweeps, ndim=(1, 2))
    if leak.shape[-1] != test.shape[-1]:
        raise ValueError(
            f"leak_sweeps must have the samples per sweep of sweep ({test.shape[-1]}), "
            f"got shape {leak.shape}"
        )
    scale = finite_number("p_over_n", p_over_n)
    if scale == 0 or abs(scale) > 1:
        raise ValueError(f"p_over_n must be non-zero with abs(p_over_n) <= 1, got {p_over_n!r}")
    n_base = positive_int("baseline_samples", baseline_samples, minimum=0)
    if n_base > leak.shape[-1]:
        raise ValueError(
            f"baseline_samples must be in [0, {leak.shape[-1]}] (samples per sweep), got {n_base}"
        )
    template = leak.mean(axis=0) if leak.ndim == 2 else leak
    if n_base:
        template = template - template[:n_base].mean()
    return test - template / scale


@dataclass(frozen=True)
class LinearLeak:
    """An ohmic leak fitted on part of a ramp: ``I = g * (V - reversal) `` (+ the ramp's constant
    capacitive current, which the fit's intercept absorbs)."""

    conductance_nS: float
    #: potential where the fitted line crosses 0 pA (mV); the capacitive offset shifts it
    zero_current_mV: float

    def current_pA(self, voltage_mV: ArrayLike) -> NDArray[np.float64]:
        """The fitted leak at ``voltage_mV`` (pA; nS × mV = pA)."""
        v = np.asarray(voltage_mV, dtype=np.float64)
        return self.conductance_nS * (v - self.zero_current_mV)


def fit_linear_leak(
    command_mV: ArrayLike, current_pA: ArrayLike, *, fit_mV: tuple[float, float]
) -> LinearLeak:
    """Least-squares line through the samples of a ramp whose command lies in ``fit_mV``
    (a range where the channel under study carries little current, e.g. −100..−40 mV for
    TRPM7's outward rectifier, docs/reference/physiology.md §8.2). Needs >= 3 samples there."""
    v = finite_array("command_mV", command_mV, ndim=1)
    i = finite_array("current_pA", current_pA, ndim=1)
    if v.size != i.size:
        raise ValueError(f"current_pA must have {v.size} samples (as command_mV), got {i.size}")
    lo, hi = sorted(finite_pair("fit_mV", fit_mV))
    inside = (v >= lo) & (v <= hi)
    if inside.sum() < 3 or np.ptp(v[inside]) == 0:
        raise ValueError(
            f"fit_mV must cover >= 3 samples of a changing command, got {fit_mV!r} "
            f"(command spans {v.min():.6g}..{v.max():.6g} mV)"
        )
    slope, intercept = np.polyfit(v[inside], i[inside], 1)
    if slope == 0:
        return LinearLeak(0.0, float("nan"))
    return LinearLeak(float(slope), float(-intercept / slope))

"""P/N leak subtraction (Bezanilla & Armstrong, J Gen Physiol 70:549 (1977)).

The leak pulses are scaled copies (factor ``p_over_n``) of the test pulse, small enough (or of the
opposite sign) to stay in the linear range; their mean response, less the holding current and
divided by ``p_over_n``, is the linear (leak + capacitive) response to the test pulse.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import finite_array, finite_number, positive_int

__all__ = ["leak_subtract"]


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

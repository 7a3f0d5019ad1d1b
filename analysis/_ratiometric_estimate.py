"""Ratiometric estimate from ROI sums, with the photon-statistics standard error.

Ratio and conversion: docs/reference/physiology.md §1.1 (Grynkiewicz et al. 1985). Noise model:
docs/reference/physiology.md §1.2 (Joucla et al. 2010) as used for the published estimates of Hess
et
al. 2019 (``shared/data/fura2/README.md``): the variance of an ADU sum over n pixels is
``gain * ADU + n * (gain * read_noise)**2``, propagated to first order (delta method).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import (
    finite_array,
    positive_int,
    positive_number,
    require_calibration,
    require_same_shape,
)

__all__ = ["RatiometricEstimate", "ratiometric_estimate"]


@dataclass(frozen=True)
class RatiometricEstimate:
    """Per-frame ratio, concentration (units of ``kd``) and their standard errors.

    ``in_range`` is False where the ratio is not strictly inside (Rmin, Rmax) or is undefined
    (non-positive background-subtracted F380); there the concentration is the formula's value
    (negative, infinite or NaN), never clipped.
    """

    ratio: NDArray[np.float64]
    ratio_se: NDArray[np.float64]
    concentration: NDArray[np.float64]
    concentration_se: NDArray[np.float64]
    in_range: NDArray[np.bool_]


def _sum_variance(
    adu: NDArray[np.float64], n_px: int, gain: float, read_e: float, excess: float
) -> NDArray[np.float64]:
    # Shot noise (gain * electrons * gain, i.e. gain * ADU) plus read noise of n pixels (§1.2).
    return excess * gain * np.clip(adu, 0.0, None) + n_px * (gain * read_e) ** 2


def ratiometric_estimate(
    cell340_adu: ArrayLike,
    bg340_adu: ArrayLike,
    cell380_adu: ArrayLike,
    bg380_adu: ArrayLike,
    *,
    n_cell_px: int,
    n_bg_px: int,
    exposure340_ms: float,
    exposure380_ms: float,
    gain_adu_per_e: float,
    read_noise_e: float,
    r_min: float,
    r_max: float,
    kd: float,
    beta: float = 1.0,
    excess_noise_factor: float = 1.0,
) -> RatiometricEstimate:
    """Ratio and Grynkiewicz concentration from ROI sums, with photon-statistics errors.

    Inputs are ADU *sums* over the cell ROI (``n_cell_px`` pixels) and the background ROI
    (``n_bg_px`` pixels), one value per frame (arrays of one shape, or scalars). Following
    docs/reference/physiology.md §1.1::

        F340 = (cell340 - n_cell_px/n_bg_px * bg340) / exposure340_ms      (same for 380)
        R = F340 / F380 ;  C = kd * beta * (R - r_min) / (r_max - R)

    Variance of each sum (§1.2): ``excess_noise_factor * gain * ADU + n * (gain*read_noise)**2``
    (use ``excess_noise_factor`` ≈ 2 for an EMCCD); the four sums are independent, and the
    error is propagated to first order: ``var R = (var F340 + R**2 var F380) / F380**2``,
    ``se C = kd*beta*(r_max - r_min)/(r_max - R)**2 * se R``. The calibration's own uncertainty
    is not included (see :meth:`RatioCalibration.concentration_se`). The concentration is in
    the units of ``kd``.
    """
    arrays = {
        "cell340_adu": finite_array("cell340_adu", cell340_adu),
        "bg340_adu": finite_array("bg340_adu", bg340_adu),
        "cell380_adu": finite_array("cell380_adu", cell380_adu),
        "bg380_adu": finite_array("bg380_adu", bg380_adu),
    }
    non_scalar = {name: a for name, a in arrays.items() if a.ndim > 0}
    require_same_shape(**non_scalar)
    n_cell = positive_int("n_cell_px", n_cell_px)
    n_bg = positive_int("n_bg_px", n_bg_px)
    t340 = positive_number("exposure340_ms", exposure340_ms)
    t380 = positive_number("exposure380_ms", exposure380_ms)
    gain = positive_number("gain_adu_per_e", gain_adu_per_e)
    read_e = positive_number("read_noise_e", read_noise_e, allow_zero=True)
    excess = positive_number("excess_noise_factor", excess_noise_factor)
    require_calibration(r_min, r_max, kd, beta)

    scale = n_cell / n_bg
    c340, b340 = arrays["cell340_adu"], arrays["bg340_adu"]
    c380, b380 = arrays["cell380_adu"], arrays["bg380_adu"]
    f340 = (c340 - scale * b340) / t340
    f380 = (c380 - scale * b380) / t380
    var340 = (
        _sum_variance(c340, n_cell, gain, read_e, excess)
        + scale**2 * _sum_variance(b340, n_bg, gain, read_e, excess)
    ) / t340**2
    var380 = (
        _sum_variance(c380, n_cell, gain, read_e, excess)
        + scale**2 * _sum_variance(b380, n_bg, gain, read_e, excess)
    ) / t380**2

    keff = kd * beta
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(f380 > 0, f340 / np.where(f380 > 0, f380, 1.0), np.nan)
        r_se = np.sqrt(var340 + r**2 * var380) / f380
        conc = keff * (r - r_min) / (r_max - r)
        conc_se = keff * (r_max - r_min) / (r_max - r) ** 2 * r_se
    in_range = (r > r_min) & (r < r_max)
    return RatiometricEstimate(
        ratio=np.asarray(r, dtype=np.float64),
        ratio_se=np.asarray(r_se, dtype=np.float64),
        concentration=np.asarray(conc, dtype=np.float64),
        concentration_se=np.asarray(conc_se, dtype=np.float64),
        in_range=np.asarray(in_range),
    )

"""Ratio and Grynkiewicz conversion, elementwise on arrays.

Formulas: Grynkiewicz, Poenie & Tsien, J Biol Chem 260:3440 (1985);
docs/reference/physiology.md §1.1.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import require_calibration

__all__ = ["ion_concentration", "ratio"]


def _as_float_array(name: str, value: ArrayLike) -> NDArray[np.float64]:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be an array of real numbers, got {value!r:.80}") from err
    if np.isnan(array).any():
        raise ValueError(f"{name} contains NaN; allowed values are real numbers (not NaN)")
    if np.isinf(array).any():
        raise ValueError(f"{name} contains inf; allowed values are finite real numbers")
    return array


def _require_same_shape(**arrays: NDArray[np.float64]) -> None:
    shapes = {name: np.shape(a) for name, a in arrays.items() if np.ndim(a) > 0}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"shapes do not match: {listed}; they must share one shape")


def ratio(
    f340: ArrayLike,
    f380: ArrayLike,
    *,
    background340: ArrayLike = 0.0,
    background380: ArrayLike = 0.0,
    exposure340_ms: float = 1.0,
    exposure380_ms: float = 1.0,
) -> NDArray[np.float64] | np.float64:
    """Background-subtracted, exposure-normalised ratio ``F340/F380``.

    ``R = ((f340 - background340) / exposure340_ms) / ((f380 - background380) / exposure380_ms)``.
    Inputs are intensities in any one unit (ADU per pixel, ROI sums scaled to the same pixel
    count, ...); backgrounds are in the same unit. Elementwise; arrays must share one shape
    (scalars broadcast). A non-positive background-subtracted F380 gives NaN for that element.
    """
    for name, exposure in (("exposure340_ms", exposure340_ms), ("exposure380_ms", exposure380_ms)):
        number = isinstance(exposure, numbers.Real) and not isinstance(exposure, bool)
        if not (number and math.isfinite(exposure) and exposure > 0):
            raise ValueError(f"{name} must be > 0 ms (finite), got {exposure!r}")
    arrays = {
        "f340": _as_float_array("f340", f340),
        "f380": _as_float_array("f380", f380),
        "background340": _as_float_array("background340", background340),
        "background380": _as_float_array("background380", background380),
    }
    _require_same_shape(**arrays)
    num = (arrays["f340"] - arrays["background340"]) / exposure340_ms
    den = (arrays["f380"] - arrays["background380"]) / exposure380_ms
    with np.errstate(divide="ignore", invalid="ignore"):
        result = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return result if result.ndim else np.float64(result)


def ion_concentration(
    ratio: ArrayLike, *, r_min: float, r_max: float, kd: float, beta: float = 1.0
) -> NDArray[np.float64] | np.float64:
    """Free ion concentration ``kd * beta * (R - r_min) / (r_max - R)`` in the units of ``kd``.

    Grynkiewicz et al. 1985. ``beta = F380(ion-free) / F380(ion-saturated)``. Ratios at or beyond
    ``r_max`` give ``inf``/negative values rather than being clipped; callers that need flags use
    :func:`ionrig.analysis.ratiometric_estimate`.
    """
    require_calibration(r_min, r_max, kd, beta)
    r = _as_float_array("ratio", ratio)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = kd * beta * (r - r_min) / (r_max - r)
    return result if result.ndim else np.float64(result)

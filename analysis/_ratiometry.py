"""Ratio and Grynkiewicz conversion, elementwise on arrays.

Formulas: Grynkiewicz, Poenie & Tsien, J Biol Chem 260:3440 (1985);
physiology-parameters.md §1.1.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["ion_concentration", "ratio"]


def _as_float_array(name: str, value: ArrayLike) -> NDArray[np.float64]:
    array = np.asarray(value, dtype=np.float64)
    if np.isnan(array).any():
        raise ValueError(f"{name} contains NaN; allowed values are real numbers (not NaN)")
    return array


def _require_same_shape(**arrays: NDArray[np.float64]) -> None:
    shapes = {name: np.shape(a) for name, a in arrays.items() if np.ndim(a) > 0}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"shapes do not match: {listed}")


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
    if not exposure340_ms > 0:
        raise ValueError(f"exposure340_ms must be > 0 ms, got {exposure340_ms!r}")
    if not exposure380_ms > 0:
        raise ValueError(f"exposure380_ms must be > 0 ms, got {exposure380_ms!r}")
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
    if not np.isfinite(r_min) or not np.isfinite(r_max):
        raise ValueError(f"r_min and r_max must be finite, got r_min={r_min!r}, r_max={r_max!r}")
    if r_max <= r_min:
        raise ValueError(f"r_max must be greater than r_min, got r_min={r_min!r}, r_max={r_max!r}")
    if not kd > 0:
        raise ValueError(f"kd must be > 0, got {kd!r}")
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta!r}")
    r = _as_float_array("ratio", ratio)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = kd * beta * (r - r_min) / (r_max - r)
    return result if result.ndim else np.float64(result)

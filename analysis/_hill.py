"""Dose-response fits: four-parameter Hill equation and a biphasic (two-site) variant.

Models: docs/reference/physiology.md §1.4 (Hill inhibition/activation) and §8.4 (biphasic Mg²⁺
inhibition of TRPM7, Chokshi et al. 2012). Concentrations may be in any one unit; IC50s come out
in that unit. Confidence intervals are Wald intervals on log(IC50) with Student-t quantiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special, stats

from ._validation import finite_array, finite_number, flag

__all__ = ["BiphasicHillFit", "HillFit", "fit_hill", "fit_hill_biphasic"]

_CONFIDENCE = 0.95
_COUNTER_TREND_LIMIT = 0.5


def _fraction(
    x: NDArray[np.float64], log_k: float, hill: float, decreasing: bool
) -> NDArray[np.float64]:
    """``1/(1 + (x/K)**n)`` (decreasing) or ``(x/K)**n/(1 + (x/K)**n)``; x = 0 allowed."""
    with np.errstate(divide="ignore"):
        z = hill * (np.log(x) - log_k)
    return special.expit(-z) if decreasing else special.expit(z)


@dataclass(frozen=True)
class HillFit:
    """``y = bottom + (top - bottom) / (1 + (x/ic50)**hill)`` when decreasing, else
    ``y = bottom + (top - bottom) * x**hill / (ic50**hill + x**hill)`` (ic50 is then the EC50).

    ``ic50`` and ``ic50_ci`` (95 %) are in the unit of the concentrations; ``top``/``bottom`` in
    that of the response.
    """

    ic50: float
    hill: float
    top: float
    bottom: float
    ic50_ci: tuple[float, float]
    decreasing: bool

    def response(self, concentration: ArrayLike) -> NDArray[np.float64]:
        """The fitted curve at ``concentration``."""
        x = finite_array("concentration", concentration, min_size=0)
        frac = _fraction(x, np.log(self.ic50), self.hill, self.decreasing)
        return self.bottom + (self.top - self.bottom) * frac


@dataclass(frozen=True)
class BiphasicHillFit:
    """Two sites: ``y = bottom + (top - bottom) * (w*f(x; ic50_1, hill_1) +
    (1 - w)*f(x; ic50_2, hill_2))`` with ``f`` the decreasing (or increasing) Hill fraction,
    ``w = fraction_1`` and ``ic50_1 <= ic50_2``; Hill coefficients are fixed, not fitted.
    """

    ic50_1: float
    ic50_2: float
    fraction_1: float
    hill_1: float
    hill_2: float
    top: float
    bottom: float
    ic50_1_ci: tuple[float, float]
    ic50_2_ci: tuple[float, float]
    decreasing: bool

    def response(self, concentration: ArrayLike) -> NDArray[np.float64]:
        """The fitted curve at ``concentration``."""
        x = finite_array("concentration", concentration, min_size=0)
        f1 = _fraction(x, np.log(self.ic50_1), self.hill_1, self.decreasing)
        f2 = _fraction(x, np.log(self.ic50_2), self.hill_2, self.decreasing)
        mix = self.fraction_1 * f1 + (1 - self.fraction_1) * f2
        return self.bottom + (self.top - self.bottom) * mix


def _prepare(
    concentration: ArrayLike, response: ArrayLike, decreasing: bool, n_params: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Validated data, the distinct concentrations and the mean response at each."""
    x = finite_array("concentration", concentration, ndim=1)
    y = finite_array("response", response, ndim=1)
    if x.size != y.size:
        raise ValueError(
            f"concentration and response must have one length, got {x.size} and {y.size}"
        )
    if (x < 0).any():
        raise ValueError("concentration must be >= 0 (allowed range [0, inf))")
    levels, inverse = np.unique(x, return_inverse=True)
    need_points, need_levels = n_params + 1, n_params
    if x.size < need_points or levels.size < need_levels or (levels > 0).sum() < need_levels - 1:
        raise ValueError(
            f"concentration must hold >= {need_points} points at >= {need_levels} distinct "
            f"concentrations (>= {need_levels - 1} of them > 0) for {n_params} parameters, "
            f"got {x.size} points at {levels.size} concentrations"
        )
    means = np.bincount(inverse, weights=y) / np.bincount(inverse)
    span = float(means.max() - means.min())
    direction = "decreasing" if decreasing else "increasing"
    trend = (means[0] - means[-1]) if decreasing else (means[-1] - means[0])
    if span == 0 or trend <= 0:
        raise ValueError(
            f"response must be monotone {direction} in concentration (decreasing={decreasing}); "
            f"the mean response goes from {means[0]:.6g} to {means[-1]:.6g}"
        )
    # Largest move against the trend between any two concentrations (i < j).
    signed = means if decreasing else -means
    counter = float(np.max(signed - np.minimum.accumulate(signed)))
    if counter > _COUNTER_TREND_LIMIT * span:
        raise ValueError(
            f"response must be monotone {direction} in concentration (decreasing={decreasing}): "
            f"the mean response moves {counter:.6g} against the trend, more than "
            f"{_COUNTER_TREND_LIMIT:g} of its range {span:.6g}"
        )
    return x, y, levels, means


def _log_midpoint(levels: NDArray[np.float64], means: NDArray[np.float64]) -> float:
    """log of the concentration where the mean response crosses half-way (initial IC50)."""
    positive = levels > 0
    lx, m = np.log(levels[positive]), means[positive]
    mid = 0.5 * (means.max() + means.min())
    above = m - mid
    idx = np.flatnonzero(above[:-1] * above[1:] <= 0)
    if idx.size == 0:
        return float(lx.mean())
    k = int(idx[0])
    if above[k] == above[k + 1]:
        return float(lx[k])
    return float(lx[k] + (lx[k + 1] - lx[k]) * above[k] / (above[k] - above[k + 1]))


def _covariance(fit: optimize.OptimizeResult, n_points: int) -> NDArray[np.float64]:
    """Covariance ``s² (JᵀJ)⁻¹`` of the least-squares parameters (inf where not identifiable)."""
    jac = np.asarray(fit.jac, dtype=np.float64)
    dof = n_points - jac.shape[1]
    s2 = 2.0 * fit.cost / dof
    _, singular, vt = np.linalg.svd(jac, full_matrices=False)
    if singular[-1] <= singular[0] * 1e-12:
        return np.full((jac.shape[1], jac.shape[1]), np.inf)
    return s2 * (vt.T / singular**2) @ vt


def _interval(log_value: float, variance: float, dof: int) -> tuple[float, float]:
    if not np.isfinite(variance):
        return (0.0, float("inf"))
    half = stats.t.ppf(0.5 + _CONFIDENCE / 2, dof) * np.sqrt(max(variance, 0.0))
    return (float(np.exp(log_value - half)), float(np.exp(log_value + half)))


def fit_hill(
    concentration: ArrayLike,
    response: ArrayLike,
    *,
    decreasing: bool = True,
    bottom: float | None = None,
) -> HillFit:
    """Four-parameter Hill fit (§1.4) with a 95 % confidence interval for the IC50.

    Needs >= 5 points at >= 4 distinct concentrations (>= 0; 0 is the control) and a response
    that is monotone in the declared direction: the mean response per concentration must go
    down (``decreasing=True``) or up overall, and no move against that direction may exceed half
    its range (noise is tolerated, a bell shape is refused). Fitted by least squares on
    (top, bottom, log IC50, Hill) with ``0.05 <= hill <= 20``; the interval is
    ``exp(log IC50 ± t(0.975, n - k) * se)`` from the Jacobian at the optimum (k parameters).

    ``bottom`` fixes the fully-blocked response (e.g. ``0.0`` for a leak-subtracted current,
    whose block is complete by definition); the fit then has three parameters and needs >= 4
    points at >= 3 concentrations.
    """
    decreasing = flag("decreasing", decreasing)
    fixed = None if bottom is None else finite_number("bottom", bottom)
    n_params = 4 if fixed is None else 3
    x, y, levels, means = _prepare(concentration, response, bool(decreasing), n_params=n_params)
    positive = levels[levels > 0]
    lo_k, hi_k = np.log(positive[0]) - np.log(1e3), np.log(positive[-1]) + np.log(1e3)

    def unpack(p: NDArray[np.float64]) -> tuple[float, float, float, float]:
        if fixed is None:
            return p[0], p[1], p[2], p[3]
        return p[0], fixed, p[1], p[2]

    def residuals(p: NDArray[np.float64]) -> NDArray[np.float64]:
        top_, bottom_, log_k_, hill_ = unpack(p)
        return bottom_ + (top_ - bottom_) * _fraction(x, log_k_, hill_, decreasing) - y

    log_k0 = _log_midpoint(levels, means)
    best = None
    for hill0 in (0.5, 1.0, 2.0):
        if fixed is None:
            start = np.array([means.max(), means.min(), log_k0, hill0])
            bounds = ([-np.inf, -np.inf, lo_k, 0.05], [np.inf, np.inf, hi_k, 20.0])
        else:
            start = np.array([means.max() if decreasing else means.min(), log_k0, hill0])
            start[0] = start[0] if start[0] != fixed else fixed + 1.0
            bounds = ([-np.inf, lo_k, 0.05], [np.inf, hi_k, 20.0])
        fit = optimize.least_squares(residuals, start, bounds=bounds, x_scale="jac")
        if best is None or fit.cost < best.cost:
            best = fit
    assert best is not None
    top, bottom_value, log_k, hill = (float(v) for v in unpack(best.x))
    cov = _covariance(best, x.size)
    k_index = 2 if fixed is None else 1
    return HillFit(
        ic50=float(np.exp(log_k)),
        hill=hill,
        top=top,
        bottom=bottom_value,
        ic50_ci=_interval(log_k, cov[k_index, k_index], x.size - n_params),
        decreasing=bool(decreasing),
    )


def fit_hill_biphasic(
    concentration: ArrayLike,
    response: ArrayLike,
    *,
    decreasing: bool = True,
    hill: Sequence[float] = (1.0, 1.0),
) -> BiphasicHillFit:
    """Two-site Hill fit (§8.4, Chokshi et al. 2012: IC50s ≈ 10 and 165 µM, Hill 1 each).

    Fits top, bottom, IC50_1 <= IC50_2 and the weight ``fraction_1`` in [0, 1] of the first site,
    with the Hill coefficients fixed to ``hill`` (two values > 0). Needs >= 6 points at >= 5
    distinct concentrations, monotone as for :func:`fit_hill`; 95 % intervals as there, with
    ``n - 5`` degrees of freedom. Several starting points are tried; the best fit is kept.
    """
    decreasing = flag("decreasing", decreasing)
    try:
        hills = tuple(finite_number("hill", h) for h in hill)
    except TypeError:
        raise ValueError(f"hill must be two Hill coefficients > 0, got {hill!r}") from None
    if len(hills) != 2 or not all(h > 0 for h in hills):
        raise ValueError(f"hill must be two Hill coefficients > 0, got {hill!r}")
    x, y, levels, means = _prepare(concentration, response, bool(decreasing), n_params=5)
    positive = levels[levels > 0]
    lo_k, hi_k = np.log(positive[0]) - np.log(1e3), np.log(positive[-1]) + np.log(1e3)

    def residuals(p: NDArray[np.float64]) -> NDArray[np.float64]:
        f1 = _fraction(x, p[2], hills[0], decreasing)
        f2 = _fraction(x, p[2] + p[3], hills[1], decreasing)
        return p[1] + (p[0] - p[1]) * (p[4] * f1 + (1 - p[4]) * f2) - y

    quantiles = np.quantile(np.log(positive), [0.1, 0.3, 0.5, 0.7, 0.9])
    best = None
    for i, lk1 in enumerate(quantiles):
        for lk2 in quantiles[i + 1 :]:
            for w0 in (0.3, 0.7):
                start = np.array([means.max(), means.min(), lk1, lk2 - lk1, w0])
                fit = optimize.least_squares(
                    residuals,
                    start,
                    bounds=(
                        [-np.inf, -np.inf, lo_k, 0.0, 0.0],
                        [np.inf, np.inf, hi_k, hi_k - lo_k, 1.0],
                    ),
                    x_scale="jac",
                )
                if best is None or fit.cost < best.cost:
                    best = fit
    assert best is not None
    top, bottom, log_k1, delta, weight = (float(v) for v in best.x)
    cov = _covariance(best, x.size)
    dof = x.size - 5
    var_k2 = cov[2, 2] + cov[3, 3] + 2 * cov[2, 3]
    return BiphasicHillFit(
        ic50_1=float(np.exp(log_k1)),
        ic50_2=float(np.exp(log_k1 + delta)),
        fraction_1=weight,
        hill_1=hills[0],
        hill_2=hills[1],
        top=top,
        bottom=bottom,
        ic50_1_ci=_interval(log_k1, cov[2, 2], dof),
        ic50_2_ci=_interval(log_k1 + delta, var_k2, dof),
        decreasing=bool(decreasing),
    )

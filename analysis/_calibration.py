"""Grynkiewicz calibration constants, measured in situ, with standard errors.

Formulas: Grynkiewicz, Poenie & Tsien, J Biol Chem 260:3440 (1985);
docs/reference/physiology.md §1.1 (conversion) and §3 (what is measured and how).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._ratiometry import ion_concentration
from ._validation import finite_array, positive_number, require_calibration

__all__ = ["CellCalibration", "RatioCalibration", "calibrate", "calibrate_two_solutions"]


@dataclass(frozen=True)
class RatioCalibration:
    """Rmin, Rmax (exposure-normalised F340/F380), beta = F380(free)/F380(bound), Kd in mM.

    The ``*_se`` fields are standard errors (0 when unknown). The ratio definition must match
    the one used in the experiment (same background subtraction and exposure normalisation,
    docs/reference/physiology.md §1.1).
    """

    r_min: float
    r_max: float
    beta: float
    kd_mM: float
    r_min_se: float = 0.0
    r_max_se: float = 0.0
    beta_se: float = 0.0
    kd_se_mM: float = 0.0

    def __post_init__(self) -> None:
        require_calibration(self.r_min, self.r_max, self.kd_mM, self.beta, kd_name="kd_mM")
        for name in ("r_min_se", "r_max_se", "beta_se", "kd_se_mM"):
            positive_number(name, getattr(self, name), allow_zero=True)

    @property
    def keff_mM(self) -> float:
        """Effective dissociation constant ``Kd * beta`` in mM (§1.1)."""
        return self.kd_mM * self.beta

    def concentration(self, ratio: ArrayLike) -> NDArray[np.float64] | np.float64:
        """Free ion concentration in mM: ``Kd * beta * (R - Rmin) / (Rmax - R)`` (§1.1)."""
        return ion_concentration(
            ratio, r_min=self.r_min, r_max=self.r_max, kd=self.kd_mM, beta=self.beta
        )

    def concentration_se(
        self, ratio: ArrayLike, *, ratio_se: ArrayLike = 0.0
    ) -> NDArray[np.float64] | np.float64:
        """Standard error (mM) of :meth:`concentration`, first order (delta method).

        Combines the ratio's own standard error with those of Rmin, Rmax, beta and Kd, taken as
        independent. Partial derivatives of ``C = Kd*beta*(R - Rmin)/(Rmax - R)``:
        ``dC/dR = Kd*beta*(Rmax - Rmin)/(Rmax - R)**2``, ``dC/dRmin = -Kd*beta/(Rmax - R)``,
        ``dC/dRmax = -C/(Rmax - R)``, ``dC/dbeta = C/beta``, ``dC/dKd = C/Kd``.
        """
        r = finite_array("ratio", ratio, min_size=0)
        r_se = finite_array("ratio_se", ratio_se, min_size=0)
        if (r_se < 0).any():
            raise ValueError("ratio_se must be >= 0 (allowed range [0, inf))")
        keff = self.keff_mM
        with np.errstate(divide="ignore", invalid="ignore"):
            span = self.r_max - r
            conc = keff * (r - self.r_min) / span
            variance = (
                (keff * (self.r_max - self.r_min) / span**2 * r_se) ** 2
                + (keff / span * self.r_min_se) ** 2
                + (conc / span * self.r_max_se) ** 2
                + (conc / self.beta * self.beta_se) ** 2
                + (conc / self.kd_mM * self.kd_se_mM) ** 2
            )
        result = np.sqrt(variance)
        return result if result.ndim else np.float64(result)


def _mean_and_se(name: str, values: ArrayLike) -> tuple[float, float]:
    array = finite_array(name, values, ndim=1, min_size=2)
    return float(array.mean()), float(array.std(ddof=1) / np.sqrt(array.size))


def calibrate(
    r_min_ratios: ArrayLike,
    r_max_ratios: ArrayLike,
    f380_free: ArrayLike,
    f380_bound: ArrayLike,
    *,
    kd_mM: float,
    kd_se_mM: float = 0.0,
) -> RatioCalibration:
    """Calibration constants from repeated in-situ measurements.

    ``r_min_ratios`` and ``r_max_ratios`` are ratios measured in ion-free and ion-saturating
    solution, with the experiment's own background subtraction and exposure normalisation;
    ``f380_free`` and ``f380_bound`` are the background-subtracted, exposure-normalised F380 of the
    same measurements (any one unit). Each needs >= 2 finite values. Rmin and Rmax are means with
    standard error ``sd/sqrt(n)``; ``beta = mean(f380_free)/mean(f380_bound)`` with the
    delta-method standard error. ``kd_mM`` (> 0) and its standard error are taken as given
    (in-vitro or literature value). Formulas: docs/reference/physiology.md §1.1 and §3.2.
    """
    r_min, r_min_se = _mean_and_se("r_min_ratios", r_min_ratios)
    r_max, r_max_se = _mean_and_se("r_max_ratios", r_max_ratios)
    free, free_se = _mean_and_se("f380_free", f380_free)
    bound, bound_se = _mean_and_se("f380_bound", f380_bound)
    if not free > 0:
        raise ValueError(f"f380_free must have a mean > 0, got {free!r}")
    if not bound > 0:
        raise ValueError(f"f380_bound must have a mean > 0, got {bound!r}")
    if not r_max > r_min:
        raise ValueError(
            "r_max_ratios must average above r_min_ratios (allowed: Rmax > Rmin), "
            f"got Rmin={r_min!r}, Rmax={r_max!r}"
        )
    beta = free / bound
    beta_se = beta * float(np.hypot(free_se / free, bound_se / bound))
    return RatioCalibration(
        r_min=r_min,
        r_max=r_max,
        beta=beta,
        kd_mM=positive_number("kd_mM", kd_mM),
        r_min_se=r_min_se,
        r_max_se=r_max_se,
        beta_se=beta_se,
        kd_se_mM=positive_number("kd_se_mM", kd_se_mM, allow_zero=True),
    )


@dataclass(frozen=True)
class CellCalibration:
    """One cell's in-situ constants (see :func:`calibrate_two_solutions`)."""

    r_min: float
    r_max: float
    beta: float


def _value_at(t_s: NDArray[np.float64], values: NDArray[np.float64], at_s: float) -> float:
    """Linear trend of ``values`` over ``t_s`` evaluated at ``at_s`` (dye loss and bleaching
    over a plateau are slow and close to linear); the mean with fewer than 3 points."""
    if t_s.size < 3 or np.ptp(t_s) == 0:
        return float(values.mean())
    slope, intercept = np.polyfit(t_s, values, 1)
    return float(slope * at_s + intercept)


def calibrate_two_solutions(
    low_t_s: ArrayLike,
    low_f340: ArrayLike,
    low_f380: ArrayLike,
    high_t_s: ArrayLike,
    high_f340: ArrayLike,
    high_f380: ArrayLike,
    *,
    high_mg_free_mM: float,
    kd_mM: float,
    kd_se_mM: float = 0.0,
) -> tuple[RatioCalibration, list[CellCalibration]]:
    """Rmin, Rmax and beta from an ion-free and a high-ion in-situ calibration, per cell.

    Arrays are ``(n_pairs, n_cells)`` background-subtracted, exposure-normalised F340 and F380
    of the plateau of each solution (with ionophore), and the pairs' times (s). Per cell:
    ``Rmin = median(F340/F380)`` in the ion-free solution. The high solution is rarely
    saturating (100 mM Mg²⁺ binds 98 % of Mag-fura-2 at Kd 1.9 mM), so its signals are
    unmixed with the bound fraction ``fb = C/(C + Kd)``: ``S_b = (F_high − (1 − fb) S_f)/fb``
    for each wavelength, with the free dye's ``S_f`` from the ion-free plateau; both plateaus'
    F are taken at the time midway between them (linear trend within each plateau) so dye loss
    between them cancels. ``Rmax = S_b340/S_b380``, ``beta = S_f380/S_b380`` (Grynkiewicz et al.
    1985; docs/reference/physiology.md §1.1, §3.2). The result is the mean over cells with its
    standard error (0 with one cell), and the per-cell values.
    """
    low_t = finite_array("low_t_s", low_t_s, ndim=1, min_size=1)
    high_t = finite_array("high_t_s", high_t_s, ndim=1, min_size=1)
    arrays = _plateau_arrays(
        [
            ("low_f340", low_f340, low_t, "low_t_s"),
            ("low_f380", low_f380, low_t, "low_t_s"),
            ("high_f340", high_f340, high_t, "high_t_s"),
            ("high_f380", high_f380, high_t, "high_t_s"),
        ]
    )
    mg = positive_number("high_mg_free_mM", high_mg_free_mM)
    kd = positive_number("kd_mM", kd_mM)
    bound = mg / (mg + kd)
    at_s = 0.5 * (float(low_t.max()) + float(high_t.min()))
    n_cells = arrays["low_f340"].shape[1]
    cells = [_cell_calibration(c, arrays, low_t, high_t, bound, at_s) for c in range(n_cells)]
    r_min, r_min_se = _mean_se([c.r_min for c in cells])
    r_max, r_max_se = _mean_se([c.r_max for c in cells])
    beta, beta_se = _mean_se([c.beta for c in cells])
    if not r_max > r_min:
        raise ValueError(
            f"the high-ion solution gives Rmax {r_max:.3g} <= Rmin {r_min:.3g}: the ionophore "
            "did not equilibrate the cells, or the solutions are swapped"
        )
    calibration = RatioCalibration(
        r_min=r_min,
        r_max=r_max,
        beta=beta,
        kd_mM=kd,
        r_min_se=r_min_se,
        r_max_se=r_max_se,
        beta_se=beta_se,
        kd_se_mM=positive_number("kd_se_mM", kd_se_mM, allow_zero=True),
    )
    return calibration, cells


def _plateau_arrays(
    signals: list[tuple[str, ArrayLike, NDArray[np.float64], str]],
) -> dict[str, NDArray[np.float64]]:
    """Each ``(name, values, pair times (s), their name)`` as an ``(n_pairs, n_cells)`` array
    (a 1-D array: one cell), by name, checked to have one row per pair time and one number
    of cells in all."""
    arrays = {}
    for name, values, t, t_name in signals:
        array = finite_array(name, values, min_size=1)
        array = array.reshape(len(array), -1) if array.ndim == 1 else array
        if array.ndim != 2 or array.shape[0] != t.size:
            raise ValueError(
                f"{name} must be (n_pairs, n_cells) with n_pairs = {t.size} (the length of "
                f"{t_name}), got shape {np.shape(values)}"
            )
        arrays[name] = array
    n_cells = arrays["low_f340"].shape[1]
    if any(a.shape[1] != n_cells for a in arrays.values()):
        shapes = ", ".join(f"{name} {a.shape}" for name, a in arrays.items())
        raise ValueError(
            f"low_f340, low_f380, high_f340 and high_f380 must have one number of cells "
            f"(columns), got {shapes}"
        )
    return arrays


def _cell_calibration(
    c: int,
    arrays: dict[str, NDArray[np.float64]],
    low_t: NDArray[np.float64],
    high_t: NDArray[np.float64],
    bound: float,
    at_s: float,
) -> CellCalibration:
    """Rmin, Rmax and beta of cell ``c``: the high plateau unmixed with the bound fraction
    ``bound``, both plateaus taken at ``at_s`` (s) (see :func:`calibrate_two_solutions`)."""
    ratios = arrays["low_f340"][:, c] / arrays["low_f380"][:, c]
    free340 = _value_at(low_t, arrays["low_f340"][:, c], at_s)
    free380 = _value_at(low_t, arrays["low_f380"][:, c], at_s)
    high340 = _value_at(high_t, arrays["high_f340"][:, c], at_s)
    high380 = _value_at(high_t, arrays["high_f380"][:, c], at_s)
    bound340 = (high340 - (1 - bound) * free340) / bound
    bound380 = (high380 - (1 - bound) * free380) / bound
    if not (free380 > 0 and bound380 > 0 and bound340 > 0):
        raise ValueError(
            f"cell {c}: the calibration signals are not positive (F380 free {free380:.3g}, "
            f"bound {bound380:.3g}); check the background ROI and that the dye is loaded"
        )
    return CellCalibration(
        r_min=float(np.median(ratios)),
        r_max=bound340 / bound380,
        beta=free380 / bound380,
    )


def _mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and standard error of ``values`` (SE 0 with one value)."""
    array = np.asarray(values)
    se = float(array.std(ddof=1) / np.sqrt(array.size)) if array.size > 1 else 0.0
    return float(array.mean()), se

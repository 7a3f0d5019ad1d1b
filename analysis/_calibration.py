"""Grynkiewicz calibration constants, measured in situ, with standard errors.

Formulas: Grynkiewicz, Poenie & Tsien, J Biol Chem 260:3440 (1985);
physiology-parameters.md §1.1 (conversion) and §3 (what is measured and how).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._ratiometry import ion_concentration
from ._validation import finite_array, positive_number, require_calibration

__all__ = ["RatioCalibration", "calibrate"]


@dataclass(frozen=True)
class RatioCalibration:
    """Rmin, Rmax (exposure-normalised F340/F380), beta = F380(free)/F380(bound), Kd in mM.

    The ``*_se`` fields are standard errors (0 when unknown). The ratio definition must match
    the one used in the experiment (same background subtraction and exposure normalisation,
    physiology-parameters.md §1.1).
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
    (in-vitro or literature value). Formulas: physiology-parameters.md §1.1 and §3.2.
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

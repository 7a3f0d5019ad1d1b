"""Mag-fura-2 photophysics: Mg²⁺ and Ca²⁺ binding, excitation spectra, brightness.

Forward model of the ratiometric signal (Joucla et al., J Neurophysiol 103:1130 (2010), as
written in docs/reference/physiology.md §1.2)::

    F340 ∝ dye * phi / (Kd + X) * (Rmin * Keff + Rmax * X)
    F380 ∝ dye * phi / (Kd + X) * (Keff + X)              Keff = Kd * beta

so that ``F340 / F380 = (Rmin * Keff + Rmax * X) / (Keff + X)``, which the Grynkiewicz equation
inverts exactly. Ca²⁺ binds to the same site with a nearly identical bound spectrum (§3.3), so the
dye sees ``X = [Mg²⁺] + [Ca²⁺]·Kd(Mg)/Kd(Ca)``: an Mg-only analysis reads ``[Mg]apparent``.

Excitation spectra: the free form peaks at 369 nm and the bound form at 330 nm (§2). Each is a
Gaussian in wavelength whose width is fixed by the configured Rmin (free 340/380), Rmax (bound
340/380) and beta (free/bound at 380): the spectra *give* Rmin, Rmax and beta, exactly at 340 and
380 nm, and extend them smoothly to other excitation wavelengths.

Defaults: §2 (Kd 1.9 mM, Kd(Ca) 25 µM, peaks 369/330 nm) and §3.2 (Rmin 0.4, Rmax 3, beta 5;
estimates for a 340/380 camera rig).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["MagFura2"]

#: Resting cell used to express signal sizes (free Mg 0.8 mM, §11; dye 50 µM, §4).
REST_MG_MM = 0.8
REST_DYE_UM = 50.0


@dataclass(frozen=True)
class MagFura2:
    """Spectral constants of Mag-fura-2 as the simulated rig measures them.

    ``kd_mM`` is the *true in-cell* Kd; the analysis may assume another one (the rig file's
    ``calibration`` section). ``brightness_e_per_uM_ms`` is the photo-electrons collected per
    pixel per ms per µM of Mg-free dye at 380 nm at reference excitation; it lumps quantum
    efficiency, path length and optics (the ``phi`` of §1.2).
    """

    kd_mM: float = 1.9  # docs/reference/physiology.md §2 default (Molecular Probes Handbook)
    r_min: float = 0.4  # §3.2 (estimate)
    r_max: float = 3.0  # §3.2 (estimate)
    beta: float = 5.0  # §3.2 (estimate)
    #: §3.1: ~2×10³ e⁻ per pixel per frame at rest (Hess et al. 2019) → 2000 e⁻ in a 10-ms
    #: 380-nm frame (§5 T380) of a resting cell (0.8 mM §11, 50 µM §4); estimate.
    brightness_e_per_uM_ms: float = 5.24
    kd_ca_uM: float = 25.0  # §2 default Kd(Ca) 25 µM
    free_peak_nm: float = 369.0  # §2 excitation max, Mg-free
    bound_peak_nm: float = 330.0  # §2 excitation max, Mg-bound

    def __post_init__(self) -> None:
        if not self.kd_mM > 0:
            raise ValueError(f"dye kd_mM must be > 0 mM, got {self.kd_mM!r}")
        if not 0 < self.r_min < self.r_max:
            raise ValueError(
                f"dye needs 0 < r_min < r_max, got r_min={self.r_min!r}, r_max={self.r_max!r}"
            )
        if not self.beta > 0:
            raise ValueError(f"dye beta must be > 0, got {self.beta!r}")
        if not self.brightness_e_per_uM_ms > 0:
            raise ValueError(
                f"dye brightness_e_per_uM_ms must be > 0, got {self.brightness_e_per_uM_ms!r}"
            )
        if not self.kd_ca_uM > 0:
            raise ValueError(f"dye kd_ca_uM must be > 0 µM, got {self.kd_ca_uM!r}")
        for name in ("free_peak_nm", "bound_peak_nm"):
            if not 250 <= getattr(self, name) <= 500:
                raise ValueError(f"dye {name} must be in 250..500 nm, got {getattr(self, name)!r}")

    @property
    def keff_mM(self) -> float:
        """Effective dissociation constant ``Kd * beta`` (mM)."""
        return self.kd_mM * self.beta

    # -- binding ------------------------------------------------------------------------------
    def effective_mg_mM(self, mg_free_mM: ArrayLike, ca_free_uM: ArrayLike = 0.0) -> NDArray:
        """Mg²⁺ that would occupy the dye as much as Mg²⁺ and Ca²⁺ together (§3.3)."""
        x = np.asarray(mg_free_mM, dtype=np.float64)
        ca_mM = np.asarray(ca_free_uM, dtype=np.float64) / 1000.0
        return x + ca_mM * self.kd_mM / (self.kd_ca_uM / 1000.0)

    def bound_fraction(self, mg_free_mM: ArrayLike, ca_free_uM: ArrayLike = 0.0) -> NDArray:
        x = self.effective_mg_mM(mg_free_mM, ca_free_uM)
        return x / (self.kd_mM + x)

    # -- spectra ------------------------------------------------------------------------------
    def _gaussian_width(self, peak: float, ratio_340_380: float) -> float | None:
        # ratio = exp(-((340-p)^2 - (380-p)^2) / (2 w^2)); solvable when the signs agree
        d = (340.0 - peak) ** 2 - (380.0 - peak) ** 2
        log_ratio = math.log(ratio_340_380)
        if d == 0 or log_ratio == 0 or (d > 0) == (log_ratio > 0):
            return None
        return math.sqrt(-d / (2 * log_ratio))

    def _spectrum(self, wavelength_nm: float, at340: float, at380: float, peak: float) -> float:
        if wavelength_nm == 340:
            return at340
        if wavelength_nm == 380:
            return at380
        width = self._gaussian_width(peak, at340 / at380)
        if width is None:  # the configured ratio cannot come from this peak: interpolate
            frac = min(max((wavelength_nm - 340.0) / 40.0, -0.5), 1.5)
            return max(0.0, at340 + frac * (at380 - at340))
        return at380 * math.exp(
            ((380.0 - peak) ** 2 - (wavelength_nm - peak) ** 2) / (2 * width**2)
        )

    def excitation_free(self, wavelength_nm: float) -> float:
        """Emission of Mg-free dye at ``wavelength_nm`` (bound dye at 380 nm = 1)."""
        return self._spectrum(wavelength_nm, self.r_min * self.beta, self.beta, self.free_peak_nm)

    def excitation_bound(self, wavelength_nm: float) -> float:
        """Emission of Mg- (or Ca-) bound dye at ``wavelength_nm`` (bound dye at 380 nm = 1)."""
        return self._spectrum(wavelength_nm, self.r_max, 1.0, self.bound_peak_nm)

    def relative_emission(
        self, wavelength_nm: float, mg_free_mM: ArrayLike, ca_free_uM: ArrayLike = 0.0
    ) -> NDArray:
        """Emission per µM of total dye per ms, in units of the bound-dye 380-nm emission.

        At 380 nm the free dye emits ``beta`` times more than the bound dye (definition of beta);
        at 340 nm the ratio of bound-to-free emission is set so that the pure-free ratio is
        ``r_min`` and the saturated ratio ``r_max``. Other wavelengths follow the spectra.
        """
        if not 250 <= wavelength_nm <= 500:
            raise ValueError(
                f"wavelength_nm must be in 250..500 nm for Mag-fura-2, got {wavelength_nm!r}"
            )
        f = self.bound_fraction(mg_free_mM, ca_free_uM)
        return (1.0 - f) * self.excitation_free(wavelength_nm) + f * self.excitation_bound(
            wavelength_nm
        )

    def photoelectrons_per_ms(
        self,
        wavelength_nm: float,
        mg_free_mM: ArrayLike,
        dye_uM: ArrayLike,
        ca_free_uM: ArrayLike = 0.0,
    ) -> NDArray:
        """Photo-electrons per pixel per ms of exposure from dye at ``dye_uM`` (µM)."""
        per_uM = self.relative_emission(wavelength_nm, mg_free_mM, ca_free_uM) / self.beta
        return self.brightness_e_per_uM_ms * np.asarray(dye_uM, dtype=np.float64) * per_uM

    def resting_photoelectrons_per_ms(self, wavelength_nm: float) -> float:
        """Dye signal of a resting cell (0.8 mM free Mg §11, 50 µM dye §4), e⁻/px/ms."""
        return float(self.photoelectrons_per_ms(wavelength_nm, REST_MG_MM, REST_DYE_UM))

    def ratio(self, mg_free_mM: ArrayLike, ca_free_uM: ArrayLike = 0.0) -> NDArray:
        """Noise-free, background-free F340/F380 at equal exposures."""
        return self.relative_emission(340, mg_free_mM, ca_free_uM) / self.relative_emission(
            380, mg_free_mM, ca_free_uM
        )

    def truth(self) -> dict[str, float]:
        """The true calibration constants in the cell (never for documents)."""
        return {
            "r_min": self.r_min,
            "r_max": self.r_max,
            "beta": self.beta,
            "kd_mM": self.kd_mM,
            "keff_mM": self.keff_mM,
            "kd_ca_uM": self.kd_ca_uM,
        }

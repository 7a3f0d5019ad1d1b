"""Mag-fura-2 photophysics: how bright a loaded cell is at 340 and 380 nm.

Forward model of the ratiometric signal (Joucla et al., J Neurophysiol 103:1130 (2010), as
written in physiology-parameters.md §1.2)::

    F340 ∝ dye * phi / (Kd + X) * (Rmin * Keff + Rmax * X)
    F380 ∝ dye * phi / (Kd + X) * (Keff + X)              Keff = Kd * beta

so that ``F340 / F380 = (Rmin * Keff + Rmax * X) / (Keff + X)``, which the Grynkiewicz equation
inverts exactly. Defaults: physiology-parameters.md §2 (Kd 1.9 mM) and §3.2 (Rmin 0.4,
Rmax 3, beta 5; estimates for a 340/380 camera rig).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["MagFura2"]


@dataclass(frozen=True)
class MagFura2:
    """Spectral constants of Mag-fura-2 as the simulated rig measures them.

    ``kd_mM`` is the *true in-cell* Kd; the analysis may assume another one.
    ``brightness_e_per_uM_ms`` is the photo-electrons collected per pixel per ms per µM of free
    (Mg-free) dye at 380 nm at full excitation; it lumps quantum efficiency, path length and
    optics (the ``phi`` of §1.2).
    """

    kd_mM: float = 1.9  # Molecular Probes Handbook via physiology-parameters.md §2
    r_min: float = 0.4  # physiology-parameters.md §3.2 (estimate)
    r_max: float = 3.0  # physiology-parameters.md §3.2 (estimate)
    beta: float = 5.0  # physiology-parameters.md §3.2 (estimate)
    brightness_e_per_uM_ms: float = 0.5

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

    @property
    def keff_mM(self) -> float:
        """Effective dissociation constant ``Kd * beta`` (mM)."""
        return self.kd_mM * self.beta

    def relative_emission(self, wavelength_nm: float, mg_free_mM: ArrayLike) -> NDArray:
        """Emission per µM of total dye per ms, in units of the free-dye 380-nm emission / beta.

        At 380 nm the free dye emits ``beta`` times more than the bound dye (definition of beta);
        at 340 nm the ratio of bound-to-free emission is set so that the pure-free ratio is
        ``r_min`` and the saturated ratio ``r_max``.
        """
        x = np.asarray(mg_free_mM, dtype=np.float64)
        scale = 1.0 / (self.kd_mM + x)
        if wavelength_nm == 340:
            return scale * (self.r_min * self.keff_mM + self.r_max * x)
        if wavelength_nm == 380:
            return scale * (self.keff_mM + x)
        raise ValueError(f"wavelength_nm must be 340 or 380 for Mag-fura-2, got {wavelength_nm!r}")

    def photoelectrons_per_ms(
        self, wavelength_nm: float, mg_free_mM: ArrayLike, dye_uM: ArrayLike
    ) -> NDArray:
        """Photo-electrons per pixel per ms of exposure from dye at ``dye_uM`` (µM)."""
        per_uM = self.relative_emission(wavelength_nm, mg_free_mM) / self.beta
        return self.brightness_e_per_uM_ms * np.asarray(dye_uM, dtype=np.float64) * per_uM

    def ratio(self, mg_free_mM: ArrayLike) -> NDArray:
        """Noise-free, background-free F340/F380 at equal exposures."""
        return self.relative_emission(340, mg_free_mM) / self.relative_emission(380, mg_free_mM)

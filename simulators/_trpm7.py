"""TRPM7 current and its Mg²⁺ (and Mg·ATP) inhibition: the ``world.trpm7`` section.

``I(V) = A·g·[(exp(u/s_out) - 1) - a·(exp(-u/s_in) - 1)]``, ``u = V - Erev`` (see
:mod:`._cell_transport` for how the cells use it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

__all__ = ["Trpm7Config"]


@dataclass(frozen=True)
class Trpm7Config:
    """The ``world.trpm7`` section: TRPM7 current and its Mg²⁺ inhibition."""

    ic50_mM: float = 0.72  # docs/reference/physiology.md §8.3 default (free Mg IC50 720 µM)
    hill: float = 1.0  # §8.3 default nH = 1
    ic50_mgatp_mM: float | None = None  # §8.3: no Mg·ATP term by default; scenario 2 mM
    model: Literal["monophasic", "biphasic"] = "monophasic"  # §8.3 default monophasic
    biphasic_ic50_1_mM: float = 0.010  # §8.3 Chokshi et al. 2012, IC50,1 ≈ 10 µM
    biphasic_ic50_2_mM: float = 0.165  # §8.3 Chokshi et al. 2012, IC50,2 ≈ 165 µM
    biphasic_fraction_1: float = 0.5  # w of §8.4; not given in the reference (estimate)
    #: I(+80 mV) at full activation; §8.2 native HEK-293 ~1-5 pA/pF (upper end). Native rather
    #: than overexpressed (50-300 pA/pF): the resting Mg²⁺ influx, which the Na⁺/Mg²⁺ exchanger
    #: balances, then stays small against pipette dialysis, so a dialysed cell's free Mg²⁺ sits
    #: within ~1 % of the pipette's and the configured IC50 is what a dose-response recovers
    #: (§8.3). Overexpression is a per-cell or per-world setting.
    density_pA_per_pF: float = 5.0
    reversal_mV: float = 0.0  # §8.2 reversal ~0 mV
    rectification: float = 20.0  # §8.2/§8.4 I(+80)/|I(-80)| ≈ 10-30: midpoint
    slope_out_mV: float = 20.0  # §8.4 s_out; estimate chosen to meet the §8.4 targets
    slope_in_mV: float = 40.0  # §8.4 s_in; estimate chosen to meet the §8.4 targets
    mg_fraction: float = 0.2  # §11 f_Mg 0.1-0.3 of the inward current: midpoint
    mg_fraction_external_mM: float = 2.0  # §11: f_Mg quoted for 1-2 mM external Mg

    def __post_init__(self) -> None:
        for name in ("ic50_mM", "hill", "biphasic_ic50_1_mM", "biphasic_ic50_2_mM"):
            if not getattr(self, name) > 0:
                raise ValueError(f"trpm7 {name} must be > 0, got {getattr(self, name)!r}")
        if self.ic50_mgatp_mM is not None and not self.ic50_mgatp_mM > 0:
            raise ValueError(f"trpm7 ic50_mgatp_mM must be > 0 or null, got {self.ic50_mgatp_mM}")
        if not 0 <= self.biphasic_fraction_1 <= 1:
            raise ValueError(
                f"trpm7 biphasic_fraction_1 must be in 0..1, got {self.biphasic_fraction_1}"
            )
        if not 0 <= self.density_pA_per_pF <= 1000:
            raise ValueError(
                f"trpm7 density_pA_per_pF must be in 0..1000, got {self.density_pA_per_pF}"
            )
        if not (self.slope_out_mV > 0 and self.slope_in_mV > 0):
            raise ValueError("trpm7 slope_out_mV and slope_in_mV must be > 0 mV")
        limit = math.exp(80.0 / self.slope_out_mV)
        if not 1 < self.rectification < limit:
            raise ValueError(
                f"trpm7 rectification must be in (1, {limit:.3g}) with slope_out_mV="
                f"{self.slope_out_mV}, got {self.rectification!r}"
            )
        if not 0 < self.mg_fraction < 1:
            raise ValueError(f"trpm7 mg_fraction must be in (0, 1), got {self.mg_fraction!r}")
        if not self.mg_fraction_external_mM > 0:
            raise ValueError("trpm7 mg_fraction_external_mM must be > 0 mM")

    @property
    def inward_ratio(self) -> float:
        """``a = a_in/a_out`` giving the configured rectification at ±80 mV around Erev."""
        so, si, r = self.slope_out_mV, self.slope_in_mV, self.rectification
        num = math.expm1(80.0 / so) + r * math.expm1(-80.0 / so)
        den = r * math.expm1(80.0 / si) + math.expm1(-80.0 / si)
        return num / den

    def shape(self, v_mV: NDArray | float) -> NDArray:
        """Voltage dependence of the fully activated current, 1 at Erev + 80 mV."""
        u = np.asarray(v_mV, dtype=np.float64) - self.reversal_mV
        raw = np.expm1(u / self.slope_out_mV) - self.inward_ratio * np.expm1(-u / self.slope_in_mV)
        return raw / self._shape80

    @property
    def _shape80(self) -> float:
        return math.expm1(80.0 / self.slope_out_mV) - self.inward_ratio * math.expm1(
            -80.0 / self.slope_in_mV
        )

    def activity(self, mg_free_mM: NDArray | float, mgatp_mM: NDArray | float = 0.0) -> NDArray:
        """Fraction of channels not inhibited by Mg²⁺ (and Mg·ATP), 1 without Mg."""
        x = np.asarray(mg_free_mM, dtype=np.float64)
        if self.model == "biphasic":
            w = self.biphasic_fraction_1
            return w / (1 + x / self.biphasic_ic50_1_mM) + (1 - w) / (
                1 + x / self.biphasic_ic50_2_mM
            )
        block = (np.maximum(x, 0.0) / self.ic50_mM) ** self.hill
        if self.ic50_mgatp_mM is not None:
            mgatp = np.maximum(np.asarray(mgatp_mM, dtype=np.float64), 0.0)
            block = block + (mgatp / self.ic50_mgatp_mM) ** self.hill
        return 1.0 / (1.0 + block)

    def mg_share(self, mg_out_mM: NDArray | float) -> NDArray:
        """Share of the inward current carried by Mg²⁺ at external free Mg²⁺ ``mg_out_mM``."""
        k = self.mg_fraction_external_mM * (1.0 / self.mg_fraction - 1.0)
        mg = np.maximum(np.asarray(mg_out_mM, dtype=np.float64), 0.0)
        return mg / (mg + k)

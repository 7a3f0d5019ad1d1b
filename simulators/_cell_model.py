"""Cell-model and dye-handling configuration (``world.cell_model``, ``world.dye_handling``),
with the physical constants and temperature factors the cell model uses."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "FARADAY",
    "GAS_CONSTANT",
    "CellModelConfig",
    "DyeHandlingConfig",
    "q10_factor",
    "rt_over_f_mV",
]

FARADAY = 96485.33212  # C/mol
GAS_CONSTANT = 8.314462618  # J/(mol K)


def rt_over_f_mV(temperature_C: float | NDArray) -> float | NDArray:
    return 1000.0 * GAS_CONSTANT * (np.asarray(temperature_C) + 273.15) / FARADAY


def q10_factor(q10: float, temperature_C: float, reference_C: float) -> float:
    return q10 ** ((temperature_C - reference_C) / 10.0)


@dataclass(frozen=True)
class CellModelConfig:
    """The ``world.cell_model`` section: defaults for every cell (a cell may override some)."""

    volume_pL: float = 2.0  # docs/reference/physiology.md §8.5 default Vcell 2 pL (estimate)
    cm_pF: float = 20.0  # §7.1 default HEK-293 Cm 20 pF
    rm_MOhm: float = 1000.0  # §7.1 default HEK-293 Rm 1 GΩ
    v_rest_mV: float = -30.0  # §7.1 default HEK-293 resting Vm −30 mV
    k_mM: float = 140.0  # not in the reference: typical cytosolic K⁺ (estimate)
    na_mM: float = 12.0  # not in the reference: typical cytosolic Na⁺ (estimate)
    ca_free_uM: float = 0.1  # §3.3 resting [Ca²⁺]i 0.1 µM
    ca_tau_s: float = 10.0  # Ca²⁺ extrusion time constant; not in the reference (estimate)
    total_mg_mM: float = 18.5  # §11 total cellular Mg 17-20 mM: midpoint
    atp_mM: float = 5.0  # not in the reference: typical cytosolic ATP (estimate)
    #: Osmotic volume (Boyle–van 't Hoff: V/V0 = b + (1 − b)·Π0/Π for a bath of osmolality Π
    #: against the rest bath's Π0; Hoffmann, Lambert & Pedersen 2009, Physiol Rev 89:193):
    #: the osmotically inactive fraction b and the time constant of water flow are estimates;
    #: no regulatory volume decrease. Swelling dilutes every cytosolic concentration.
    osmotic_inactive_fraction: float = 0.3
    volume_tau_s: float = 30.0
    #: Low-affinity slow pool (§11 "low-affinity buffer", §8.5 "slow bound pool"): capacity and
    #: Kd are estimates; with Mg·ATP (washing out with the ATP) they set the TRPM7 run-up after
    #: break-in into a Mg-free pipette: τ ≈ 100 s with the §7.1 TRPM7 pipette (Rp 3, Ra 7 MΩ),
    #: ≈ 130 s with the default one (Ra 10 MΩ); §8.2: τ ≈ 60-150 s, faster with low Ra.
    slow_pool_capacity_mM: float = 1.0
    slow_pool_kd_mM: float = 1.0
    slow_pool_release_per_s: float = 0.01  # §8.5 k_release 0.005-0.02 s⁻¹ (estimate)
    nme_hill: float = 2.4  # §11 Hill 2.4 for [Mg]i
    nme_k_mM: float = 1.5  # not in the reference (estimate)
    nme_q10: float = 2.2  # §11 Q10 2.2
    nme_electrogenic: bool = False  # §11 default electroneutral 2 Na⁺ : 1 Mg²⁺
    pump_pA_per_pF: float = 0.5  # §9 default 0.5 pA/pF at RT (HEK-293), taken at rest
    pump_k_half_k_mM: float = 2.3  # §9 K0.5 for K⁺o 1.9-2.7 mM
    pump_hill_k: float = 1.7  # §9 Hill ~1.7
    pump_k_half_na_mM: float = 10.0  # not in the reference (estimate)
    pump_hill_na: float = 3.0  # not in the reference (estimate: 3 Na⁺ sites)
    pump_q10: float = 2.69  # §9: ~4× smaller at 23 °C than at 37 °C → Q10 = 4^(10/14)
    pump_v_half_mV: float = -90.0  # §9 (Gadsby 1985): max near 0 mV, very small at −140 mV
    pump_v_slope_mV: float = 25.0  # §9 shape as above (estimate)
    #: EAAT transport current at saturating aspartate and Na⁺; §10 gives 5-20 pA/pF for
    #: overexpressing HEK-293; the default is a tenth of its low end (native cell; estimate).
    eaat_pA_per_pF: float = 0.5
    eaat_km_aspartate_mM: float = 0.061  # §10 Km 61 µM (EAAT5, Glu; Asp transported like Glu)
    eaat_km_na_mM: float = 76.0  # §10 Na⁺ Km 76 mM (substrate-bound)
    ionophore_rate_per_uM_per_s: float = 0.005  # not in the reference (estimate)
    organellar_mg_mM: float = 0.65  # §2 organellar [Mg] ~0.6-0.7 mM (Tursun 2005)
    diffusion_mg_m2_per_s: float = 0.7e-9  # §8.5 D(Mg²⁺)
    diffusion_large_m2_per_s: float = 0.3e-9  # §8.5 D(ATP or dye); also chelators (estimate)

    def __post_init__(self) -> None:
        positive = [
            "volume_pL",
            "cm_pF",
            "rm_MOhm",
            "k_mM",
            "na_mM",
            "ca_tau_s",
            "total_mg_mM",
            "slow_pool_kd_mM",
            "slow_pool_release_per_s",
            "nme_hill",
            "nme_k_mM",
            "nme_q10",
            "pump_k_half_k_mM",
            "pump_hill_k",
            "pump_k_half_na_mM",
            "pump_hill_na",
            "pump_q10",
            "pump_v_slope_mV",
            "eaat_km_aspartate_mM",
            "eaat_km_na_mM",
            "diffusion_mg_m2_per_s",
            "diffusion_large_m2_per_s",
        ]
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"cell_model {name} must be > 0, got {getattr(self, name)!r}")
        non_negative = [
            "ca_free_uM",
            "atp_mM",
            "slow_pool_capacity_mM",
            "pump_pA_per_pF",
            "eaat_pA_per_pF",
            "ionophore_rate_per_uM_per_s",
            "organellar_mg_mM",
        ]
        for name in non_negative:
            if not getattr(self, name) >= 0:
                raise ValueError(f"cell_model {name} must be >= 0, got {getattr(self, name)!r}")
        if not -150 <= self.v_rest_mV <= 50:
            raise ValueError(f"cell_model v_rest_mV must be in -150..50 mV, got {self.v_rest_mV}")
        if not 0 <= self.osmotic_inactive_fraction < 1:
            raise ValueError(
                "cell_model osmotic_inactive_fraction must be in [0, 1), got "
                f"{self.osmotic_inactive_fraction!r}"
            )
        if not self.volume_tau_s > 0:
            raise ValueError(f"cell_model volume_tau_s must be > 0, got {self.volume_tau_s!r}")


@dataclass(frozen=True)
class DyeHandlingConfig:
    """The ``world.dye_handling`` section: AM loading, de-esterification, leak, bleaching."""

    #: AM uptake: §4 default "bath loading at 4 µM AM for 45 min at RT, giving 50 µM
    #: intracellular dye" → 50 / (4 × 45) per min at the reference temperature.
    am_uptake_per_min: float = 50.0 / (4.0 * 45.0)
    loading_q10: float = 2.0  # not in the reference for uptake; §4 leak Q10 2-3 (low end)
    esterase_tau_min: float = 7.5  # §4 de-esterification 15-30 min ≈ 3τ (estimate)
    reference_C: float = 22.0  # temperature of the two rates above: RT (§4 default)
    leak_per_hour_37C: float = 0.20  # §4 default leak 20 % h⁻¹ at 37 °C
    leak_rt_divisor: float = 4.0  # §4 default ÷4 at RT (22 °C) → Q10 = 4^(10/15) ≈ 2.5
    probenecid_block: float = 0.8  # §4 default p_block 0.8 at 2.5 mM probenecid
    probenecid_reference_mM: float = 2.5  # §4
    bleach_per_pair: float = 0.01  # §4 default 1 % per ratio pair at reference intensity
    bleach_pair_exposure_ms: float = 30.0  # §5 default pair T340 + T380 = 20 + 10 ms
    compartment_fraction: float = 0.0  # §2/§4 ~20 % after AM loading; 0 = cytosolic ratio
    #: Autofluorescence of the cells themselves (NAD(P)H), as a fraction of a resting cell's
    #: dye signal; §4 5-20 % (10 % default) — applied to the background here by default
    #: (``optics.background_autofluorescence_fraction``), per cell only in scenarios.
    cell_autofluorescence_fraction: float = 0.0

    def __post_init__(self) -> None:
        for name in ("am_uptake_per_min", "loading_q10", "esterase_tau_min", "leak_rt_divisor"):
            if not getattr(self, name) > 0:
                raise ValueError(f"dye_handling {name} must be > 0, got {getattr(self, name)!r}")
        for name in (
            "probenecid_block",
            "bleach_per_pair",
            "compartment_fraction",
            "cell_autofluorescence_fraction",
        ):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(
                    f"dye_handling {name} must be in [0, 1), got {getattr(self, name)!r}"
                )
        if not 0 <= self.leak_per_hour_37C < 1:
            raise ValueError(
                f"dye_handling leak_per_hour_37C must be in [0, 1), got {self.leak_per_hour_37C}"
            )
        if not (self.probenecid_reference_mM > 0 and self.bleach_pair_exposure_ms > 0):
            raise ValueError(
                "dye_handling probenecid_reference_mM and bleach_pair_exposure_ms must be > 0"
            )

    def am_uptake_per_s(self, temperature_C: float) -> float:
        return (
            self.am_uptake_per_min
            / 60.0
            * q10_factor(self.loading_q10, temperature_C, self.reference_C)
        )

    def esterase_per_s(self, temperature_C: float) -> float:
        return q10_factor(self.loading_q10, temperature_C, self.reference_C) / (
            60.0 * self.esterase_tau_min
        )

    @property
    def leak_q10(self) -> float:
        return self.leak_rt_divisor ** (10.0 / (37.0 - self.reference_C))

    def leak_per_s(self, temperature_C: float, probenecid_mM: float) -> float:
        k37 = -math.log1p(-self.leak_per_hour_37C) / 3600.0
        k = k37 * q10_factor(self.leak_q10, temperature_C, 37.0)
        return k * (1.0 - self.probenecid_fraction_blocked(probenecid_mM))

    def probenecid_fraction_blocked(self, probenecid_mM: float) -> float:
        """Saturable block, ``p_block`` at the reference concentration (§4; form estimate)."""
        if probenecid_mM <= 0:
            return 0.0
        k_half = self.probenecid_reference_mM * (1.0 / self.probenecid_block - 1.0)
        return probenecid_mM / (probenecid_mM + k_half)

    @property
    def bleach_per_ms(self) -> float:
        """First-order bleaching rate per ms of exposure at reference intensity."""
        return -math.log1p(-self.bleach_per_pair) / self.bleach_pair_exposure_ms

"""Cells: Mg²⁺/K⁺/Na⁺/Ca²⁺ homeostasis, TRPM7, transporters, Mag-fura-2 loading and leak.

Per cell (state integrated for all cells at once, vectorised; sources in physiology-parameters.md):

- **Mg²⁺** (§8.5, §11): a fast pool (free Mg²⁺ plus Mg bound to ATP, dye and any chelator that
  the pipette brought in, in instantaneous 1:1 equilibrium), a slow low-affinity bound pool
  relaxing to ``B·x/(Ks + x)`` at ``k_release``, and a fixed, non-exchangeable remainder
  (organelles, nucleic acids) that brings total Mg to the configured 17-20 mM.
- **TRPM7** (§8.3, §8.4): ``I(V) = A·g·[(exp(u/s_out) - 1) - a·(exp(-u/s_in) - 1)]``,
  ``u = V - Erev``, with ``a`` set by the configured rectification ``I(+80)/|I(-80)|`` and ``A``
  by the current density at +80 mV; ``g = 1/(1 + (Mg_i/IC50)^nH [+ (MgATP/IC50_MgATP)^nH])``
  (or the biphasic model). The Mg²⁺ influx is a fraction ``f_Mg = Mg_o/(Mg_o + K_f)`` of the
  inward current over 2F (§11: f_Mg 0.1-0.3 in 1-2 mM external Mg), so it is driven by the
  external Mg²⁺ (gradient) and the membrane potential, and inhibited by internal Mg²⁺.
- **Na⁺/Mg²⁺ exchange** (§11): ``J = Vmax·x^n/(K^n + x^n)·[Na]o/[Na]o,rest·Q10^(ΔT/10)``,
  electroneutral 2 Na⁺ : 1 Mg²⁺ by default; ``Vmax`` per cell gives zero net Mg²⁺ flux at rest.
- **Na⁺/K⁺-ATPase** (§9): 3 Na⁺ out, 2 K⁺ in, one charge out per cycle; current density at rest
  0.5 pA/pF at RT; K⁺o activation K0.5 2.3 mM, Hill 1.7; voltage dependence falling towards
  −140 mV; Q10 from the 4× change between 23 and 37 °C. Passive Na⁺ and K⁺ fluxes
  (Goldman-Hodgkin-Katz flux equation) balance the pump at rest.
- **EAAT** (§10): 1 aspartate + 3 Na⁺ (+1 H⁺) in, 1 K⁺ out per cycle; Km(Asp) 61 µM,
  Km(Na⁺) 76 mM. Through the pump (3 Na⁺ out, 2 K⁺ in) each cycle ends as a net K⁺ gain, so
  perfusing Mg-K-aspartate raises [K⁺]ᵢ, while the raised [Mg²⁺]o raises TRPM7 influx.
- **Ionophore** (4-Br-A23187, §3.2): Mg²⁺ and Ca²⁺ fluxes ``k·[ionophore]·(c_o − c_i)`` clamp
  the cytosol to the bath (calibration limits).
- **Mag-fura-2** (§4): AM ester enters at ``k_up·[AM]o`` (temperature dependent), esterases
  hydrolyse it to the trapped acid, the acid leaks through organic-anion transport
  ``k_leak·(1 − p_block)`` (probenecid blocks), photobleaching per exposure
  (:meth:`CellPopulation.bleach`).
- **Whole-cell dialysis** (§1.4, §8.5): every mobile species exchanges with the pipette with
  ``tau = (Ra/rho)·V_cell/D`` (Oliva et al. 1988); D(Mg²⁺) 0.7e-9, D(ATP, dye) 0.3e-9 m²/s,
  other ions by the Pusch & Neher M^(1/3) scaling from Mg²⁺.

The membrane potential of an intact cell is its configured resting potential (no membrane
potential dynamics); a whole-cell cell sits at the amplifier's holding potential.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from ._solutions import INDEX, free_concentration, free_of, mg_kd_mM

if TYPE_CHECKING:
    from ._dye import MagFura2

__all__ = [
    "Cell",
    "CellModelConfig",
    "CellPopulation",
    "DyeHandlingConfig",
    "Trpm7Config",
    "default_cells",
]

FARADAY = 96485.33212  # C/mol
GAS_CONSTANT = 8.314462618  # J/(mol K)


def rt_over_f_mV(temperature_C: float | NDArray) -> float | NDArray:
    return 1000.0 * GAS_CONSTANT * (np.asarray(temperature_C) + 273.15) / FARADAY


def q10_factor(q10: float, temperature_C: float, reference_C: float) -> float:
    return q10 ** ((temperature_C - reference_C) / 10.0)


# -- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Trpm7Config:
    """The ``world.trpm7`` section: TRPM7 current and its Mg²⁺ inhibition."""

    ic50_mM: float = 0.72  # physiology-parameters.md §8.3 default (free Mg IC50 720 µM)
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


@dataclass(frozen=True)
class CellModelConfig:
    """The ``world.cell_model`` section: defaults for every cell (a cell may override some)."""

    volume_pL: float = 2.0  # physiology-parameters.md §8.5 default Vcell 2 pL (estimate)
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


# -- cells -------------------------------------------------------------------------------------

#: Columns of the per-cell state array.
MGF, SLOW, ATP, EDTA, EGTA, BAPTA, K, NA, CA, AM, DYE, VOL = range(12)
N_STATE = 12
#: columns that are concentrations: a cell that swells dilutes them
_CONCENTRATIONS = [MGF, SLOW, ATP, EDTA, EGTA, BAPTA, K, NA, CA, AM, DYE]
_LIGAND_COLUMNS = [ATP, EDTA, EGTA, BAPTA]
#: Conditional Mg²⁺ constants of the cytosol's ligands (pH 7.2, 25 °C, I 150 mM), from the
#: chemistry's constants table (:mod:`ionrig.chemistry`).
_LIGAND_KD_MG = np.array([mg_kd_mM(c) for c in ("atp_mM", "edta_mM", "egta_mM", "bapta_mM")])
# absolute tolerances per column (mM, mM, …, µM Ca, µM AM, µM dye)
_ATOL = np.array([1e-7, 1e-7, 1e-7, 1e-7, 1e-7, 1e-7, 1e-5, 1e-6, 1e-6, 1e-6, 1e-6, 1e-7])

_CELL_OVERRIDES = ("volume_pL", "cm_pF", "rm_MOhm", "v_rest_mV", "k_mM", "na_mM", "ca_free_uM")


class Cell:
    """One cell at an image position (pixels), with its ground truth.

    Constructed with its resting state (free [Mg²⁺]ᵢ in mM, dye in µM, and optionally
    ``volume_pL``, ``cm_pF``, ``rm_MOhm``, ``v_rest_mV``, ``k_mM``, ``na_mM``, ``ca_free_uM``,
    ``trpm7_density_pA_per_pF``; ``None`` takes the world's ``cell_model``). Once part of a
    :class:`~ionrig.simulators.World`, every property is the *current* true value: reading it
    first brings the world up to the clock's now.
    """

    def __init__(
        self,
        x_px: float,
        y_px: float,
        radius_px: float,
        mg_free_mM: float = 0.8,  # physiology-parameters.md §11 default resting free Mg
        dye_uM: float = 50.0,  # physiology-parameters.md §4 default intracellular dye
        *,
        volume_pL: float | None = None,
        cm_pF: float | None = None,
        rm_MOhm: float | None = None,
        v_rest_mV: float | None = None,
        k_mM: float | None = None,
        na_mM: float | None = None,
        ca_free_uM: float | None = None,
        trpm7_density_pA_per_pF: float | None = None,
    ) -> None:
        if not radius_px > 0:
            raise ValueError(f"cell radius_px must be > 0, got {radius_px!r}")
        if not mg_free_mM >= 0:
            raise ValueError(f"cell mg_free_mM must be >= 0 mM, got {mg_free_mM!r}")
        if not dye_uM >= 0:
            raise ValueError(f"cell dye_uM must be >= 0 µM, got {dye_uM!r}")
        for name, value in (
            ("volume_pL", volume_pL),
            ("cm_pF", cm_pF),
            ("rm_MOhm", rm_MOhm),
            ("k_mM", k_mM),
            ("na_mM", na_mM),
        ):
            if value is not None and not value > 0:
                raise ValueError(f"cell {name} must be > 0, got {value!r}")
        if ca_free_uM is not None and not ca_free_uM >= 0:
            raise ValueError(f"cell ca_free_uM must be >= 0 µM, got {ca_free_uM!r}")
        if trpm7_density_pA_per_pF is not None and not trpm7_density_pA_per_pF >= 0:
            raise ValueError(
                f"cell trpm7_density_pA_per_pF must be >= 0, got {trpm7_density_pA_per_pF!r}"
            )
        self.x_px = float(x_px)
        self.y_px = float(y_px)
        self.radius_px = float(radius_px)
        self.rest: dict[str, float | None] = {
            "mg_free_mM": float(mg_free_mM),
            "dye_uM": float(dye_uM),
            "volume_pL": volume_pL,
            "cm_pF": cm_pF,
            "rm_MOhm": rm_MOhm,
            "v_rest_mV": v_rest_mV,
            "k_mM": k_mM,
            "na_mM": na_mM,
            "ca_free_uM": ca_free_uM,
            "trpm7_density_pA_per_pF": trpm7_density_pA_per_pF,
        }
        self._population: CellPopulation | None = None
        self._index = -1

    def __repr__(self) -> str:
        return (
            f"Cell(x_px={self.x_px:g}, y_px={self.y_px:g}, radius_px={self.radius_px:g}, "
            f"mg_free_mM={self.mg_free_mM:.4g}, dye_uM={self.dye_uM:.4g})"
        )

    def _attach(self, population: CellPopulation, index: int) -> None:
        self._population, self._index = population, index

    def _read(self, what: str) -> float:
        population = self._population
        if population is None:
            value = self.rest.get(what)
            if value is None:
                raise AttributeError(f"{what} is known once the cell is part of a World")
            return float(value)
        return population.read(self._index, what)

    # -- ground truth -------------------------------------------------------------------------
    @property
    def mg_free_mM(self) -> float:
        """True free cytosolic [Mg²⁺] (mM)."""
        return self._read("mg_free_mM")

    @mg_free_mM.setter
    def mg_free_mM(self, value: float) -> None:
        if not value >= 0:
            raise ValueError(f"mg_free_mM must be >= 0 mM, got {value!r}")
        if self._population is None:
            self.rest["mg_free_mM"] = float(value)
        else:
            self._population.set_free_mg(self._index, float(value))

    @property
    def dye_uM(self) -> float:
        """Fluorescent (hydrolysed, unbleached) Mag-fura-2 in the cytosol (µM)."""
        return self._read("dye_uM")

    @dye_uM.setter
    def dye_uM(self, value: float) -> None:
        if not value >= 0:
            raise ValueError(f"dye_uM must be >= 0 µM, got {value!r}")
        if self._population is None:
            self.rest["dye_uM"] = float(value)
        else:
            self._population.set_column(self._index, DYE, float(value))

    @property
    def dye_am_uM(self) -> float:
        """Unhydrolysed AM ester inside the cell (µM; not fluorescent in this model)."""
        return self._read("dye_am_uM")

    @property
    def mg_total_mM(self) -> float:
        """Total cellular Mg (mM): free + fast-bound + slow pool + fixed."""
        return self._read("mg_total_mM")

    @property
    def k_mM(self) -> float:
        return self._read("k_mM")

    @property
    def na_mM(self) -> float:
        return self._read("na_mM")

    @property
    def ca_free_uM(self) -> float:
        return self._read("ca_free_uM")

    @property
    def atp_mM(self) -> float:
        return self._read("atp_mM")

    @property
    def volume_pL(self) -> float:
        return self._read("volume_pL")

    @property
    def cm_pF(self) -> float:
        return self._read("cm_pF")

    @property
    def rm_MOhm(self) -> float:
        return self._read("rm_MOhm")

    @property
    def v_mV(self) -> float:
        """Membrane potential now (resting potential, or holding potential in whole cell)."""
        return self._read("v_mV")

    @property
    def ra_MOhm(self) -> float | None:
        """Access resistance when this cell is in whole-cell configuration, else None."""
        population = self._population
        if population is None:
            return None
        return population.access_resistance(self._index)

    @property
    def trpm7_activity(self) -> float:
        """Fraction of TRPM7 channels not inhibited by Mg²⁺ now."""
        return self._read("trpm7_activity")

    def truth(self) -> dict[str, Any]:
        """Every ground-truth value of this cell, for tests and the demo."""
        keys = [
            "mg_free_mM",
            "mg_total_mM",
            "k_mM",
            "na_mM",
            "ca_free_uM",
            "atp_mM",
            "dye_uM",
            "dye_am_uM",
            "volume_pL",
            "cm_pF",
            "rm_MOhm",
            "v_mV",
            "trpm7_activity",
        ]
        out: dict[str, Any] = {"x_px": self.x_px, "y_px": self.y_px, "radius_px": self.radius_px}
        out.update({k: getattr(self, k) for k in keys})
        out["ra_MOhm"] = self.ra_MOhm
        return out


def default_cells(width_px: int, height_px: int, n_cells: int, seed: int) -> list[Cell]:
    """Place ``n_cells`` non-overlapping cells with resting [Mg²⁺]ᵢ spread over 0.5–1.1 mM.

    The spread covers the measured free [Mg²⁺]ᵢ of mammalian cells (physiology-parameters.md §11).
    """
    rng = np.random.default_rng(seed)
    radius = max(4.0, min(width_px, height_px) / 14)
    margin = radius + 3
    cells: list[Cell] = []
    attempts = 0
    while len(cells) < n_cells:
        attempts += 1
        if attempts > 10_000:
            raise ValueError(
                f"cannot place {n_cells} cells of radius {radius:.0f} px "
                f"in a {width_px}x{height_px} image; use fewer cells or a larger image"
            )
        x = rng.uniform(margin, width_px - margin)
        y = rng.uniform(margin, height_px * 0.75 - margin)  # keep the bottom quarter for background
        if all((x - c.x_px) ** 2 + (y - c.y_px) ** 2 > (2 * radius + 4) ** 2 for c in cells):
            mg = float(np.round(rng.uniform(0.5, 1.1), 3))
            cells.append(Cell(x_px=float(x), y_px=float(y), radius_px=radius, mg_free_mM=mg))
    return cells


@dataclass
class Environment:
    """What the cells see at one instant: bath free ions and additives, temperature."""

    mg_o: float  # free mM
    ca_o: float  # free mM
    k_o: float
    na_o: float
    aspartate_o: float
    am_o_uM: float
    probenecid_mM: float
    ionophore_uM: float
    temperature_C: float
    osmolarity_mOsm: float


def environment_from(amounts: NDArray[np.float64], temperature_C: float) -> Environment:
    """Free ions and additives of bath amounts (:data:`SPECIES` order)."""
    row = amounts[None, :]
    return Environment(
        mg_o=float(free_of(row, "mg", temperature_C)[0]),
        ca_o=float(free_of(row, "ca", temperature_C)[0]),
        k_o=float(amounts[INDEX["k_mM"]]),
        na_o=float(amounts[INDEX["na_mM"]]),
        aspartate_o=float(amounts[INDEX["aspartate_mM"]]),
        am_o_uM=float(amounts[INDEX["dye_am_uM"]]),
        probenecid_mM=float(amounts[INDEX["probenecid_mM"]]),
        ionophore_uM=float(amounts[INDEX["ionophore_uM"]]),
        temperature_C=float(temperature_C),
        osmolarity_mOsm=float(amounts[INDEX["osmolarity_mOsm"]]),
    )


@dataclass
class Dialysis:
    """A whole-cell pipette exchanging with cell ``index``."""

    index: int
    ra_MOhm: float
    resistivity_ohm_m: float
    pipette: NDArray[np.float64]  # amounts of the pipette solution (SPECIES order)
    v_mV: float
    pipette_mg_free_mM: float = 0.0  # the chemistry's free Mg²⁺ of the pipette solution
    pipette_ca_free_uM: float = 0.0


def _ghk(u: NDArray, c_in: NDArray, c_out: NDArray | float) -> NDArray:
    """GHK flux shape ``u (c_in - c_out e^-u)/(1 - e^-u)`` (outward positive; u = zFV/RT)."""
    small = np.abs(u) < 1e-6
    safe = np.where(small, 1.0, u)
    value = safe * (c_in - c_out * np.exp(-safe)) / (-np.expm1(-safe))
    return np.where(small, c_in - c_out, value)


class CellPopulation:
    """The vectorised state of every cell and its right-hand side (see the module docstring)."""

    def __init__(
        self,
        cells: Sequence[Cell],
        model: CellModelConfig,
        trpm7: Trpm7Config,
        handling: DyeHandlingConfig,
        dye: MagFura2,
        rest_environment: Environment,
    ) -> None:
        self.cells = list(cells)
        self.model, self.trpm7, self.handling, self.dye = model, trpm7, handling, dye
        n = len(self.cells)
        self.n = n

        def param(name: str) -> NDArray[np.float64]:
            default = getattr(model, name)
            return np.array(
                [c.rest[name] if c.rest.get(name) is not None else default for c in self.cells],
                dtype=np.float64,
            )

        self.volume_L = param("volume_pL") * 1e-12
        self.cm_pF = param("cm_pF")
        self.rm_MOhm = param("rm_MOhm")
        self.v_rest_mV = param("v_rest_mV")
        self.x_rest = np.array([c.rest["mg_free_mM"] for c in self.cells], dtype=np.float64)
        density = np.array(
            [
                c.rest["trpm7_density_pA_per_pF"]
                if c.rest["trpm7_density_pA_per_pF"] is not None
                else trpm7.density_pA_per_pF
                for c in self.cells
            ],
            dtype=np.float64,
        )
        self.trpm7_amplitude_pA = density * self.cm_pF  # I(+80 mV) at full activation
        self.env0 = rest_environment
        self.t0_C = rest_environment.temperature_C

        y = np.zeros((n, N_STATE))
        y[:, ATP] = model.atp_mM
        y[:, K] = param("k_mM")
        y[:, NA] = param("na_mM")
        y[:, CA] = param("ca_free_uM")
        y[:, DYE] = [c.rest["dye_uM"] for c in self.cells]
        y[:, VOL] = 1.0  # volume relative to rest
        self.ca_rest_uM = y[:, CA].copy()
        y[:, MGF] = self.fast_total(self.x_rest, y)
        y[:, SLOW] = self.slow_equilibrium(self.x_rest)
        self.mg_fixed_mM = np.maximum(0.0, model.total_mg_mM - y[:, MGF] - y[:, SLOW])
        self.y = y
        self._x_guess = self.x_rest.copy()
        self._calibrate_rest()
        self.dialysis: Dialysis | None = None
        for i, cell in enumerate(self.cells):
            cell._attach(self, i)
        self._h: float | None = None  # last step size of the integrator (s)
        self._sync: Callable[[], None] = lambda: None
        self._ra_of: Callable[[int], float | None] = lambda i: None
        self._environment: Callable[[], Environment] = lambda: self.env0

    # -- buffering -----------------------------------------------------------------------------
    def _ligands(self, y: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
        ligands = np.concatenate([y[:, _LIGAND_COLUMNS], y[:, DYE : DYE + 1] / 1000.0], axis=1)
        kd = np.append(_LIGAND_KD_MG, self.dye.kd_mM)
        return ligands, kd

    def fast_total(self, x: NDArray, y: NDArray) -> NDArray:
        ligands, kd = self._ligands(y)
        return x + (ligands * x[:, None] / (kd + x[:, None])).sum(axis=1)

    def free_mg(self, y: NDArray) -> NDArray:
        ligands, kd = self._ligands(y)
        x = free_concentration(y[:, MGF], ligands, kd, self._x_guess)
        self._x_guess = x
        return x

    def slow_equilibrium(self, x: NDArray) -> NDArray:
        m = self.model
        return m.slow_pool_capacity_mM * x / (m.slow_pool_kd_mM + x)

    def mgatp(self, x: NDArray, y: NDArray) -> NDArray:
        kd = _LIGAND_KD_MG[0]
        return y[:, ATP] * x / (kd + x)

    # -- fluxes (mM/s unless stated) -----------------------------------------------------------
    def trpm7_current_pA(self, v_mV: NDArray, x: NDArray, y: NDArray) -> NDArray:
        g = self.trpm7.activity(x, self.mgatp(x, y))
        return self.trpm7_amplitude_pA * g * self.trpm7.shape(v_mV)

    def _per_volume(self, current_pA: NDArray, charge: float) -> NDArray:
        """mM/s of ions moved by ``current_pA`` carried by ions of valence ``charge``."""
        return current_pA * 1e-12 / (charge * FARADAY) / self.volume_L * 1e3

    def trpm7_mg_influx(self, v_mV: NDArray, x: NDArray, y: NDArray, env: Environment) -> NDArray:
        inward = np.minimum(self.trpm7_current_pA(v_mV, x, y), 0.0)
        return -self.trpm7.mg_share(env.mg_o) * self._per_volume(inward, 2.0)

    def _nme_saturation(self, x: NDArray) -> NDArray:
        m = self.model
        xn = np.maximum(x, 0.0) ** m.nme_hill
        return xn / (m.nme_k_mM**m.nme_hill + xn)

    def nme_efflux(self, x: NDArray, env: Environment) -> NDArray:
        m = self.model
        na_factor = env.na_o / self.env0.na_o if self.env0.na_o > 0 else 1.0
        return (
            self.nme_vmax
            * self._nme_saturation(x)
            * na_factor
            * q10_factor(m.nme_q10, env.temperature_C, self.t0_C)
        )

    def pump_cycles(self, v_mV: NDArray, na_i: NDArray, env: Environment) -> NDArray:
        m = self.model
        na = np.maximum(na_i, 0.0) ** m.pump_hill_na
        f_na = na / (m.pump_k_half_na_mM**m.pump_hill_na + na)
        ko = max(env.k_o, 0.0) ** m.pump_hill_k
        f_k = ko / (m.pump_k_half_k_mM**m.pump_hill_k + ko)
        f_v = (1 + math.exp(m.pump_v_half_mV / m.pump_v_slope_mV)) / (
            1 + np.exp(-(v_mV - m.pump_v_half_mV) / m.pump_v_slope_mV)
        )
        return (
            self.pump_jmax * f_na * f_k * f_v * q10_factor(m.pump_q10, env.temperature_C, self.t0_C)
        )

    def eaat_cycles(self, env: Environment) -> NDArray:
        m = self.model
        asp = env.aspartate_o / (m.eaat_km_aspartate_mM + env.aspartate_o)
        na = env.na_o / (m.eaat_km_na_mM + env.na_o)
        return self.eaat_jmax * asp * na

    def _calibrate_rest(self) -> None:
        """Choose NME Vmax, pump Jmax and passive permeabilities: zero net flux at rest."""
        m, env = self.model, self.env0
        y, x, v = self.y, self.x_rest, self.v_rest_mV
        self.nme_vmax = np.zeros(self.n)
        influx = self.trpm7_mg_influx(v, x, y, env)
        saturation = self._nme_saturation(x)
        ok = saturation > 0
        self.nme_vmax[ok] = influx[ok] / saturation[ok]
        self.pump_jmax = np.ones(self.n)
        shape = self.pump_cycles(v, y[:, NA], env)
        rest_cycles = self._per_volume(m.pump_pA_per_pF * self.cm_pF, 1.0)
        self.pump_jmax = np.where(shape > 0, rest_cycles / np.where(shape > 0, shape, 1.0), 0.0)
        self.eaat_jmax = self._per_volume(m.eaat_pA_per_pF * self.cm_pF, 2.0)
        eaat = self.eaat_cycles(env)
        u = v / rt_over_f_mV(self.t0_C)
        nme_na = (1.0 if m.nme_electrogenic else 2.0) * self.nme_efflux(x, env)
        k_out = _ghk(u, y[:, K], env.k_o)  # outward positive
        na_out = _ghk(u, y[:, NA], env.na_o)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.p_k = np.where(k_out > 0, (2 * rest_cycles - eaat) / k_out, 0.0)
            self.p_na = np.where(na_out < 0, (3 * rest_cycles - 3 * eaat - nme_na) / -na_out, 0.0)
        self.p_k = np.maximum(self.p_k, 0.0)
        self.p_na = np.maximum(self.p_na, 0.0)

    # -- the right-hand side ------------------------------------------------------------------
    def membrane_potential(self) -> NDArray:
        v = self.v_rest_mV.copy()
        if self.dialysis is not None:
            v[self.dialysis.index] = self.dialysis.v_mV
        return v

    def rhs(self, y: NDArray, env: Environment) -> NDArray:
        m, h = self.model, self.handling
        x = self.free_mg(y)
        v = self.membrane_potential()
        dy = np.zeros_like(y)
        # Mg²⁺
        slow_exchange = m.slow_pool_release_per_s * (self.slow_equilibrium(x) - y[:, SLOW])
        nme = self.nme_efflux(x, env)
        iono = m.ionophore_rate_per_uM_per_s * env.ionophore_uM
        dy[:, MGF] = (
            self.trpm7_mg_influx(v, x, y, env) - nme + iono * (env.mg_o - x) - slow_exchange
        )
        dy[:, SLOW] = slow_exchange
        # Na⁺, K⁺
        u = v / rt_over_f_mV(env.temperature_C)
        pump = self.pump_cycles(v, y[:, NA], env)
        eaat = self.eaat_cycles(env)
        nme_na = (1.0 if m.nme_electrogenic else 2.0) * nme
        dy[:, K] = 2 * pump - eaat - self.p_k * _ghk(u, y[:, K], env.k_o)
        dy[:, NA] = -3 * pump + 3 * eaat + nme_na - self.p_na * _ghk(u, y[:, NA], env.na_o)
        # Ca²⁺ (µM)
        # Ca²⁺ entry ∝ external Ca²⁺ against extrusion ∝ [Ca²⁺]i: at rest in the rest bath
        ca_entry = self.ca_rest_uM * (env.ca_o / self.env0.ca_o if self.env0.ca_o > 0 else 1.0)
        dy[:, CA] = (ca_entry - y[:, CA]) / m.ca_tau_s + iono * (1000 * env.ca_o - y[:, CA])
        # dye
        t = env.temperature_C
        hydrolysis = h.esterase_per_s(t) * y[:, AM]
        dy[:, AM] = h.am_uptake_per_s(t) * env.am_o_uM - hydrolysis
        leak = h.leak_per_s(t, env.probenecid_mM) * y[:, DYE]
        dy[:, DYE] = hydrolysis - leak
        dy[:, MGF] -= leak / 1000.0 * x / (self.dye.kd_mM + x)  # the dye leaves with its Mg²⁺
        if self.dialysis is not None:
            self._add_dialysis(dy, y, x)
        self._add_osmotic_volume(dy, y, env)
        return dy

    def _add_osmotic_volume(self, dy: NDArray, y: NDArray, env: Environment) -> None:
        """Volume relaxes to the bath's Boyle–van 't Hoff volume; swelling dilutes."""
        m = self.model
        rest, bath = self.env0.osmolarity_mOsm, env.osmolarity_mOsm
        if not (rest > 0 and bath > 0):
            return
        b = m.osmotic_inactive_fraction
        volume = np.maximum(y[:, VOL], 1e-3)
        dy[:, VOL] = (b + (1.0 - b) * rest / bath - volume) / m.volume_tau_s
        dy[:, _CONCENTRATIONS] -= y[:, _CONCENTRATIONS] * (dy[:, VOL] / volume)[:, None]

    def dialysis_taus_s(
        self, ra_MOhm: float, resistivity_ohm_m: float, index: int
    ) -> dict[str, float]:
        """Oliva et al. (1988) wash-in/out time constants ``(Ra/rho)·V/D`` per species (s)."""
        m = self.model
        geometry = ra_MOhm * 1e6 / resistivity_ohm_m * self.volume_L[index] * 1e-3  # s·m²
        d_mg = m.diffusion_mg_m2_per_s

        def by_mass(mass_da: float) -> float:  # Pusch & Neher (§8.5): tau ∝ M^(1/3)
            return geometry / (d_mg * (24.305 / mass_da) ** (1 / 3))

        return {
            "mg": geometry / d_mg,
            "large": geometry / m.diffusion_large_m2_per_s,  # ATP, dye, chelators
            "k": by_mass(39.098),
            "na": by_mass(22.990),
            "ca": by_mass(40.078),
        }

    def _add_dialysis(self, dy: NDArray, y: NDArray, x: NDArray) -> None:
        d = self.dialysis
        assert d is not None
        i = d.index
        tau = self.dialysis_taus_s(d.ra_MOhm, d.resistivity_ohm_m, i)
        p = d.pipette
        pip_lig = np.array(
            [
                p[INDEX["atp_mM"]],
                p[INDEX["edta_mM"]],
                p[INDEX["egta_mM"]],
                p[INDEX["bapta_mM"]],
                p[INDEX["dye_uM"]] / 1000.0,
            ]
        )
        kd = np.append(_LIGAND_KD_MG, self.dye.kd_mM)
        x_p = d.pipette_mg_free_mM
        cell_lig = np.concatenate([y[i, _LIGAND_COLUMNS], [y[i, DYE] / 1000.0]])
        bound_p = pip_lig * x_p / (kd + x_p)
        bound_c = cell_lig * x[i] / (kd + x[i])
        dy[i, MGF] += (x_p - x[i]) / tau["mg"] + (bound_p - bound_c).sum() / tau["large"]
        for column, amount in zip(_LIGAND_COLUMNS, pip_lig[:4], strict=True):
            dy[i, column] += (amount - y[i, column]) / tau["large"]
        dy[i, DYE] += (p[INDEX["dye_uM"]] - y[i, DYE]) / tau["large"]
        dy[i, K] += (p[INDEX["k_mM"]] - y[i, K]) / tau["k"]
        dy[i, NA] += (p[INDEX["na_mM"]] - y[i, NA]) / tau["na"]
        ca_p_uM = d.pipette_ca_free_uM
        dy[i, CA] += (ca_p_uM - y[i, CA]) / tau["ca"]

    def fastest_rate_per_s(self, env: Environment) -> float:
        """An upper estimate of the fastest relaxation rate (sets the first step size)."""
        m = self.model
        rates = [1.0 / m.ca_tau_s, m.slow_pool_release_per_s, 1e-3, 1.0 / m.volume_tau_s]
        rates.append(m.ionophore_rate_per_uM_per_s * env.ionophore_uM)
        if self.dialysis is not None:
            d = self.dialysis
            rates.append(1.0 / self.dialysis_taus_s(d.ra_MOhm, d.resistivity_ohm_m, d.index)["na"])
        return max(rates)

    # -- integration (Bogacki–Shampine 3(2), adaptive) ----------------------------------------
    def integrate(
        self,
        t0: float,
        t1: float,
        environment_at: Callable[[float], Environment],
        *,
        rtol: float = 1e-6,
        max_step_s: float = 120.0,
    ) -> None:
        """Advance the state from ``t0`` to ``t1`` with the bath given by ``environment_at``."""
        if t1 <= t0 or self.n == 0:
            return
        y = self.y
        t = t0
        env = environment_at(t)
        k1 = self.rhs(y, env)
        h = self._h or 0.1 / self.fastest_rate_per_s(env)
        h = min(h, max_step_s)
        while t < t1:
            h = min(h, t1 - t)
            env2 = environment_at(t + 0.5 * h)
            k2 = self.rhs(y + 0.5 * h * k1, env2)
            env3 = environment_at(t + 0.75 * h)
            k3 = self.rhs(y + 0.75 * h * k2, env3)
            y_new = y + h * (2 / 9 * k1 + 1 / 3 * k2 + 4 / 9 * k3)
            env4 = environment_at(t + h)
            k4 = self.rhs(y_new, env4)
            error = h * (-5 / 72 * k1 + 1 / 12 * k2 + 1 / 9 * k3 - 1 / 8 * k4)
            scale = _ATOL + rtol * np.maximum(np.abs(y), np.abs(y_new))
            norm = float(np.max(np.abs(error) / scale)) if error.size else 0.0
            if norm <= 1.0 or h <= 1e-6:
                t += h
                y = np.maximum(y_new, 0.0)
                k1 = k4 if np.all(y_new >= 0) else self.rhs(y, env4)
                factor = 5.0 if norm == 0 else min(5.0, 0.9 * norm ** (-1 / 3))
                h = min(max_step_s, h * max(0.2, factor))
            else:
                h *= max(0.2, 0.9 * norm ** (-1 / 3))
        self.y = y
        self._h = h
        self.free_mg(y)

    # -- reads and writes ---------------------------------------------------------------------
    def read(self, index: int, what: str) -> float:
        self._sync()
        y = self.y
        if what in ("mg_free_mM", "trpm7_activity", "mg_total_mM"):
            x = self.free_mg(y)
            if what == "mg_free_mM":
                return float(x[index])
            if what == "mg_total_mM":
                return float(y[index, MGF] + y[index, SLOW] + self.mg_fixed_mM[index])
            return float(self.trpm7.activity(x, self.mgatp(x, y))[index])
        columns = {
            "dye_uM": DYE,
            "dye_am_uM": AM,
            "k_mM": K,
            "na_mM": NA,
            "ca_free_uM": CA,
            "atp_mM": ATP,
        }
        if what in columns:
            return float(y[index, columns[what]])
        if what == "volume_pL":
            return float(self.volume_L[index] * 1e12 * y[index, VOL])
        if what == "cm_pF":
            return float(self.cm_pF[index])
        if what == "rm_MOhm":
            return float(self.rm_MOhm[index])
        if what == "v_mV":
            return float(self.membrane_potential()[index])
        raise KeyError(what)

    def access_resistance(self, index: int) -> float | None:
        self._sync()
        return self._ra_of(index)

    def set_free_mg(self, index: int, x: float) -> None:
        """Set cell ``index``'s free Mg²⁺ now (fast pool at equilibrium, slow pool unchanged)."""
        self._sync()
        xs = self.free_mg(self.y)
        xs[index] = x
        self.y[index, MGF] = self.fast_total(xs, self.y)[index]
        self._x_guess = xs

    def set_column(self, index: int, column: int, value: float) -> None:
        self._sync()
        x = self.free_mg(self.y)
        self.y[index, column] = value
        if column in (DYE, ATP, EDTA, EGTA, BAPTA):  # keep free Mg²⁺, rebind the fast pool
            self.y[index, MGF] = self.fast_total(x, self.y)[index]

    def bleach(self, fraction_remaining: float) -> None:
        """Photobleaching: the fluorescent dye drops to ``fraction_remaining`` (§4).

        The photoproduct is taken as non-fluorescent and keeps the Mg²⁺ it held (µM amounts);
        free Mg²⁺ is unchanged.
        """
        x = self.free_mg(self.y)
        self.y[:, DYE] *= fraction_remaining
        self.y[:, MGF] = self.fast_total(x, self.y)
        self._x_guess = x

    def ionic_current_function(
        self, index: int, env: Environment
    ) -> Callable[[NDArray[np.float64]], NDArray[np.float64]]:
        """Cell ``index``'s non-linear membrane current (A) as a function of potential (V).

        TRPM7 (state of inhibition frozen over a sweep), Na⁺/K⁺ pump (one charge out per cycle),
        EAAT (two charges in per cycle) and, if electrogenic, the Na⁺/Mg²⁺ exchanger.
        """
        m = self.model
        y = self.y
        x = self.free_mg(y)
        amplitude = float(
            self.trpm7_amplitude_pA[index] * self.trpm7.activity(x, self.mgatp(x, y))[index]
        )
        to_amp = 1e-3 * float(self.volume_L[index]) * FARADAY  # mM/s of cycles → A
        na = max(float(y[index, NA]), 0.0) ** m.pump_hill_na
        pump_scale = (
            float(self.pump_jmax[index])
            * na
            / (m.pump_k_half_na_mM**m.pump_hill_na + na)
            * max(env.k_o, 0.0) ** m.pump_hill_k
            / (m.pump_k_half_k_mM**m.pump_hill_k + max(env.k_o, 0.0) ** m.pump_hill_k)
            * q10_factor(m.pump_q10, env.temperature_C, self.t0_C)
            * (1 + math.exp(m.pump_v_half_mV / m.pump_v_slope_mV))
            * to_amp
        )
        constant = -2.0 * float(self.eaat_cycles(env)[index]) * to_amp
        if m.nme_electrogenic:
            constant += float(self.nme_efflux(x, env)[index]) * to_amp
        trpm7 = self.trpm7

        def ionic(v_volts: NDArray[np.float64]) -> NDArray[np.float64]:
            v = v_volts * 1e3
            pump = pump_scale / (1 + np.exp(-(v - m.pump_v_half_mV) / m.pump_v_slope_mV))
            return amplitude * 1e-12 * trpm7.shape(v) + pump + constant

        return ionic

    def optical_state(self) -> tuple[NDArray, NDArray, NDArray]:
        """Per cell: free Mg²⁺ (mM), free Ca²⁺ (µM), fluorescent dye (µM)."""
        x = self.free_mg(self.y)
        return x, self.y[:, CA].copy(), self.y[:, DYE].copy()

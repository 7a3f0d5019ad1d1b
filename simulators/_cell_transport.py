"""Cells: Mg²⁺/K⁺/Na⁺/Ca²⁺ homeostasis, TRPM7, transporters, Mag-fura-2 loading and leak.

Per cell (state integrated for all cells at once, vectorised; sources in
docs/reference/physiology.md):

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

The cells' state columns are in :mod:`._cell_state`, the buffering in :mod:`._cell_buffering`,
the state and its integration in :mod:`._cell_population`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from ._cell_buffering import MgBuffering
from ._cell_model import FARADAY, DyeHandlingConfig, q10_factor, rt_over_f_mV
from ._cell_state import (
    AM,
    CA,
    CONCENTRATION_COLUMNS,
    DYE,
    LIGAND_COLUMNS,
    LIGAND_KD_MG,
    MGF,
    NA,
    SLOW,
    VOL,
    Dialysis,
    Environment,
    K,
)
from ._solutions import INDEX
from ._trpm7 import Trpm7Config

__all__ = ["CellTransport"]


def _ghk(u: NDArray, c_in: NDArray, c_out: NDArray | float) -> NDArray:
    """GHK flux shape ``u (c_in - c_out e^-u)/(1 - e^-u)`` (outward positive; u = zFV/RT)."""
    small = np.abs(u) < 1e-6
    safe = np.where(small, 1.0, u)
    value = safe * (c_in - c_out * np.exp(-safe)) / (-np.expm1(-safe))
    return np.where(small, c_in - c_out, value)


class CellTransport(MgBuffering):
    """Fluxes of every cell and the right-hand side of its state (see the module docstring).

    A base of the population of cells (:class:`~._cell_population.CellPopulation`), which sets
    the per-cell parameters below, then calls :meth:`calibrate_rest`.
    """

    trpm7: Trpm7Config
    handling: DyeHandlingConfig
    n: int
    y: NDArray[np.float64]
    x_rest: NDArray[np.float64]
    volume_L: NDArray[np.float64]
    cm_pF: NDArray[np.float64]
    v_rest_mV: NDArray[np.float64]
    trpm7_amplitude_pA: NDArray[np.float64]
    ca_rest_uM: NDArray[np.float64]
    env0: Environment
    t0_C: float
    dialysis: Dialysis | None

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

    def calibrate_rest(self) -> None:
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
        dy[:, CONCENTRATION_COLUMNS] -= y[:, CONCENTRATION_COLUMNS] * (dy[:, VOL] / volume)[:, None]

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
        kd = np.append(LIGAND_KD_MG, self.dye.kd_mM)
        x_p = d.pipette_mg_free_mM
        cell_lig = np.concatenate([y[i, LIGAND_COLUMNS], [y[i, DYE] / 1000.0]])
        bound_p = pip_lig * x_p / (kd + x_p)
        bound_c = cell_lig * x[i] / (kd + x[i])
        dy[i, MGF] += (x_p - x[i]) / tau["mg"] + (bound_p - bound_c).sum() / tau["large"]
        for column, amount in zip(LIGAND_COLUMNS, pip_lig[:4], strict=True):
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

"""Liquid junction potential (LJP) between a pipette solution and a bath solution.

Default method: the stationary Nernst–Planck equation with local electroneutrality and zero
electric current, solved numerically over the 1-D junction (Marino, Misuri & Brogioli 2014,
arXiv:1403.3640, the method of JLJP and of Scott Harden's LJPcalc). Fallback: the generalized
Henderson equation (Henderson 1907; in the form of Barry & Lynch 1991, J Membr Biol 121:101 and
Ng & Barry 1995, J Neurosci Methods 56:37, the method of JPCalc), which assumes linear
concentration profiles and is exact only in special cases. Ideal solutions (concentrations, not
activities) and 25 °C mobilities are used at every temperature; temperature enters through RT/F.

Sign convention (Neher 1992, Methods Enzymol 207:123; Barry & Lynch 1991): the returned LJP is
the potential of the bath with respect to the pipette solution, V(bath) − V(pipette), at the
open pipette tip. For whole-cell (and outside-out) recordings zeroed with the pipette in the
bath, the true membrane potential is ``Vm = Vcommand − LJP`` (and ``Vm = Vmeasured − LJP`` in
current clamp). A K-gluconate internal against NaCl-based ACSF gives about +15 mV, as LJPcalc
and JPCalc report it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.integrate import solve_bvp

from ._ions import (
    FARADAY_C_PER_MOL,
    GAS_CONSTANT_J_PER_MOL_K,
    ION_TABLE,
    checked_concentrations_mM,
)

__all__ = ["JUNCTION_METHODS", "liquid_junction_potential_mV"]

#: The accepted ``method`` values.
JUNCTION_METHODS = ("nernst-planck", "henderson")
#: A side is electroneutral if |Σ z c| <= this (mM) plus the relative part below.
ELECTRONEUTRALITY_ABS_TOLERANCE_MM = 0.01
#: ... plus this fraction of the side's larger of cation and anion equivalents.
ELECTRONEUTRALITY_REL_TOLERANCE = 0.005
TEMPERATURE_RANGE_C = (0.0, 50.0)

FloatArray = NDArray[np.float64]


def _ions_of(solution: Any, side: str) -> Mapping[str, float]:
    """The ion mapping of a Mapping or of an object with an ``ions_mM`` Mapping attribute."""
    if isinstance(solution, Mapping):
        return solution
    ions = getattr(solution, "ions_mM", None)
    if isinstance(ions, Mapping):
        return ions
    raise TypeError(
        f"{side} must be a mapping of ion name -> mM or have an 'ions_mM' mapping, "
        f"got {type(solution).__name__}"
    )


def _charged_ions_mM(solution: Any, side: str) -> dict[str, float]:
    """Charged ions (canonical name -> mM) of one side, checked and made exactly neutral."""
    amounts = checked_concentrations_mM(_ions_of(solution, side), side)
    charged = {n: c for n, c in amounts.items() if ION_TABLE[n].charge != 0 and c > 0}
    if not charged:
        raise ValueError(f"{side} contains no ions (neutral solutes alone carry no current)")
    cations = sum(c * ION_TABLE[n].charge for n, c in charged.items() if ION_TABLE[n].charge > 0)
    anions = -sum(c * ION_TABLE[n].charge for n, c in charged.items() if ION_TABLE[n].charge < 0)
    net = cations - anions
    tolerance = ELECTRONEUTRALITY_ABS_TOLERANCE_MM + ELECTRONEUTRALITY_REL_TOLERANCE * max(
        cations, anions
    )
    if abs(net) > tolerance or cations == 0 or anions == 0:
        fix = "anions" if net > 0 else "cations"
        raise ValueError(
            f"{side} is not electroneutral: cations {cations:.4g} mEq/L, anions {anions:.4g} "
            f"mEq/L, net charge {net:+.4g} mM (tolerance {tolerance:.2g} mM); add "
            f"{abs(net):.4g} mEq/L of {fix} (e.g. the counter-ion of a titrated acid or base), "
            "or list the missing ions"
        )
    # Remove the tolerated residue by scaling the anions (keeps every ratio among them).
    scale = cations / anions
    return {n: (c * scale if ION_TABLE[n].charge < 0 else c) for n, c in charged.items()}


def _junction_arrays(
    pipette: dict[str, float], bath: dict[str, float]
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Charge, relative diffusion coefficient and both concentrations (mM) of every ion."""
    names = sorted(set(pipette) | set(bath))
    z = np.array([ION_TABLE[n].charge for n in names], dtype=float)
    d = np.array([ION_TABLE[n].diffusion_m2_per_s for n in names], dtype=float)
    c0 = np.array([pipette.get(n, 0.0) for n in names])
    c_l = np.array([bath.get(n, 0.0) for n in names])
    return z, d / d.max(), c0, c_l


def henderson_rt_units(z: FloatArray, d: FloatArray, c0: FloatArray, c_l: FloatArray) -> float:
    """φ(L) − φ(0) in units of RT/F by the generalized Henderson equation (linear profiles)."""
    a0 = float(np.sum(z**2 * d * c0))
    a_l = float(np.sum(z**2 * d * c_l))
    s1 = float(np.sum(z * d * (c_l - c0)))
    # ln(aL/a0) / (aL − a0), with its limit 1/a for aL → a0
    if abs(a_l - a0) <= 1e-12 * (a0 + a_l):
        log_ratio_per_diff = 2.0 / (a0 + a_l)
    else:
        log_ratio_per_diff = math.log(a_l / a0) / (a_l - a0)
    return -s1 * log_ratio_per_diff


def _flux_guess(z: FloatArray, d: FloatArray, c0: FloatArray, c_l: FloatArray) -> FloatArray:
    """Fluxes of linear profiles with the Henderson field (the Newton start)."""
    field = henderson_rt_units(z, d, c0, c_l)
    return -d * ((c_l - c0) + z * 0.5 * (c0 + c_l) * field)


def nernst_planck_rt_units(z: FloatArray, d: FloatArray, c0: FloatArray, c_l: FloatArray) -> float:
    """φ(L) − φ(0) in units of RT/F by the stationary, electroneutral Nernst–Planck equation.

    On x ∈ [0, 1] every ion has a constant flux ``Jᵢ = −Dᵢ (cᵢ' + zᵢ cᵢ φ')``; electroneutrality
    (Σ zᵢ cᵢ = 0 everywhere) gives the field ``φ' = −(Σ zᵢ Jᵢ/Dᵢ) / (Σ zᵢ² cᵢ)``. Unknowns: the
    profiles cᵢ(x), φ(x) and the fluxes Jᵢ; conditions: cᵢ(0), cᵢ(1), φ(0) = 0 and zero current
    Σ zᵢ Jᵢ = 0. Σ zᵢ cᵢ is conserved by the equations, so one end condition is implied by the
    others and is replaced by the zero-current condition (the ion with the most charge at x = 1).
    """
    n = z.size
    scale = float(max(c0.max(), c_l.max()))
    c0s, c_ls = c0 / scale, c_l / scale
    dropped = int(np.argmax(np.abs(z) * c_ls))
    kept = np.arange(n) != dropped

    def rhs(_x: FloatArray, y: FloatArray, flux: FloatArray) -> FloatArray:
        c = y[:n]
        strength = np.maximum(np.sum((z**2)[:, None] * c, axis=0), 1e-12)
        field = -np.sum(z * flux / d) / strength
        dc = -(flux / d)[:, None] - z[:, None] * c * field
        return np.vstack([dc, field])

    def bc(ya: FloatArray, yb: FloatArray, flux: FloatArray) -> FloatArray:
        return np.concatenate([ya[:n] - c0s, [ya[n]], (yb[:n] - c_ls)[kept], [np.sum(z * flux)]])

    x = np.linspace(0.0, 1.0, 41)
    field0 = henderson_rt_units(z, d, c0, c_l)
    y = np.vstack([c0s[:, None] + (c_ls - c0s)[:, None] * x, field0 * x])
    flux0 = _flux_guess(z, d, c0s, c_ls)
    solution = solve_bvp(rhs, bc, x, y, p=flux0, tol=1e-7, bc_tol=1e-10, max_nodes=20000)
    if not solution.success:
        raise RuntimeError(f"Nernst–Planck junction did not converge: {solution.message}")
    return float(solution.y[n, -1])


def _checked_temperature_K(temperature_C: float) -> float:
    try:
        t = float(temperature_C)
    except (TypeError, ValueError):
        raise ValueError(f"temperature_C must be a number, got {temperature_C!r}") from None
    low, high = TEMPERATURE_RANGE_C
    if not (math.isfinite(t) and low <= t <= high):
        raise ValueError(
            f"temperature_C must be within {low:g}..{high:g} °C, got {temperature_C!r}"
        )
    return t + 273.15


def liquid_junction_potential_mV(
    pipette: Any,
    bath: Any,
    *,
    temperature_C: float = 25.0,
    method: str = "nernst-planck",
) -> float:
    """Liquid junction potential between ``pipette`` and ``bath`` solutions, in mV.

    Returns V(bath) − V(pipette): the potential of the bath with respect to the pipette
    solution at the open tip (Neher 1992 / Barry & Lynch 1991 convention, as LJPcalc and JPCalc
    report it). In whole-cell recording, with the amplifier zeroed in the bath before sealing,
    correct by ``Vm = Vcommand − LJP`` (or ``Vm = Vmeasured − LJP``): a K-gluconate internal
    against NaCl ACSF gives ≈ +15 mV, so a −60 mV command really holds the cell at ≈ −75 mV.

    ``pipette`` and ``bath`` are each a mapping of ion name → mM (case-insensitive, aliases
    such as ``"K"``, ``"MeSO3"``) or an object with an ``ions_mM`` mapping. Neutral solutes are
    ignored; an ion on only one side is fine. Each side must be electroneutral (within
    ``ELECTRONEUTRALITY_*_TOLERANCE``, the residue then removed by scaling its anions).

    ``method``: ``"nernst-planck"`` (stationary Nernst–Planck with electroneutrality and zero
    current, Marino et al. 2014) or ``"henderson"`` (generalized Henderson equation). Ideal
    solutions; 25 °C infinite-dilution mobilities; ``temperature_C`` (0..50) scales RT/F.
    """
    if method not in JUNCTION_METHODS:
        raise ValueError(f"method must be one of {JUNCTION_METHODS}, got {method!r}")
    temperature_k = _checked_temperature_K(temperature_C)
    z, d, c0, c_l = _junction_arrays(
        _charged_ions_mM(pipette, "pipette"), _charged_ions_mM(bath, "bath")
    )
    if np.allclose(c0, c_l, rtol=1e-12, atol=1e-12):
        return 0.0
    rt_over_f_mV = 1e3 * GAS_CONSTANT_J_PER_MOL_K * temperature_k / FARADAY_C_PER_MOL
    if method == "henderson":
        return rt_over_f_mV * henderson_rt_units(z, d, c0, c_l)
    return rt_over_f_mV * nernst_planck_rt_units(z, d, c0, c_l)

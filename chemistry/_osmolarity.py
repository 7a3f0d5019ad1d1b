"""Estimated osmolality of a physiological solution from its dissolved particles.

Model: ``osmolality = φ · Σ m_ion + Σ m_neutral`` (mOsm/kg water), with one osmotic
coefficient φ for all the ions from Pitzer's equations for an electrolyte mixture (Pitzer 1973,
J Phys Chem 77:268; Pitzer & Mayorga 1973, J Phys Chem 77:2300), and φ = 1 for nonelectrolytes
(glucose, sucrose, mannitol are ideal to < 1 % at physiological concentrations):

    φ − 1 = (2 / Σ mᵢ) · [ −A_φ I^{3/2} / (1 + b √I) + Σ_c Σ_a m_c m_a (β⁰_ca + β¹_ca e^{−α √I}) ]

with A_φ = 0.392 kg^{1/2} mol^{-1/2} (water, 25 °C), b = 1.2 and α = 2.0 (the values of
Pitzer & Mayorga 1973), and I the ionic strength (mol/kg). The pair parameters β⁰, β¹ are
Pitzer & Mayorga's for NaCl, KCl, MgCl₂ and CaCl₂; every other cation–anion pair takes the
NaCl values (physiological salines are ≥ 90 % NaCl/KCl by ionic strength, so this moves φ by
well under 1 %). The third virial term C^φ is omitted (< 0.01 % at 0.15 mol/kg).

Check: Robinson & Stokes, *Electrolyte Solutions* (2nd ed. 1959), tabulate φ(NaCl) = 0.932 at
0.1 and 0.925 at 0.2 mol/kg (25 °C), i.e. ≈ 0.93 at 0.154, so 0.9 % saline is
≈ 2 × 154 × 0.93 ≈ 286 mOsm/kg, its measured osmolality; this model gives 285.

Concentrations are taken in mM and used as mmol per kg of water (molarity ≈ molality; < 1 %
for physiological solutions). Ion pairing and complexation (MgSO₄, CaHPO₄ …) are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

from ._ions import ION_TABLE, checked_concentrations_mM

__all__ = ["osmolarity_mOsm", "osmotic_coefficient"]

#: Debye–Hückel osmotic coefficient parameter of water at 25 °C (Pitzer & Mayorga 1973).
A_PHI_25C = 0.392
PITZER_B = 1.2
PITZER_ALPHA = 2.0
#: (β⁰, β¹) by (cation, anion), Pitzer & Mayorga 1973; unlisted pairs use ``DEFAULT_PAIR``.
PAIR_PARAMETERS: Mapping[tuple[str, str], tuple[float, float]] = MappingProxyType(
    {
        ("na", "cl"): (0.0765, 0.2664),
        ("k", "cl"): (0.04835, 0.2122),
        ("mg", "cl"): (0.35235, 1.6815),
        ("ca", "cl"): (0.3159, 1.614),
    }
)
DEFAULT_PAIR = PAIR_PARAMETERS[("na", "cl")]


def _ions_mol_per_kg(amounts_mM: Mapping[str, float]) -> dict[str, float]:
    return {n: c / 1000.0 for n, c in amounts_mM.items() if ION_TABLE[n].charge != 0 and c > 0}


def _phi_of_ions(ions: Mapping[str, float]) -> float:
    """Pitzer osmotic coefficient of the ionic part (molalities in mol/kg)."""
    total = sum(ions.values())
    if total == 0:
        return 1.0
    strength = 0.5 * sum(m * ION_TABLE[n].charge ** 2 for n, m in ions.items())
    root = math.sqrt(strength)
    debye_huckel = -A_PHI_25C * strength * root / (1.0 + PITZER_B * root)
    cations = {n: m for n, m in ions.items() if ION_TABLE[n].charge > 0}
    anions = {n: m for n, m in ions.items() if ION_TABLE[n].charge < 0}
    pairs = 0.0
    for cation, m_c in cations.items():
        for anion, m_a in anions.items():
            beta0, beta1 = PAIR_PARAMETERS.get((cation, anion), DEFAULT_PAIR)
            pairs += m_c * m_a * (beta0 + beta1 * math.exp(-PITZER_ALPHA * root))
    return 1.0 + 2.0 / total * (debye_huckel + pairs)


def osmotic_coefficient(ions_mM: Mapping[str, float]) -> float:
    """Practical osmotic coefficient φ of the ions in ``ions_mM`` (neutral solutes ignored),
    by the Pitzer model described in this module (25 °C). 154 mM NaCl → ≈ 0.926."""
    return _phi_of_ions(_ions_mol_per_kg(checked_concentrations_mM(ions_mM, "ions_mM")))


def osmolarity_mOsm(solutes_mM: Mapping[str, float]) -> float:
    """Estimated osmolality (mOsm/kg water, 25 °C) of a solution given every dissolved particle.

    ``solutes_mM`` maps each free ion (``"Na"``, ``"Cl"``, ``"HCO3"`` …) and each neutral solute
    (``"glucose"``, ``"sucrose"``, ``"mannitol"``) to its concentration in mM; list salts as
    their ions (154 mM NaCl is ``{"Na": 154, "Cl": 154}``). Unknown names raise ``ValueError``.
    The ions count with the Pitzer osmotic coefficient φ, the neutral solutes with φ = 1:
    0.9 % saline gives ≈ 285 mOsm/kg (measured ≈ 286).
    """
    amounts = checked_concentrations_mM(solutes_mM, "solutes_mM")
    ions = _ions_mol_per_kg(amounts)
    neutral_mM = sum(c for n, c in amounts.items() if ION_TABLE[n].charge == 0)
    return 1000.0 * _phi_of_ions(ions) * sum(ions.values()) + neutral_mM

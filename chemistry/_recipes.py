"""What a weighed-in component puts into a solution, and the charge of each species at a pH.

A recipe lists components (salts, acids, bases, buffers, stocks) in mM; :data:`COMPONENTS` says
which species (ions, ligands, neutral solutes) each releases, per mole. Species are the lower-case
keys the rest of :mod:`ionrig.chemistry` uses: metal and other cations (``na``, ``k``, ``cs``,
``mg``, ``ca`` …), simple anions (``cl``, ``so4``, ``gluconate`` …), titratable species counted as
their total over all protonation forms (``hepes``, ``phosphate``, ``atp``, ``egta``, ``aspartate``
…) and neutral solutes (``glucose``, ``sucrose`` …).

The charge of a titratable species at a pH is its fully deprotonated charge plus the mean number
of protons it carries (from its protonation constants). Good's buffers and Tris use the
thermodynamic pKa values and enthalpies of Goldberg, Kishore & Lennen (2002), "Thermodynamic
quantities for the ionization reactions of buffers", J Phys Chem Ref Data 31:231–370 (Table 2
entries for HEPES, MOPS, PIPES, Tris), corrected to the stated temperature (van't Hoff) and ionic
strength (Davies). Chelators and amino acids use the protonation constants of the speciation
table (:mod:`ionrig.chemistry._constants`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from ._constants import CONSTANTS
from ._speciation import corrected_log10_K, proton_concentration_M

__all__ = [
    "COMPONENTS",
    "SPECIES_CHARGE",
    "Component",
    "canonical_component",
    "mean_protons",
    "species_charge",
]

#: Charge of every species when fully deprotonated (titratable ones) or always (the rest).
SPECIES_CHARGE: dict[str, int] = {
    # cations
    "na": 1, "k": 1, "cs": 1, "li": 1, "rb": 1, "nh4": 1, "tea": 1, "h": 1,
    "ca": 2, "mg": 2, "ba": 2, "sr": 2,
    # simple anions
    "cl": -1, "br": -1, "f": -1, "i": -1, "no3": -1, "hco3": -1, "oh": -1, "so4": -2,
    "gluconate": -1, "methanesulfonate": -1, "acetate": -1,
    # titratable: charge of the fully deprotonated form
    "hepes": -1, "mops": -1, "pipes": -2, "tris": 0, "nmdg": 0,
    "phosphate": -3, "atp": -4, "adp": -3, "gtp": -4, "edta": -4, "egta": -4, "bapta": -4,
    "hedta": -3, "citrate": -3, "aspartate": -2, "glutamate": -2,
    # charged at any physiological pH (pKa far away): fixed charge
    "phosphocreatine": -2, "probenecid": -1, "tboa": -1,
    # neutral solutes
    "glucose": 0, "sucrose": 0, "mannitol": 0, "ouabain": 0,
}  # fmt: skip

#: Buffers not in the speciation table: (log10 K of H+ + B = HB at 25 °C, I = 0; ΔH of the
#: ionization HB = H+ + B, kJ/mol).
#: Goldberg, Kishore & Lennen 2002, J Phys Chem Ref Data 31:231, Table 2 (pK at 298.15 K, I = 0,
#: and ΔrH°); NMDG: pKa 9.5 (Merck Index), enthalpy not tabulated (treated as constant).
_BUFFER_PROTONATION: dict[str, tuple[tuple[float, float | None], ...]] = {  # per step
    "hepes": ((7.564, 20.4),),
    "mops": ((7.184, 21.1),),
    "pipes": ((7.141, 11.2),),
    "tris": ((8.072, 47.45),),
    "nmdg": ((9.5, None),),
}


@dataclass(frozen=True)
class Component:
    """A weighed-in component: the species one mole of it releases, and what it is."""

    name: str
    species: Mapping[str, float]
    description: str = ""


def _c(name: str, description: str = "", **species: float) -> Component:
    return Component(name, dict(species), description)


#: Components a recipe may list, by display name (look-up ignores case, spaces, '-' and '·').
COMPONENTS: dict[str, Component] = {
    c.name: c
    for c in (
        _c("NaCl", na=1, cl=1),
        _c("KCl", k=1, cl=1),
        _c("CsCl", cs=1, cl=1),
        _c("LiCl", li=1, cl=1),
        _c("RbCl", rb=1, cl=1),
        _c("NH4Cl", nh4=1, cl=1),
        _c("TEA-Cl", "tetraethylammonium chloride (K⁺ channel block)", tea=1, cl=1),
        _c("CaCl2", ca=1, cl=2),
        _c("MgCl2", mg=1, cl=2),
        _c("BaCl2", "Ba²⁺ blocks inward rectifier K⁺ channels", ba=1, cl=2),
        _c("SrCl2", sr=1, cl=2),
        _c("MgSO4", mg=1, so4=1),
        _c("Na2SO4", na=2, so4=1),
        _c("K2SO4", k=2, so4=1),
        _c("NaHCO3", na=1, hco3=1),
        _c("KHCO3", k=1, hco3=1),
        _c("NaH2PO4", na=1, phosphate=1),
        _c("KH2PO4", k=1, phosphate=1),
        _c("Na2HPO4", na=2, phosphate=1),
        _c("K2HPO4", k=2, phosphate=1),
        _c("K-gluconate", k=1, gluconate=1),
        _c("Na-gluconate", na=1, gluconate=1),
        _c("Cs-gluconate", cs=1, gluconate=1),
        _c("Cs-methanesulfonate", cs=1, methanesulfonate=1),
        _c("K-methanesulfonate", k=1, methanesulfonate=1),
        _c("Cs-glutamate", cs=1, glutamate=1),
        _c("K-glutamate", k=1, glutamate=1),
        _c("Na-glutamate", na=1, glutamate=1),
        _c("K-aspartate", "potassium L-aspartate", k=1, aspartate=1),
        _c("Na-aspartate", na=1, aspartate=1),
        _c("Cs-aspartate", cs=1, aspartate=1),
        _c("Mg-aspartate", "magnesium L-aspartate, Mg(Asp)2", mg=1, aspartate=2),
        _c("Mg-gluconate", "Mg(gluconate)2", mg=1, gluconate=2),
        _c("Na-acetate", na=1, acetate=1),
        _c("CsF", cs=1, f=1),
        _c("KF", k=1, f=1),
        _c("CsOH", cs=1, oh=1),
        _c("KOH", k=1, oh=1),
        _c("NaOH", na=1, oh=1),
        _c("HCl", h=1, cl=1),
        _c("HEPES", "HEPES free acid", hepes=1),
        _c("Na-HEPES", na=1, hepes=1),
        _c("MOPS", "MOPS free acid", mops=1),
        _c("PIPES", "PIPES free acid", pipes=1),
        _c("Tris", "Tris base", tris=1),
        _c("Tris-HCl", tris=1, cl=1),
        _c("NMDG", "N-methyl-D-glucamine base", nmdg=1),
        _c("glucose", glucose=1),
        _c("sucrose", sucrose=1),
        _c("mannitol", mannitol=1),
        _c("Mg-ATP", "MgATP (disodium-free)", mg=1, atp=1),
        _c("Na2-ATP", na=2, atp=1),
        _c("K2-ATP", k=2, atp=1),
        _c("Na-GTP", "Na3GTP", na=3, gtp=1),
        _c("Na2-phosphocreatine", na=2, phosphocreatine=1),
        _c("EGTA", "EGTA free acid", egta=1),
        _c("EDTA", "EDTA free acid", edta=1),
        _c("Na2-EDTA", na=2, edta=1),
        _c("HEDTA", "HEDTA free acid", hedta=1),
        _c("BAPTA", "BAPTA free acid", bapta=1),
        _c("Cs4-BAPTA", cs=4, bapta=1),
        _c("K4-BAPTA", k=4, bapta=1),
        _c("K3-citrate", k=3, citrate=1),
        _c("Na3-citrate", na=3, citrate=1),
        _c("probenecid", "organic-anion transport blocker (keeps the dye in)", probenecid=1),
        _c("ouabain", "Na⁺/K⁺-ATPase blocker", ouabain=1),
        _c("DL-TBOA", "EAAT blocker", tboa=1),
    )
}


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch not in " -_·.()")


_LOOKUP = {_key(name): name for name in COMPONENTS}


def canonical_component(name: str) -> str:
    """The display name of component ``name`` (case, spaces, '-' and '·' ignored)."""
    found = _LOOKUP.get(_key(str(name)))
    if found is None:
        known = ", ".join(sorted(COMPONENTS, key=str.lower))
        raise ValueError(f"unknown component {name!r}; known components: {known}")
    return found


_R_KJ = 8.314462618e-3  # gas constant, kJ/(mol K)


def _davies_log_gamma(charge: int, ionic_strength_M: float) -> float:
    """log10 activity coefficient (Davies 1962, "Ion Association", Butterworths, eq. 3.7)."""
    root = math.sqrt(ionic_strength_M)
    return -0.509 * charge**2 * (root / (1.0 + root) - 0.3 * ionic_strength_M)


def _table_steps(species: str) -> list:
    """The speciation table's stepwise protonation constants of ``species`` (H+ + H(j-1)L)."""
    steps = []
    for j in range(1, 7):
        reaction = "H+L=HL" if j == 1 else f"H+H{'' if j == 2 else j - 1}L=H{j}L"
        match = [c for c in CONSTANTS if c.ligand == species and c.reaction == reaction]
        if not match:
            break
        steps.append(match[0])
    return steps


def _mean_bound(log_k_steps: list[float], log_h: float) -> float:
    """Mean number of protons bound given stepwise log10 K and log10 of the proton term."""
    weights, log_beta = [1.0], 0.0
    for j, log_k in enumerate(log_k_steps, start=1):
        log_beta += log_k
        weights.append(10.0 ** (log_beta + j * log_h))
    return sum(j * w for j, w in enumerate(weights)) / sum(weights)


def mean_protons(species: str, pH: float, temperature_C: float, ionic_strength_mM: float) -> float:
    """Mean number of H⁺ bound to ``species`` (0 for species that take none) at pH (activity).

    Good's buffers and Tris: thermodynamic constants (Goldberg et al. 2002) taken to the
    temperature (van't Hoff) and to mixed constants at the ionic strength (Davies), used with
    the H⁺ activity 10^-pH. Ligands of the speciation table: its concentration constants at the
    solution's conditions, used with [H⁺] as the speciation computes it.
    """
    if species in _BUFFER_PROTONATION:
        kelvin, ionic_M = temperature_C + 273.15, ionic_strength_mM / 1000.0
        z, steps = SPECIES_CHARGE[species], []
        for j, (log_k, enthalpy) in enumerate(_BUFFER_PROTONATION[species], start=1):
            if enthalpy is not None:  # ΔH of ionization: protonation is the reverse
                log_k += enthalpy / (_R_KJ * math.log(10)) * (1 / kelvin - 1 / 298.15)
            charge_before = z + j - 1
            log_k += _davies_log_gamma(charge_before, ionic_M)
            log_k -= _davies_log_gamma(charge_before + 1, ionic_M)
            steps.append(log_k)
        return _mean_bound(steps, -pH)
    table = _table_steps(species)
    if not table:
        return 0.0
    steps = [
        corrected_log10_K(c, temperature_C=temperature_C, ionic_strength_mM=ionic_strength_mM)
        for c in table
    ]
    h_M = proton_concentration_M(pH, temperature_C, ionic_strength_mM)
    return _mean_bound(steps, math.log10(h_M))


def species_charge(
    species: str, pH: float, temperature_C: float = 25.0, ionic_strength_mM: float = 150.0
) -> float:
    """Mean charge of ``species`` at ``pH`` (all protonation forms; metal binding ignored)."""
    if species not in SPECIES_CHARGE:
        raise ValueError(f"unknown species {species!r}; known: {', '.join(sorted(SPECIES_CHARGE))}")
    return SPECIES_CHARGE[species] + mean_protons(species, pH, temperature_C, ionic_strength_mM)

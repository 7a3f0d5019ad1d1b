"""Stability constants for Mg²⁺ and Ca²⁺ with the ligands of physiological solutions.

Every entry is one stepwise equilibrium, written the way the critically evaluated tables write
it (NIST Standard Reference Database 46, Smith & Martell's "Critical Stability Constants"):

- protonation of the ligand, ``H+L=HL``, ``H+HL=H2L``, … (log10 of the association constant);
- metal binding to the fully deprotonated ligand, ``Mg+L=MgL``;
- metal binding to a protonated form, ``Mg+HL=MgHL`` (written on HL, not on L).

``L`` is the fully deprotonated ligand, with charge ``-LIGAND_CHARGES[ligand]``. Each value is a
*concentration* constant (M⁻¹) at its own reference temperature and ionic strength; the speciation
module moves it to the solution's conditions (Davies equation for ionic strength, van 't Hoff
with ``enthalpy_kJ_per_mol`` for temperature). ``enthalpy_kJ_per_mol`` is ``None`` where the
source gives no reaction enthalpy: that constant is then *not* corrected for temperature.

Sources (primary literature; see docs/reference/chemistry-constants.md for the full table):

- ATP, ADP, EDTA, EGTA, HEDTA, citrate: NIST SRD 46 v8 (R. M. Smith & A. E. Martell, 2004), in
  the form tabulated at 20 °C and 0.1 M (values and ΔH) in the standard constant set of Chris
  Patton's MaxChelator, the set used in Bers, Patton & Nuccitelli 2010 (Methods Cell Biol 99:1).
  Enthalpies were tabulated in kcal/mol and are given here in kJ/mol (× 4.184).
- BAPTA: Tsien 1980 (Biochemistry 19:2396; measured in 0.1 M KCl), as tabulated at 20 °C and
  0.1 M in the same MaxChelator set, which also gives the protonation ΔH and the third and
  fourth protonation steps (no primary source named there; they matter only below pH 6).
- Aspartate, glutamate: NIST SRD 46 v8, 25 °C, 0.1 M (protonation ΔH from the same database).
- Phosphate: protonation from Goldberg, Kishore & Lennen 2002 (J Phys Chem Ref Data 31:231),
  MgHPO₄ from Alberty 2003 ("Thermodynamics of Biochemical Reactions", Table 1.2), CaHPO₄ from
  Chughtai, Marshall & Nancollas 1968 (J Phys Chem 72:208); all thermodynamic (I = 0), 25 °C.

HEPES is not in the table: its Mg²⁺ and Ca²⁺ binding is negligible (Good et al. 1966), so a
``hepes`` total is ignored like any other key the speciation does not know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "CONSTANTS",
    "LIGANDS",
    "LIGAND_CHARGES",
    "METALS",
    "StabilityConstant",
    "parse_reaction",
]

_KJ_PER_KCAL = 4.184


@dataclass(frozen=True)
class StabilityConstant:
    """One stepwise stability (association) constant and where it comes from.

    Attributes:
        ligand: lowercase ligand key, e.g. ``"egta"``.
        reaction: ``"H+L=HL"``, ``"H+HL=H2L"``, ``"Mg+L=MgL"``, ``"Mg+HL=MgHL"``, …
        log10_K: log10 of the concentration constant (M⁻¹) at the reference conditions.
        temperature_C: reference temperature (°C).
        ionic_strength_M: reference ionic strength (M); 0 for a thermodynamic constant.
        enthalpy_kJ_per_mol: reaction enthalpy ΔH (kJ/mol) for the van 't Hoff correction;
            ``None`` when the source gives none: the constant is then used at every temperature
            as it is (not corrected).
        source: the primary source of the value.
    """

    ligand: str
    reaction: str
    log10_K: float
    temperature_C: float
    ionic_strength_M: float
    enthalpy_kJ_per_mol: float | None
    source: str


_REACTION = re.compile(r"^(H|Mg|Ca)\+(H(\d*))?L=(.+)$")


def parse_reaction(reaction: str) -> tuple[str, int]:
    """``(binder, protons)`` of a reaction string: who binds, and how many H⁺ the ligand carries.

    ``"H+H2L=H3L"`` → ``("h", 2)``; ``"Mg+L=MgL"`` → ``("mg", 0)``; ``"Ca+HL=CaHL"`` →
    ``("ca", 1)``. Raises ValueError for anything else (the product must match the reactants).
    """
    match = _REACTION.match(reaction)
    if match is None:
        raise ValueError(f"reaction {reaction!r} is not of the form 'X+HnL=product'")
    binder, protonated, digits, product = match.groups()
    protons = 0 if protonated is None else int(digits or "1")
    expected = f"{_protons(protons + 1)}L" if binder == "H" else f"{binder}{_protons(protons)}L"
    if product != expected:
        raise ValueError(f"reaction {reaction!r}: the product should be {expected!r}")
    return binder.lower(), protons


def _protons(count: int) -> str:
    return "" if count == 0 else "H" if count == 1 else f"H{count}"


def _kcal(value: float) -> float:
    return round(value * _KJ_PER_KCAL, 2)


_MAXC = (
    "NIST SRD 46 v8 (Smith & Martell 2004), as tabulated at 20 °C, 0.1 M in MaxChelator's "
    "standard constants (Patton; Bers, Patton & Nuccitelli 2010, Methods Cell Biol 99:1)"
)
_TSIEN = (
    "Tsien 1980, Biochemistry 19:2396 (0.1 M KCl), as tabulated at 20 °C, 0.1 M in MaxChelator's "
    "standard constants (Patton; Bers, Patton & Nuccitelli 2010)"
)
_TSIEN_H = (
    "Tsien 1980, Biochemistry 19:2396 (0.1 M KCl), as tabulated at 20 °C, 0.1 M with a ΔH in "
    "MaxChelator's standard constants (Patton; Bers, Patton & Nuccitelli 2010)"
)
_MAXC_ONLY = "MaxChelator standard constants (Patton; Bers, Patton & Nuccitelli 2010), 20 °C, 0.1 M"
_NIST_25 = "NIST SRD 46 v8 (Smith & Martell 2004), 25 °C, 0.1 M"
_GOLDBERG = "Goldberg, Kishore & Lennen 2002, J Phys Chem Ref Data 31:231 (25 °C, I = 0)"
_ALBERTY = "Alberty 2003, Thermodynamics of Biochemical Reactions, Table 1.2 (25 °C, I = 0)"
_CHUGHTAI = "Chughtai, Marshall & Nancollas 1968, J Phys Chem 72:208 (25 °C, I = 0)"

#: ligand → (reference °C, reference M, source, rows of (reaction, log10 K, ΔH kJ/mol or None)).
_TABLE: dict[str, tuple[float, float, str, tuple[tuple[str, float, float | None], ...]]] = {
    "atp": (
        20.0,
        0.1,
        _MAXC,
        (
            ("H+L=HL", 6.476, _kcal(0.5)),
            ("H+HL=H2L", 4.039, _kcal(-3.6)),
            ("Mg+L=MgL", 4.143, _kcal(4.4)),
            ("Mg+HL=MgHL", 2.299, _kcal(2.3)),
            ("Ca+L=CaL", 3.828, _kcal(3.2)),
            ("Ca+HL=CaHL", 2.144, _kcal(1.9)),
        ),
    ),
    "adp": (
        20.0,
        0.1,
        _MAXC,
        (
            ("H+L=HL", 6.374, _kcal(0.6)),
            ("H+HL=H2L", 3.924, _kcal(-4.0)),
            ("Mg+L=MgL", 3.211, _kcal(3.7)),
            ("Mg+HL=MgHL", 1.555, _kcal(1.8)),
            ("Ca+L=CaL", 2.839, _kcal(2.3)),
            ("Ca+HL=CaHL", 1.469, _kcal(1.5)),
        ),
    ),
    "edta": (
        20.0,
        0.1,
        _MAXC,
        (
            ("H+L=HL", 10.262, _kcal(-5.6)),
            ("H+HL=H2L", 6.186, _kcal(-4.2)),
            ("H+H2L=H3L", 2.677, _kcal(1.5)),
            ("H+H3L=H4L", 2.004, _kcal(0.3)),
            ("Mg+L=MgL", 8.755, _kcal(3.4)),
            ("Mg+HL=MgHL", 2.343, None),
            ("Ca+L=CaL", 10.734, _kcal(-6.1)),
            ("Ca+HL=CaHL", 3.652, None),
        ),
    ),
    "egta": (
        20.0,
        0.1,
        _MAXC,
        (
            ("H+L=HL", 9.476, _kcal(-5.9)),
            ("H+HL=H2L", 8.866, _kcal(-5.8)),
            ("H+H2L=H3L", 2.738, _kcal(-2.6)),
            ("H+H3L=H4L", 1.913, _kcal(-0.4)),
            ("Mg+L=MgL", 5.223, _kcal(5.2)),
            ("Mg+HL=MgHL", 3.377, None),
            ("Ca+L=CaL", 10.973, _kcal(-8.4)),
            ("Ca+HL=CaHL", 5.307, None),
        ),
    ),
    "hedta": (
        20.0,
        0.1,
        _MAXC,
        (
            ("H+L=HL", 9.955, _kcal(-6.6)),
            ("H+HL=H2L", 5.423, _kcal(-3.1)),
            ("H+H2L=H3L", 2.612, _kcal(1.1)),
            ("H+H3L=H4L", 1.6, None),
            ("Mg+L=MgL", 6.965, _kcal(3.4)),
            ("Ca+L=CaL", 8.189, _kcal(-6.5)),
        ),
    ),
    "citrate": (
        20.0,
        0.1,
        _MAXC,
        (
            ("H+L=HL", 5.696, _kcal(0.46)),
            ("H+HL=H2L", 4.363, _kcal(-0.75)),
            ("H+H2L=H3L", 2.919, _kcal(-1.08)),
            ("Mg+L=MgL", 3.493, _kcal(2.0)),
            ("Mg+HL=MgHL", 1.854, None),
            ("Ca+L=CaL", 3.533, _kcal(-2.0)),
            ("Ca+HL=CaHL", 2.09, _kcal(-1.0)),
        ),
    ),
    "aspartate": (
        25.0,
        0.1,
        _NIST_25,
        (
            ("H+L=HL", 9.63, _kcal(-9.0)),
            ("H+HL=H2L", 3.70, _kcal(-1.3)),
            ("H+H2L=H3L", 1.93, _kcal(-1.8)),
            ("Mg+L=MgL", 2.43, None),
            ("Ca+L=CaL", 1.60, None),
        ),
    ),
    "glutamate": (
        25.0,
        0.1,
        _NIST_25,
        (
            ("H+L=HL", 9.59, _kcal(-10.0)),
            ("H+HL=H2L", 4.20, _kcal(-1.0)),
            ("H+H2L=H3L", 2.18, _kcal(0.1)),
            ("Mg+L=MgL", 1.90, None),
            ("Ca+L=CaL", 1.43, None),
        ),
    ),
}

#: BAPTA: protonation and metal constants from different sources (see module docstring).
_BAPTA = (
    StabilityConstant("bapta", "H+L=HL", 6.372, 20.0, 0.1, _kcal(-4.0), _TSIEN_H),
    StabilityConstant("bapta", "H+HL=H2L", 5.491, 20.0, 0.1, _kcal(-3.0), _TSIEN_H),
    StabilityConstant("bapta", "H+H2L=H3L", 3.26, 20.0, 0.1, None, _MAXC_ONLY),
    StabilityConstant("bapta", "H+H3L=H4L", 2.2, 20.0, 0.1, None, _MAXC_ONLY),
    StabilityConstant("bapta", "Mg+L=MgL", 1.77, 20.0, 0.1, None, _TSIEN),
    StabilityConstant("bapta", "Ca+L=CaL", 6.97, 20.0, 0.1, None, _TSIEN),
)

#: Total inorganic phosphate: L is PO₄³⁻, so HPO₄²⁻ is HL and MgHPO₄ is MgHL.
_PHOSPHATE = (
    StabilityConstant("phosphate", "H+L=HL", 12.35, 25.0, 0.0, -16.0, _GOLDBERG),
    StabilityConstant("phosphate", "H+HL=H2L", 7.198, 25.0, 0.0, -3.6, _GOLDBERG),
    StabilityConstant("phosphate", "H+H2L=H3L", 2.148, 25.0, 0.0, 8.0, _GOLDBERG),
    StabilityConstant("phosphate", "Mg+HL=MgHL", 2.71, 25.0, 0.0, None, _ALBERTY),
    StabilityConstant("phosphate", "Ca+HL=CaHL", 2.74, 25.0, 0.0, None, _CHUGHTAI),
)


def _from_table() -> tuple[StabilityConstant, ...]:
    rows = []
    for ligand, (temperature_C, ionic_strength_M, source, entries) in _TABLE.items():
        for reaction, log10_K, enthalpy in entries:
            rows.append(
                StabilityConstant(
                    ligand, reaction, log10_K, temperature_C, ionic_strength_M, enthalpy, source
                )
            )
    return tuple(rows)


#: Every stability constant the speciation uses.
CONSTANTS: tuple[StabilityConstant, ...] = (*_from_table(), *_BAPTA, *_PHOSPHATE)

#: Charge (magnitude) of each fully deprotonated ligand L, for the ionic-strength correction.
LIGAND_CHARGES: MappingProxyType[str, int] = MappingProxyType(
    {
        "atp": 4,
        "adp": 3,
        "edta": 4,
        "egta": 4,
        "bapta": 4,
        "hedta": 3,
        "citrate": 3,
        "aspartate": 2,
        "glutamate": 2,
        "phosphate": 3,
    }
)

#: Ligand keys (lowercase) of a totals mapping that the speciation understands.
LIGANDS: frozenset[str] = frozenset(constant.ligand for constant in CONSTANTS)

#: Metal keys (lowercase) the speciation solves for.
METALS: frozenset[str] = frozenset({"mg", "ca"})

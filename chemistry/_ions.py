"""The ion table: charge and infinite-dilution diffusion coefficient (25 °C) of every ion a
physiology solution uses, each with the source of its mobility, plus a few neutral solutes
(charge 0, no mobility) that only count for osmolarity.

Mobilities come from two compilations, and each entry names which:

- ``LANGE`` — limiting equivalent ionic conductivities λ° (S cm² mol⁻¹ per equivalent, 25 °C)
  of Dean, *Lange's Handbook of Chemistry*, 15th ed. (McGraw-Hill 1999), Table 8.32, which
  agree closely (≈ 0.1 %) with the CRC Handbook table "Ionic conductivity and diffusion at
  infinite dilution" and with Robinson & Stokes, *Electrolyte Solutions* (2nd ed. 1959).
  Barry & Lynch (1991) J Membr Biol 121:101 cite the 13th edition of the same handbook for
  their inorganic mobilities.
- ``NG_BARRY`` — mobilities relative to K⁺ from Ng & Barry (1995) J Neurosci Methods 56:37
  ("The use of the Henderson equation for correct estimation of liquid junction potentials"),
  the values JPCalc uses; they cover the large organic ions (gluconate, HEPES⁻, NMDG⁺ …)
  that no conductivity handbook lists, and are used here for the phosphate anions too.

Conversion (Nernst–Einstein): ``D = R T λ° / (|z| F²)`` for a per-equivalent conductivity, and
``D = u_rel · D_K`` for a mobility relative to K⁺, with ``D_K`` from K⁺'s λ° = 73.5.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["ION_TABLE", "Ion", "canonical_ion", "ionic_strength_mM"]

GAS_CONSTANT_J_PER_MOL_K = 8.314462618
FARADAY_C_PER_MOL = 96485.33212
_T25_K = 298.15

LANGE = "Lange's Handbook of Chemistry, 15th ed. (Dean 1999), Table 8.32: λ° = {:g} S cm²/mol"
NG_BARRY = "Ng & Barry 1995, J Neurosci Methods 56:37: mobility {:g} × K⁺"
NEUTRAL = "neutral solute: charge 0, counted for osmolarity only (no mobility needed)"


@dataclass(frozen=True)
class Ion:
    """One dissolved species.

    ``diffusion_m2_per_s`` is the infinite-dilution diffusion coefficient at 25 °C (``None`` for
    neutral solutes, which never enter a junction-potential calculation); ``source`` names where
    the mobility comes from.
    """

    name: str
    charge: int
    diffusion_m2_per_s: float | None
    source: str


def _from_conductivity(lambda_s_cm2_per_mol: float, charge: int) -> float:
    """Diffusion coefficient (m²/s, 25 °C) from a limiting conductivity per equivalent."""
    lambda_si = lambda_s_cm2_per_mol * 1e-4  # S m²/mol
    return GAS_CONSTANT_J_PER_MOL_K * _T25_K * lambda_si / (abs(charge) * FARADAY_C_PER_MOL**2)


_LAMBDA_K = 73.5
_D_K_M2_PER_S = _from_conductivity(_LAMBDA_K, 1)


def _lange(name: str, charge: int, lambda_s_cm2_per_mol: float) -> Ion:
    diffusion = _from_conductivity(lambda_s_cm2_per_mol, charge)
    return Ion(name, charge, diffusion, LANGE.format(lambda_s_cm2_per_mol))


def _ng_barry(name: str, charge: int, relative_mobility: float) -> Ion:
    return Ion(name, charge, relative_mobility * _D_K_M2_PER_S, NG_BARRY.format(relative_mobility))


_IONS = (
    # monovalent cations
    _lange("k", +1, _LAMBDA_K),
    _lange("na", +1, 50.11),
    _lange("cs", +1, 77.3),
    _lange("li", +1, 38.69),
    _lange("rb", +1, 77.8),
    _lange("nh4", +1, 73.7),
    _lange("h", +1, 350.1),
    _lange("tea", +1, 32.6),  # tetraethylammonium (Ng & Barry: 0.444 × K⁺, the same)
    _ng_barry("nmdg", +1, 0.33),
    _ng_barry("tris", +1, 0.40),  # protonated Tris (TrisH⁺)
    # divalent cations (λ° per equivalent, i.e. of ½ M²⁺)
    _lange("ca", +2, 59.5),
    _lange("mg", +2, 53.06),
    _lange("ba", +2, 63.9),
    _lange("sr", +2, 59.46),
    # inorganic anions
    _lange("cl", -1, 76.31),
    _lange("br", -1, 78.1),
    _lange("f", -1, 55.4),
    _lange("i", -1, 76.9),
    _lange("no3", -1, 71.42),
    _lange("hco3", -1, 44.5),
    _lange("oh", -1, 198.0),
    _lange("so4", -2, 80.0),
    _ng_barry("h2po4", -1, 0.45),
    _ng_barry("hpo4", -2, 0.39),
    # organic anions
    _ng_barry("gluconate", -1, 0.33),
    _ng_barry("aspartate", -1, 0.30),
    _ng_barry("glutamate", -1, 0.26),
    _ng_barry("hepes", -1, 0.30),  # the HEPES⁻ anion (the zwitterion is neutral)
    _lange("methanesulfonate", -1, 48.8),  # CH₃SO₃⁻ ("methylsulfonate"; JPCalc: 0.664 × K⁺)
    _ng_barry("acetate", -1, 0.556),
    # neutral solutes (osmolarity only)
    Ion("glucose", 0, None, NEUTRAL),
    Ion("sucrose", 0, None, NEUTRAL),
    Ion("mannitol", 0, None, NEUTRAL),
)

#: Every known species by canonical (lowercase) name.
ION_TABLE: Mapping[str, Ion] = MappingProxyType({ion.name: ion for ion in _IONS})

_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "potassium": "k",
        "sodium": "na",
        "cesium": "cs",
        "caesium": "cs",
        "lithium": "li",
        "rubidium": "rb",
        "ammonium": "nh4",
        "proton": "h",
        "hydrogen": "h",
        "tetraethylammonium": "tea",
        "n-methyl-d-glucamine": "nmdg",
        "n-methyl-d-glucammonium": "nmdg",
        "trish": "tris",
        "calcium": "ca",
        "magnesium": "mg",
        "barium": "ba",
        "strontium": "sr",
        "chloride": "cl",
        "bromide": "br",
        "fluoride": "f",
        "iodide": "i",
        "nitrate": "no3",
        "bicarbonate": "hco3",
        "hydrogencarbonate": "hco3",
        "hydroxide": "oh",
        "sulfate": "so4",
        "sulphate": "so4",
        "dihydrogenphosphate": "h2po4",
        "hydrogenphosphate": "hpo4",
        "glu": "glutamate",
        "asp": "aspartate",
        "gluc": "gluconate",
        "meso3": "methanesulfonate",
        "ch3so3": "methanesulfonate",
        "mesylate": "methanesulfonate",
        "methylsulfonate": "methanesulfonate",
        "methanesulphonate": "methanesulfonate",
        "ac": "acetate",
        "oac": "acetate",
        "dextrose": "glucose",
        "d-glucose": "glucose",
        "d-mannitol": "mannitol",
    }
)

_SIGNS = re.compile(r"[+\-−]+$")
_CHARGE_SUFFIX = re.compile(r"\d*[+\-−]+$|[+\-−]+\d*$")


def _lookup(key: str) -> str | None:
    if key in ION_TABLE:
        return key
    return _ALIASES.get(key)


def canonical_ion(name: str) -> str:
    """The canonical table name of ``name`` (case-insensitive; aliases such as ``"K"``,
    ``"MeSO3"``, ``"bicarbonate"`` and charge suffixes such as ``"Ca2+"``, ``"Cl-"`` accepted).

    Raises ``ValueError`` naming the unknown name and listing the known ones.
    """
    if not isinstance(name, str):
        raise TypeError(f"ion name must be a str, got {type(name).__name__}: {name!r}")
    key = "".join(name.split()).lower()
    for candidate in (key, _SIGNS.sub("", key), _CHARGE_SUFFIX.sub("", key)):
        found = _lookup(candidate) if candidate else None
        if found is not None:
            return found
    known = ", ".join(sorted(ION_TABLE))
    raise ValueError(f"unknown ion or solute {name!r}; known: {known} (and common aliases)")


def checked_concentrations_mM(amounts_mM: Mapping[str, float], what: str) -> dict[str, float]:
    """``amounts_mM`` by canonical name, each finite and >= 0 (``ValueError`` naming ``what``
    and the offending entry; a species given twice under two names is an error)."""
    if not isinstance(amounts_mM, Mapping):
        raise TypeError(f"{what} must be a mapping of name -> mM, got {type(amounts_mM).__name__}")
    result: dict[str, float] = {}
    given_as: dict[str, str] = {}
    for raw_name, raw_value in amounts_mM.items():
        try:
            name = canonical_ion(raw_name)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{what}: {error}") from None
        try:
            value = float(raw_value)
        except (TypeError, ValueError):
            raise ValueError(
                f"{what}[{raw_name!r}] must be a number (mM), got {raw_value!r}"
            ) from None
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{what}[{raw_name!r}] must be finite and >= 0 mM, got {raw_value!r}")
        if name in result:
            raise ValueError(f"{what} gives {name!r} twice: as {given_as[name]!r} and {raw_name!r}")
        result[name] = value
        given_as[name] = raw_name
    return result


def ionic_strength_mM(ions_mM: Mapping[str, float]) -> float:
    """Ionic strength ``I = ½ Σ cᵢ zᵢ²`` in mM (names case-insensitive, neutral solutes add 0).

    150 mM NaCl → 150 mM; 10 mM MgCl₂ (Mg 10, Cl 20) → 30 mM.
    """
    amounts = checked_concentrations_mM(ions_mM, "ions_mM")
    return 0.5 * sum(c * ION_TABLE[name].charge ** 2 for name, c in amounts.items())

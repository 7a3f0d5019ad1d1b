"""A solution as a recipe, and everything ionrig derives from it.

A :class:`Solution` is what a lab writes down: components weighed in (mM), the pH and what it
was adjusted with, the temperature, optionally a target free Mg²⁺ or Ca²⁺ instead of a metal
total, and (older files) ion totals given directly (``mg_mM``, ``k_mM`` …). From it:

- ``totals_mM``: every species, the titrant that brings the recipe to its pH included (the
  amount is what electroneutrality requires at that pH; protons and hydroxide themselves are not
  tracked), and the metal total that gives the target free concentration;
- ``speciation`` (free Mg²⁺, Ca²⁺, bound amounts) by :func:`ionrig.chemistry.speciate`;
- ``ions_mM`` (charged species, for junction potentials), ``ionic_strength_mM`` and
  ``osmolarity_mOsm`` (a measured value in the file takes precedence over the estimate).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from typing import Any

from ._ions import ION_TABLE
from ._osmolarity import osmolarity_mOsm
from ._recipes import COMPONENTS, SPECIES_CHARGE, canonical_component, species_charge
from ._speciation import Speciation, speciate, total_for_free

__all__ = ["LEGACY_AMOUNTS", "ROLES", "Solution", "solution_fields"]

#: Ion-total fields of older solution files (and the simulator's composition vector), with the
#: species each adds to. The dye, Pluronic and ionophore fields carry their own units.
LEGACY_AMOUNTS: dict[str, str | None] = {
    "mg_mM": "mg",
    "ca_mM": "ca",
    "k_mM": "k",
    "na_mM": "na",
    "cs_mM": "cs",
    "cl_mM": "cl",
    "aspartate_mM": "aspartate",
    "glutamate_mM": "glutamate",
    "hepes_mM": "hepes",
    "glucose_mM": "glucose",
    "edta_mM": "edta",
    "egta_mM": "egta",
    "bapta_mM": "bapta",
    "atp_mM": "atp",
    "dye_am_uM": None,
    "dye_uM": None,
    "pluronic_percent": None,
    "probenecid_mM": "probenecid",
    "ionophore_uM": None,
}
ROLES = ("bath", "pipette", "loading", "calibration")
_BASES = {"CsOH": "cs", "KOH": "k", "NaOH": "na", "NMDG": "nmdg", "Tris": "tris"}
_ACIDS = {"HCl": "cl"}
_MAX_mM = 2000.0
_CHARGE_TOLERANCE_mM = 0.5


@dataclass(frozen=True)
class Solution:
    """A solution's recipe (see the module docstring). Amounts in mM unless the name says."""

    description: str = ""
    mg_mM: float = 0.0
    ca_mM: float = 0.0
    k_mM: float = 0.0
    na_mM: float = 0.0
    cs_mM: float = 0.0
    cl_mM: float = 0.0
    aspartate_mM: float = 0.0
    glutamate_mM: float = 0.0
    hepes_mM: float = 0.0
    glucose_mM: float = 0.0
    edta_mM: float = 0.0
    egta_mM: float = 0.0
    bapta_mM: float = 0.0
    atp_mM: float = 0.0
    dye_am_uM: float = 0.0
    dye_uM: float = 0.0
    pluronic_percent: float = 0.0
    probenecid_mM: float = 0.0
    ionophore_uM: float = 0.0
    ph: float = 7.2
    source: str = ""
    #: what was weighed in: component name (see ``ionrig solutions components``) → mM
    components: dict[str, float] = field(default_factory=dict)
    #: the base or acid the pH was adjusted with (CsOH, KOH, NaOH, NMDG, Tris, HCl); its amount
    #: is computed. None: the recipe is taken as it is (its charge balance is reported)
    ph_adjusted_with: str | None = None
    temperature_C: float = 25.0
    #: free Mg²⁺ wanted (mM): the total of ``target_mg_salt`` is solved (give no other Mg)
    target_mg_free_mM: float | None = None
    target_mg_salt: str = "MgCl2"
    #: free Ca²⁺ wanted (µM): the total of ``target_ca_salt`` is solved (give no other Ca)
    target_ca_free_uM: float | None = None
    target_ca_salt: str = "CaCl2"
    #: osmolality measured with an osmometer (mOsm/kg); overrides the estimate
    measured_osmolarity_mOsm: float | None = None
    #: what the solution is for: bath, pipette, loading or calibration
    role: str = "bath"
    #: a solution this one is made to be isosmotic with (checked: ``ionrig solutions check``)
    isosmotic_with: str | None = None

    def __post_init__(self) -> None:
        for name in LEGACY_AMOUNTS:
            _check_amount(name, getattr(self, name))
        if not self.pluronic_percent <= 1.0:
            raise ValueError(f"pluronic_percent must be <= 1 % w/v, got {self.pluronic_percent}")
        if not 5.0 <= self.ph <= 9.0:
            raise ValueError(f"ph must be in 5..9, got {self.ph!r}")
        if not 0.0 <= self.temperature_C <= 45.0:
            raise ValueError(f"temperature_C must be in 0..45 °C, got {self.temperature_C!r}")
        canonical = {}
        for name, amount in self.components.items():
            key = canonical_component(name)
            _check_amount(f"components.{name}", amount)
            canonical[key] = canonical.get(key, 0.0) + float(amount)
        object.__setattr__(self, "components", canonical)
        if self.ph_adjusted_with is not None:
            adjusted = canonical_component(self.ph_adjusted_with)
            if adjusted not in _BASES and adjusted not in _ACIDS:
                raise ValueError(
                    f"ph_adjusted_with must be one of {', '.join([*_BASES, *_ACIDS])}; "
                    f"got {self.ph_adjusted_with!r}"
                )
            object.__setattr__(self, "ph_adjusted_with", adjusted)
        self._check_target("mg", self.target_mg_free_mM, self.target_mg_salt, 0.0, 100.0, "mM")
        self._check_target("ca", self.target_ca_free_uM, self.target_ca_salt, 0.0, 10_000.0, "µM")
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}; got {self.role!r}")
        measured = self.measured_osmolarity_mOsm
        if measured is not None and not 0 < measured <= 2000:
            raise ValueError(f"measured_osmolarity_mOsm must be in (0, 2000], got {measured!r}")
        _ = self._derived  # targets and titrant solved now: a recipe that cannot be made fails here

    def _check_target(self, metal, target, salt, low, high, unit) -> None:
        field_name = f"target_{metal}_free_{'mM' if metal == 'mg' else 'uM'}"
        salt = canonical_component(salt)
        object.__setattr__(self, f"target_{metal}_salt", salt)
        if target is None:
            return
        if not (math.isfinite(target) and low <= target <= high):
            raise ValueError(f"{field_name} must be in {low:g}..{high:g} {unit}, got {target!r}")
        if COMPONENTS[salt].species.get(metal, 0) <= 0:
            raise ValueError(f"target_{metal}_salt {salt!r} contains no {metal.capitalize()}")

    # -- derived -------------------------------------------------------------------------------
    def _base_totals(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for name, species in LEGACY_AMOUNTS.items():
            amount = getattr(self, name)
            if species is not None and amount:
                totals[species] = totals.get(species, 0.0) + amount
        for name, amount in self.components.items():
            for species, per_mole in COMPONENTS[name].species.items():
                if species not in ("h", "oh"):
                    totals[species] = totals.get(species, 0.0) + per_mole * amount
        return totals

    @cached_property
    def _derived(self) -> tuple[dict[str, float], float, float, float]:
        """(totals with target metals and titrant, titrant mM, charge before titrant, I mM)."""
        base = self._base_totals()
        totals, titrant, charge, ionic = dict(base), 0.0, 0.0, 150.0
        for _ in range(6):
            ionic = _ionic_strength_mM(totals, self.ph, self.temperature_C, ionic)
            totals = dict(base)
            for metal, target, salt in (
                ("mg", self.target_mg_free_mM, self.target_mg_salt),
                ("ca", None if self.target_ca_free_uM is None else self.target_ca_free_uM / 1e3,
                 self.target_ca_salt),
            ):  # fmt: skip
                if target is not None:
                    total = total_for_free(
                        metal, target, totals, pH=self.ph, temperature_C=self.temperature_C,
                        ionic_strength_mM=ionic,
                    )  # fmt: skip
                    _add(totals, COMPONENTS[salt].species, self._salt_mM(metal, total, base))
            charge = _net_charge_mM(totals, self.ph, self.temperature_C, ionic)
            titrant = self._titrant_mM(charge)
            if titrant:
                species = (_BASES | _ACIDS)[self.ph_adjusted_with]  # type: ignore[index]
                totals[species] = totals.get(species, 0.0) + titrant
        return totals, titrant, charge, ionic

    def _salt_mM(self, metal: str, total_mM: float, base: Mapping[str, float]) -> float:
        """The target salt to add so that the metal's total is ``total_mM``."""
        present = base.get(metal, 0.0)
        if total_mM < present - 1e-9:
            unit = "mM" if metal == "mg" else "µM"
            target = self.target_mg_free_mM if metal == "mg" else self.target_ca_free_uM
            raise ValueError(
                f"target_{metal}_free_{'mM' if metal == 'mg' else 'uM'} {target:g} {unit} is "
                f"below what the recipe's own {present:g} mM {metal.capitalize()} gives; lower "
                "the recipe's Mg/Ca or raise the target"
            )
        salt = COMPONENTS[getattr(self, f"target_{metal}_salt")]
        return (total_mM - present) / salt.species[metal]

    def _titrant_mM(self, charge_mM: float) -> float:
        if self.ph_adjusted_with is None:
            return 0.0
        needed = -charge_mM if self.ph_adjusted_with in _BASES else charge_mM
        if needed < -_CHARGE_TOLERANCE_mM:
            kind = "an acid (HCl)" if self.ph_adjusted_with in _BASES else "a base"
            raise ValueError(
                f"ph_adjusted_with {self.ph_adjusted_with!r}: reaching pH {self.ph:g} needs "
                f"{kind}: the recipe carries {charge_mM:+.2f} mM of net charge"
            )
        return max(needed, 0.0)

    @property
    def totals_mM(self) -> dict[str, float]:
        """Every species (all protonation and complex forms), mM."""
        return dict(self._derived[0])

    @property
    def titrant_mM(self) -> float:
        """Base or acid added to reach the pH (mM; 0 without ``ph_adjusted_with``)."""
        return self._derived[1]

    @property
    def charge_balance_mM(self) -> float:
        """Net charge of the recipe (mEq/L) before the titrant; ~0 for a complete recipe."""
        return self._derived[2]

    @property
    def ionic_strength_mM(self) -> float:
        """Ionic strength ½ Σ c z² (mM), charges of titratable species at the pH."""
        return self._derived[3]

    @cached_property
    def speciation(self) -> Speciation:
        """Free metals and complexes at the solution's pH, temperature and ionic strength."""
        return speciate(
            self.totals_mM, pH=self.ph, temperature_C=self.temperature_C,
            ionic_strength_mM=self.ionic_strength_mM,
        )  # fmt: skip

    @property
    def mg_free_mM(self) -> float:
        """Free Mg²⁺ (mM)."""
        return float(self.speciation.free_mM.get("mg", 0.0))

    @property
    def ca_free_uM(self) -> float:
        """Free Ca²⁺ (µM)."""
        return 1000.0 * float(self.speciation.free_mM.get("ca", 0.0))

    @cached_property
    def ions_mM(self) -> dict[str, float]:
        """Charged species that carry current across a liquid junction (ion table names), mM.

        Titratable species enter with the charged amount at the pH (HEPES⁻, H2PO4⁻/HPO4²⁻,
        glutamate⁻, aspartate⁻); species with no tabulated mobility (chelators, nucleotides)
        are left out with an equal charge of the main counter-ion, and a recipe that does not
        balance (older ion-total files) has its main counter-ion made up, as LJPcalc does.
        """
        return _junction_ions(self.totals_mM, self.ph, self.temperature_C, self.ionic_strength_mM)

    @cached_property
    def osmolarity_estimated_mOsm(self) -> float:
        """Estimated osmolality (mOsm/kg) of every particle (ions and neutral solutes)."""
        totals = self.totals_mM
        ions = _junction_ions(
            totals, self.ph, self.temperature_C, self.ionic_strength_mM, for_osmolarity=True
        )
        others = ions.pop("_other", 0.0)
        neutral = sum(
            a for s, a in totals.items() if SPECIES_CHARGE.get(s, 0) == 0 and s not in _BUFFERS
        )
        neutral += others + _uncharged_buffer_mM(totals, ions)
        return osmolarity_mOsm({**ions, "glucose": neutral})

    @property
    def osmolarity_mOsm(self) -> float:
        """Osmolality (mOsm/kg): the measured value when the file gives one, else the estimate."""
        if self.measured_osmolarity_mOsm is not None:
            return float(self.measured_osmolarity_mOsm)
        return self.osmolarity_estimated_mOsm

    def to_dict(self) -> dict[str, Any]:
        """The recipe as written (every field), for a methods section."""
        return asdict(self)

    def summary(self) -> dict[str, Any]:
        """What a start document records: recipe, derived totals, free ions, osmolarity."""
        return {
            "recipe": {k: v for k, v in self.to_dict().items() if v not in (None, 0.0, {}, "")},
            "totals_mM": {k: round(v, 6) for k, v in sorted(self.totals_mM.items()) if v},
            "mg_free_mM": round(self.mg_free_mM, 6),
            "ca_free_uM": round(self.ca_free_uM, 6),
            "ph": self.ph,
            "temperature_C": self.temperature_C,
            "titrant_mM": round(self.titrant_mM, 4),
            "ionic_strength_mM": round(self.ionic_strength_mM, 3),
            "osmolarity_mOsm": round(self.osmolarity_mOsm, 2),
            "osmolarity_measured": self.measured_osmolarity_mOsm is not None,
        }


def solution_fields() -> tuple[str, ...]:
    """Every key a solution entry may have."""
    return tuple(f.name for f in fields(Solution))


def _check_amount(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= _MAX_mM):
        raise ValueError(f"{name} must be in 0..{_MAX_mM:g}, got {value!r}")


def _add(totals: dict[str, float], species: Mapping[str, float], amount: float) -> None:
    for name, per_mole in species.items():
        if name not in ("h", "oh"):
            totals[name] = totals.get(name, 0.0) + per_mole * amount


def _charges(totals: Mapping[str, float], pH: float, temperature_C: float, ionic_mM: float):
    for species, amount in totals.items():
        if amount and species in SPECIES_CHARGE:
            yield species, amount, species_charge(species, pH, temperature_C, ionic_mM)


def _net_charge_mM(totals, pH, temperature_C, ionic_mM) -> float:
    return sum(c * z for _, c, z in _charges(totals, pH, temperature_C, ionic_mM))


def _ionic_strength_mM(totals, pH, temperature_C, ionic_mM) -> float:
    value = 0.5 * sum(c * z * z for _, c, z in _charges(totals, pH, temperature_C, ionic_mM))
    return min(max(value, 0.0), 500.0)


#: Titratable species that cross a junction as the charged form the ion table names.
_CHARGED_FORM = ("hepes", "aspartate", "glutamate", "tris", "nmdg")
#: Buffers whose uncharged form is a solute of its own.
_BUFFERS = ("hepes", "tris", "nmdg")


def _junction_ions(totals, pH, temperature_C, ionic_mM, *, for_osmolarity=False):
    """Charged species by ion-table name (see :attr:`Solution.ions_mM`).

    ``for_osmolarity``: keep the counter-ions of left-out species, and count each left-out
    species as one particle under ``"_other"``.
    """
    ions: dict[str, float] = {}
    dropped_charge, dropped_mM = 0.0, 0.0
    for species, amount, z in _charges(totals, pH, temperature_C, ionic_mM):
        if species == "phosphate":  # H2PO4⁻ / HPO4²⁻ split by the mean charge
            hpo4 = amount * min(max(-z - 1.0, 0.0), 1.0)
            ions["hpo4"], ions["h2po4"] = hpo4, amount - hpo4
        elif species in _CHARGED_FORM and species in ION_TABLE:
            ions[species] = amount * abs(z)
        elif species in ION_TABLE and ION_TABLE[species].charge != 0:
            ions[species] = amount
        elif z:
            dropped_charge += amount * z
            dropped_mM += amount
    _balance(ions, 0.0 if for_osmolarity else dropped_charge, dropped_charge)
    ions = {name: c for name, c in ions.items() if c > 0}
    if for_osmolarity and dropped_mM:
        ions["_other"] = dropped_mM
    return ions


def _balance(ions: dict[str, float], dropped_charge: float, ignored_charge: float) -> None:
    """Remove the left-out charge from, and make up any imbalance with, the main counter-ion.

    ``ignored_charge`` is charge carried by left-out species whose counter-ions stay.
    """
    cations = [n for n in ions if ION_TABLE[n].charge > 0 and ions[n] > 0]
    anions = [n for n in ions if ION_TABLE[n].charge < 0 and ions[n] > 0]
    # left-out anions (chelators): take their charge off the main cation
    if dropped_charge and cations:
        main = max(cations, key=ions.__getitem__)
        ions[main] = max(ions[main] + dropped_charge / ION_TABLE[main].charge, 0.0)
    net = sum(c * ION_TABLE[n].charge for n, c in ions.items())
    if dropped_charge == 0.0:
        net += ignored_charge
    if abs(net) <= 1e-9:
        return
    side = anions if net > 0 else cations
    if side:
        main = max(side, key=ions.__getitem__)
        ions[main] += abs(net) / abs(ION_TABLE[main].charge)


def _uncharged_buffer_mM(totals: Mapping[str, float], ions: Mapping[str, float]) -> float:
    """The neutral (protonated) part of HEPES, Tris and other buffers, a solute of its own."""
    return sum(max(totals.get(name, 0.0) - ions.get(name, 0.0), 0.0) for name in _BUFFERS)

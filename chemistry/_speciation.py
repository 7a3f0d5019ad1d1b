"""Free Mg²⁺ and Ca²⁺ in a solution of several ligands (the MaxChelator model).

Model (Bers, Patton & Nuccitelli 2010, Methods Cell Biol 99:1; Patton's MaxChelator):

- Every ligand binds H⁺ stepwise and each metal as ML and, where tabulated, MHL (1:1 complexes
  only). The constants of :data:`ionrig.chemistry._constants.CONSTANTS` are concentration
  constants at their own reference temperature and ionic strength.
- Ionic strength: each constant is taken to I = 0 and back to the solution's I with Davies
  activity coefficients, log10 γ = −A z² (√I / (1 + √I) − 0.3 I) (Davies 1962, "Ion
  Association"), so log10 K(I) = log10 K(I₀) + 2 z₁ z₂ [A F(I) − A₀ F(I₀)] for the reaction
  1 + 2 = 12. A follows the temperature through the dielectric constant of water (Malmberg &
  Maryott 1956, J Res NBS 56:1). MaxChelator uses the same form with 0.25 I in place of 0.3 I;
  at 0.1–0.2 M the two differ by < 0.01 log units per unit of |z₁ z₂|.
- Temperature: van 't Hoff with the tabulated ΔH (constant over 0–45 °C); constants without a
  ΔH are used at every temperature as tabulated.
- pH is what a pH meter reads, −log10 of the H⁺ *activity*. The constants are concentration
  constants, so [H⁺] = 10^−pH / γ_H with γ_H from the same Davies equation (≈ 0.78 at 0.1 M,
  ≈ 0.76 at 0.15 M), the proton activity correction of Bers, Patton & Nuccitelli 1994/2010.
- Mass balance: Mg and Ca compete for every ligand and are solved jointly. With the ligands
  eliminated, the free metals minimise the convex function
  G(u) = Σ_M (m_M − T_M u_M) + Σ_L T_L ln(1 + Σ_M K'_{M,L} m_M), m_M = e^{u_M}, whose gradient
  is the metal mass balance; Newton steps with a backtracking line search converge from any
  start (K' are the conditional constants of :func:`apparent_dissociation_constant_mM`).
- The ionic strength is an input (ionrig computes it from the recipe): it is not updated here
  for the charges the complexes remove.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

from ._constants import (
    CONSTANTS,
    LIGAND_CHARGES,
    LIGANDS,
    METALS,
    StabilityConstant,
    parse_reaction,
)

__all__ = [
    "Speciation",
    "apparent_dissociation_constant_mM",
    "corrected_log10_K",
    "proton_concentration_M",
    "speciate",
    "total_for_free",
]

_R_J_PER_MOL_K = 8.314462618
_KELVIN = 273.15
_LN10 = math.log(10.0)
_METAL_ORDER = ("mg", "ca")
_METAL_CHARGE = {"h": 1, "mg": 2, "ca": 2}

PH_RANGE = (5.0, 9.0)
TEMPERATURE_RANGE_C = (0.0, 45.0)
IONIC_STRENGTH_RANGE_mM = (0.0, 500.0)
#: Largest metal total (mM) :func:`total_for_free` will ask for.
MAX_TOTAL_mM = 1000.0

_RELATIVE_TOLERANCE = 1e-12
_MAX_ITERATIONS = 200
_MAX_STEP_LN = 8.0


@dataclass(frozen=True)
class Speciation:
    """Free and bound metals of one solution at one pH, temperature and ionic strength.

    Attributes:
        free_mM: free (hydrated) metal ion, mM, for ``"mg"`` and ``"ca"``.
        bound_mM: metal → ligand → metal bound to that ligand (ML + MHL), mM.
        free_ligand_mM: ligand → ligand bound to no metal (all protonation forms), mM.
        pH: pH (−log10 H⁺ activity) of the calculation.
        temperature_C: temperature (°C).
        ionic_strength_mM: ionic strength (mM) used for the activity corrections.
    """

    free_mM: Mapping[str, float]
    bound_mM: Mapping[str, Mapping[str, float]]
    free_ligand_mM: Mapping[str, float]
    pH: float
    temperature_C: float
    ionic_strength_mM: float


# ---------------------------------------------------------------- conditions and corrections


def _check_range(name: str, value: float, bounds: tuple[float, float], unit: str) -> float:
    low, high = bounds
    if not _is_real(value) or not math.isfinite(value) or not low <= float(value) <= high:
        raise ValueError(f"{name} must be in {low:g}..{high:g}{unit}, got {value!r}")
    return float(value)


def _is_real(value: object) -> bool:
    """A real number (int, float, numpy scalar), not a bool or a string."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_conditions(pH: float, temperature_C: float, ionic_strength_mM: float):
    return (
        _check_range("pH", pH, PH_RANGE, ""),
        _check_range("temperature_C", temperature_C, TEMPERATURE_RANGE_C, " °C"),
        _check_range("ionic_strength_mM", ionic_strength_mM, IONIC_STRENGTH_RANGE_mM, " mM"),
    )


def _debye_huckel_a(temperature_C: float) -> float:
    """Debye–Hückel A (kg^½ mol^-½, log10 units) of water at ``temperature_C``.

    A = 1.82483e6 (ε T)^-3/2 with the relative permittivity of water of Malmberg & Maryott 1956
    (J Res NBS 56:1): ε = 87.740 − 0.40008 t + 9.398e-4 t² − 1.410e-6 t³. A(25 °C) = 0.5116.
    """
    t = temperature_C
    permittivity = 87.740 - 0.40008 * t + 9.398e-4 * t**2 - 1.410e-6 * t**3
    return 1.82483e6 * (permittivity * (t + _KELVIN)) ** -1.5


def _davies_f(ionic_strength_M: float) -> float:
    """Davies (1962) ionic-strength function √I/(1+√I) − 0.3 I; log10 γ = −A z² F(I)."""
    root = math.sqrt(ionic_strength_M)
    return root / (1.0 + root) - 0.3 * ionic_strength_M


def proton_concentration_M(pH: float, temperature_C: float, ionic_strength_mM: float) -> float:
    """[H⁺] (M) from a pH-meter pH: 10^−pH / γ_H, γ_H from the Davies equation."""
    log_gamma = -_debye_huckel_a(temperature_C) * _davies_f(ionic_strength_mM / 1000.0)
    return 10.0 ** (-pH - log_gamma)


def corrected_log10_K(
    constant: StabilityConstant, *, temperature_C: float, ionic_strength_mM: float
) -> float:
    """log10 K (concentration constant, M⁻¹) of one table entry at ``temperature_C`` (°C) and
    ``ionic_strength_mM`` (mM): Davies for ionic strength, van 't Hoff with its ΔH (if any).

    For code that needs a single constant at the solution's conditions (e.g. the mean charge of
    a ligand); no range checks beyond those of the arguments' physics.
    """
    return _corrected_log10_K(
        constant, LIGAND_CHARGES[constant.ligand], temperature_C, ionic_strength_mM / 1000.0
    )


def _corrected_log10_K(constant, ligand_charge: int, temperature_C: float, ionic_M: float):
    """log10 K of one constant moved to ``temperature_C`` and ``ionic_M`` (see module doc)."""
    binder, protons = parse_reaction(constant.reaction)
    charge_product = _METAL_CHARGE[binder] * (protons - ligand_charge)
    reference_C = constant.temperature_C
    log_k = constant.log10_K - 2 * charge_product * _debye_huckel_a(reference_C) * _davies_f(
        constant.ionic_strength_M
    )
    if constant.enthalpy_kJ_per_mol is not None:
        inverse_dt = 1.0 / (temperature_C + _KELVIN) - 1.0 / (reference_C + _KELVIN)
        log_k -= 1000.0 * constant.enthalpy_kJ_per_mol / (_R_J_PER_MOL_K * _LN10) * inverse_dt
    return log_k + 2 * charge_product * _debye_huckel_a(temperature_C) * _davies_f(ionic_M)


def _ligand_rows(ligand: str) -> tuple[list, dict[str, list]]:
    """(protonation constants in step order, metal → [(protons, constant)])."""
    protonation: dict[int, object] = {}
    metals: dict[str, list] = {metal: [] for metal in _METAL_ORDER}
    for constant in CONSTANTS:
        if constant.ligand != ligand:
            continue
        binder, protons = parse_reaction(constant.reaction)
        if binder == "h":
            protonation[protons] = constant
        else:
            metals[binder].append((protons, constant))
    return [protonation[j] for j in sorted(protonation)], metals


@lru_cache(maxsize=512)
def _conditional_per_mM(
    pH: float, temperature_C: float, ionic_strength_mM: float
) -> Mapping[str, Mapping[str, float]]:
    """ligand → metal → conditional constant K' (mM⁻¹), all protonation forms lumped.

    K' = Σ_j K_{M,HjL} β_j [H]^j / Σ_j β_j [H]^j, β_j the cumulative protonation constants.
    """
    ionic_M = ionic_strength_mM / 1000.0
    hydrogen_M = proton_concentration_M(pH, temperature_C, ionic_strength_mM)
    table: dict[str, Mapping[str, float]] = {}
    for ligand in sorted(LIGANDS):
        charge = LIGAND_CHARGES[ligand]
        protonation, metals = _ligand_rows(ligand)
        weights, log_beta = [1.0], 0.0
        for j, constant in enumerate(protonation, start=1):
            log_beta += _corrected_log10_K(constant, charge, temperature_C, ionic_M)
            weights.append(10.0 ** (log_beta + j * math.log10(hydrogen_M)))
        total_weight = sum(weights)
        per_metal = {}
        for metal, rows in metals.items():
            bound = sum(
                10.0 ** _corrected_log10_K(constant, charge, temperature_C, ionic_M)
                * weights[protons]
                for protons, constant in rows
            )
            per_metal[metal] = bound / total_weight / 1000.0
        table[ligand] = MappingProxyType(per_metal)
    return MappingProxyType(table)


# ---------------------------------------------------------------- the mass-balance solve


@dataclass(frozen=True)
class _System:
    """Metal totals (mM, unknown free), fixed free metals (mM) and ligands (total, K' by metal)."""

    totals: tuple[float, ...]
    fixed: tuple[float, ...]
    ligands: tuple[tuple[float, tuple[float, ...], tuple[float, ...]], ...]

    def denominators(self, free: tuple[float, ...]) -> list[float]:
        return [
            1.0 + sum(k * m for k, m in zip(k_free, free, strict=True))
            + sum(k * m for k, m in zip(k_fixed, self.fixed, strict=True))
            for _, k_free, k_fixed in self.ligands
        ]  # fmt: skip

    def objective(self, u: list[float]) -> float:
        free = tuple(math.exp(x) for x in u)
        value = sum(m - t * x for m, t, x in zip(free, self.totals, u, strict=True))
        denominators = self.denominators(free)
        return value + sum(
            total * math.log(d) for (total, _, _), d in zip(self.ligands, denominators, strict=True)
        )

    def gradient_hessian(self, u: list[float]) -> tuple[list[float], list[list[float]]]:
        free = [math.exp(x) for x in u]
        n = len(free)
        bound = [0.0] * n
        hessian = [[0.0] * n for _ in range(n)]
        for (total, k_free, _), d in zip(self.ligands, self.denominators(tuple(free)), strict=True):
            share = [total * k * m / d for k, m in zip(k_free, free, strict=True)]
            for a in range(n):
                bound[a] += share[a]
                for b in range(n):
                    hessian[a][b] -= share[a] * k_free[b] * free[b] / d
        gradient = [m + b - t for m, b, t in zip(free, bound, self.totals, strict=True)]
        for a in range(n):
            hessian[a][a] += free[a] + bound[a]
        return gradient, hessian


def _newton_step(gradient: list[float], hessian: list[list[float]]) -> list[float]:
    """Solve H d = −g for one or two unknowns (H is symmetric positive definite)."""
    if len(gradient) == 1:
        return [-gradient[0] / hessian[0][0]]
    (a, b), (c, d) = hessian
    determinant = a * d - b * c
    return [
        -(d * gradient[0] - b * gradient[1]) / determinant,
        -(a * gradient[1] - c * gradient[0]) / determinant,
    ]


def _initial_guess(system: _System) -> list[float]:
    """ln free metal: the excess over all ligand, or the all-free-ligand estimate if larger."""
    ligand_total = sum(total for total, _, _ in system.ligands)
    guesses = []
    for index, total in enumerate(system.totals):
        capacity = sum(t * k_free[index] for t, k_free, _ in system.ligands)
        guesses.append(math.log(max(total - ligand_total, total / (1.0 + capacity))))
    return guesses


def _converged(gradient: list[float], totals: tuple[float, ...]) -> bool:
    return all(abs(g) <= _RELATIVE_TOLERANCE * t for g, t in zip(gradient, totals, strict=True))


def _solve(system: _System) -> tuple[float, ...]:
    """Free metal concentrations (mM) of ``system`` by damped Newton on the convex G(u)."""
    if not system.totals:
        return ()
    u = _initial_guess(system)
    value = system.objective(u)
    for _ in range(_MAX_ITERATIONS):
        gradient, hessian = system.gradient_hessian(u)
        if _converged(gradient, system.totals):
            return tuple(math.exp(x) for x in u)
        step = _newton_step(gradient, hessian)
        largest = max(abs(s) for s in step)
        if largest > _MAX_STEP_LN:
            step = [s * _MAX_STEP_LN / largest for s in step]
        slope = sum(g * s for g, s in zip(gradient, step, strict=True))
        u, value = _line_search(system, u, value, step, slope)
        if largest < 1e-14:
            return tuple(math.exp(x) for x in u)
    raise RuntimeError("speciation did not converge; please report the totals and conditions")


def _line_search(system: _System, u, value, step, slope):
    """Backtracking (Armijo) along ``step``; changes below rounding count as no increase."""
    scale, rounding = 1.0, 1e-12 * (1.0 + abs(value))
    while scale > 1e-6:
        trial = [x + scale * s for x, s in zip(u, step, strict=True)]
        trial_value = system.objective(trial)
        if trial_value <= value + 1e-4 * scale * slope + rounding:
            return trial, trial_value
        scale *= 0.5
    trial = [x + s for x, s in zip(u, step, strict=True)]
    return trial, system.objective(trial)


# ---------------------------------------------------------------- public functions


def _checked_totals(total_mM: Mapping[str, float]) -> dict[str, float]:
    """Known keys (metals and ligands) of ``total_mM`` as floats; unknown keys are dropped."""
    if not isinstance(total_mM, Mapping):
        raise ValueError("total_mM must be a mapping of species name to total concentration (mM)")
    totals = {}
    for key, value in total_mM.items():
        if key not in METALS and key not in LIGANDS:
            continue
        number = float(value) if _is_real(value) else math.nan
        if not math.isfinite(number) or number < 0:
            raise ValueError(f"total of {key!r} must be a finite number >= 0 mM, got {value!r}")
        totals[key] = number
    return totals


def _system(totals, conditional, unknown, fixed_free: Mapping[str, float]) -> _System:
    fixed = tuple(fixed_free)
    ligands = tuple(
        (
            totals[ligand],
            tuple(conditional[ligand][metal] for metal in unknown),
            tuple(conditional[ligand][metal] for metal in fixed),
        )
        for ligand in sorted(totals)
        if ligand in LIGANDS and totals[ligand] > 0
    )
    return _System(
        tuple(totals[metal] for metal in unknown),
        tuple(fixed_free[metal] for metal in fixed),
        ligands,
    )


def _result(totals, conditional, free, conditions) -> Speciation:
    ligands = [ligand for ligand in sorted(totals) if ligand in LIGANDS]
    bound = {metal: {} for metal in _METAL_ORDER}
    free_ligand = {}
    for ligand in ligands:
        k = conditional[ligand]
        denominator = 1.0 + sum(k[metal] * free[metal] for metal in _METAL_ORDER)
        free_ligand[ligand] = totals[ligand] / denominator
        for metal in _METAL_ORDER:
            bound[metal][ligand] = free_ligand[ligand] * k[metal] * free[metal]
    pH, temperature_C, ionic_strength_mM = conditions
    return Speciation(
        free_mM=MappingProxyType(dict(free)),
        bound_mM=MappingProxyType({m: MappingProxyType(b) for m, b in bound.items()}),
        free_ligand_mM=MappingProxyType(free_ligand),
        pH=pH,
        temperature_C=temperature_C,
        ionic_strength_mM=ionic_strength_mM,
    )


def speciate(
    total_mM: Mapping[str, float],
    *,
    pH: float,
    temperature_C: float = 25.0,
    ionic_strength_mM: float = 150.0,
) -> Speciation:
    """Free Mg²⁺ and Ca²⁺ and the bound amounts, from totals (mM) of metals and ligands.

    Args:
        total_mM: species → total over all its forms (mM). Used: ``mg``, ``ca`` and the ligands
            of :data:`~ionrig.chemistry.LIGANDS`; every other key (na, k, cl, hepes, dyes …) is
            ignored. Used values must be finite and ≥ 0.
        pH: pH as a pH meter reads it (−log10 H⁺ activity), 5..9.
        temperature_C: temperature, 0..45 °C.
        ionic_strength_mM: ionic strength of the solution, 0..500 mM.

    Raises:
        ValueError: a condition out of range or a bad total, naming it and the allowed range.
    """
    conditions = _check_conditions(pH, temperature_C, ionic_strength_mM)
    totals = _checked_totals(total_mM)
    conditional = _conditional_per_mM(*conditions)
    unknown = [metal for metal in _METAL_ORDER if totals.get(metal, 0.0) > 0]
    free = dict.fromkeys(_METAL_ORDER, 0.0)
    free.update(zip(unknown, _solve(_system(totals, conditional, unknown, {})), strict=True))
    return _result(totals, conditional, free, conditions)


def total_for_free(
    metal: str,
    free_mM: float,
    total_mM: Mapping[str, float],
    *,
    pH: float,
    temperature_C: float = 25.0,
    ionic_strength_mM: float = 150.0,
) -> float:
    """Total of ``metal`` (mM) that leaves ``free_mM`` of it free, the other totals as given.

    The mapping's own entry for ``metal``, if any, is replaced; the other metal keeps its total
    and its free concentration is solved for. Conditions as in :func:`speciate`.

    Raises:
        ValueError: unknown metal, a bad target or total, a condition out of range, or a target
            that would need more than 1000 mM of total ``metal`` (the message gives the free
            range reachable with these totals).
    """
    if metal not in METALS:
        raise ValueError(f"metal must be one of {sorted(METALS)}, got {metal!r}")
    target = _check_range(f"free_mM of {metal}", free_mM, (0.0, math.inf), " mM")
    conditions = _check_conditions(pH, temperature_C, ionic_strength_mM)
    totals = _checked_totals(total_mM)
    totals.pop(metal, None)
    if target == 0.0:
        return 0.0
    conditional = _conditional_per_mM(*conditions)
    others = [m for m in _METAL_ORDER if m != metal and totals.get(m, 0.0) > 0]
    other_free = _solve(_system(totals, conditional, others, {metal: target}))
    free = dict.fromkeys(_METAL_ORDER, 0.0)
    free.update(zip(others, other_free, strict=True))
    free[metal] = target
    speciation = _result(totals, conditional, free, conditions)
    needed = target + sum(speciation.bound_mM[metal].values())
    if needed > MAX_TOTAL_mM:
        most = speciate(
            {**totals, metal: MAX_TOTAL_mM}, pH=pH, temperature_C=temperature_C,
            ionic_strength_mM=ionic_strength_mM,
        ).free_mM[metal]  # fmt: skip
        raise ValueError(
            f"free {metal} of {target:g} mM is unreachable: it needs {needed:.4g} mM total "
            f"{metal}, above {MAX_TOTAL_mM:g} mM; with these totals free {metal} can be set "
            f"from 0 to {most:.4g} mM"
        )
    return needed


def apparent_dissociation_constant_mM(
    ligand: str,
    metal: str,
    *,
    pH: float,
    temperature_C: float = 25.0,
    ionic_strength_mM: float = 150.0,
) -> float:
    """Conditional Kd (mM) of the 1:1 ``metal``–``ligand`` complex, protonation forms lumped.

    Kd' = Σ_j β_j [H]^j / Σ_j K_{M,HjL} β_j [H]^j (free ligand over all its H⁺ forms, complex as
    ML + MHL), at the given pH (meter reading), temperature (°C) and ionic strength (mM).

    Raises:
        ValueError: unknown ligand or metal, or a condition out of range.
    """
    if ligand not in LIGANDS:
        raise ValueError(f"ligand must be one of {sorted(LIGANDS)}, got {ligand!r}")
    if metal not in METALS:
        raise ValueError(f"metal must be one of {sorted(METALS)}, got {metal!r}")
    conditional = _conditional_per_mM(*_check_conditions(pH, temperature_C, ionic_strength_mM))
    association = conditional[ligand][metal]
    if association <= 0:
        raise ValueError(f"no {metal} constant for {ligand} in the table")
    return 1.0 / association

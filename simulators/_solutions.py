"""Solutions as the simulated world sees them: composition vectors and free Mg²⁺/Ca²⁺.

Solutions themselves, their recipes and their chemistry belong to :mod:`ionrig.chemistry`; the
simulator keeps each solution's derived totals as a vector (:data:`SPECIES` order) so the
chamber can mix solutions during an exchange, and asks the chemistry for the binding constants:

- a pure solution's free Mg²⁺ and Ca²⁺ (and a pipette's) are the chemistry's own values;
- a mixture during an exchange, and the cytosol, use the chemistry's conditional (apparent)
  1:1 constants at the vector's pH, the bath temperature and an ionic strength of 150 mM,
  solved per metal by :func:`free_concentration` — fast enough for every integration step.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ionrig.chemistry import (
    LEGACY_AMOUNTS,
    Solution,
    apparent_dissociation_constant_mM,
    load_solutions,
)

__all__ = [
    "DEFAULT_SOLUTIONS",
    "SPECIES",
    "Solution",
    "SolutionsFile",
    "amounts_of",
    "bath_solution",
    "free_concentration",
    "free_of",
    "mg_kd_mM",
]

#: Composition fields of the vector (:class:`Solution`'s ion-total fields), then the pH and the
#: osmolality (mOsm/kg; mixed linearly during an exchange, as the particles are).
SPECIES: tuple[str, ...] = (*LEGACY_AMOUNTS, "ph", "osmolarity_mOsm")
INDEX = {name: i for i, name in enumerate(SPECIES)}

#: Ligands the simulator follows, by vector field, and their name in the chemistry.
LIGANDS: dict[str, str] = {
    "atp_mM": "atp",
    "edta_mM": "edta",
    "egta_mM": "egta",
    "bapta_mM": "bapta",
    "aspartate_mM": "aspartate",
    "glutamate_mM": "glutamate",
}
_LIGAND_INDEX = [INDEX[name] for name in LIGANDS]
#: ionic strength the fast path assumes (mM): physiological salines and cytosol
IONIC_STRENGTH_mM = 150.0

#: The packaged example solutions (``rigs/solutions.yaml``): the simulated world's default.
DEFAULT_SOLUTIONS: dict[str, Solution] = load_solutions()


def amounts_of(solution: Solution) -> NDArray[np.float64]:
    """The solution's derived totals in :data:`SPECIES` order (additives in their own units)."""
    totals = solution.totals_mM
    values = [
        totals.get(species, 0.0) if species is not None else getattr(solution, name)
        for name, species in LEGACY_AMOUNTS.items()
    ]
    return np.array([*values, solution.ph, solution.osmolarity_mOsm], dtype=np.float64)


def bath_solution(amounts: ArrayLike, description: str = "bath") -> Solution:
    """A :class:`Solution` of ion totals (a bath mixed during an exchange)."""
    values = np.asarray(amounts, dtype=np.float64)
    return Solution(
        description=description,
        ph=float(np.clip(values[INDEX["ph"]], 5.0, 9.0)),
        **{n: float(max(0.0, values[INDEX[n]])) for n in LEGACY_AMOUNTS},
    )


@functools.lru_cache(maxsize=4096)
def _kd_mM(ligand: str, metal: str, ph_centi: int, temperature_deci_C: int) -> float:
    return apparent_dissociation_constant_mM(
        ligand,
        metal,
        pH=ph_centi / 100.0,
        temperature_C=temperature_deci_C / 10.0,
        ionic_strength_mM=IONIC_STRENGTH_mM,
    )


def mg_kd_mM(ligand_field: str, ph: float = 7.2, temperature_C: float = 25.0) -> float:
    """Conditional Kd (mM) of the Mg²⁺ complex of a ligand (vector field name)."""
    return _kd_mM(LIGANDS[ligand_field], "mg", round(ph * 100), round(temperature_C * 10))


def free_concentration(
    total_mM: ArrayLike,
    ligands_mM: ArrayLike,
    kd_mM: ArrayLike,
    guess_mM: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """Free metal ``x`` with ``x + sum_j L_j x / (K_j + x) = total`` (1:1 complexes).

    ``total_mM`` has shape (n,), ``ligands_mM`` shape (n, m) or (m,), ``kd_mM`` shape (m,) or
    (n, m). Newton's method on a concave increasing function converges monotonically; a warm
    start (``guess_mM``) makes it two or three iterations in an integration.
    """
    total = np.atleast_1d(np.asarray(total_mM, dtype=np.float64))
    ligands = np.asarray(ligands_mM, dtype=np.float64)
    if ligands.ndim == 1:
        ligands = np.broadcast_to(ligands, (total.size, ligands.size))
    kd = np.broadcast_to(np.asarray(kd_mM, dtype=np.float64), ligands.shape)
    total = np.maximum(total, 0.0)
    if ligands.shape[1] == 0 or not ligands.any():
        return total.copy()
    if guess_mM is None:
        x = total.copy()
    else:
        x = np.clip(np.atleast_1d(np.asarray(guess_mM, dtype=np.float64)), 0.0, total)
    for _ in range(60):
        denom = kd + x[:, None]
        f = x + (ligands * x[:, None] / denom).sum(axis=1) - total
        slope = 1.0 + (ligands * kd / denom**2).sum(axis=1)
        step = f / slope
        x_new = np.clip(x - step, 0.0, total)
        done = np.abs(x_new - x) <= 1e-13 + 1e-11 * x_new
        x = x_new
        if done.all():
            break
    return x


@functools.lru_cache(maxsize=4096)
def _kds_mM(metal: str, ph_centi: int, temperature_deci_C: int) -> tuple[float, ...]:
    return tuple(_kd_mM(lig, metal, ph_centi, temperature_deci_C) for lig in LIGANDS.values())


def _free_one(total: float, ligands: list[float], kds: tuple[float, ...]) -> float:
    """Scalar Newton for one row of :func:`free_concentration` (the bath: one row per call)."""
    pairs = [(lig, kd) for lig, kd in zip(ligands, kds, strict=True) if lig > 0]
    if total <= 0 or not pairs:
        return max(total, 0.0)
    x = total
    for _ in range(60):
        f = x - total + sum(lig * x / (kd + x) for lig, kd in pairs)
        slope = 1.0 + sum(lig * kd / (kd + x) ** 2 for lig, kd in pairs)
        x_new = min(max(x - f / slope, 0.0), total)
        if abs(x_new - x) <= 1e-13 + 1e-11 * x_new:
            return x_new
        x = x_new
    return x


def free_of(
    amounts: NDArray[np.float64], metal: str, temperature_C: float = 25.0
) -> NDArray[np.float64]:
    """Free Mg²⁺ or Ca²⁺ (mM) of composition rows ``amounts`` (n, len(SPECIES)), fast path."""
    rows = np.atleast_2d(amounts)
    out = np.empty(rows.shape[0])
    t_deci = round(temperature_C * 10)
    for i, row in enumerate(rows.tolist()):
        kds = _kds_mM(metal, round(row[INDEX["ph"]] * 100), t_deci)
        ligands = [row[j] for j in _LIGAND_INDEX]
        out[i] = _free_one(row[INDEX[f"{metal}_mM"]], ligands, kds)
    return out


@dataclass(frozen=True)
class SolutionsFile:
    """A solutions file's table as the rig file's ``world.solutions`` gives it."""

    solutions: dict[str, Solution] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.solutions:
            if not (isinstance(name, str) and name.isidentifier()):
                raise ValueError(
                    f"solution names must be identifiers (letters, digits, _), got {name!r}"
                )

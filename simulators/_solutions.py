"""Named solutions (full composition) and the free Mg²⁺/Ca²⁺ they hold.

A :class:`Solution` lists what was put in (totals, mM unless the name says otherwise); free
Mg²⁺ and Ca²⁺ follow from 1:1 binding to the chelators it contains (ATP, EDTA, EGTA, BAPTA).
The shared solutions file ``rigs/solutions.yaml`` holds the same table as
:data:`DEFAULT_SOLUTIONS` (a test keeps the two identical); real rigs read the file, simulated
worlds start from the table and take the file's or the rig file's entries on top.

Sources of the compositions are given per solution (``source``). Apparent chelator constants
(pH 7.2, ~22 °C) other than Mg·ATP are **not** in physiology-parameters.md: they are rounded
textbook values, labelled estimates, and matter only for "free = total − bound" in solutions
that contain the chelator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "CHELATOR_KD_MM",
    "DEFAULT_SOLUTIONS",
    "SPECIES",
    "Solution",
    "SolutionsFile",
    "free_concentration",
]

#: Composition fields that are amounts (all but description, pH and source), in vector order.
SPECIES: tuple[str, ...] = (
    "mg_mM",
    "ca_mM",
    "k_mM",
    "na_mM",
    "cs_mM",
    "cl_mM",
    "aspartate_mM",
    "glutamate_mM",
    "hepes_mM",
    "glucose_mM",
    "edta_mM",
    "egta_mM",
    "bapta_mM",
    "atp_mM",
    "dye_am_uM",
    "dye_uM",
    "pluronic_percent",
    "probenecid_mM",
    "ionophore_uM",
)
INDEX = {name: i for i, name in enumerate(SPECIES)}

#: Apparent dissociation constants (mM) of Mg²⁺ and Ca²⁺ complexes at pH 7.2.
CHELATOR_KD_MM: dict[str, dict[str, float]] = {
    # Mg·ATP: physiology-parameters.md §11, K_MgATP ≈ 50-100 µM (unconfirmed): midpoint.
    # Ca·ATP: not in the reference (estimate, textbook ~0.2 mM).
    "atp_mM": {"mg": 0.075, "ca": 0.2},
    # EDTA/EGTA/BAPTA: not in the reference; rounded apparent constants at pH 7.2 (estimates).
    "edta_mM": {"mg": 0.002, "ca": 0.0001},
    "egta_mM": {"mg": 10.0, "ca": 0.00015},
    "bapta_mM": {"mg": 17.0, "ca": 0.00016},
}


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


def _check_amounts(owner: str, values: Mapping[str, float]) -> None:
    for name, value in values.items():
        if not 0 <= value <= 2000:
            raise ValueError(f"{owner} {name} must be in 0..2000, got {value!r}")


@dataclass(frozen=True)
class Solution:
    """What a solution contains: totals added (mM; dyes and ionophore µM; Pluronic % w/v).

    ``dye_am_uM`` is membrane-permeant Mag-fura-2 AM (loading solutions); ``dye_uM`` is the
    impermeant salt (pipette solutions). ``ionophore_uM`` is 4-Br-A23187 (Ca²⁺/Mg²⁺
    ionophore used for in-situ calibration, physiology-parameters.md §3.2).
    """

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

    def __post_init__(self) -> None:
        _check_amounts("solution", {n: getattr(self, n) for n in SPECIES})
        if not self.pluronic_percent <= 1.0:
            raise ValueError(f"pluronic_percent must be <= 1 % w/v, got {self.pluronic_percent}")
        if not 5.0 <= self.ph <= 9.0:
            raise ValueError(f"ph must be in 5..9, got {self.ph!r}")

    def vector(self) -> NDArray[np.float64]:
        """Amounts in :data:`SPECIES` order."""
        return np.array([getattr(self, n) for n in SPECIES], dtype=np.float64)

    @classmethod
    def from_vector(cls, amounts: ArrayLike, description: str = "") -> Solution:
        values = np.asarray(amounts, dtype=np.float64)
        return cls(
            description=description,
            **{n: float(max(0.0, v)) for n, v in zip(SPECIES, values, strict=True)},
        )

    @property
    def mg_free_mM(self) -> float:
        """Free Mg²⁺ (mM) after binding to ATP, EDTA, EGTA and BAPTA."""
        return float(free_of(self.vector()[None, :], "mg")[0])

    @property
    def ca_free_uM(self) -> float:
        """Free Ca²⁺ (µM) after binding to ATP, EDTA, EGTA and BAPTA."""
        return 1000.0 * float(free_of(self.vector()[None, :], "ca")[0])

    def to_dict(self) -> dict[str, float | str]:
        """Every field, for a methods section."""
        return asdict(self)


_CHELATORS = tuple(CHELATOR_KD_MM)
_CHELATOR_INDEX = [INDEX[c] for c in _CHELATORS]


def free_of(amounts: NDArray[np.float64], metal: str, guess=None) -> NDArray[np.float64]:
    """Free Mg²⁺ or Ca²⁺ (mM) of composition rows ``amounts`` (n, len(SPECIES))."""
    total = amounts[:, INDEX[f"{metal}_mM"]]
    ligands = amounts[:, _CHELATOR_INDEX]
    kd = np.array([CHELATOR_KD_MM[c][metal] for c in _CHELATORS])
    return free_concentration(total, ligands, kd, guess)


def _hbss(**changes: float | str) -> Solution:
    """Hanks' balanced salt solution with Ca²⁺/Mg²⁺ (standard formulation, Gibco 14025).

    The composition is not in physiology-parameters.md; it is the standard recipe (mM): NaCl
    137.93, KCl 5.33, KH2PO4 0.44, NaHCO3 4.17, Na2HPO4 0.34, CaCl2 1.26, MgCl2 0.49,
    MgSO4 0.41, glucose 5.56.
    """
    base = {
        "description": "Hanks' balanced salt solution with Ca and Mg",
        "na_mM": 142.8,
        "k_mM": 5.77,
        "ca_mM": 1.26,
        "mg_mM": 0.9,
        "cl_mM": 146.8,
        "glucose_mM": 5.56,
        "source": "standard Hanks' formulation (Gibco 14025); not in physiology-parameters.md",
    }
    base.update(changes)
    return Solution(**base)  # type: ignore[arg-type]


#: The shared table; ``rigs/solutions.yaml`` holds exactly these entries.
DEFAULT_SOLUTIONS: dict[str, Solution] = {
    "hbss": _hbss(),
    "hbss_probenecid": _hbss(
        description="HBSS + 2.5 mM probenecid (blocks organic-anion dye extrusion)",
        probenecid_mM=2.5,  # physiology-parameters.md §4: 2.5 mM standard
        source="HBSS + probenecid 2.5 mM (physiology-parameters.md §4, Cao et al.)",
    ),
    "loading": _hbss(
        description="Mag-fura-2 AM loading solution: HBSS + 4 µM AM + 0.02 % Pluronic F-127",
        dye_am_uM=4.0,  # physiology-parameters.md §4 default: bath loading at 4 µM AM
        pluronic_percent=0.02,  # physiology-parameters.md §4: Pluronic F-127 0.02 % w/v
        source="HBSS + AM ester + Pluronic (physiology-parameters.md §4, TEFLabs guidelines)",
    ),
    "mg_k_aspartate": _hbss(
        description="HBSS with 10 mM Mg(aspartate)2 + 15 mM K-aspartate (NaCl reduced by 45 mM)",
        na_mM=97.8,
        cl_mM=101.8,
        k_mM=20.77,
        mg_mM=10.9,
        aspartate_mM=35.0,
        source="example composition (estimate); not in physiology-parameters.md",
    ),
    "trpm7_external": Solution(
        description="TRPM7 whole-cell external (Penner/Fleig)",
        na_mM=140.0,
        k_mM=2.8,
        ca_mM=1.0,  # §8.1: 1-10 mM CaCl2; the low end
        mg_mM=2.0,  # §8.1 and §11 default external Mg 2 mM
        cl_mM=148.8,
        hepes_mM=10.0,
        glucose_mM=11.0,
        source="physiology-parameters.md §8.1 (Penner/Fleig protocol; unconfirmed)",
    ),
    "trpm7_internal": Solution(
        description="TRPM7 pipette solution, Mg-free: Cs-glutamate + Cs-BAPTA",
        cs_mM=180.0,  # 140 Cs-glutamate + 4 Cs per Cs4-BAPTA
        glutamate_mM=140.0,
        na_mM=8.0,
        cl_mM=8.0,
        bapta_mM=10.0,
        hepes_mM=10.0,
        source="physiology-parameters.md §8.1 (Penner/Fleig protocol; unconfirmed)",
    ),
    "calibration_rmin": Solution(
        description="Rmin calibration: Mg-free, Ca-free + EDTA/EGTA + 4-Br-A23187",
        na_mM=142.8,
        k_mM=5.77,
        cl_mM=148.6,
        glucose_mM=5.56,
        edta_mM=5.0,  # amount not in the reference (estimate)
        egta_mM=2.0,  # Ca-free per §3.2; amount not in the reference (estimate)
        ionophore_uM=10.0,  # amount not in the reference (estimate)
        source="physiology-parameters.md §3.2 (Mg-free + EDTA, Ca-free, ionophore)",
    ),
    "calibration_rmax": Solution(
        description="Rmax calibration: 100 mM Mg, Ca-free + EGTA + 4-Br-A23187",
        mg_mM=100.0,  # §3.2: saturating Mg 50-100 mM; the high end
        k_mM=5.77,
        cl_mM=205.8,
        glucose_mM=5.56,
        egta_mM=2.0,  # Ca-free per §3.2; amount not in the reference (estimate)
        ionophore_uM=10.0,  # amount not in the reference (estimate)
        source="physiology-parameters.md §3.2 (saturating Mg, Ca-free + EGTA, ionophore)",
    ),
}


@dataclass(frozen=True)
class SolutionsFile:
    """The shared solutions file: ``solutions: {name: composition}``."""

    solutions: dict[str, Solution] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.solutions:
            if not (isinstance(name, str) and name.isidentifier()):
                raise ValueError(
                    f"solution names must be identifiers (letters, digits, _), got {name!r}"
                )


def solution_fields() -> tuple[str, ...]:
    """Every field a solution entry may have."""
    return tuple(f.name for f in fields(Solution))

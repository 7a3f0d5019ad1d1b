"""The per-cell state array (its columns), the bath as the cells see it and the whole-cell
pipette's exchange: the records shared by the cell model, the world and the patch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ._solutions import INDEX, free_of, mg_kd_mM

__all__ = [
    "AM",
    "ATOL",
    "ATP",
    "BAPTA",
    "CA",
    "CONCENTRATION_COLUMNS",
    "DYE",
    "EDTA",
    "EGTA",
    "LIGAND_COLUMNS",
    "LIGAND_KD_MG",
    "MGF",
    "NA",
    "N_STATE",
    "SLOW",
    "VOL",
    "Dialysis",
    "Environment",
    "K",
    "environment_from",
]


#: Columns of the per-cell state array.
MGF, SLOW, ATP, EDTA, EGTA, BAPTA, K, NA, CA, AM, DYE, VOL = range(12)
N_STATE = 12
#: columns that are concentrations: a cell that swells dilutes them
CONCENTRATION_COLUMNS = [MGF, SLOW, ATP, EDTA, EGTA, BAPTA, K, NA, CA, AM, DYE]
LIGAND_COLUMNS = [ATP, EDTA, EGTA, BAPTA]
#: Conditional Mg²⁺ constants of the cytosol's ligands (pH 7.2, 25 °C, I 150 mM), from the
#: chemistry's constants table (:mod:`ionrig.chemistry`).
LIGAND_KD_MG = np.array([mg_kd_mM(c) for c in ("atp_mM", "edta_mM", "egta_mM", "bapta_mM")])
# absolute tolerances per column (mM, mM, …, µM Ca, µM AM, µM dye)
ATOL = np.array([1e-7, 1e-7, 1e-7, 1e-7, 1e-7, 1e-7, 1e-5, 1e-6, 1e-6, 1e-6, 1e-6, 1e-7])


@dataclass
class Environment:
    """What the cells see at one instant: bath free ions and additives, temperature."""

    mg_o: float  # free mM
    ca_o: float  # free mM
    k_o: float
    na_o: float
    aspartate_o: float
    am_o_uM: float
    probenecid_mM: float
    ionophore_uM: float
    temperature_C: float
    osmolarity_mOsm: float


def environment_from(amounts: NDArray[np.float64], temperature_C: float) -> Environment:
    """Free ions and additives of bath amounts (:data:`SPECIES` order)."""
    row = amounts[None, :]
    return Environment(
        mg_o=float(free_of(row, "mg", temperature_C)[0]),
        ca_o=float(free_of(row, "ca", temperature_C)[0]),
        k_o=float(amounts[INDEX["k_mM"]]),
        na_o=float(amounts[INDEX["na_mM"]]),
        aspartate_o=float(amounts[INDEX["aspartate_mM"]]),
        am_o_uM=float(amounts[INDEX["dye_am_uM"]]),
        probenecid_mM=float(amounts[INDEX["probenecid_mM"]]),
        ionophore_uM=float(amounts[INDEX["ionophore_uM"]]),
        temperature_C=float(temperature_C),
        osmolarity_mOsm=float(amounts[INDEX["osmolarity_mOsm"]]),
    )


@dataclass
class Dialysis:
    """A whole-cell pipette exchanging with cell ``index``."""

    index: int
    ra_MOhm: float
    resistivity_ohm_m: float
    pipette: NDArray[np.float64]  # amounts of the pipette solution (SPECIES order)
    v_mV: float
    pipette_mg_free_mM: float = 0.0  # the chemistry's free Mg²⁺ of the pipette solution
    pipette_ca_free_uM: float = 0.0

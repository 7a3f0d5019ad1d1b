"""Mg²⁺ buffering in the cytosol (docs/reference/physiology.md §8.5, §11).

The fast pool (free Mg²⁺ plus Mg bound to ATP, dye and any chelator the pipette brought in, in
instantaneous 1:1 equilibrium) and the equilibrium of the slow low-affinity bound pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ._cell_model import CellModelConfig
from ._cell_state import ATP, DYE, LIGAND_COLUMNS, LIGAND_KD_MG, MGF
from ._solutions import free_concentration

if TYPE_CHECKING:
    from ._dye import MagFura2

__all__ = ["MgBuffering"]


class MgBuffering:
    """Free and bound Mg²⁺ of every cell's state array (a base of the population of cells).

    Needs ``model`` (:class:`CellModelConfig`) and ``dye`` (:class:`MagFura2`), and a first
    guess of the free Mg²⁺ (:meth:`remember_free_mg`) before :meth:`free_mg` is called.
    """

    model: CellModelConfig
    dye: MagFura2

    def remember_free_mg(self, x: NDArray) -> None:
        """Keep ``x`` (mM per cell) as the starting guess of the next free-Mg²⁺ solve."""
        self._x_guess = x

    def _ligands(self, y: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
        ligands = np.concatenate([y[:, LIGAND_COLUMNS], y[:, DYE : DYE + 1] / 1000.0], axis=1)
        kd = np.append(LIGAND_KD_MG, self.dye.kd_mM)
        return ligands, kd

    def fast_total(self, x: NDArray, y: NDArray) -> NDArray:
        ligands, kd = self._ligands(y)
        return x + (ligands * x[:, None] / (kd + x[:, None])).sum(axis=1)

    def free_mg(self, y: NDArray) -> NDArray:
        ligands, kd = self._ligands(y)
        x = free_concentration(y[:, MGF], ligands, kd, self._x_guess)
        self._x_guess = x
        return x

    def slow_equilibrium(self, x: NDArray) -> NDArray:
        m = self.model
        return m.slow_pool_capacity_mM * x / (m.slow_pool_kd_mM + x)

    def mgatp(self, x: NDArray, y: NDArray) -> NDArray:
        kd = LIGAND_KD_MG[0]
        return y[:, ATP] * x / (kd + x)

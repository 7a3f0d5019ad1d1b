"""The vectorised state of every cell of the world: construction at rest, adaptive integration
(Bogacki–Shampine 3(2)), reads and writes of single cells, optical state.

The model itself (fluxes, right-hand side, whole-cell current) is in :mod:`._cell_transport`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ._cell import Cell
from ._cell_model import CellModelConfig, DyeHandlingConfig
from ._cell_state import (
    AM,
    ATOL,
    ATP,
    BAPTA,
    CA,
    DYE,
    EDTA,
    EGTA,
    MGF,
    N_STATE,
    NA,
    SLOW,
    VOL,
    Dialysis,
    Environment,
    K,
)
from ._cell_transport import CellTransport
from ._trpm7 import Trpm7Config

if TYPE_CHECKING:
    from ._dye import MagFura2

__all__ = ["CellPopulation"]


class CellPopulation(CellTransport):
    """The vectorised state of every cell and its right-hand side (:mod:`._cell_transport`).

    ``sync`` brings the state up to the clock's now before a single cell is read or written;
    ``ra_of(index)`` is the access resistance (MΩ) of a cell in whole cell, else None.
    """

    def __init__(
        self,
        cells: Sequence[Cell],
        model: CellModelConfig,
        trpm7: Trpm7Config,
        handling: DyeHandlingConfig,
        dye: MagFura2,
        rest_environment: Environment,
        *,
        sync: Callable[[], None] = lambda: None,
        ra_of: Callable[[int], float | None] = lambda i: None,
    ) -> None:
        self.cells = list(cells)
        self.model, self.trpm7, self.handling, self.dye = model, trpm7, handling, dye
        n = len(self.cells)
        self.n = n

        def param(name: str) -> NDArray[np.float64]:
            default = getattr(model, name)
            return np.array(
                [c.rest[name] if c.rest.get(name) is not None else default for c in self.cells],
                dtype=np.float64,
            )

        self.volume_L = param("volume_pL") * 1e-12
        self.cm_pF = param("cm_pF")
        self.rm_MOhm = param("rm_MOhm")
        self.v_rest_mV = param("v_rest_mV")
        self.x_rest = np.array([c.rest["mg_free_mM"] for c in self.cells], dtype=np.float64)
        density = np.array(
            [
                c.rest["trpm7_density_pA_per_pF"]
                if c.rest["trpm7_density_pA_per_pF"] is not None
                else trpm7.density_pA_per_pF
                for c in self.cells
            ],
            dtype=np.float64,
        )
        self.trpm7_amplitude_pA = density * self.cm_pF  # I(+80 mV) at full activation
        self.env0 = rest_environment
        self.t0_C = rest_environment.temperature_C

        y = np.zeros((n, N_STATE))
        y[:, ATP] = model.atp_mM
        y[:, K] = param("k_mM")
        y[:, NA] = param("na_mM")
        y[:, CA] = param("ca_free_uM")
        y[:, DYE] = [c.rest["dye_uM"] for c in self.cells]
        y[:, VOL] = 1.0  # volume relative to rest
        self.ca_rest_uM = y[:, CA].copy()
        y[:, MGF] = self.fast_total(self.x_rest, y)
        y[:, SLOW] = self.slow_equilibrium(self.x_rest)
        self.mg_fixed_mM = np.maximum(0.0, model.total_mg_mM - y[:, MGF] - y[:, SLOW])
        self.y = y
        self.remember_free_mg(self.x_rest.copy())
        self.calibrate_rest()
        self.dialysis: Dialysis | None = None
        for i, cell in enumerate(self.cells):
            cell.attach(self, i)
        self._h: float | None = None  # last step size of the integrator (s)
        self._sync = sync
        self._ra_of = ra_of

    # -- integration (Bogacki–Shampine 3(2), adaptive) ----------------------------------------
    def integrate(
        self,
        t0: float,
        t1: float,
        environment_at: Callable[[float], Environment],
        *,
        rtol: float = 1e-6,
        max_step_s: float = 120.0,
    ) -> None:
        """Advance the state from ``t0`` to ``t1`` with the bath given by ``environment_at``."""
        if t1 <= t0 or self.n == 0:
            return
        y = self.y
        t = t0
        env = environment_at(t)
        k1 = self.rhs(y, env)
        h = self._h or 0.1 / self.fastest_rate_per_s(env)
        h = min(h, max_step_s)
        while t < t1:
            h = min(h, t1 - t)
            env2 = environment_at(t + 0.5 * h)
            k2 = self.rhs(y + 0.5 * h * k1, env2)
            env3 = environment_at(t + 0.75 * h)
            k3 = self.rhs(y + 0.75 * h * k2, env3)
            y_new = y + h * (2 / 9 * k1 + 1 / 3 * k2 + 4 / 9 * k3)
            env4 = environment_at(t + h)
            k4 = self.rhs(y_new, env4)
            error = h * (-5 / 72 * k1 + 1 / 12 * k2 + 1 / 9 * k3 - 1 / 8 * k4)
            scale = ATOL + rtol * np.maximum(np.abs(y), np.abs(y_new))
            norm = float(np.max(np.abs(error) / scale)) if error.size else 0.0
            if norm <= 1.0 or h <= 1e-6:
                t += h
                y = np.maximum(y_new, 0.0)
                k1 = k4 if np.all(y_new >= 0) else self.rhs(y, env4)
                factor = 5.0 if norm == 0 else min(5.0, 0.9 * norm ** (-1 / 3))
                h = min(max_step_s, h * max(0.2, factor))
            else:
                h *= max(0.2, 0.9 * norm ** (-1 / 3))
        self.y = y
        self._h = h
        self.free_mg(y)

    # -- reads and writes ---------------------------------------------------------------------
    def read(self, index: int, what: str) -> float:
        self._sync()
        y = self.y
        if what in ("mg_free_mM", "trpm7_activity", "mg_total_mM"):
            x = self.free_mg(y)
            if what == "mg_free_mM":
                return float(x[index])
            if what == "mg_total_mM":
                return float(y[index, MGF] + y[index, SLOW] + self.mg_fixed_mM[index])
            return float(self.trpm7.activity(x, self.mgatp(x, y))[index])
        columns = {
            "dye_uM": DYE,
            "dye_am_uM": AM,
            "k_mM": K,
            "na_mM": NA,
            "ca_free_uM": CA,
            "atp_mM": ATP,
        }
        if what in columns:
            return float(y[index, columns[what]])
        if what == "volume_pL":
            return float(self.volume_L[index] * 1e12 * y[index, VOL])
        if what == "cm_pF":
            return float(self.cm_pF[index])
        if what == "rm_MOhm":
            return float(self.rm_MOhm[index])
        if what == "v_mV":
            return float(self.membrane_potential()[index])
        raise KeyError(what)

    def access_resistance(self, index: int) -> float | None:
        self._sync()
        return self._ra_of(index)

    def set_free_mg(self, index: int, x: float) -> None:
        """Set cell ``index``'s free Mg²⁺ now (fast pool at equilibrium, slow pool unchanged)."""
        self._sync()
        xs = self.free_mg(self.y)
        xs[index] = x
        self.y[index, MGF] = self.fast_total(xs, self.y)[index]
        self.remember_free_mg(xs)

    def set_column(self, index: int, column: int, value: float) -> None:
        self._sync()
        x = self.free_mg(self.y)
        self.y[index, column] = value
        if column in (DYE, ATP, EDTA, EGTA, BAPTA):  # keep free Mg²⁺, rebind the fast pool
            self.y[index, MGF] = self.fast_total(x, self.y)[index]

    def bleach(self, fraction_remaining: float) -> None:
        """Photobleaching: the fluorescent dye drops to ``fraction_remaining`` (§4).

        The photoproduct is taken as non-fluorescent and keeps the Mg²⁺ it held (µM amounts);
        free Mg²⁺ is unchanged.
        """
        x = self.free_mg(self.y)
        self.y[:, DYE] *= fraction_remaining
        self.y[:, MGF] = self.fast_total(x, self.y)
        self.remember_free_mg(x)

    def optical_state(self) -> tuple[NDArray, NDArray, NDArray]:
        """Per cell: free Mg²⁺ (mM), free Ca²⁺ (µM), fluorescent dye (µM)."""
        x = self.free_mg(self.y)
        return x, self.y[:, CA].copy(), self.y[:, DYE].copy()

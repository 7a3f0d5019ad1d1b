"""A cell at an image position with its ground truth, and seeded placement of default cells.

A cell on its own holds its resting state; once a :class:`~ionrig.simulators.World` has
attached it to the population of cells (:class:`CellStore`), every property reads the current
true value from there.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from ._cell_state import DYE

__all__ = ["Cell", "CellStore", "default_cells"]


class CellStore(Protocol):
    """Where an attached cell reads and writes its state (the world's population of cells)."""

    def read(self, index: int, what: str) -> float:
        """The current value of ``what`` (a :class:`Cell` property name) of cell ``index``."""
        ...

    def access_resistance(self, index: int) -> float | None:
        """Ra (MΩ) of cell ``index`` in whole cell, else None."""
        ...

    def set_free_mg(self, index: int, x: float) -> None:
        """Set cell ``index``'s free Mg²⁺ (mM) now."""
        ...

    def set_column(self, index: int, column: int, value: float) -> None:
        """Set one column of cell ``index``'s state now."""
        ...


class Cell:
    """One cell at an image position (pixels), with its ground truth.

    Constructed with its resting state (free [Mg²⁺]ᵢ in mM, dye in µM, and optionally
    ``volume_pL``, ``cm_pF``, ``rm_MOhm``, ``v_rest_mV``, ``k_mM``, ``na_mM``, ``ca_free_uM``,
    ``trpm7_density_pA_per_pF``; ``None`` takes the world's ``cell_model``). Once part of a
    :class:`~ionrig.simulators.World`, every property is the *current* true value: reading it
    first brings the world up to the clock's now.
    """

    def __init__(
        self,
        x_px: float,
        y_px: float,
        radius_px: float,
        mg_free_mM: float = 0.8,  # docs/reference/physiology.md §11 default resting free Mg
        dye_uM: float = 50.0,  # docs/reference/physiology.md §4 default intracellular dye
        *,
        volume_pL: float | None = None,
        cm_pF: float | None = None,
        rm_MOhm: float | None = None,
        v_rest_mV: float | None = None,
        k_mM: float | None = None,
        na_mM: float | None = None,
        ca_free_uM: float | None = None,
        trpm7_density_pA_per_pF: float | None = None,
    ) -> None:
        if not radius_px > 0:
            raise ValueError(f"cell radius_px must be > 0, got {radius_px!r}")
        if not mg_free_mM >= 0:
            raise ValueError(f"cell mg_free_mM must be >= 0 mM, got {mg_free_mM!r}")
        if not dye_uM >= 0:
            raise ValueError(f"cell dye_uM must be >= 0 µM, got {dye_uM!r}")
        for name, value in (
            ("volume_pL", volume_pL),
            ("cm_pF", cm_pF),
            ("rm_MOhm", rm_MOhm),
            ("k_mM", k_mM),
            ("na_mM", na_mM),
        ):
            if value is not None and not value > 0:
                raise ValueError(f"cell {name} must be > 0, got {value!r}")
        if ca_free_uM is not None and not ca_free_uM >= 0:
            raise ValueError(f"cell ca_free_uM must be >= 0 µM, got {ca_free_uM!r}")
        if trpm7_density_pA_per_pF is not None and not trpm7_density_pA_per_pF >= 0:
            raise ValueError(
                f"cell trpm7_density_pA_per_pF must be >= 0, got {trpm7_density_pA_per_pF!r}"
            )
        self.x_px = float(x_px)
        self.y_px = float(y_px)
        self.radius_px = float(radius_px)
        self.rest: dict[str, float | None] = {
            "mg_free_mM": float(mg_free_mM),
            "dye_uM": float(dye_uM),
            "volume_pL": volume_pL,
            "cm_pF": cm_pF,
            "rm_MOhm": rm_MOhm,
            "v_rest_mV": v_rest_mV,
            "k_mM": k_mM,
            "na_mM": na_mM,
            "ca_free_uM": ca_free_uM,
            "trpm7_density_pA_per_pF": trpm7_density_pA_per_pF,
        }
        self._population: CellStore | None = None
        self._index = -1

    def __repr__(self) -> str:
        return (
            f"Cell(x_px={self.x_px:g}, y_px={self.y_px:g}, radius_px={self.radius_px:g}, "
            f"mg_free_mM={self.mg_free_mM:.4g}, dye_uM={self.dye_uM:.4g})"
        )

    def attach(self, population: CellStore, index: int) -> None:
        """Make this cell number ``index`` of ``population`` (done by the world's population)."""
        self._population, self._index = population, index

    def _read(self, what: str) -> float:
        population = self._population
        if population is None:
            value = self.rest.get(what)
            if value is None:
                raise AttributeError(f"{what} is known once the cell is part of a World")
            return float(value)
        return population.read(self._index, what)

    # -- ground truth -------------------------------------------------------------------------
    @property
    def mg_free_mM(self) -> float:
        """True free cytosolic [Mg²⁺] (mM)."""
        return self._read("mg_free_mM")

    @mg_free_mM.setter
    def mg_free_mM(self, value: float) -> None:
        if not value >= 0:
            raise ValueError(f"mg_free_mM must be >= 0 mM, got {value!r}")
        if self._population is None:
            self.rest["mg_free_mM"] = float(value)
        else:
            self._population.set_free_mg(self._index, float(value))

    @property
    def dye_uM(self) -> float:
        """Fluorescent (hydrolysed, unbleached) Mag-fura-2 in the cytosol (µM)."""
        return self._read("dye_uM")

    @dye_uM.setter
    def dye_uM(self, value: float) -> None:
        if not value >= 0:
            raise ValueError(f"dye_uM must be >= 0 µM, got {value!r}")
        if self._population is None:
            self.rest["dye_uM"] = float(value)
        else:
            self._population.set_column(self._index, DYE, float(value))

    @property
    def dye_am_uM(self) -> float:
        """Unhydrolysed AM ester inside the cell (µM; not fluorescent in this model)."""
        return self._read("dye_am_uM")

    @property
    def mg_total_mM(self) -> float:
        """Total cellular Mg (mM): free + fast-bound + slow pool + fixed."""
        return self._read("mg_total_mM")

    @property
    def k_mM(self) -> float:
        return self._read("k_mM")

    @property
    def na_mM(self) -> float:
        return self._read("na_mM")

    @property
    def ca_free_uM(self) -> float:
        return self._read("ca_free_uM")

    @property
    def atp_mM(self) -> float:
        return self._read("atp_mM")

    @property
    def volume_pL(self) -> float:
        return self._read("volume_pL")

    @property
    def cm_pF(self) -> float:
        return self._read("cm_pF")

    @property
    def rm_MOhm(self) -> float:
        return self._read("rm_MOhm")

    @property
    def v_mV(self) -> float:
        """Membrane potential now (resting potential, or holding potential in whole cell)."""
        return self._read("v_mV")

    @property
    def ra_MOhm(self) -> float | None:
        """Access resistance when this cell is in whole-cell configuration, else None."""
        population = self._population
        if population is None:
            return None
        return population.access_resistance(self._index)

    @property
    def trpm7_activity(self) -> float:
        """Fraction of TRPM7 channels not inhibited by Mg²⁺ now."""
        return self._read("trpm7_activity")

    def truth(self) -> dict[str, Any]:
        """Every ground-truth value of this cell, for tests and the demo."""
        keys = [
            "mg_free_mM",
            "mg_total_mM",
            "k_mM",
            "na_mM",
            "ca_free_uM",
            "atp_mM",
            "dye_uM",
            "dye_am_uM",
            "volume_pL",
            "cm_pF",
            "rm_MOhm",
            "v_mV",
            "trpm7_activity",
        ]
        out: dict[str, Any] = {"x_px": self.x_px, "y_px": self.y_px, "radius_px": self.radius_px}
        out.update({k: getattr(self, k) for k in keys})
        out["ra_MOhm"] = self.ra_MOhm
        return out


def default_cells(width_px: int, height_px: int, n_cells: int, seed: int) -> list[Cell]:
    """Place ``n_cells`` non-overlapping cells with resting [Mg²⁺]ᵢ spread over 0.5–1.1 mM.

    The spread covers the measured free [Mg²⁺]ᵢ of mammalian cells (docs/reference/physiology.md
    §11).
    """
    rng = np.random.default_rng(seed)
    radius = max(4.0, min(width_px, height_px) / 14)
    margin = radius + 3
    cells: list[Cell] = []
    attempts = 0
    while len(cells) < n_cells:
        attempts += 1
        if attempts > 10_000:
            raise ValueError(
                f"cannot place {n_cells} cells of radius {radius:.0f} px "
                f"in a {width_px}x{height_px} image; use fewer cells or a larger image"
            )
        x = rng.uniform(margin, width_px - margin)
        y = rng.uniform(margin, height_px * 0.75 - margin)  # keep the bottom quarter for background
        if all((x - c.x_px) ** 2 + (y - c.y_px) ** 2 > (2 * radius + 4) ** 2 for c in cells):
            mg = float(np.round(rng.uniform(0.5, 1.1), 3))
            cells.append(Cell(x_px=float(x), y_px=float(y), radius_px=radius, mg_free_mM=mg))
    return cells

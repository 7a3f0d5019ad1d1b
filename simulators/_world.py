"""The simulated world behind a simulated rig: cells, dye, excitation light and camera sensor.

The world holds the ground truth that tests and the demo compare against (``world.cells[i]
.mg_free_mM``, ``world.dye``); none of it ever enters documents. Simulated instruments act on
the world (the filter wheel sets ``excitation_nm``, the shutter ``shutter_open``) and read
from it (the camera renders frames). All randomness comes from one seeded generator, so the same
seed and the same sequence of exposures give identical frames.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._clock import Clock, ScaledClock
from ._dye import MagFura2

__all__ = ["CameraSensor", "Cell", "CellConfig", "World", "WorldConfig", "default_cells"]


@dataclass
class Cell:
    """One dye-loaded cell at an image position (pixels), with its true free [Mg²⁺]ᵢ."""

    x_px: float
    y_px: float
    radius_px: float
    mg_free_mM: float = 0.8  # resting free Mg, physiology-parameters.md §11 default
    dye_uM: float = 50.0  # intracellular dye after loading, physiology-parameters.md §4 default

    def __post_init__(self) -> None:
        if not self.radius_px > 0:
            raise ValueError(f"cell radius_px must be > 0, got {self.radius_px!r}")
        if not self.mg_free_mM >= 0:
            raise ValueError(f"cell mg_free_mM must be >= 0 mM, got {self.mg_free_mM!r}")
        if not self.dye_uM >= 0:
            raise ValueError(f"cell dye_uM must be >= 0 µM, got {self.dye_uM!r}")


@dataclass(frozen=True)
class CameraSensor:
    """A scientific CMOS/CCD sensor: geometry, gain, noise, offset and timing.

    Gain and read noise default to the CCD of the Hess et al. 2019 recordings
    (G = 0.146 ADU/e⁻ is low for a modern camera; we use a typical sCMOS 0.5 ADU/e⁻ and
    1.6 e⁻ read noise instead; both are parameters). Readout time is the frame transfer time.
    """

    width_px: int = 128
    height_px: int = 128
    bit_depth: int = 16
    gain_adu_per_e: float = 0.5
    read_noise_e: float = 1.6
    offset_adu: float = 100.0
    dark_current_e_per_s: float = 0.5
    readout_ms: float = 5.0

    def __post_init__(self) -> None:
        for name in ("width_px", "height_px"):
            value = getattr(self, name)
            if not (isinstance(value, int) and 8 <= value <= 4096):
                raise ValueError(f"camera {name} must be an integer in 8..4096, got {value!r}")
        if self.bit_depth not in (8, 12, 14, 16):
            raise ValueError(
                f"camera bit_depth must be one of 8, 12, 14, 16, got {self.bit_depth!r}"
            )
        for name in ("gain_adu_per_e", "read_noise_e", "offset_adu", "dark_current_e_per_s"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"camera {name} must be >= 0, got {getattr(self, name)!r}")
        if not self.readout_ms >= 0:
            raise ValueError(f"camera readout_ms must be >= 0 ms, got {self.readout_ms!r}")

    @property
    def max_adu(self) -> int:
        return 2**self.bit_depth - 1


def default_cells(width_px: int, height_px: int, n_cells: int, seed: int) -> list[Cell]:
    """Place ``n_cells`` non-overlapping cells with resting [Mg²⁺]ᵢ spread over 0.5–1.1 mM.

    The spread covers the measured free [Mg²⁺]ᵢ of mammalian cells (physiology-parameters.md §11).
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


@dataclass(frozen=True)
class CellConfig:
    """A cell as a rig file places it (see :class:`Cell`)."""

    x_px: float
    y_px: float
    radius_px: float
    mg_free_mM: float = 0.8
    dye_uM: float = 50.0

    def __post_init__(self) -> None:
        self.make()  # the cell's own checks, so a rig file fails when it is read

    def make(self) -> Cell:
        return Cell(self.x_px, self.y_px, self.radius_px, self.mg_free_mM, self.dye_uM)


@dataclass(frozen=True)
class WorldConfig:
    """The ``world:`` section of a simulated rig's file: every parameter of the simulation."""

    n_cells: int = 5
    cells: list[CellConfig] = field(default_factory=list)
    dye: MagFura2 = field(default_factory=MagFura2)
    sensor: CameraSensor = field(default_factory=CameraSensor)

    def __post_init__(self) -> None:
        if not 1 <= self.n_cells <= 500:
            raise ValueError(f"n_cells must be in 1..500, got {self.n_cells!r}")


@dataclass
class World:
    """Ground truth of a simulated rig, advanced on the rig's clock."""

    cells: list[Cell]
    dye: MagFura2 = field(default_factory=MagFura2)
    sensor: CameraSensor = field(default_factory=CameraSensor)
    clock: Clock = field(default_factory=ScaledClock)
    seed: int = 0
    #: Excitation intensity relative to reference, per wavelength (lamp × filter transmission).
    excitation_relative: dict[int, float] = field(default_factory=lambda: {340: 1.0, 380: 1.0})
    #: Autofluorescence per pixel per ms at each wavelength, in photo-electrons (estimate:
    #: ~10 % of the dye's F340 at rest, physiology-parameters.md §4).
    autofluorescence_e_per_ms: dict[int, float] = field(
        default_factory=lambda: {340: 0.15, 380: 0.1}
    )
    excitation_nm: int | None = None
    shutter_open: bool = False

    @classmethod
    def from_config(cls, config: WorldConfig, *, clock: Clock, seed: int) -> World:
        """The world a rig file describes; cells placed at random (seeded) unless listed."""
        if config.cells:
            cells = [c.make() for c in config.cells]
        else:
            sensor = config.sensor
            cells = default_cells(sensor.width_px, sensor.height_px, config.n_cells, seed)
        return cls(cells=cells, dye=config.dye, sensor=config.sensor, clock=clock, seed=seed)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self._lock = threading.RLock()
        self._static_cache: dict[tuple[int, ...], Any] = {}

    # -- static parts, cached -------------------------------------------------------------
    def _cell_maps(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Per-pixel dye (µM) and free Mg (mM) maps; recomputed only when cells change."""
        key = tuple(hash((c.x_px, c.y_px, c.radius_px, c.mg_free_mM, c.dye_uM)) for c in self.cells)
        cached = self._static_cache.get(key)
        if cached is not None:
            return cached
        h, w = self.sensor.height_px, self.sensor.width_px
        yy, xx = np.mgrid[0:h, 0:w]
        dye = np.zeros((h, w))
        mg = np.zeros((h, w))
        for cell in self.cells:
            inside = (xx - cell.x_px) ** 2 + (yy - cell.y_px) ** 2 <= cell.radius_px**2
            dye[inside] = cell.dye_uM
            mg[inside] = cell.mg_free_mM
        self._static_cache = {key: (dye, mg)}
        return dye, mg

    def expected_photoelectrons(self, exposure_ms: float) -> NDArray[np.float64]:
        """Noise-free photo-electrons per pixel for one exposure in the current optical state."""
        h, w = self.sensor.height_px, self.sensor.width_px
        electrons = np.full((h, w), self.sensor.dark_current_e_per_s * exposure_ms / 1000.0)
        if self.shutter_open and self.excitation_nm in self.excitation_relative:
            wl = self.excitation_nm
            dye, mg = self._cell_maps()
            light = self.excitation_relative[wl]
            per_ms = (
                self.dye.photoelectrons_per_ms(wl, mg, dye) + self.autofluorescence_e_per_ms[wl]
            )
            electrons = electrons + light * per_ms * exposure_ms
        return electrons

    def render_frame(self, exposure_ms: float) -> NDArray[np.uint16]:
        """One camera frame (ADU): Poisson shot noise, Gaussian read noise, gain, offset, clip."""
        with self._lock:
            electrons = self.expected_photoelectrons(exposure_ms)
            signal = self.rng.poisson(electrons).astype(np.float64)
            signal += self.rng.normal(0.0, self.sensor.read_noise_e, size=signal.shape)
        adu = np.rint(self.sensor.offset_adu + self.sensor.gain_adu_per_e * signal)
        return np.clip(adu, 0, self.sensor.max_adu).astype(np.uint16)

    def truth(self) -> dict[str, Any]:
        """Ground truth for tests and the demo (never for documents)."""
        return {
            "cells": [
                {
                    "x_px": c.x_px,
                    "y_px": c.y_px,
                    "radius_px": c.radius_px,
                    "mg_free_mM": c.mg_free_mM,
                    "dye_uM": c.dye_uM,
                }
                for c in self.cells
            ],
            "dye": {
                "kd_mM": self.dye.kd_mM,
                "r_min": self.dye.r_min,
                "r_max": self.dye.r_max,
                "beta": self.dye.beta,
            },
        }

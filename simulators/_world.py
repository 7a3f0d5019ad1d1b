"""The simulated world behind a simulated rig: chamber and solutions, cells, dye, optics, camera,
pipette and amplifier, all advanced on the rig's clock.

The world holds the ground truth that tests and the demo compare against (``world.cells[i]
.mg_free_mM``, ``world.dye``, :meth:`World.truth`); none of it ever enters documents. Simulated
instruments act on the world (the filter wheel sets ``excitation_nm``, the shutter
``shutter_open``, perfusion selects solutions through :attr:`World.chamber`, the amplifier and
DAQ use :attr:`World.patch`) and read from it (the camera renders frames).

Time: the state evolves lazily. Whatever reads or changes the world first integrates it from
the last update to ``clock.now_s()`` (:meth:`World.advance_to`): the chamber exactly (piecewise
exponentials), the cells with an adaptive Bogacki–Shampine 3(2) scheme whose steps grow to
minutes when nothing changes, so a 12-hour night costs well under a second.

Noise: one seeded generator per source, spawned from the seed: camera noise, sweep noise,
stochastic events (seal formation, break-in, Ra drift, seal loss). Adding a sweep therefore
never changes the frames' noise, and the same seed with the same sequence of actions at the
same clock times gives identical frames and sweeps.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ionrig.clock import Clock, ScaledClock

from ._amplifier import AmplifierConfig
from ._camera import CameraSensor
from ._cell import Cell, default_cells
from ._cell_model import CellModelConfig, DyeHandlingConfig
from ._cell_population import CellPopulation
from ._cell_state import Environment, environment_from
from ._chamber import Chamber, ChamberConfig
from ._dye import MagFura2
from ._electrophysiology import Patch, PatchConfig
from ._solutions import DEFAULT_SOLUTIONS, SPECIES, Solution, bath_solution
from ._trpm7 import Trpm7Config

__all__ = [
    "CameraSensor",
    "Cell",
    "CellConfig",
    "ChamberControls",
    "OpticsConfig",
    "World",
    "WorldConfig",
    "default_cells",
]


@dataclass(frozen=True)
class CellConfig:
    """A cell as a rig file places it (see :class:`Cell`; ``None`` = the cell_model default)."""

    x_px: float
    y_px: float
    radius_px: float
    mg_free_mM: float = 0.8  # docs/reference/physiology.md §11 default resting free Mg
    dye_uM: float = 50.0  # §4 default intracellular dye after loading
    volume_pL: float | None = None
    cm_pF: float | None = None
    rm_MOhm: float | None = None
    v_rest_mV: float | None = None
    k_mM: float | None = None
    na_mM: float | None = None
    ca_free_uM: float | None = None
    trpm7_density_pA_per_pF: float | None = None

    def __post_init__(self) -> None:
        self.make()  # the cell's own checks, so a rig file fails when it is read

    def make(self) -> Cell:
        return Cell(
            self.x_px,
            self.y_px,
            self.radius_px,
            self.mg_free_mM,
            self.dye_uM,
            volume_pL=self.volume_pL,
            cm_pF=self.cm_pF,
            rm_MOhm=self.rm_MOhm,
            v_rest_mV=self.v_rest_mV,
            k_mM=self.k_mM,
            na_mM=self.na_mM,
            ca_free_uM=self.ca_free_uM,
            trpm7_density_pA_per_pF=self.trpm7_density_pA_per_pF,
        )


@dataclass(frozen=True)
class OpticsConfig:
    """The ``world.optics`` section: excitation and background."""

    #: Excitation intensity per wavelength relative to the reference intensity at which
    #: bleaching is 1 % per pair (§4); wavelengths not listed give no light.
    excitation_relative: dict[int, float] = field(default_factory=lambda: {340: 1.0, 380: 1.0})
    #: Uniform background (coverslip, medium, out-of-focus NAD(P)H) as a fraction of a resting
    #: cell's dye signal at each wavelength: §4 default autofluorescence 10 % of F340.
    background_autofluorescence_fraction: float = 0.1
    #: Frames use a snapshot of each cell's dye occupancy (Mg²⁺ and Ca²⁺) and dye amount, taken
    #: when the world starts and re-taken when the occupancy has moved by more than
    #: ``render_resolution`` or the dye (slow leak, loading) by more than
    #: ``render_dye_resolution`` (relative; bleaching is applied to the snapshot exactly). A
    #: world at rest therefore renders bit-identical frames for one seed even on a
    #: real-time-scaled clock, whose frame times jitter; ratios lag the truth by at most the
    #: first, intensities by at most the second (estimates: engineering choices).
    render_resolution: float = 0.002
    render_dye_resolution: float = 0.02

    def __post_init__(self) -> None:
        for wavelength, value in self.excitation_relative.items():
            if not 250 <= wavelength <= 500 or not 0 <= value <= 100:
                raise ValueError(
                    "optics excitation_relative needs 250..500 nm → 0..100, "
                    f"got {wavelength}: {value}"
                )
        if not 0 <= self.background_autofluorescence_fraction <= 10:
            raise ValueError("optics background_autofluorescence_fraction must be in 0..10")
        if not 0 <= self.render_resolution <= 0.05:
            raise ValueError("optics render_resolution must be in 0..0.05")
        if not 0 <= self.render_dye_resolution <= 0.2:
            raise ValueError("optics render_dye_resolution must be in 0..0.2")


@dataclass(frozen=True)
class WorldConfig:
    """The ``world:`` section of a simulated rig's file: every parameter of the simulation."""

    n_cells: int = 5
    cells: list[CellConfig] = field(default_factory=list)
    dye: MagFura2 = field(default_factory=MagFura2)
    sensor: CameraSensor = field(default_factory=CameraSensor)
    #: Solutions added to (or replacing entries of) the shared table (rigs/solutions.yaml).
    solutions: dict[str, Solution] = field(default_factory=dict)
    chamber: ChamberConfig = field(default_factory=ChamberConfig)
    cell_model: CellModelConfig = field(default_factory=CellModelConfig)
    trpm7: Trpm7Config = field(default_factory=Trpm7Config)
    dye_handling: DyeHandlingConfig = field(default_factory=DyeHandlingConfig)
    optics: OpticsConfig = field(default_factory=OpticsConfig)
    patch: PatchConfig = field(default_factory=PatchConfig)
    amplifier: AmplifierConfig = field(default_factory=AmplifierConfig)

    def __post_init__(self) -> None:
        if not 1 <= self.n_cells <= 500:
            raise ValueError(f"n_cells must be in 1..500, got {self.n_cells!r}")

    def check_solution_names(self, solutions: Mapping[str, Solution]) -> None:
        """Refuse solution names the world's table (``solutions``, then the packaged example,
        then ``world.solutions``) lacks; the rig's solutions files are known only when built."""
        table = {**DEFAULT_SOLUTIONS, **solutions, **self.solutions}
        for what, name in (
            ("chamber.initial_solution", self.chamber.initial_solution),
            ("patch.pipette_solution", self.patch.pipette_solution),
            ("patch.reference_solution", self.patch.reference_solution),
        ):
            if name not in table:
                raise ValueError(f"{what} must be one of {', '.join(sorted(table))}; got {name!r}")


class ChamberControls:
    """Chamber controls and read-outs on the world's clock (``world.chamber``)."""

    def __init__(self, world: World) -> None:
        self._world = world

    def _chamber(self) -> Chamber:
        return self._world._chamber

    def select(self, solution: str | None) -> None:
        """Open the valve of ``solution`` (``None`` closes all valves)."""
        with self._world.locked():
            self._chamber().select(solution)

    def set_flow_mL_per_min(self, flow_mL_per_min: float) -> None:
        with self._world.locked():
            self._chamber().set_flow(flow_mL_per_min)

    def refill(self, solution: str, volume_mL: float) -> None:
        with self._world.locked():
            self._chamber().refill(solution, volume_mL)

    def set_heater_C(self, setpoint_C: float | None) -> None:
        with self._world.locked():
            self._chamber().set_heater(setpoint_C)

    def exchange_bath(self, solution: str) -> None:
        """Replace the bath instantly (a hand exchange; the inflow is not changed)."""
        with self._world.locked():
            self._world.solution(solution)
            self._chamber().set_bath(solution)

    @property
    def inflow(self) -> str | None:
        """The selected solution (the "current solution")."""
        with self._world.locked():
            return self._chamber().inflow

    @property
    def flow_mL_per_min(self) -> float:
        with self._world.locked():
            return self._chamber().flow_mL_per_min

    @property
    def flowing(self) -> bool:
        with self._world.locked():
            return self._chamber().flowing

    @property
    def tau_s(self) -> float:
        """Effective bath exchange time constant now (inf without flow)."""
        with self._world.locked():
            return self._chamber().tau_s

    @property
    def bath_volume_mL(self) -> float:
        return self._chamber().config.bath_volume_mL

    @property
    def bath(self) -> Solution:
        """The bath's composition now."""
        with self._world.locked():
            return bath_solution(self._chamber().bath)

    @property
    def bath_mM(self) -> dict[str, float]:
        """The bath's amounts now, by :class:`Solution` field name."""
        with self._world.locked():
            return dict(zip(SPECIES, self._chamber().bath.tolist(), strict=True))

    @property
    def temperature_C(self) -> float:
        with self._world.locked():
            return self._chamber().temperature_C

    @property
    def heater_setpoint_C(self) -> float | None:
        return self._chamber().heater_setpoint_C

    def reservoir_mL(self, solution: str) -> float:
        with self._world.locked():
            return self._chamber().reservoir_mL(solution)

    @property
    def reservoirs_mL(self) -> dict[str, float]:
        with self._world.locked():
            return self._chamber().reservoirs_mL

    @property
    def line_contents(self) -> list[tuple[str, float]]:
        with self._world.locked():
            return self._chamber().line_contents

    @property
    def events(self) -> list[tuple[float, str]]:
        with self._world.locked():
            return list(self._chamber().events)


class World:
    """Ground truth of a simulated rig, advanced on the rig's clock.

    ``World(cells=[Cell(...)], dye=MagFura2(...), sensor=CameraSensor(...), clock=..., seed=...)``
    or :meth:`from_config`; the other sections (solutions, chamber, cell model, TRPM7, dye
    handling, optics, patch, amplifier) default to docs/reference/physiology.md.
    """

    def __init__(
        self,
        cells: Sequence[Cell],
        dye: MagFura2 | None = None,
        sensor: CameraSensor | None = None,
        clock: Clock | None = None,
        seed: int = 0,
        *,
        solutions: Mapping[str, Solution] | None = None,
        chamber: ChamberConfig | None = None,
        cell_model: CellModelConfig | None = None,
        trpm7: Trpm7Config | None = None,
        dye_handling: DyeHandlingConfig | None = None,
        optics: OpticsConfig | None = None,
        patch: PatchConfig | None = None,
        amplifier: AmplifierConfig | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self.dye = dye if dye is not None else MagFura2()
        self.sensor = sensor if sensor is not None else CameraSensor()
        self.clock: Clock = clock if clock is not None else ScaledClock()
        self.seed = int(seed)
        self.solutions: dict[str, Solution] = {**DEFAULT_SOLUTIONS, **(solutions or {})}
        self.optics = optics if optics is not None else OpticsConfig()
        self.amplifier = amplifier if amplifier is not None else AmplifierConfig()
        self.dye_handling = dye_handling if dye_handling is not None else DyeHandlingConfig()
        camera_seq, sweep_seq, event_seq = np.random.SeedSequence(self.seed).spawn(3)
        #: camera noise (one generator per noise source)
        self.rng = np.random.default_rng(camera_seq)
        self.ephys_noise_rng = np.random.default_rng(sweep_seq)
        self._event_rng = np.random.default_rng(event_seq)
        self.line_phase = float(self._event_rng.uniform(0, 2 * math.pi))
        self.excitation_nm: int | None = None
        self.shutter_open = False
        self._t_s = self.clock.now_s()
        self._chamber = Chamber(chamber or ChamberConfig(), self.solutions, self._t_s)
        self.chamber = ChamberControls(self)
        rest_env = environment_from(self._chamber.bath, self._chamber.temperature_C)
        self.cells = list(cells)
        self.population = CellPopulation(
            self.cells,
            cell_model if cell_model is not None else CellModelConfig(),
            trpm7 if trpm7 is not None else Trpm7Config(),
            self.dye_handling,
            self.dye,
            rest_env,
            sync=self.sync,
            ra_of=self._ra_of,
        )
        self.patch = Patch(self, patch if patch is not None else PatchConfig(), self._event_rng)
        self._geometry_cache: dict[tuple, NDArray[np.intp]] = {}
        self._env_cache: tuple[bytes, float, Environment] | None = None
        self._snapshot: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None
        self._optical_snapshot()  # the optical state as the world starts

    @classmethod
    def from_config(
        cls,
        config: WorldConfig,
        *,
        clock: Clock,
        seed: int,
        solutions: Mapping[str, Solution] | None = None,
    ) -> World:
        """The world a rig file describes; cells placed at random (seeded) unless listed.

        ``solutions`` is the shared solutions file's table (rigs/solutions.yaml), if the caller
        read it; the rig file's ``world.solutions`` entries take precedence over it.
        """
        config.check_solution_names(solutions or {})
        if config.cells:
            cells = [c.make() for c in config.cells]
        else:
            sensor = config.sensor
            cells = default_cells(sensor.width_px, sensor.height_px, config.n_cells, seed)
        return cls(
            cells=cells,
            dye=config.dye,
            sensor=config.sensor,
            clock=clock,
            seed=seed,
            solutions={**(solutions or {}), **config.solutions},
            chamber=config.chamber,
            cell_model=config.cell_model,
            trpm7=config.trpm7,
            dye_handling=config.dye_handling,
            optics=config.optics,
            patch=config.patch,
            amplifier=config.amplifier,
        )

    # -- solutions ---------------------------------------------------------------------------
    def solution(self, name: str) -> Solution:
        try:
            return self.solutions[name]
        except KeyError:
            raise ValueError(
                f"solution must be one of {', '.join(sorted(self.solutions))}; got {name!r}"
            ) from None

    def add_solution(self, name: str, solution: Solution) -> None:
        """Add (or replace) a named solution, with a full reservoir."""
        with self.locked():
            self.solutions[name] = solution
            self._chamber.add_reservoir(name)

    # -- time ----------------------------------------------------------------------------------
    @property
    def now_s(self) -> float:
        """The world's time (the clock time it was last brought up to)."""
        return self._t_s

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the world's lock with the state brought up to the clock's now."""
        with self._lock:
            self.advance_to(self.clock.now_s())
            yield

    def sync(self) -> None:
        """Bring the state up to the clock's now."""
        with self._lock:
            self.advance_to(self.clock.now_s())

    def advance_to(self, t_s: float) -> None:
        """Integrate everything from the last update to ``t_s`` (never backward)."""
        with self._lock:
            while t_s > self._t_s:
                t0 = self._t_s
                t1 = min(t_s, self._chamber.next_change_s(), self.patch.next_event_s())
                t1 = max(t1, t0)
                if t1 == t0:  # an event due now: let it happen, then continue
                    t1 = min(t_s, t0 + 1e-9)
                self.population.integrate(t0, t1, self._environment_function())
                self.patch.advance(t0, t1)
                self._chamber.advance(t1)
                self._t_s = t1

    def _environment_function(self):
        c_in, c0, t0, tau = self._chamber.composition_function()
        static = math.isinf(tau) or np.allclose(c_in, c0, rtol=1e-12, atol=1e-12)
        chamber = self._chamber
        t_static = abs(chamber.temperature_at(t0 + 1e6) - chamber.temperature_C) < 1e-9
        if static and t_static:
            env = self._cached_environment(c0, chamber.temperature_C)
            return lambda t: env

        def at(t: float) -> Environment:
            c = c0 if static else c_in + (c0 - c_in) * math.exp(-(t - t0) / tau)
            return environment_from(c, chamber.temperature_at(t))

        return at

    def _cached_environment(
        self, amounts: NDArray[np.float64], temperature_C: float
    ) -> Environment:
        key = amounts.tobytes()
        cached = self._env_cache
        if cached is not None and cached[0] == key and cached[1] == temperature_C:
            return cached[2]
        env = environment_from(amounts, temperature_C)
        self._env_cache = (key, temperature_C, env)
        return env

    def environment(self) -> Environment:
        """What the cells see now (bath free ions, additives, temperature)."""
        with self.locked():
            return self._cached_environment(self._chamber.bath, self._chamber.temperature_C)

    @property
    def bath_temperature_C(self) -> float:
        with self.locked():
            return self._chamber.temperature_C

    def _ra_of(self, index: int) -> float | None:
        return self.patch.whole_cell_ra_MOhm(index)

    # -- optics and camera ---------------------------------------------------------------------
    @property
    def frame_shape(self) -> tuple[int, int]:
        return (self.sensor.frame_height_px, self.sensor.frame_width_px)

    def _labels(self) -> NDArray[np.intp]:
        """Per sensor pixel: 0 for background, i + 1 inside cell i (cached by geometry)."""
        key = (
            self.sensor.width_px,
            self.sensor.height_px,
            tuple((c.x_px, c.y_px, c.radius_px) for c in self.cells),
        )
        cached = self._geometry_cache.get(key)
        if cached is not None:
            return cached
        h, w = self.sensor.height_px, self.sensor.width_px
        yy, xx = np.mgrid[0:h, 0:w]
        labels = np.zeros((h, w), dtype=np.intp)
        for i, cell in enumerate(self.cells):
            inside = (xx - cell.x_px) ** 2 + (yy - cell.y_px) ** 2 <= cell.radius_px**2
            labels[inside] = i + 1
        self._geometry_cache = {key: labels}
        return labels

    def _rates_e_per_ms(self, wavelength_nm: int) -> NDArray[np.float64]:
        """Photo-electrons per pixel per ms: index 0 background, i + 1 cell i."""
        dye, handling = self.dye, self.dye_handling
        light = self.optics.excitation_relative[wavelength_nm]
        resting = dye.resting_photoelectrons_per_ms(wavelength_nm)
        mg_eff, dye_uM = self._optical_snapshot()
        cytosol = dye.photoelectrons_per_ms(wavelength_nm, mg_eff, dye_uM)
        f_org = handling.compartment_fraction
        if f_org > 0:
            organelles = dye.photoelectrons_per_ms(
                wavelength_nm, self.population.model.organellar_mg_mM, dye_uM
            )
            cytosol = (1 - f_org) * cytosol + f_org * organelles
        cells = cytosol + handling.cell_autofluorescence_fraction * resting
        background = self.optics.background_autofluorescence_fraction * resting
        return light * np.concatenate([[background], cells + background])

    def _optical_snapshot(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Per cell: Mg²⁺ occupying the dye as Mg²⁺ and Ca²⁺ do (mM), fluorescent dye (µM)."""
        mg, ca, dye_uM = self.population.optical_state()
        mg_eff = self.dye.effective_mg_mM(mg, ca)
        snapshot = self._snapshot
        tol, tol_dye = self.optics.render_resolution, self.optics.render_dye_resolution
        if (
            snapshot is None
            or snapshot[0].shape != mg_eff.shape
            or np.any(np.abs(mg_eff - snapshot[0]) > tol * snapshot[0] + 1e-9)
            or np.any(np.abs(dye_uM - snapshot[1]) > tol_dye * snapshot[1] + 1e-9)
        ):
            snapshot = (mg_eff, dye_uM)
            self._snapshot = snapshot
        return snapshot

    def expected_photoelectrons(self, exposure_ms: float) -> NDArray[np.float64]:
        """Noise-free photo-electrons per (binned) pixel for one exposure, dark signal excluded."""
        with self.locked():
            return self._expected(exposure_ms)

    def _expected(self, exposure_ms: float) -> NDArray[np.float64]:
        wl = self.excitation_nm
        if not (self.shutter_open and wl in self.optics.excitation_relative):
            return np.zeros(self.frame_shape)
        rates = self._rates_e_per_ms(wl)  # type: ignore[arg-type]
        sensor = self.sensor
        if sensor.binning == 1 and sensor.roi_px is None:
            return rates[self._labels()] * exposure_ms
        return sensor.bin_and_crop(rates[self._labels()] * exposure_ms)

    def render_frame(self, exposure_ms: float) -> NDArray[np.uint16]:
        """One camera frame (ADU): shot noise, dark current, (EM gain), read noise, gain,
        offset, clipping; the exposure bleaches the dye (§4)."""
        if not exposure_ms > 0:
            raise ValueError(f"exposure_ms must be > 0 ms, got {exposure_ms!r}")
        with self.locked():
            expected = self._expected(exposure_ms)
            wl = self.excitation_nm
            if self.shutter_open and wl in self.optics.excitation_relative:
                light = self.optics.excitation_relative[wl]  # type: ignore[index]
                remaining = math.exp(-self.dye_handling.bleach_per_ms * light * exposure_ms)
                self.population.bleach(remaining)
                if self._snapshot is not None:
                    self._snapshot = (self._snapshot[0], self._snapshot[1] * remaining)
            return self.sensor.read_out(expected, exposure_ms, self.rng)

    # -- ground truth --------------------------------------------------------------------------
    @property
    def calibration_truth(self) -> dict[str, float]:
        """True Rmin, Rmax, beta, Kd (in the cell) and Kd(Ca) of the simulated dye."""
        return self.dye.truth()

    def truth(self) -> dict[str, Any]:
        """Ground truth for tests and the demo (never for documents)."""
        with self.locked():
            chamber = self._chamber
            trpm7 = self.population.trpm7
            return {
                "t_s": self._t_s,
                "cells": [c.truth() for c in self.cells],
                "dye": self.dye.truth(),
                "bath": dict(zip(SPECIES, chamber.bath.tolist(), strict=True)),
                "bath_mg_free_mM": self.environment().mg_o,
                "current_solution": chamber.inflow,
                "flow_mL_per_min": chamber.flow_mL_per_min,
                "flowing": chamber.flowing,
                "reservoirs_mL": chamber.reservoirs_mL,
                "temperature_C": chamber.temperature_C,
                "patch": self.patch.truth(),
                "trpm7": {
                    "ic50_mM": trpm7.ic50_mM,
                    "hill": trpm7.hill,
                    "ic50_mgatp_mM": trpm7.ic50_mgatp_mM,
                    "model": trpm7.model,
                    "density_pA_per_pF": trpm7.density_pA_per_pF,
                    "reversal_mV": trpm7.reversal_mV,
                    "rectification": trpm7.rectification,
                },
            }

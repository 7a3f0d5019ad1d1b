"""Pipette, seal and whole-cell patch clamp on the simulated rig (docs/reference/physiology.md §7,
§8).

- **Pipette resistance** from the tip and the filling solution: a cone of half-angle θ ending in
  a tip of radius r has ``Rp = rho / (pi r tan θ)`` (estimate); the solution's resistivity
  scales with its ionic equivalents relative to the reference pipette solution, whose
  resistivity is 0.8 Ω·m (§8.5).
- **Contact** is an operator action (:meth:`Patch.approach`); the seal then grows under suction
  exponentially in log-resistance towards a final value, with a seeded success probability,
  final resistance and time constant (§7.1: > 1 GΩ, 1-20 GΩ, seconds to ~1 min at −1 to
  −5 kPa). Positive pressure prevents sealing.
- **Break-in** by a suction pulse (−10 to −20 kPa, §7.1) succeeds with a seeded probability;
  then ``Ra = ra_factor × Rp`` (§7.1: 1.5-3 × Rp), the cell's Cm and Rm, and dialysis of the cell
  by the pipette solution (see :mod:`._cell_transport`).
- **Events** in whole cell, seeded: Ra drift (steps up, resealing) and seal loss.
- **Sweeps** (:meth:`Patch.record_sweep`): see :mod:`._amplifier`.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ionrig.clock import Clock

from ._amplifier import AmplifierConfig, Circuit, synthesize_sweep
from ._cell import Cell
from ._cell_population import CellPopulation
from ._cell_state import Dialysis, Environment
from ._solutions import INDEX, Solution, amounts_of

__all__ = ["Patch", "PatchConfig", "PatchError", "PatchWorld"]

PatchState = Literal["bath", "sealing", "cell_attached", "whole_cell"]


class PatchError(RuntimeError):
    """An electrophysiology action that the pipette's state does not allow."""


def ionic_equivalents(amounts: NDArray[np.float64]) -> float:
    """Charge-weighted concentration of the small ions (mM), a proxy for conductivity."""
    monovalent = ("na_mM", "k_mM", "cs_mM", "cl_mM", "aspartate_mM", "glutamate_mM")
    divalent = ("mg_mM", "ca_mM")
    return float(
        sum(amounts[INDEX[n]] for n in monovalent) + 2 * sum(amounts[INDEX[n]] for n in divalent)
    )


@dataclass(frozen=True)
class PatchConfig:
    """The ``world.patch`` section: pipette, seal and whole-cell parameters."""

    pipette_solution: str = "trpm7_internal"  # §8.1 internal solution
    reference_solution: str = "trpm7_internal"  # the solution with the reference resistivity
    reference_resistivity_ohm_m: float = 0.8  # §8.5 rho = 0.8 Ω·m (80 Ω·cm)
    tip_diameter_um: float = 1.0  # not in the reference (estimate)
    #: with a 1-µm tip and rho 0.8 Ω·m, 5.815° gives the §7.1 default Rp 5 MΩ (estimate)
    cone_half_angle_deg: float = 5.815
    ra_factor: float = 2.0  # §7.1 Ra 1.5-3 × Rp; default Ra 10 MΩ with Rp 5 MΩ
    pipette_capacitance_pF: float = 5.0  # §7.1 Cp ~5 pF
    holding_mV: float = 0.0  # §8.1 holding potential 0 mV
    contact_seal_fraction: float = 0.3  # resistance added on contact, × Rp (estimate)
    seal_success_probability: float = 0.8  # estimate
    seal_GOhm_range: tuple[float, float] = (2.0, 20.0)  # §7.1 1-20 GΩ; log-uniform (estimate)
    failed_seal_GOhm_range: tuple[float, float] = (0.2, 0.8)  # estimate
    seal_tau_s_range: tuple[float, float] = (5.0, 30.0)  # §7.1 seconds to ~1 min; log-uniform
    seal_reference_suction_kPa: float = 3.0  # §7.1 −10 to −50 mbar = −1 to −5 kPa: midpoint
    spontaneous_seal_slowdown: float = 5.0  # sealing without suction is this much slower (est.)
    break_in_threshold_kPa: float = -10.0  # §7.1 break-in pulses −100 to −200 mbar
    break_in_pressure_kPa: float = -15.0  # §7.1: midpoint of the pulse range
    break_in_probability: float = 0.7  # per pulse (estimate)
    ra_drift_per_hour: float = 6.0  # Ra step events per hour in whole cell (estimate)
    ra_drift_factor_range: tuple[float, float] = (1.05, 1.25)  # per event (estimate)
    seal_loss_per_hour: float = 0.5  # seal-loss events per hour in whole cell (estimate)
    lost_seal_GOhm_range: tuple[float, float] = (0.05, 0.3)  # after a seal loss (estimate)

    def __post_init__(self) -> None:
        positive = [
            "reference_resistivity_ohm_m",
            "tip_diameter_um",
            "ra_factor",
            "seal_reference_suction_kPa",
            "spontaneous_seal_slowdown",
        ]
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"patch {name} must be > 0, got {getattr(self, name)!r}")
        if not 0.1 <= self.cone_half_angle_deg <= 45:
            raise ValueError(
                f"patch cone_half_angle_deg must be in 0.1..45, got {self.cone_half_angle_deg}"
            )
        if not self.ra_factor >= 1:
            raise ValueError(f"patch ra_factor must be >= 1 (Ra includes Rp), got {self.ra_factor}")
        if not 0 <= self.pipette_capacitance_pF <= 50:
            raise ValueError("patch pipette_capacitance_pF must be in 0..50 pF")
        if not -200 <= self.holding_mV <= 200:
            raise ValueError(f"patch holding_mV must be in -200..200 mV, got {self.holding_mV}")
        for name in ("contact_seal_fraction",):
            if not getattr(self, name) >= 0:
                raise ValueError(f"patch {name} must be >= 0")
        for name in ("seal_success_probability", "break_in_probability"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"patch {name} must be in 0..1, got {getattr(self, name)!r}")
        for name in (
            "seal_GOhm_range",
            "failed_seal_GOhm_range",
            "seal_tau_s_range",
            "ra_drift_factor_range",
            "lost_seal_GOhm_range",
        ):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"patch {name} must be (low, high) with 0 < low <= high")
        if (
            not self.break_in_threshold_kPa < 0
            or not self.break_in_pressure_kPa <= self.break_in_threshold_kPa
        ):
            raise ValueError("patch break_in_pressure_kPa must be <= break_in_threshold_kPa < 0")
        if not (self.ra_drift_per_hour >= 0 and self.seal_loss_per_hour >= 0):
            raise ValueError(
                "patch event rates ra_drift_per_hour and seal_loss_per_hour must be >= 0 per "
                f"hour, got {self.ra_drift_per_hour!r} and {self.seal_loss_per_hour!r}"
            )


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi)))) if hi > lo else float(lo)


class PatchWorld(Protocol):
    """What the pipette needs of the world it works in (:class:`~ionrig.simulators.World`)."""

    cells: list[Cell]
    population: CellPopulation
    amplifier: AmplifierConfig
    ephys_noise_rng: np.random.Generator
    line_phase: float
    clock: Clock

    @property
    def now_s(self) -> float:
        """The world's time (s on its clock)."""
        ...

    @property
    def bath_temperature_C(self) -> float:
        """The bath's temperature now (°C)."""
        ...

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """The world's lock, with the state brought up to the clock's now."""
        ...

    def solution(self, name: str) -> Solution:
        """The world's solution ``name``."""
        ...

    def environment(self) -> Environment:
        """What the cells see now (bath free ions, additives, temperature)."""
        ...


class Patch:
    """The rig's one pipette: a plain-Python electrophysiology API on the world.

    Every method first brings the world to the clock's now. Resistances: ``*_MOhm``/``*_GOhm``;
    pressure kPa (negative = suction); potentials mV; currents pA.
    """

    def __init__(self, world: PatchWorld, config: PatchConfig, rng: np.random.Generator) -> None:
        self._world = world
        self.config = config
        self._rng = rng
        self._solution = world.solution(config.pipette_solution)
        self._solution_name: str | None = config.pipette_solution
        self._state: PatchState = "bath"
        self._cell: int | None = None
        self._pressure_kPa = 0.0
        self._holding_mV = config.holding_mV
        self._log_seal = math.log(1e-3)  # GΩ, meaningful once in contact
        self._seal_final = 0.0
        self._seal_tau_s = 1.0
        self._ra_MOhm: float | None = None
        self._next_ra_event = math.inf
        self._next_loss_event = math.inf
        self._seal_lost = False
        self.events: list[tuple[float, str]] = []

    # -- derived quantities ------------------------------------------------------------------
    @property
    def pipette_solution(self) -> Solution:
        return self._solution

    @property
    def pipette_solution_name(self) -> str | None:
        return self._solution_name

    def set_pipette_solution(self, solution: str | Solution) -> None:
        """Fill the pipette with a named solution or a composition (a test may set any)."""
        with self._world.locked():
            if isinstance(solution, Solution):
                self._solution, self._solution_name = solution, None
            else:
                self._solution, self._solution_name = self._world.solution(solution), solution
            self._update_dialysis()

    @property
    def resistivity_ohm_m(self) -> float:
        cfg = self.config
        reference = amounts_of(self._world.solution(cfg.reference_solution))
        own = ionic_equivalents(amounts_of(self._solution))
        if own <= 0:
            return math.inf
        return cfg.reference_resistivity_ohm_m * ionic_equivalents(reference) / own

    @property
    def pipette_resistance_MOhm(self) -> float:
        """Rp of the tip with the current filling: ``rho / (pi r tan θ)``."""
        cfg = self.config
        radius_m = cfg.tip_diameter_um * 0.5e-6
        return (
            self.resistivity_ohm_m
            / (math.pi * radius_m * math.tan(math.radians(cfg.cone_half_angle_deg)))
            / 1e6
        )

    @property
    def state(self) -> PatchState:
        with self._world.locked():
            return self._state

    @property
    def cell_index(self) -> int | None:
        return self._cell

    @property
    def pressure_kPa(self) -> float:
        return self._pressure_kPa

    @property
    def holding_mV(self) -> float:
        return self._holding_mV

    @holding_mV.setter
    def holding_mV(self, value: float) -> None:
        if not -200 <= value <= 200:
            raise ValueError(f"holding_mV must be in -200..200 mV, got {value!r}")
        with self._world.locked():
            self._holding_mV = float(value)
            self._update_dialysis()

    @property
    def seal_resistance_GOhm(self) -> float | None:
        """Seal resistance now (None with the pipette free in the bath)."""
        with self._world.locked():
            if self._state == "bath":
                return None
            return math.exp(self._log_seal)

    @property
    def ra_MOhm(self) -> float | None:
        with self._world.locked():
            return self._ra_MOhm if self._state == "whole_cell" else None

    @property
    def cm_pF(self) -> float | None:
        return self._world.cells[self._cell].cm_pF if self._state == "whole_cell" else None

    @property
    def rm_MOhm(self) -> float | None:
        return self._world.cells[self._cell].rm_MOhm if self._state == "whole_cell" else None

    @property
    def seal_lost(self) -> bool:
        return self._seal_lost

    def whole_cell_ra_MOhm(self, index: int) -> float | None:
        """Ra (MΩ) if the pipette is in whole cell on cell ``index``, else None.

        Unlike :attr:`ra_MOhm`, does not bring the world up to the clock's now (the world asks
        while it holds its lock, already synchronised).
        """
        if self._state == "whole_cell" and self._cell == index:
            return self._ra_MOhm
        return None

    def truth(self) -> dict[str, object]:
        with self._world.locked():
            return {
                "state": self._state,
                "cell_index": self._cell,
                "pressure_kPa": self._pressure_kPa,
                "holding_mV": self._holding_mV,
                "pipette_resistance_MOhm": self.pipette_resistance_MOhm,
                "seal_resistance_GOhm": self.seal_resistance_GOhm,
                "ra_MOhm": self.ra_MOhm,
                "cm_pF": self.cm_pF,
                "rm_MOhm": self.rm_MOhm,
                "seal_lost": self._seal_lost,
                "pipette_solution": self._solution_name,
                "pipette_composition": self._solution.to_dict(),
            }

    # -- time ----------------------------------------------------------------------------------
    def _seal_rate_per_s(self) -> float:
        if self._state not in ("sealing", "cell_attached"):
            return 0.0
        p = self._pressure_kPa
        if p > 0:
            return 0.0
        cfg = self.config
        if p < 0:
            return (-p / cfg.seal_reference_suction_kPa) / self._seal_tau_s
        return 1.0 / (self._seal_tau_s * cfg.spontaneous_seal_slowdown)

    def next_event_s(self) -> float:
        if self._state != "whole_cell":
            return math.inf
        return min(self._next_ra_event, self._next_loss_event)

    def advance(self, t0: float, t1: float) -> None:
        """Seal growth from ``t0`` to ``t1`` (exact in log-resistance) and due events at ``t1``."""
        rate = self._seal_rate_per_s()
        if rate > 0 and self._log_seal < self._seal_final:
            self._log_seal = self._seal_final + (self._log_seal - self._seal_final) * math.exp(
                -rate * (t1 - t0)
            )
        if self._state in ("sealing", "cell_attached"):
            self._state = "cell_attached" if self._log_seal >= 0.0 else "sealing"
        if self._state == "whole_cell":
            cfg = self.config
            if t1 >= self._next_ra_event:
                factor = self._rng.uniform(*cfg.ra_drift_factor_range)
                self._ra_MOhm = (self._ra_MOhm or 0.0) * factor
                self.events.append((t1, f"Ra drifted to {self._ra_MOhm:.3g} MΩ"))
                self._next_ra_event = self._draw_next(t1, cfg.ra_drift_per_hour)
                self._update_dialysis()
            if t1 >= self._next_loss_event:
                lost = _log_uniform(self._rng, *cfg.lost_seal_GOhm_range)
                self._log_seal = math.log(lost)
                self._seal_lost = True
                self.events.append((t1, f"seal lost: {lost:.3g} GΩ"))
                self._next_loss_event = math.inf

    def _draw_next(self, t: float, per_hour: float) -> float:
        if per_hour <= 0:
            return math.inf
        return t + float(self._rng.exponential(3600.0 / per_hour))

    def _update_dialysis(self) -> None:
        population = self._world.population
        if self._state == "whole_cell" and self._cell is not None:
            population.dialysis = Dialysis(
                index=self._cell,
                ra_MOhm=float(self._ra_MOhm or 0.0),
                resistivity_ohm_m=self.resistivity_ohm_m,
                pipette=amounts_of(self._solution),
                pipette_mg_free_mM=self._solution.mg_free_mM,
                pipette_ca_free_uM=self._solution.ca_free_uM,
                v_mV=self._holding_mV,
            )
        else:
            population.dialysis = None

    # -- operator actions ----------------------------------------------------------------------
    def approach(self, cell: int | object) -> None:
        """Bring the pipette onto ``cell`` (index or :class:`Cell`): contact, sealing can start.

        An operator step (micromanipulator). Draws this attempt's seal outcome (seeded).
        """
        world = self._world
        with world.locked():
            index = cell if isinstance(cell, int) else world.cells.index(cell)  # type: ignore[arg-type]
            if not 0 <= index < len(world.cells):
                raise ValueError(
                    f"cell must be an index in 0..{len(world.cells) - 1}, got {cell!r}"
                )
            if self._state != "bath":
                raise PatchError(
                    f"the pipette is {self._state} on cell {self._cell}; withdraw() it first"
                )
            cfg = self.config
            rp_GOhm = self.pipette_resistance_MOhm / 1000.0
            self._cell = index
            self._state = "sealing"
            self._log_seal = math.log(max(rp_GOhm * cfg.contact_seal_fraction, 1e-6))
            success = self._rng.uniform() < cfg.seal_success_probability
            final_range = cfg.seal_GOhm_range if success else cfg.failed_seal_GOhm_range
            self._seal_final = math.log(_log_uniform(self._rng, *final_range))
            self._seal_tau_s = _log_uniform(self._rng, *cfg.seal_tau_s_range)
            self.events.append((world.now_s, f"contact with cell {index}"))

    def apply_pressure_kPa(self, pressure_kPa: float) -> None:
        """Set the pipette pressure (kPa, suction < 0). Strong suction on a gigaseal breaks in."""
        if not -100 <= pressure_kPa <= 100:
            raise ValueError(f"pressure_kPa must be in -100..100 kPa, got {pressure_kPa!r}")
        with self._world.locked():
            self._pressure_kPa = float(pressure_kPa)
            if (
                self._state == "cell_attached"
                and pressure_kPa <= self.config.break_in_threshold_kPa
            ):
                self._attempt_break_in()

    def break_in(self) -> bool:
        """A suction pulse (§7.1) and release; True if the patch ruptured (whole cell)."""
        with self._world.locked():
            if self._state == "whole_cell":
                return True
            if self._state != "cell_attached":
                raise PatchError(
                    "break-in needs a gigaseal (cell-attached, seal > 1 GΩ); the pipette is "
                    f"{self._state}"
                )
            self.apply_pressure_kPa(self.config.break_in_pressure_kPa)
            self.apply_pressure_kPa(0.0)
            return self._state == "whole_cell"

    def _attempt_break_in(self) -> None:
        cfg = self.config
        if self._rng.uniform() >= cfg.break_in_probability:
            self.events.append((self._world.now_s, "suction pulse: patch intact"))
            return
        now = self._world.now_s
        self._state = "whole_cell"
        self._ra_MOhm = cfg.ra_factor * self.pipette_resistance_MOhm
        self._next_ra_event = self._draw_next(now, cfg.ra_drift_per_hour)
        self._next_loss_event = self._draw_next(now, cfg.seal_loss_per_hour)
        self._update_dialysis()
        self.events.append((now, f"break-in: whole cell, Ra {self._ra_MOhm:.3g} MΩ"))

    def schedule_seal_loss(self, at_s: float) -> None:
        """Fault injection: the seal is lost at clock time ``at_s`` (s), in place of the random
        loss time drawn at break-in (``seal_loss_per_hour``). The loss then happens as a drawn
        one does: the seal falls into ``lost_seal_GOhm_range`` and :attr:`seal_lost` is set.

        Needs whole cell (a later break-in draws a new time); ``at_s`` must not be in the past.
        """
        with self._world.locked():
            if self._state != "whole_cell":
                raise PatchError(f"a seal loss needs whole cell; the pipette is {self._state}")
            now = self._world.now_s
            if not at_s >= now:
                raise ValueError(f"at_s must be at or after now ({now:g} s), got {at_s!r}")
            self._next_loss_event = float(at_s)

    def withdraw(self) -> None:
        """Pull the pipette back into the bath (a fresh pipette with the same filling)."""
        with self._world.locked():
            self._state = "bath"
            self._cell = None
            self._ra_MOhm = None
            self._seal_lost = False
            self._next_ra_event = self._next_loss_event = math.inf
            self._update_dialysis()

    # -- recording -----------------------------------------------------------------------------
    def circuit(self) -> Circuit:
        """The electrical circuit the headstage sees now (SI units)."""
        world = self._world
        cfg = self.config
        temperature = world.bath_temperature_C
        cp = cfg.pipette_capacitance_pF * 1e-12
        rp = self.pipette_resistance_MOhm * 1e6
        if self._state == "bath":
            return Circuit("resistor", cp, temperature, r_ohm=rp)
        seal = math.exp(self._log_seal) * 1e9
        if self._state in ("sealing", "cell_attached"):
            return Circuit("resistor", cp, temperature, r_ohm=rp + seal)
        index = self._cell
        assert index is not None
        population = world.population
        ionic = population.ionic_current_function(index, world.environment())
        return Circuit(
            "cell",
            cp,
            temperature,
            ra_ohm=float(self._ra_MOhm or 0.0) * 1e6,
            cm_f=float(population.cm_pF[index]) * 1e-12,
            rm_ohm=float(population.rm_MOhm[index]) * 1e6,
            e_leak_v=float(population.v_rest_mV[index]) * 1e-3,
            r_seal_ohm=seal,
            ionic=ionic,
        )

    def record_sweep(
        self,
        command_mV: ArrayLike,
        sample_rate_Hz: float,
        filter_kHz: float = 2.9,
        gain_mV_per_pA: float = 10.0,
        *,
        advance_clock: bool = True,
    ) -> NDArray[np.float64]:
        """Apply ``command_mV`` (one value per sample) and return the recorded current (pA).

        ``advance_clock=False`` is for a caller that takes the sweep's time itself (the
        simulated DAQ's hardware-timed sweep).

        ``sample_rate_Hz`` 1-500 kHz (TRPM7 protocol: 10 kHz, §8.1); ``filter_kHz`` is the 4-pole
        Bessel −3 dB frequency (2.9 kHz in §8.1, §7.2); ``gain_mV_per_pA`` the amplifier's
        output gain (quantisation step = 20 V / 2¹⁶ / gain). The world's state is that at the
        start of the sweep; the clock then advances by the sweep's duration.
        """
        command = np.asarray(command_mV, dtype=np.float64)
        if command.ndim != 1 or command.size < 2 or not np.isfinite(command).all():
            raise ValueError("command_mV must be a 1-D array of at least 2 finite values (mV)")
        if np.abs(command).max() > 1000:
            raise ValueError("command_mV must stay within ±1000 mV")
        if not 1_000 <= sample_rate_Hz <= 500_000:
            raise ValueError(f"sample_rate_Hz must be in 1e3..5e5 Hz, got {sample_rate_Hz!r}")
        if not 0.1 <= filter_kHz <= 100:
            raise ValueError(f"filter_kHz must be in 0.1..100 kHz, got {filter_kHz!r}")
        if not 0.01 <= gain_mV_per_pA <= 1000:
            raise ValueError(f"gain_mV_per_pA must be in 0.01..1000 mV/pA, got {gain_mV_per_pA!r}")
        world = self._world
        with world.locked():
            circuit = self.circuit()
            current = synthesize_sweep(
                circuit,
                command,
                sample_rate_Hz=float(sample_rate_Hz),
                filter_kHz=float(filter_kHz),
                gain_mV_per_pA=float(gain_mV_per_pA),
                amp=world.amplifier,
                rng=world.ephys_noise_rng,
                t_start_s=world.now_s,
                line_phase=world.line_phase,
            )
        if advance_clock:
            world.clock.sleep_s(command.size / sample_rate_Hz)
        return current

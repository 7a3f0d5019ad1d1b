"""The recording chamber: bath, perfusion inflow through a dead volume, reservoirs, temperature.

Model (docs/reference/physiology.md §1.4 and §6):

- The bath is well mixed (CSTR) with an effective time constant ``tau = mixing_factor * V / Q``;
  with constant inflow composition ``C_in`` it follows exactly
  ``C(t) = C_in + (C(0) - C_in) * exp(-t / tau)``.
- The inflow line holds ``dead_volume_uL`` of solution moving as a plug: after a valve switch
  the new solution reaches the bath ``V_dead / Q`` later.
- Each solution's reservoir holds a volume that runs down at Q while selected; when it is
  empty the flow stops (the bath then stays as it is).
- Bath temperature relaxes to the heater set point (or room temperature with the heater off)
  and is pulled towards the inflow temperature in proportion to the flow: §6 "bath temperature
  changes with flow rate".

Everything is piecewise exact: :meth:`Chamber.next_change_s` gives the next time the inflow
changes (a new solution arriving, a reservoir running dry), and between changes the bath
composition and temperature are closed-form exponentials (:meth:`Chamber.composition_at`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ._solutions import Solution, amounts_of

__all__ = ["Chamber", "ChamberConfig", "ReservoirEmpty"]


class ReservoirEmpty(RuntimeError):
    """The selected reservoir has run dry (the inflow has stopped)."""


@dataclass(frozen=True)
class ChamberConfig:
    """The ``world.chamber`` section of a rig file."""

    bath_volume_mL: float = 0.5  # docs/reference/physiology.md §6 default: 0.5 mL bath
    flow_mL_per_min: float = 2.0  # §6 default: 2 mL/min
    dead_volume_uL: float = 250.0  # §6 default: 250 µL between valve and bath
    mixing_factor: float = 1.5  # §6 default: effective tau = 1.5 V/Q (open chamber)
    initial_solution: str = "hbss"  # the rig's default bath (rigs/sim.yaml perfusion.initial)
    reservoir_mL: float = 50.0  # volume of every reservoir at start; estimate (not in reference)
    reservoirs_mL: dict[str, float] = field(default_factory=dict)  # per-solution overrides
    room_temperature_C: float = 22.0  # §2 (~22 °C in vitro) / §8.1 (21-25 °C): room temperature
    heater_setpoint_C: float | None = None  # heater off by default (RT recordings, §4, §8.1)
    heater_tau_s: float = 30.0  # heater time constant; estimate (not in reference)
    #: Fraction of the inflow's temperature deficit that reaches the bath (0: inline heater
    #: fully warms the inflow, 1: inflow enters at room temperature); estimate (§6 qualitative).
    inflow_cooling: float = 0.05

    def __post_init__(self) -> None:
        if not 0.01 <= self.bath_volume_mL <= 100:
            raise ValueError(f"bath_volume_mL must be in 0.01..100 mL, got {self.bath_volume_mL}")
        if not 0 <= self.flow_mL_per_min <= 50:
            raise ValueError(
                f"flow_mL_per_min must be in 0..50 mL/min, got {self.flow_mL_per_min!r}"
            )
        if not 0 <= self.dead_volume_uL <= 50_000:
            raise ValueError(f"dead_volume_uL must be in 0..50000 µL, got {self.dead_volume_uL}")
        if not 1.0 <= self.mixing_factor <= 10:
            raise ValueError(f"mixing_factor must be in 1..10, got {self.mixing_factor!r}")
        if not 0 <= self.reservoir_mL <= 10_000:
            raise ValueError(f"reservoir_mL must be in 0..10000 mL, got {self.reservoir_mL!r}")
        for name, value in self.reservoirs_mL.items():
            if not 0 <= value <= 10_000:
                raise ValueError(f"reservoirs_mL[{name!r}] must be in 0..10000 mL, got {value}")
        if not 0 <= self.room_temperature_C <= 45:
            raise ValueError(
                f"room_temperature_C must be in 0..45 °C, got {self.room_temperature_C}"
            )
        if self.heater_setpoint_C is not None and not 0 <= self.heater_setpoint_C <= 45:
            raise ValueError(f"heater_setpoint_C must be in 0..45 °C, got {self.heater_setpoint_C}")
        if not self.heater_tau_s > 0:
            raise ValueError(f"heater_tau_s must be > 0 s, got {self.heater_tau_s!r}")
        if not 0 <= self.inflow_cooling <= 1:
            raise ValueError(f"inflow_cooling must be in 0..1, got {self.inflow_cooling!r}")


class Chamber:
    """Bath composition, perfusion and temperature on the world's time axis (seconds).

    Not thread-safe on its own: the :class:`~ionrig.simulators.World` owning it serialises
    access and advances it (:meth:`advance`) before every read or change.
    """

    def __init__(self, config: ChamberConfig, solutions: Mapping[str, Solution], t_s: float):
        if config.initial_solution not in solutions:
            raise ValueError(
                f"chamber initial_solution must be one of {', '.join(sorted(solutions))}; "
                f"got {config.initial_solution!r}"
            )
        self.config = config
        self._solutions = solutions
        self._vectors: dict[str, tuple[Solution, NDArray[np.float64]]] = {}
        self._t_s = t_s
        start = self._vector(config.initial_solution)
        self._bath = start.copy()
        self._inflow_name: str | None = config.initial_solution
        self._flow_mL_per_min = config.flow_mL_per_min
        # Plug flow in the line: segments (solution name, volume µL), bath end first.
        self._line: deque[list] = deque()
        if config.dead_volume_uL > 0:
            self._line.append([config.initial_solution, config.dead_volume_uL])
        self._reservoir_mL = {
            name: float(config.reservoirs_mL.get(name, config.reservoir_mL)) for name in solutions
        }
        self._temperature_C = (
            config.room_temperature_C
            if config.heater_setpoint_C is None
            else config.heater_setpoint_C
        )
        self._setpoint_C = config.heater_setpoint_C
        self.events: list[tuple[float, str]] = []  # (t_s, message): valve, empty reservoir…

    # -- state ------------------------------------------------------------------------------
    @property
    def t_s(self) -> float:
        return self._t_s

    @property
    def flowing(self) -> bool:
        """True when solution is moving (flow > 0 and the selected reservoir is not empty)."""
        return (
            self._flow_mL_per_min > 0
            and self._inflow_name is not None
            and self._reservoir_mL[self._inflow_name] > 0
        )

    @property
    def q_mL_per_s(self) -> float:
        return self._flow_mL_per_min / 60.0 if self.flowing else 0.0

    @property
    def tau_s(self) -> float:
        """Effective exchange time constant ``mixing_factor * V / Q`` (inf without flow)."""
        q = self.q_mL_per_s
        return math.inf if q == 0 else self.config.mixing_factor * self.config.bath_volume_mL / q

    def _vector(self, name: str) -> NDArray[np.float64]:
        """Solution ``name``'s composition vector (cached while the table holds it)."""
        solution = self._solutions[name]
        cached = self._vectors.get(name)
        if cached is None or cached[0] is not solution:
            cached = self._vectors[name] = (solution, amounts_of(solution))
        return cached[1]

    def _entering_name(self) -> str | None:
        """Which solution is entering the bath now."""
        if self._line:
            return self._line[0][0]
        return self._inflow_name

    def _entering_vector(self) -> NDArray[np.float64]:
        name = self._entering_name()
        return self._vector(name) if name is not None else self._bath

    def next_change_s(self) -> float:
        """Absolute time of the next change of the inflow (inf if none is coming)."""
        q = self.q_mL_per_s
        if q == 0:
            return math.inf
        candidates = [self._reservoir_mL[self._inflow_name] / q]  # type: ignore[index]
        if self._line:
            front_name, front_uL = self._line[0]
            if len(self._line) > 1 or front_name != self._inflow_name:
                # the front segment drains into the bath; then the next one starts entering
                candidates.append(front_uL / 1000.0 / q)
        return self._t_s + max(0.0, min(candidates))

    def composition_at(self, t_s: float) -> NDArray[np.float64]:
        """Bath amounts (:data:`SPECIES` order) at ``t_s`` <= :meth:`next_change_s`."""
        tau = self.tau_s
        if math.isinf(tau):
            return self._bath.copy()
        c_in = self._entering_vector()
        return c_in + (self._bath - c_in) * math.exp(-(t_s - self._t_s) / tau)

    def composition_function(self):
        """``(c_in, c0, t0, tau)`` so that ``c(t) = c_in + (c0 - c_in) exp(-(t - t0)/tau)``."""
        return self._entering_vector(), self._bath.copy(), self._t_s, self.tau_s

    def temperature_at(self, t_s: float) -> float:
        rate, target = self._temperature_rate_and_target()
        return target + (self._temperature_C - target) * math.exp(-rate * (t_s - self._t_s))

    def _temperature_rate_and_target(self) -> tuple[float, float]:
        cfg = self.config
        room = cfg.room_temperature_C
        heat_rate = 0.0 if self._setpoint_C is None else 1.0 / cfg.heater_tau_s
        heat_target = room if self._setpoint_C is None else self._setpoint_C
        # passive relaxation to room temperature when the heater is off (same time constant)
        passive_rate = 1.0 / cfg.heater_tau_s if self._setpoint_C is None else 0.0
        flow_rate = cfg.inflow_cooling * self.q_mL_per_s / cfg.bath_volume_mL
        rate = heat_rate + passive_rate + flow_rate
        target = ((heat_rate + passive_rate) * heat_target + flow_rate * room) / rate
        return rate, target

    # -- time -------------------------------------------------------------------------------
    def advance(self, t_s: float) -> None:
        """Move to ``t_s``, handling every inflow change on the way (exact)."""
        while t_s > self._t_s:
            t_next = min(t_s, self.next_change_s())
            self._step(t_next)

    def _step(self, t_s: float) -> None:
        dt = t_s - self._t_s
        if dt <= 0:
            return
        q = self.q_mL_per_s
        self._temperature_C = self.temperature_at(t_s)
        if q > 0:
            self._bath = self.composition_at(t_s)
            volume_uL = q * dt * 1000.0
            name = self._inflow_name
            assert name is not None
            self._reservoir_mL[name] = max(0.0, self._reservoir_mL[name] - q * dt)
            if self._reservoir_mL[name] <= 1e-9:
                self._reservoir_mL[name] = 0.0
                self.events.append((t_s, f"reservoir {name!r} ran empty: inflow stopped"))
            if self.config.dead_volume_uL > 0:
                # push the new volume in at the valve end, pop the same volume at the bath end
                if self._line and self._line[-1][0] == name:
                    self._line[-1][1] += volume_uL
                else:
                    self._line.append([name, volume_uL])
                remaining = volume_uL
                while remaining > 1e-9 and self._line:
                    front = self._line[0]
                    taken = min(front[1], remaining)
                    front[1] -= taken
                    remaining -= taken
                    if front[1] <= 1e-9:
                        self._line.popleft()
        self._t_s = t_s

    # -- actions (the world advances the chamber to now first) ------------------------------
    def select(self, name: str | None) -> None:
        """Open the valve of solution ``name`` (``None`` closes every valve)."""
        if name is not None and name not in self._solutions:
            raise ValueError(
                f"solution must be one of {', '.join(sorted(self._solutions))}; got {name!r}"
            )
        self._inflow_name = name
        self.events.append((self._t_s, f"valve: {name}"))

    def set_flow(self, flow_mL_per_min: float) -> None:
        if not 0 <= flow_mL_per_min <= 50:
            raise ValueError(f"flow_mL_per_min must be in 0..50 mL/min, got {flow_mL_per_min!r}")
        self._flow_mL_per_min = float(flow_mL_per_min)

    def refill(self, name: str, volume_mL: float) -> None:
        if name not in self._solutions:
            raise ValueError(
                f"solution must be one of {', '.join(sorted(self._solutions))}; got {name!r}"
            )
        if not 0 <= volume_mL <= 10_000:
            raise ValueError(f"volume_mL must be in 0..10000 mL, got {volume_mL!r}")
        self._reservoir_mL[name] = float(volume_mL)

    def add_reservoir(self, name: str) -> None:
        """Give a newly added solution ``name`` a full reservoir (``config.reservoir_mL``);
        a solution that already has a reservoir keeps it."""
        if name not in self._reservoir_mL:
            self._reservoir_mL[name] = self.config.reservoir_mL

    def set_heater(self, setpoint_C: float | None) -> None:
        if setpoint_C is not None and not 0 <= setpoint_C <= 45:
            raise ValueError(f"setpoint_C must be in 0..45 °C or None, got {setpoint_C!r}")
        self._setpoint_C = setpoint_C

    def set_bath(self, name: str) -> None:
        """Replace the bath instantly with solution ``name`` (an operator exchanging by hand)."""
        self._bath = self._vector(name)

    # -- read-outs ----------------------------------------------------------------------------
    @property
    def bath(self) -> NDArray[np.float64]:
        return self._bath.copy()

    @property
    def inflow(self) -> str | None:
        return self._inflow_name

    @property
    def flow_mL_per_min(self) -> float:
        """The set flow rate (the actual flow is 0 when the reservoir is empty)."""
        return self._flow_mL_per_min

    @property
    def temperature_C(self) -> float:
        return self._temperature_C

    @property
    def heater_setpoint_C(self) -> float | None:
        return self._setpoint_C

    def reservoir_mL(self, name: str) -> float:
        return self._reservoir_mL[name]

    @property
    def reservoirs_mL(self) -> dict[str, float]:
        return dict(self._reservoir_mL)

    @property
    def line_contents(self) -> list[tuple[str, float]]:
        """Solutions in the dead volume, bath end first, as (name, µL)."""
        return [(n, v) for n, v in self._line]

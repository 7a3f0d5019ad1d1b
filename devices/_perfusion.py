"""Perfusion: choose the bath's inflow solution by name; wait until the bath has exchanged.

A solution reaches the bath through its valve (one valve per reservoir, one open at a time)
pushed by a flow source: gravity (a fixed, calibrated flow while a valve is open), a syringe
pump or a peristaltic pump. ``set("mg_k_aspartate")`` opens that valve, starts the flow and
completes when ``exchange_bath_volumes`` bath volumes have flowed in (first-order exchange: 5 bath
volumes replace 99.3 % of the bath, docs/reference/physiology.md §1.4), reporting progress as a
``WatchableAsyncStatus``. Flow then continues (continuous perfusion) until ``stop``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from bluesky.protocols import Movable, Stoppable
from ophyd_async.core import (
    AsyncStatus,
    StandardReadable,
    StandardReadableFormat,
    WatchableAsyncStatus,
    WatcherUpdate,
    soft_signal_r_and_setter,
    soft_signal_rw,
)

from ionrig.clock import Clock

from ._port import BlockingPort

__all__ = [
    "AnalogPumpFlow",
    "FlowSource",
    "GravityFlow",
    "Perfusion",
    "SolutionLine",
    "SyringePumpFlow",
    "ValveDriver",
]


class ValveDriver(Protocol):
    """Valves selecting the reservoir (TTL valve controller, rotary valve)."""

    def open_only(self, name: str) -> None: ...

    def close_all(self) -> None: ...


class FlowSource(Protocol):
    """What pushes liquid: ``start(rate, volume)``, ``stop()``, ``delivered_mL`` since start."""

    def start(self, rate_mL_per_min: float, volume_mL: float) -> None: ...

    def stop(self) -> None: ...

    def delivered_mL(self) -> float: ...


class GravityFlow:
    """Gravity feed: a calibrated flow whenever a valve is open; delivered volume from the clock.

    ``rate_mL_per_min`` is the rig's measured gravity flow; ``start`` refuses another rate.
    """

    def __init__(self, clock: Clock, rate_mL_per_min: float) -> None:
        if not rate_mL_per_min > 0:
            raise ValueError(f"gravity rate_mL_per_min must be > 0, got {rate_mL_per_min!r}")
        self._clock = clock
        self.rate_mL_per_min = rate_mL_per_min
        self._started_s: float | None = None
        self._volume_mL = 0.0

    def start(self, rate_mL_per_min: float, volume_mL: float) -> None:
        if abs(rate_mL_per_min - self.rate_mL_per_min) > 1e-9:
            raise ValueError(
                f"a gravity feed flows at its calibrated {self.rate_mL_per_min:g} mL/min; "
                f"got {rate_mL_per_min!r}"
            )
        self._started_s = self._clock.now_s()
        self._volume_mL = volume_mL

    def stop(self) -> None:
        self._started_s = None

    def delivered_mL(self) -> float:
        if self._started_s is None:
            return 0.0
        elapsed_min = (self._clock.now_s() - self._started_s) / 60.0
        return min(self._volume_mL, elapsed_min * self.rate_mL_per_min)


class SyringePumpFlow:
    """A syringe pump (New Era NE-500 family driver) as a flow source, infusing."""

    def __init__(self, pump) -> None:
        self._pump = pump

    def start(self, rate_mL_per_min: float, volume_mL: float) -> None:
        self._pump.stop()
        self._pump.clear_dispensed("infuse")
        self._pump.direction = "infuse"
        self._pump.rate_uL_per_min = rate_mL_per_min * 1000.0
        self._pump.volume_target_uL = volume_mL * 1000.0  # never runs without a target
        self._pump.run()

    def stop(self) -> None:
        self._pump.stop()

    def delivered_mL(self) -> float:
        return self._pump.dispensed.infused_uL / 1000.0


class AnalogPumpFlow:
    """A peristaltic pump on a 0–10 V speed input (remote control through a DAQ output).

    ``mL_per_min_per_V`` is the rig's calibration (tubing and head); delivered volume is
    integrated on the rig clock from the commanded rate, as the pump has no volume read-back.
    """

    def __init__(self, daq, ao_channel: str, *, mL_per_min_per_V: float, clock: Clock) -> None:
        if not mL_per_min_per_V > 0:
            raise ValueError(f"mL_per_min_per_V must be > 0, got {mL_per_min_per_V!r}")
        self._daq, self._channel, self._scale = daq, ao_channel, mL_per_min_per_V
        self._gravity = GravityFlow(clock, 1.0)

    def start(self, rate_mL_per_min: float, volume_mL: float) -> None:
        self._daq.write_ao(self._channel, rate_mL_per_min / self._scale)
        self._gravity.rate_mL_per_min = rate_mL_per_min
        self._gravity.start(rate_mL_per_min, volume_mL)

    def stop(self) -> None:
        self._daq.write_ao(self._channel, 0.0)
        self._gravity.stop()

    def delivered_mL(self) -> float:
        return self._gravity.delivered_mL()


@dataclass(frozen=True)
class SolutionLine:
    """A solution as plumbed on this rig: its valve, reservoir volume and composition (mM)."""

    valve: str
    reservoir_mL: float = 50.0
    composition_mM: Mapping[str, float] = field(default_factory=dict)


class Perfusion(StandardReadable, Movable[str], Stoppable):
    """Movable over solution names (see the module docstring).

    Readings: ``solution``, ``flow_mL_per_min``, ``exchanged_bath_volumes`` and, per solution,
    the reservoir's estimated remaining volume ``reservoir_mL`` (an array in the order of
    ``solution_names``, from the volumes delivered). Configuration: bath volume, exchange target,
    and every solution's valve and composition.
    """

    def __init__(
        self,
        valves: ValveDriver,
        flow: FlowSource,
        solutions: Mapping[str, SolutionLine],
        *,
        clock: Clock,
        bath_volume_mL: float = 0.5,
        flow_mL_per_min: float = 2.0,
        exchange_bath_volumes: float = 5.0,
        poll_s: float = 0.5,
        initial: str | None = None,
        port: BlockingPort | None = None,
        name: str = "",
    ) -> None:
        import numpy as np

        if not solutions:
            raise ValueError("perfusion needs at least one solution")
        for label, value, low, high in (
            ("bath_volume_mL", bath_volume_mL, 0.01, 100.0),
            ("flow_mL_per_min", flow_mL_per_min, 0.01, 50.0),
            ("exchange_bath_volumes", exchange_bath_volumes, 0.5, 50.0),
        ):
            if not low <= value <= high:
                raise ValueError(f"{label} must be in {low:g}..{high:g}, got {value!r}")
        self._valves, self._flow, self._clock = valves, flow, clock
        self._solutions = dict(solutions)
        self._names = list(self._solutions)
        self._port = port or BlockingPort(name or "perfusion")
        self._poll_s = poll_s
        self._nominal_flow_mL_per_min = flow_mL_per_min
        self._remaining_mL = {k: v.reservoir_mL for k, v in self._solutions.items()}
        self._refilled_since_account: set[str] = set()
        self._flowing: str | None = None
        self._delivered_at_switch_mL = 0.0
        self._stop_requested = False
        start = initial if initial is not None else self._names[0]
        self._check(start)
        with self.add_children_as_readables(StandardReadableFormat.HINTED_SIGNAL):
            self.solution, self._set_solution = soft_signal_r_and_setter(str, start)
            self.exchanged_bath_volumes, self._set_exchanged = soft_signal_r_and_setter(
                float, 0.0, units="bath volumes"
            )
        with self.add_children_as_readables(StandardReadableFormat.UNCACHED_SIGNAL):
            self.reservoir_mL, self._set_reservoirs = soft_signal_r_and_setter(
                np.ndarray, np.array(list(self._remaining_mL.values())), units="mL"
            )
        with self.add_children_as_readables(StandardReadableFormat.CONFIG_SIGNAL):
            self.flow_mL_per_min, self._set_flow = soft_signal_r_and_setter(
                float, flow_mL_per_min, units="mL/min"
            )
            self.bath_volume_mL, _ = soft_signal_r_and_setter(float, bath_volume_mL, units="mL")
            self.exchange_target = soft_signal_rw(
                float, exchange_bath_volumes, units="bath volumes"
            )
            self.solution_names, _ = soft_signal_r_and_setter(str, json.dumps(self._names))
            self.compositions_mM, _ = soft_signal_r_and_setter(
                str,
                json.dumps(
                    {
                        k: {"valve": v.valve, **dict(v.composition_mM)}
                        for k, v in self._solutions.items()
                    }
                ),
            )
        super().__init__(name=name)

    @property
    def solutions(self) -> list[str]:
        """The solution names, as ``set`` accepts them."""
        return list(self._names)

    def composition(self, solution: str) -> dict[str, float]:
        """Composition (mM per component) of ``solution``."""
        self._check(solution)
        return dict(self._solutions[solution].composition_mM)

    def _check(self, solution: str) -> None:
        if solution not in self._solutions:
            raise ValueError(f"solution must be one of {', '.join(self._names)}; got {solution!r}")

    async def book_delivered_mL(self) -> float:
        """Book the volume delivered since the last switch against its reservoir, so that
        ``reservoir_mL`` is up to date; returns the pump's total delivered volume (mL)."""
        import numpy as np

        delivered = await self._port.call(self._flow.delivered_mL)
        if self._flowing is not None and self._flowing in self._refilled_since_account:
            pass  # refilled while flowing: what flowed before the refill is not in it
        elif self._flowing is not None:
            used = delivered - self._delivered_at_switch_mL
            self._remaining_mL[self._flowing] = max(0.0, self._remaining_mL[self._flowing] - used)
        self._refilled_since_account.clear()
        self._delivered_at_switch_mL = delivered
        self._set_reservoirs(np.array([self._remaining_mL[k] for k in self._names]))
        return delivered

    @WatchableAsyncStatus.wrap
    async def set(self, value: str) -> AsyncIterator[WatcherUpdate[float]]:
        self._check(value)
        bath_mL = await self.bath_volume_mL.get_value()
        target = await self.exchange_target.get_value()
        rate = await self.flow_mL_per_min.get_value()
        needed_mL = target * bath_mL
        await self.book_delivered_mL()
        if self._remaining_mL[value] < needed_mL:
            raise RuntimeError(
                f"reservoir of {value!r} holds {self._remaining_mL[value]:.2f} mL, "
                f"{needed_mL:.2f} mL are needed to exchange the bath: refill it"
            )
        await self._port.call(self._flow.stop)
        await self._port.call(self._valves.open_only, self._solutions[value].valve)
        # The pump's volume target is what the reservoir holds: it can never run dry.
        await self._port.call(self._flow.start, rate, self._remaining_mL[value])
        self._flowing, self._delivered_at_switch_mL = value, 0.0
        self._set_solution(value)
        t0 = self._clock.now_s()
        self._stop_requested = False
        while True:
            if self._stop_requested:
                raise RuntimeError(
                    f"exchange to {value!r} stopped after {self._delivered_at_switch_mL:.2f} mL; "
                    "the solution keeps flowing"
                )
            delivered = await self.book_delivered_mL()
            exchanged = delivered / bath_mL
            self._set_exchanged(exchanged)
            yield WatcherUpdate(
                name=self.name,
                current=exchanged,
                initial=0.0,
                target=target,
                unit="bath volumes",
                time_elapsed=self._clock.now_s() - t0,
            )
            if exchanged >= target:
                return
            remaining_min = (needed_mL - delivered) / rate
            await self._clock.async_sleep_s(min(self._poll_s, max(remaining_min * 60.0, 0.0)))

    @property
    def flow_rate_mL_per_min(self) -> float:
        """The configured flow while a solution runs (mL/min)."""
        return self._nominal_flow_mL_per_min

    def remaining_mL(self, solution: str) -> float:
        """Estimated volume left in ``solution``'s reservoir at the last booking (mL)."""
        self._check(solution)
        return self._remaining_mL[solution]

    def capacity_mL(self, solution: str) -> float:
        """The volume of ``solution``'s reservoir when full (mL)."""
        self._check(solution)
        return self._solutions[solution].reservoir_mL

    def refilled(self, solution: str, volume_mL: float | None = None) -> None:
        """Tell the perfusion a reservoir was refilled (to ``volume_mL``, default: its capacity).

        The operator's step; the remaining volumes are an estimate from what was delivered.
        """
        self._check(solution)
        capacity = self._solutions[solution].reservoir_mL
        volume = capacity if volume_mL is None else float(volume_mL)
        if not 0 <= volume <= capacity:
            raise ValueError(f"volume_mL must be in 0..{capacity:g} mL, got {volume_mL!r}")
        self._remaining_mL[solution] = volume
        self._refilled_since_account.add(solution)

    def stop(self, success: bool = True) -> None:
        """Interrupt an exchange in progress; the current solution keeps flowing.

        The RunEngine calls this at the end of every plan and on every pause, so it must not
        stop the bath's perfusion; :meth:`stop_flow` does that.
        """
        self._stop_requested = True

    @AsyncStatus.wrap
    async def stop_flow(self) -> None:
        """Stop the flow and close every valve (the perfusion's safe state)."""
        self._stop_requested = True
        await self.book_delivered_mL()
        await self._port.call(self._flow.stop)
        await self._port.call(self._valves.close_all)
        self._flowing = None

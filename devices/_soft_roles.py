"""Minimal perfusion and amplifier roles (soft: they hold setpoints, no instrument behind them).

They give every rig all four roles from the start, so plans and the start document can name the
current solution and holding potential. The instrument-backed versions (valves and pump, an
Axopatch 200B through a DAQ) replace them behind the same names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bluesky.protocols import Movable
from ophyd_async.core import (
    AsyncStatus,
    StandardReadable,
    StandardReadableFormat,
    soft_signal_r_and_setter,
    soft_signal_rw,
)

__all__ = ["SoftAmplifier", "SoftPerfusion"]


class SoftPerfusion(StandardReadable, Movable[str]):
    """Movable over solution names; ``set(name)`` switches the inflow solution at once."""

    def __init__(
        self,
        solutions: Sequence[str],
        *,
        initial: str | None = None,
        flow_mL_per_min: float = 2.0,
        compositions: Mapping[str, Mapping[str, float]] | None = None,
        name: str = "",
    ) -> None:
        if not solutions:
            raise ValueError("perfusion needs at least one solution name")
        self._solutions = list(solutions)
        self._compositions = {k: dict(v) for k, v in (compositions or {}).items()}
        start = initial if initial is not None else self._solutions[0]
        self._check(start)
        with self.add_children_as_readables(StandardReadableFormat.HINTED_SIGNAL):
            self.solution, self._set_solution = soft_signal_r_and_setter(str, start)
        with self.add_children_as_readables(StandardReadableFormat.CONFIG_SIGNAL):
            self.flow_mL_per_min = soft_signal_rw(float, flow_mL_per_min, units="mL/min")
        super().__init__(name=name)

    @property
    def solutions(self) -> list[str]:
        return list(self._solutions)

    def composition(self, solution: str) -> dict[str, float]:
        """Composition (mM per component) of a solution, as known to this rig."""
        self._check(solution)
        return dict(self._compositions.get(solution, {}))

    def _check(self, solution: str) -> None:
        if solution not in self._solutions:
            raise ValueError(
                f"solution must be one of {', '.join(self._solutions)}; got {solution!r}"
            )

    @AsyncStatus.wrap
    async def set(self, value: str) -> None:
        self._check(value)
        self._set_solution(value)


class SoftAmplifier(StandardReadable, Movable[float]):
    """Holding potential only: ``set(holding_mV)``; ``safe_holding_mV`` is where cleanup goes."""

    def __init__(
        self,
        *,
        holding_mV: float = 0.0,
        safe_holding_mV: float = 0.0,
        limits_mV: tuple[float, float] = (-200.0, 200.0),
        name: str = "",
    ) -> None:
        self._limits_mV = limits_mV
        self.safe_holding_mV = safe_holding_mV
        with self.add_children_as_readables(StandardReadableFormat.HINTED_SIGNAL):
            self.holding_mV, self._set_holding = soft_signal_r_and_setter(
                float, holding_mV, units="mV"
            )
        super().__init__(name=name)

    @AsyncStatus.wrap
    async def set(self, value: float) -> None:
        low, high = self._limits_mV
        if not low <= float(value) <= high:
            raise ValueError(f"holding_mV must be in {low:g}..{high:g} mV, got {value!r}")
        self._set_holding(float(value))

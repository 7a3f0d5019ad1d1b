"""Pressure (suction for sealing and break-in) and bath temperature as ophyd-async devices."""

from __future__ import annotations

from typing import Protocol

from bluesky.protocols import Movable
from ophyd_async.core import (
    DEFAULT_TIMEOUT,
    AsyncStatus,
    DeviceMock,
    StandardReadable,
    StandardReadableFormat,
    soft_signal_r_and_setter,
)

from ._port import BlockingPort

__all__ = ["PressureController", "PressureDriver", "TemperatureController", "TemperatureDriver"]


class PressureDriver(Protocol):
    limits_kPa: tuple[float, float]
    safe_kPa: float

    def set_pressure_kPa(self, pressure_kPa: float) -> None: ...

    @property
    def pressure_kPa(self) -> float: ...

    def safe(self) -> None: ...


class TemperatureDriver(Protocol):
    @property
    def temperature_C(self) -> float: ...


class PressureController(StandardReadable, Movable[float]):
    """Pipette pressure (kPa, negative = suction): ``set(-3)``; ``pressure_kPa`` is read back
    from the monitor (or the set-point where no monitor is wired) at every read."""

    def __init__(
        self, driver: PressureDriver, *, port: BlockingPort | None = None, name: str = ""
    ) -> None:
        self._driver = driver
        self._port = port or BlockingPort(name or "pressure")
        with self.add_children_as_readables(StandardReadableFormat.HINTED_UNCACHED_SIGNAL):
            self.pressure_kPa, _ = soft_signal_r_and_setter(
                float, 0.0, units="kPa", getter=self._read
            )
        super().__init__(name=name)

    async def _read(self) -> float:
        return float(await self._port.call(lambda: self._driver.pressure_kPa))

    async def connect(
        self,
        mock: bool | DeviceMock = False,
        timeout: float = DEFAULT_TIMEOUT,
        force_reconnect: bool = False,
    ) -> None:
        """Connect, then release the pipette pressure (the safe state, and a known set-point)."""
        await super().connect(mock=mock, timeout=timeout, force_reconnect=force_reconnect)
        if not mock:
            await self._port.call(self._driver.safe)

    @AsyncStatus.wrap
    async def set(self, value: float) -> None:
        low, high = self._driver.limits_kPa
        if not low <= float(value) <= high:
            raise ValueError(f"pressure_kPa must be in {low:g}..{high:g} kPa, got {value!r}")
        await self._port.call(self._driver.set_pressure_kPa, float(value))

    @AsyncStatus.wrap
    async def make_safe(self) -> None:
        """Back to the safe pressure (atmospheric unless configured otherwise)."""
        await self._port.call(self._driver.safe)


class TemperatureController(StandardReadable):
    """Bath temperature (°C) from the controller's monitor output; the set-point stays on the
    controller's front panel."""

    def __init__(
        self, driver: TemperatureDriver, *, port: BlockingPort | None = None, name: str = ""
    ) -> None:
        self._driver = driver
        self._port = port or BlockingPort(name or "temperature")
        with self.add_children_as_readables(StandardReadableFormat.HINTED_UNCACHED_SIGNAL):
            self.temperature_C, _ = soft_signal_r_and_setter(
                float, 0.0, units="degC", getter=self._read
            )
        super().__init__(name=name)

    async def _read(self) -> float:
        return float(await self._port.call(lambda: self._driver.temperature_C))

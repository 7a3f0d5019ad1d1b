"""Filter wheel with a shutter: the excitation switcher of a 340/380 rig."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from bluesky.protocols import Movable
from ophyd_async.core import (
    DEFAULT_TIMEOUT,
    AsyncStatus,
    DeviceMock,
    StandardReadable,
    StandardReadableFormat,
    StrictEnum,
    soft_signal_r_and_setter,
    soft_signal_rw,
)

from ._port import BlockingPort

__all__ = ["FilterSlot", "FilterWheel", "FilterWheelDriver", "Shutter", "ShutterState"]


class FilterWheelDriver(Protocol):
    """What a wheel driver offers (real: Sutter Lambda 10-3, Thorlabs FW102C; or simulated)."""

    has_shutter: bool
    n_positions: int

    @property
    def position(self) -> int: ...

    def move(self, position: int) -> None: ...

    def open_shutter(self) -> None: ...

    def close_shutter(self) -> None: ...


@dataclass(frozen=True)
class FilterSlot:
    """A named filter: its wheel position and its centre wavelength (nm)."""

    position: int
    wavelength_nm: float


class ShutterState(StrictEnum):
    OPEN = "open"
    CLOSED = "closed"


class Shutter(StandardReadable, Movable[ShutterState | str]):
    """The excitation shutter. ``set("open")`` / ``set("closed")``; closed is the safe state."""

    def __init__(self, driver: FilterWheelDriver, port: BlockingPort, name: str = "") -> None:
        self._driver = driver
        self._port = port
        with self.add_children_as_readables(StandardReadableFormat.HINTED_SIGNAL):
            self.state, self._set_state = soft_signal_r_and_setter(
                ShutterState, ShutterState.CLOSED
            )
        super().__init__(name=name)

    @AsyncStatus.wrap
    async def set(self, value: ShutterState | str) -> None:
        try:
            state = ShutterState(value)
        except ValueError:
            allowed = ", ".join(s.value for s in ShutterState)
            raise ValueError(f"shutter state must be one of {allowed}, got {value!r}") from None
        if state is ShutterState.OPEN:
            await self._port.call(self._driver.open_shutter)
        else:
            await self._port.call(self._driver.close_shutter)
        self._set_state(state)

    async def close(self) -> None:
        """Close the shutter (safe state); used at connect and in cleanup."""
        await self.set(ShutterState.CLOSED)


class FilterWheel(StandardReadable, Movable[str | float]):
    """Movable over named filters: ``set("340")`` or ``set(340)`` (nm) selects a filter.

    ``filters`` maps names to :class:`FilterSlot`. Readbacks ``filter`` (name) and
    ``wavelength_nm`` go into every event; the filter table into the configuration.
    :attr:`reached_wavelength_nm` is the filter in the light path for the camera's frames
    (see :class:`~ionrig.devices.FrameExcitation`).
    """

    def __init__(
        self,
        driver: FilterWheelDriver,
        filters: Mapping[str, FilterSlot],
        *,
        port: BlockingPort | None = None,
        name: str = "",
    ) -> None:
        if not filters:
            raise ValueError("filters must name at least one filter")
        self._driver = driver
        self._filters = dict(filters)
        self._port = port or BlockingPort(name or "filter_wheel")
        first_name = next(iter(self._filters))
        with self.add_children_as_readables(StandardReadableFormat.HINTED_SIGNAL):
            self.filter, self._set_filter = soft_signal_r_and_setter(str, first_name)
            self.wavelength_nm, self._set_wavelength = soft_signal_r_and_setter(
                float, self._filters[first_name].wavelength_nm, units="nm"
            )
        with self.add_children_as_readables(StandardReadableFormat.CONFIG_SIGNAL):
            self.filter_table = soft_signal_rw(
                str,
                json.dumps(
                    {
                        k: {"position": v.position, "wavelength_nm": v.wavelength_nm}
                        for k, v in self._filters.items()
                    }
                ),
            )
        self.shutter = Shutter(driver, self._port)
        self._reached_nm = float("nan")
        super().__init__(name=name)

    @property
    def reached_wavelength_nm(self) -> float:
        """Wavelength (nm) of the filter the wheel last reached, as its driver confirmed the
        move (or reported the position at connect); NaN while it moves, after a failed move
        and until a position is known. A plain value, read from any thread: the camera asks
        for it from its worker thread as each frame is taken."""
        return self._reached_nm

    @property
    def filters(self) -> dict[str, FilterSlot]:
        return dict(self._filters)

    def resolve(self, value: str | float) -> str:
        """Filter name for a name or a wavelength in nm; ``ValueError`` naming the choices."""
        if isinstance(value, str) and value in self._filters:
            return value
        try:
            wavelength = float(str(value).removesuffix("nm"))
        except ValueError:
            wavelength = None
        if wavelength is not None:
            for filter_name, slot in self._filters.items():
                if abs(slot.wavelength_nm - wavelength) < 0.5:
                    return filter_name
        allowed = ", ".join(f"{k} ({v.wavelength_nm:g} nm)" for k, v in self._filters.items())
        raise ValueError(f"filter must be one of {allowed}; got {value!r}")

    @AsyncStatus.wrap
    async def set(self, value: str | float) -> None:
        filter_name = self.resolve(value)
        slot = self._filters[filter_name]
        self._reached_nm = float("nan")  # on its way: no filter in the light path for certain
        await self._port.call(self._driver.move, slot.position)
        self._set_filter(filter_name)
        self._set_wavelength(slot.wavelength_nm)
        self._reached_nm = slot.wavelength_nm

    async def connect(
        self,
        mock: bool | DeviceMock = False,
        timeout: float = DEFAULT_TIMEOUT,
        force_reconnect: bool = False,
    ) -> None:
        """Connect, then put the hardware in its safe state: shutter closed, readbacks true."""
        await super().connect(mock=mock, timeout=timeout, force_reconnect=force_reconnect)
        if mock:
            return
        await self.shutter.close()
        position = await self._port.call(lambda: self._driver.position)
        for filter_name, slot in self._filters.items():
            if slot.position == position:
                self._set_filter(filter_name)
                self._set_wavelength(slot.wavelength_nm)
                self._reached_nm = slot.wavelength_nm
                break

"""Hardware-timed 340/380 alternation: the DG-4's ring buffer as an ophyd-async flyable.

The switcher is loaded with a sequence of filters and then advances one entry per TTL pulse
from the camera's "exposing" output (docs/reference/instruments.md §1.2), so the alternation runs at
the camera's frame rate with no software in the loop. Prepare the camera for ``n_frames``
internally timed frames, prepare this flyable with the same sequence, kick off both, complete
both. While the ring buffer runs, :meth:`ExcitationSequencer.frame_excitation_nm` says which
loaded entry the switcher stepped to for each of the camera's frames; the camera records it
beside the frame (:class:`~ionrig.devices.FrameExcitation`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

from ophyd_async.core import (
    FlyableLogic,
    StandardFlyable,
    StandardReadable,
    StandardReadableFormat,
    soft_signal_r_and_setter,
)

from ._filter_wheel import FilterSlot
from ._port import BlockingPort

__all__ = ["ExcitationSequence", "ExcitationSequencer", "RingBufferDriver"]


class RingBufferDriver(Protocol):
    """A switcher that steps through a loaded sequence on trigger pulses (Sutter DG-4)."""

    def load_ring_buffer(self, positions: Sequence[int]) -> None: ...

    def start_ring_buffer(self) -> None: ...

    def stop_ring_buffer(self) -> None: ...


@dataclass(frozen=True)
class ExcitationSequence:
    """Filters in the order the camera's frames will see them, repeated for ``n_frames``."""

    filters: tuple[str, ...]
    n_frames: int


@dataclass
class _RingBufferLogic(FlyableLogic[ExcitationSequence, ExcitationSequence]):
    sequencer: ExcitationSequencer

    async def on_prepare(self, value: ExcitationSequence) -> ExcitationSequence:
        positions = self.sequencer.positions_of(value)
        self.sequencer._loaded_nm = ()  # until the switcher has the new sequence
        await self.sequencer._port.call(self.sequencer._driver.load_ring_buffer, positions)
        self.sequencer._loaded_nm = self.sequencer.wavelengths_at(positions)
        self.sequencer._set_sequence(",".join(value.filters))
        return value

    async def on_kickoff(self, ctx: ExcitationSequence) -> ExcitationSequence:
        await self.sequencer._port.call(self.sequencer._driver.start_ring_buffer)
        self.sequencer._running_nm = self.sequencer._loaded_nm
        self.sequencer._set_running(True)
        return ctx

    async def on_complete(self, ctx: ExcitationSequence) -> None:
        # Paced by the camera: done when the camera's frames are done; then leave ring mode.
        await self.stop()

    async def stop(self) -> None:
        if await self.sequencer.running.get_value():
            await self.sequencer._port.call(self.sequencer._driver.stop_ring_buffer)
            self.sequencer._running_nm = ()
            self.sequencer._set_running(False)


class ExcitationSequencer(
    StandardReadable, StandardFlyable[ExcitationSequence, ExcitationSequence]
):
    """Hardware-timed filter sequence on a ring-buffer switcher (see the module docstring)."""

    def __init__(
        self,
        driver: RingBufferDriver,
        filters: Mapping[str, FilterSlot],
        *,
        port: BlockingPort | None = None,
        name: str = "",
    ) -> None:
        self._driver = driver
        self._filters = dict(filters)
        self._port = port or BlockingPort(name or "sequencer")
        with self.add_children_as_readables(StandardReadableFormat.CONFIG_SIGNAL):
            self.sequence, self._set_sequence = soft_signal_r_and_setter(str, "")
        self.running, self._set_running = soft_signal_r_and_setter(bool, False)
        # wavelengths (nm) of the ring buffer's entries: as loaded, and while it runs
        self._loaded_nm: tuple[float, ...] = ()
        self._running_nm: tuple[float, ...] = ()
        super().__init__(name=name)

    @cached_property
    def flyable_logic(self) -> _RingBufferLogic:
        return _RingBufferLogic(self)

    def positions_of(self, sequence: ExcitationSequence) -> list[int]:
        """Ring-buffer positions of a sequence; unknown filters refused with the choices."""
        if not sequence.filters:
            raise ValueError("an excitation sequence needs at least one filter")
        if sequence.n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, got {sequence.n_frames!r}")
        unknown = [f for f in sequence.filters if f not in self._filters]
        if unknown:
            raise ValueError(f"filters {unknown} unknown; choose from {', '.join(self._filters)}")
        return [self._filters[f].position for f in sequence.filters]

    def wavelengths_at(self, positions: Sequence[int]) -> tuple[float, ...]:
        """Wavelengths (nm) of the filters at switcher ``positions`` (from the filter table)."""
        by_position = {slot.position: slot.wavelength_nm for slot in self._filters.values()}
        return tuple(by_position[p] for p in positions)

    def frame_excitation_nm(self, frame_index: int) -> float | None:
        """Wavelength (nm) the running ring buffer gave frame ``frame_index`` of the camera's
        burst (0 = the first frame after kickoff): the switcher steps to its next entry on
        each exposure pulse, from the first entry loaded, so frame ``i`` is lit through entry
        ``i`` modulo the entries loaded into it. ``None`` when the ring buffer is not running
        (the wheel's own position holds then). A plain value, read from any thread."""
        entries = self._running_nm
        if not entries:
            return None
        return entries[frame_index % len(entries)]

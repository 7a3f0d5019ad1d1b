"""Which excitation each camera frame gets: decided here, once, and recorded with the frame.

The camera asks its :class:`ExcitationSource` once per frame, just before taking it, and
writes the answer beside the frame (data key ``camera-excitation_nm``, docs/data-model.md). On a
rig that source is :class:`FrameExcitation`, the same in step and in fly mode:

- while a ring-buffer sequencer runs (fly mode, a Sutter DG-4), frame ``i`` of the camera's
  burst is lit through the entry the switcher stepped to on that frame's exposure pulse: the
  ``i``-th entry (cyclically) of what was loaded into it
  (:meth:`~ionrig.devices.ExcitationSequencer.frame_excitation_nm`);
- otherwise (step mode, dye loading, …) through the filter the wheel last reached, as its driver
  confirmed the move (:attr:`~ionrig.devices.FilterWheel.reached_wavelength_nm`; NaN while it
  moves).
"""

from __future__ import annotations

from typing import Protocol

from ._filter_wheel import FilterWheel
from ._sequencer import ExcitationSequencer

__all__ = ["ExcitationSource", "FrameExcitation"]


class ExcitationSource(Protocol):
    """What a camera asks, once per frame, for the excitation of the frame it is taking."""

    def frame_excitation_nm(self, frame_index: int) -> float:
        """Excitation wavelength (nm) of the camera's frame ``frame_index`` (counted from 0
        since the camera was last prepared), asked just before the frame is taken and from
        the camera's worker thread; NaN when not known."""


class FrameExcitation:
    """A rig's excitation source: its sequencer while one runs, else its filter wheel (see the
    module docstring)."""

    def __init__(self, wheel: FilterWheel, sequencer: ExcitationSequencer | None = None) -> None:
        self.wheel = wheel
        self.sequencer = sequencer

    def frame_excitation_nm(self, frame_index: int) -> float:
        """Excitation wavelength (nm) of frame ``frame_index`` of the camera (NaN: unknown)."""
        if self.sequencer is not None:
            sequenced_nm = self.sequencer.frame_excitation_nm(frame_index)
            if sequenced_nm is not None:
                return sequenced_nm
        return self.wheel.reached_wavelength_nm

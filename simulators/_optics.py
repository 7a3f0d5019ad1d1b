"""Simulated excitation switcher and camera acting directly on a :class:`World`.

These are the first-light instruments: plain blocking Python objects with the same interface as
the real drivers (``move``/``position``/shutter for the wheel, ``snap`` for the camera). Their
physical delays come from the world's clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from ._world import World

__all__ = [
    "CAMERA_FAULT_KINDS",
    "CameraDisconnected",
    "CameraError",
    "CameraFault",
    "CameraTimeout",
    "FrameDropped",
    "SimulatedCamera",
    "SimulatedFilterWheel",
]


class SimulatedFilterWheel:
    """A 10-position filter wheel with a shutter, e.g. a Sutter Lambda 10-3 with wheel A.

    ``wavelength_by_position`` maps wheel positions to excitation wavelengths (nm); moving sets
    the world's excitation. Move time is ``switch_ms`` per position step (Lambda 10-3 at speed 1:
    ~40 ms between adjacent filters, docs/reference/instruments.md §1.1 timing).
    """

    has_shutter = True
    n_positions = 10

    def __init__(
        self,
        world: World,
        wavelength_by_position: Mapping[int, int],
        *,
        switch_ms: float = 40.0,
    ) -> None:
        self._world = world
        self._wavelengths = dict(wavelength_by_position)
        self._switch_ms = switch_ms
        self._position = min(self._wavelengths) if self._wavelengths else 0
        self._lock = threading.Lock()
        self._world.excitation_nm = self._wavelengths.get(self._position)

    @property
    def position(self) -> int:
        return self._position

    def move(self, position: int) -> None:
        """Move to ``position`` (0–9) and return once the wheel has arrived."""
        if not (isinstance(position, int) and 0 <= position < self.n_positions):
            raise ValueError(f"position must be an integer in 0..{self.n_positions - 1}")
        with self._lock:
            steps = abs(position - self._position)
            steps = min(steps, self.n_positions - steps)  # the wheel takes the short way round
            self._world.excitation_nm = None  # no defined excitation while moving
            self._world.clock.sleep_s(steps * self._switch_ms / 1000.0)
            self._position = position
            self._world.excitation_nm = self._wavelengths.get(position)

    def open_shutter(self) -> None:
        self._world.shutter_open = True

    def close_shutter(self) -> None:
        self._world.shutter_open = False

    @property
    def shutter_open(self) -> bool:
        return self._world.shutter_open


#: What a :class:`CameraFault` can do to a frame.
CAMERA_FAULT_KINDS = ("error", "timeout", "dropped", "garbage", "partial", "disconnect")


@dataclass
class CameraFault:
    """Make the simulated camera fail after ``after_frames`` good frames.

    ``kind``: ``"error"`` (the camera reports an error), ``"timeout"`` (no frame arrives within
    ``timeout_s`` real seconds), ``"dropped"`` (the frame is lost), ``"garbage"`` (bytes that
    are no image arrive instead of the frame), ``"partial"`` (only the first half of the
    frame's rows arrives), ``"disconnect"`` (the camera's link is gone: :class:`
    CameraDisconnected`). ``count`` frames (snap attempts) are affected (``None``: every one
    from then on, a persistent fault).
    """

    after_frames: int
    kind: str = "error"
    count: int | None = None
    timeout_s: float = 0.2
    message: str = "camera stopped delivering frames (simulated fault)"

    def __post_init__(self) -> None:
        if self.kind not in CAMERA_FAULT_KINDS:
            raise ValueError(
                f"kind must be one of {', '.join(CAMERA_FAULT_KINDS)}; got {self.kind!r}"
            )


class CameraError(RuntimeError):
    """The (simulated) camera failed to deliver a frame."""


class CameraTimeout(CameraError, TimeoutError):
    """No frame arrived within the camera's timeout."""


class FrameDropped(CameraError):
    """A frame was lost between the sensor and the host."""


class CameraDisconnected(CameraError, ConnectionError):
    """The camera's link to the host is gone (cable, power, bus reset)."""


class SimulatedCamera:
    """A camera exposing the world's current optical state."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._frames_taken = 0
        self._trigger_in = threading.Semaphore(0)
        #: Callables ``(what, value)`` told ``("exposing", frame index)`` as each exposure
        #: starts (the camera's "exposing"/"fire" TTL output: it pulses a DG-4 ring buffer)
        #: and ``("exposure_end", frame index)`` as it ends, before the readout.
        self.observers: list = []
        self._fault: CameraFault | None = None
        self._free_running = False
        self._next_start_s: float | None = None
        #: Clock time at which the latest frame's exposure started (s).
        self.last_exposure_start_s = float("nan")

    @property
    def width_px(self) -> int:
        """Frame width: the sensor's read-out window divided by the binning."""
        return self._world.sensor.frame_width_px

    @property
    def height_px(self) -> int:
        return self._world.sensor.frame_height_px

    @property
    def bit_depth(self) -> int:
        return self._world.sensor.bit_depth

    @property
    def readout_ms(self) -> float:
        return self._world.sensor.readout_ms

    @property
    def frames_taken(self) -> int:
        return self._frames_taken

    def start_sequence(self) -> None:
        """Free-running sequence (a burst of back-to-back frames): from the next frame on,
        each frame starts on the camera's own clock as the previous readout ends, when the
        next ``snap`` asks for it less than one frame late (a real camera buffers the frames
        meanwhile); later than that, the sequence starts again."""
        self._free_running = True
        self._next_start_s = None

    def stop_sequence(self) -> None:
        """Back to single frames: each starts when ``snap`` is called."""
        self._free_running = False
        self._next_start_s = None

    def inject(self, fault: CameraFault | None) -> None:
        """Install (or clear, with ``None``) a fault."""
        self._fault = fault

    @property
    def fault(self) -> CameraFault | None:
        """The installed fault: ``None`` when none is, or once a transient one (``count``
        frames) is used up; a transient one shows the frames it has left as its ``count``."""
        return self._fault

    def fire(self) -> None:
        """A rising edge on the camera's external trigger input (TTL in)."""
        self._trigger_in.release()

    def snap_on_trigger(self, exposure_ms: float, *, timeout_s: float) -> NDArray[np.uint16]:
        """External-trigger mode: wait (real seconds) for a trigger edge, then expose."""
        if not self._trigger_in.acquire(timeout=timeout_s):
            raise CameraTimeout(f"no external trigger within {timeout_s:g} s")
        return self.snap(exposure_ms)

    def snap(self, exposure_ms: float) -> NDArray[np.uint16]:
        """Expose for ``exposure_ms``, read out, and return the frame (ADU)."""
        fault = self._fault
        due = fault is not None and self._frames_taken >= fault.after_frames
        if due and fault.count is not None:  # a transient fault: count it down
            self._fault = replace(fault, count=fault.count - 1) if fault.count > 1 else None
            if fault.count <= 0:
                fault = None
        if fault is not None and self._frames_taken >= fault.after_frames:
            if fault.kind == "timeout":
                time.sleep(fault.timeout_s)  # real seconds: a hung camera is a real wait
                raise CameraTimeout(f"no frame within {fault.timeout_s:g} s (simulated fault)")
            if fault.kind == "disconnect":
                raise CameraDisconnected("camera link lost (simulated fault)")
            if fault.kind == "error":
                raise CameraError(fault.message)
            self._world.clock.sleep_s((exposure_ms + self._world.sensor.readout_ms) / 1000.0)
            if fault.kind == "dropped":
                raise FrameDropped("frame lost in transfer (simulated fault)")
            if fault.kind == "garbage":  # line noise: bytes that are no image
                return np.frombuffer(bytes(range(256)) * 3, dtype=np.uint8).copy()
            frame = self._world.render_frame(exposure_ms)  # "partial": the first rows only
            return frame[: frame.shape[0] // 2].copy()
        clock = self._world.clock
        exposure_s = exposure_ms / 1000.0
        frame_s = exposure_s + self._world.sensor.readout_ms / 1000.0
        started_s = clock.now_s()
        chained = self._next_start_s
        if chained is not None and 0.0 <= started_s - chained < frame_s:
            started_s = chained  # free-running: this frame began as the last readout ended
        for observer in self.observers:
            observer("exposing", self._frames_taken)
        # the simulator renders while the exposure runs (its cost is no dead time of the
        # camera's), then the light is no longer needed: "exposure_end", and the readout
        frame = self._world.render_frame(exposure_ms)
        clock.sleep_s(started_s + exposure_s - clock.now_s())
        for observer in self.observers:
            observer("exposure_end", self._frames_taken)
        clock.sleep_s(started_s + frame_s - clock.now_s())
        self.last_exposure_start_s = started_s
        self._next_start_s = started_s + frame_s if self._free_running else None
        self._frames_taken += 1
        return frame

"""Simulated rig: pure physics and protocol-accurate fake instruments (no bluesky, no ophyd)."""

from ._clock import Clock, ScaledClock, WallClock
from ._dye import MagFura2
from ._optics import CameraError, CameraFault, SimulatedCamera, SimulatedFilterWheel
from ._world import CameraSensor, Cell, World, default_cells

__all__ = [
    "CameraError",
    "CameraFault",
    "CameraSensor",
    "Cell",
    "Clock",
    "MagFura2",
    "ScaledClock",
    "SimulatedCamera",
    "SimulatedFilterWheel",
    "WallClock",
    "World",
    "default_cells",
]

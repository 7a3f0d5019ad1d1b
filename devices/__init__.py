"""ophyd-async devices of a rig (drivers live in ``ionrig.devices.drivers``)."""

from ._camera import Camera, CameraDriver
from ._filter_wheel import FilterSlot, FilterWheel, FilterWheelDriver, Shutter, ShutterState
from ._perfusion import (
    FlowSource,
    GravityFlow,
    Perfusion,
    SolutionLine,
    SyringePumpFlow,
    ValveDriver,
)
from ._port import BlockingPort
from ._readouts import ComputedReadout
from ._rig import ROLES, ClockReadable, Rig
from ._soft_roles import SoftAmplifier, SoftPerfusion

__all__ = [
    "FlowSource",
    "GravityFlow",
    "Perfusion",
    "SolutionLine",
    "SyringePumpFlow",
    "ValveDriver",
    "ROLES",
    "BlockingPort",
    "Camera",
    "CameraDriver",
    "ClockReadable",
    "ComputedReadout",
    "FilterSlot",
    "FilterWheel",
    "FilterWheelDriver",
    "Rig",
    "Shutter",
    "ShutterState",
    "SoftAmplifier",
    "SoftPerfusion",
]

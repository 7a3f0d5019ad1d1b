"""ophyd-async devices of a rig (drivers live in ``ionrig.devices.drivers``)."""

from ._amplifier import AmplifierDriver, PatchAmplifier, step_protocol
from ._analog import PressureController, PressureDriver, TemperatureController, TemperatureDriver
from ._camera import AfterExposure, BadFrame, Camera, CameraDriver, transient_frame_error
from ._excitation import ExcitationSource, FrameExcitation
from ._filter_wheel import FilterSlot, FilterWheel, FilterWheelDriver, Shutter, ShutterState
from ._perfusion import (
    AnalogPumpFlow,
    FlowSource,
    GravityFlow,
    Perfusion,
    SolutionLine,
    SyringePumpFlow,
    ValveDriver,
)
from ._port import BlockingPort, RetryPolicy, transient_io_error
from ._readouts import ComputedReadout
from ._recording import RecordField, RecordFile
from ._rig import ROLES, ClockReadable, Rig
from ._sequencer import ExcitationSequence, ExcitationSequencer, RingBufferDriver
from ._soft_roles import SoftAmplifier, SoftPerfusion

__all__ = [
    "ROLES",
    "AfterExposure",
    "AmplifierDriver",
    "AnalogPumpFlow",
    "BadFrame",
    "BlockingPort",
    "Camera",
    "CameraDriver",
    "ClockReadable",
    "ComputedReadout",
    "ExcitationSequence",
    "ExcitationSequencer",
    "ExcitationSource",
    "FilterSlot",
    "FilterWheel",
    "FilterWheelDriver",
    "FlowSource",
    "FrameExcitation",
    "GravityFlow",
    "PatchAmplifier",
    "Perfusion",
    "PressureController",
    "PressureDriver",
    "RecordField",
    "RecordFile",
    "RetryPolicy",
    "Rig",
    "RingBufferDriver",
    "Shutter",
    "ShutterState",
    "SoftAmplifier",
    "SoftPerfusion",
    "SolutionLine",
    "SyringePumpFlow",
    "TemperatureController",
    "TemperatureDriver",
    "ValveDriver",
    "step_protocol",
    "transient_frame_error",
    "transient_io_error",
]

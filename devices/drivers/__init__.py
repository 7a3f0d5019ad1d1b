"""Blocking instrument drivers (plain Python: pyserial, pyvisa, pymeasure; no bluesky).

Every driver takes a ``port``: a pyserial port or URL (``/dev/ttyUSB0``, ``COM3``,
``socket://127.0.0.1:5555``, ``ionrig-sim://lambda10-3``), a VISA resource name
(``ASRL/dev/ttyUSB0::INSTR``), a ``serial.SerialBase`` instance or a pymeasure adapter. Errors
are typed (:mod:`._errors`); protocols are described in ``docs/reference/instruments.md``.
"""

from ._axopatch import (
    AXOPATCH_200B_FILTER_TELEGRAPH,
    AXOPATCH_200B_GAIN_TELEGRAPH,
    AXOPATCH_200B_MODE_TELEGRAPH,
    BETA_SETTINGS,
    COMMAND_SENSITIVITIES_MV_PER_V,
    SWEEP_RATE_RANGE_HZ,
    AmplifierModeError,
    Axopatch200B,
    AxopatchChannels,
    AxopatchMode,
    AxopatchSweepInfo,
    AxopatchTelegraphs,
)
from ._daq import (
    Daq,
    DaqBackend,
    DaqCommandError,
    DaqDeviceLost,
    DaqRangeError,
    DaqReadingError,
    DaqTimeout,
    as_daq,
    channel_kind,
)
from ._errors import (
    CommandIgnoredError,
    CommandNotApplicableError,
    FeatureNotFitted,
    InstrumentAlarm,
    InstrumentCommandError,
    InstrumentDisconnected,
    InstrumentError,
    InstrumentReplyError,
    InstrumentSafetyError,
    InstrumentTimeout,
    InvalidArgumentError,
    InvalidPacketError,
    UnknownCommandError,
)
from ._filter_wheel import FilterWheel
from ._lambda_10_3 import LambdaStatus, SutterLambda10_3
from ._lambda_dg4 import SutterLambdaDG4
from ._micromanager import (
    MicroManagerCamera,
    MicroManagerError,
    MicroManagerImageError,
    silence_missing_micromanager_error,
    simulated_core,
)
from ._newera import NewEraPump, PumpAlarm, PumpDispensed, PumpStatus, format_ne_number
from ._nidaqmx import NidaqmxDaq
from ._pressure import PressureRegulator
from ._temperature import WARNER_TC_MONITOR_C_PER_V, TemperatureMonitor
from ._thorlabs import ThorlabsFW102C
from ._transport import READ_POLL_S, SerialInstrument, is_visa_resource, open_adapter
from ._valves import TtlValveController

__all__ = [
    "AXOPATCH_200B_FILTER_TELEGRAPH",
    "AXOPATCH_200B_GAIN_TELEGRAPH",
    "AXOPATCH_200B_MODE_TELEGRAPH",
    "BETA_SETTINGS",
    "COMMAND_SENSITIVITIES_MV_PER_V",
    "READ_POLL_S",
    "SWEEP_RATE_RANGE_HZ",
    "WARNER_TC_MONITOR_C_PER_V",
    "AmplifierModeError",
    "Axopatch200B",
    "AxopatchChannels",
    "AxopatchMode",
    "AxopatchSweepInfo",
    "AxopatchTelegraphs",
    "CommandIgnoredError",
    "CommandNotApplicableError",
    "Daq",
    "DaqBackend",
    "DaqCommandError",
    "DaqDeviceLost",
    "DaqRangeError",
    "DaqReadingError",
    "DaqTimeout",
    "FeatureNotFitted",
    "FilterWheel",
    "InstrumentAlarm",
    "InstrumentCommandError",
    "InstrumentDisconnected",
    "InstrumentError",
    "InstrumentReplyError",
    "InstrumentSafetyError",
    "InstrumentTimeout",
    "InvalidArgumentError",
    "InvalidPacketError",
    "LambdaStatus",
    "MicroManagerCamera",
    "MicroManagerError",
    "MicroManagerImageError",
    "NewEraPump",
    "NidaqmxDaq",
    "PressureRegulator",
    "PumpAlarm",
    "PumpDispensed",
    "PumpStatus",
    "SerialInstrument",
    "SutterLambda10_3",
    "SutterLambdaDG4",
    "TemperatureMonitor",
    "ThorlabsFW102C",
    "TtlValveController",
    "UnknownCommandError",
    "as_daq",
    "channel_kind",
    "format_ne_number",
    "is_visa_resource",
    "open_adapter",
    "silence_missing_micromanager_error",
    "simulated_core",
]

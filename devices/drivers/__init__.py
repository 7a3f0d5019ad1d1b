"""Blocking instrument drivers (plain Python: pyserial, pyvisa, pymeasure; no bluesky).

Every driver takes a ``port``: a pyserial port or URL (``/dev/ttyUSB0``, ``COM3``,
``socket://127.0.0.1:5555``, ``ionrig-sim://lambda10-3``), a VISA resource name
(``ASRL/dev/ttyUSB0::INSTR``), a ``serial.SerialBase`` instance or a pymeasure adapter. Errors
are typed (:mod:`._errors`); protocols are described in ``instrument-protocols.md``.
"""

from ._errors import (
    CommandIgnoredError,
    CommandNotApplicableError,
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
from ._newera import NewEraPump, PumpAlarm, PumpDispensed, PumpStatus
from ._sutter import LambdaStatus, SutterLambda10_3, SutterLambdaDG4
from ._thorlabs import ThorlabsFW102C
from ._transport import SerialInstrument, is_visa_resource, open_adapter

__all__ = [
    "CommandIgnoredError",
    "CommandNotApplicableError",
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
    "NewEraPump",
    "PumpAlarm",
    "PumpDispensed",
    "PumpStatus",
    "SerialInstrument",
    "SutterLambda10_3",
    "SutterLambdaDG4",
    "ThorlabsFW102C",
    "UnknownCommandError",
    "is_visa_resource",
    "open_adapter",
]

"""New Era NE-500 / NE-1000 family syringe pump (also WPI Aladdin AL-1000), basic mode.

Protocol of docs/reference/instruments.md §2.1: 8N1 (19200 factory on the NE-500, 9600 common),
command ``<addr><CMD><args>\\r``, reply ``STX <addr 2 digits> <status> [data] ETX``. A set
command gets a status-only reply, a query carries data. Error replies (``?``, ``?NA``, ``?OOR``,
``?COM``, ``?IGN``) become typed :class:`InstrumentCommandError` subclasses naming the command
and value; alarms (``A?<type>``) become :class:`InstrumentAlarm`, except the power-on reset
``A?R``, which is recorded in ``last_alarm`` and the command repeated once (an alarm is cleared
by reporting it, §2.1).

Safe default: :meth:`NewEraPump.run` refuses (:class:`InstrumentSafetyError`, nothing sent)
unless a volume target was set through this driver and the pump still reports it, so the pump
never runs open-ended.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal, NamedTuple

from pymeasure.instruments import Instrument
from pymeasure.instruments.validators import strict_discrete_set

from ._errors import (
    CommandIgnoredError,
    CommandNotApplicableError,
    InstrumentAlarm,
    InstrumentCommandError,
    InstrumentReplyError,
    InstrumentSafetyError,
    InvalidArgumentError,
    InvalidPacketError,
    UnknownCommandError,
)
from ._transport import Port, SerialInstrument

__all__ = ["NewEraPump", "PumpAlarm", "PumpDispensed", "PumpStatus", "format_ne_number"]

STX, ETX = 0x02, 0x03  # §2.1 basic-mode reply framing


class PumpStatus(StrEnum):
    """Status character of every reply (§2.1)."""

    INFUSING = "I"
    WITHDRAWING = "W"
    STOPPED = "S"
    PAUSED = "P"
    TIMED_PAUSE = "T"
    USER_WAIT = "U"
    PURGING = "X"


class PumpAlarm(StrEnum):
    """Alarm type after ``A?`` (§2.1)."""

    RESET = "R"
    STALLED = "S"
    SAFE_MODE_TIMEOUT = "T"
    PROGRAM_ERROR = "E"
    PHASE_OUT_OF_RANGE = "O"


class PumpDispensed(NamedTuple):
    """Volumes dispensed since the last clear (``DIS``, §2.1), in µL."""

    infused_uL: float
    withdrawn_uL: float


# Error token after the status -> exception class (§2.1 "Command errors follow the status").
_ERRORS: dict[str, tuple[type[InstrumentCommandError], str]] = {
    "?": (UnknownCommandError, "command not recognised"),
    "?NA": (CommandNotApplicableError, "command not applicable now"),
    "?OOR": (InvalidArgumentError, "value out of range"),
    "?COM": (InvalidPacketError, "invalid packet"),
    "?IGN": (CommandIgnoredError, "command ignored"),
}
_FLOAT = r"\d+\.?\d*|\.\d+"
# Formats of query replies (§2.1 core commands; nesp-lib regexes).
_QUERY_FORMATS = {
    "DIA": re.compile(rf"(?P<value>{_FLOAT})"),
    "RAT": re.compile(rf"(?P<value>{_FLOAT})(?P<units>UM|MM|UH|MH)"),
    "VOL": re.compile(rf"(?P<value>{_FLOAT})(?P<units>UL|ML)"),
    "DIR": re.compile(r"INF|WDR"),
    "DIS": re.compile(rf"I(?P<inf>{_FLOAT})W(?P<wdr>{_FLOAT})(?P<units>UL|ML)"),
    "VER": re.compile(r"NE\d+(X\d*)?V\d+\.\d+"),
}
_RATE_TO_UL_PER_MIN = {"UM": 1.0, "MM": 1000.0, "UH": 1 / 60, "MH": 1000 / 60}  # §2.1 RAT units
_VOLUME_TO_UL = {"UL": 1.0, "ML": 1000.0}  # §2.1 VOL units
_COMMAND = re.compile(r"(?P<mnemonic>\*[A-Z]+|[A-Z]{0,3})(?P<args>.*)")


def format_ne_number(value: float) -> str:
    """Format ``value`` as the pump's float: at most 4 digits plus the point, at most 3 decimals
    (§2.1 ``DIA``; the same rule holds for every float argument). Raises ``ValueError`` when the
    value cannot be written that way (> 9999 or < 0.001)."""
    if not (0.001 <= value <= 9999):
        raise ValueError(f"{value!r} cannot be sent as a 4-digit pump number (0.001-9999)")
    integer_digits = len(str(int(value))) if value >= 1 else 1
    decimals = min(3, 4 - integer_digits)
    text = f"{value:.{decimals}f}"
    if len(text.replace(".", "")) > 4:  # rounding carried into a new digit (e.g. 9.9996)
        text = f"{value:.{max(decimals - 1, 0)}f}"
    if float(text) == 0:
        raise ValueError(f"{value!r} rounds to 0 as a 4-digit pump number")
    return text


def _rate_argument(rate_uL_per_min: float) -> str:
    """Choose the RAT units that represent ``rate_uL_per_min`` most precisely (§2.1)."""
    if not rate_uL_per_min > 0:
        raise ValueError(f"rate_uL_per_min must be > 0, got {rate_uL_per_min!r}")
    best: tuple[float, str] | None = None
    for units, factor in _RATE_TO_UL_PER_MIN.items():
        try:
            text = format_ne_number(rate_uL_per_min / factor)
        except ValueError:
            continue
        error = abs(float(text) * factor - rate_uL_per_min) / rate_uL_per_min
        if best is None or error < best[0] - 1e-12:
            best = (error, f"{text}{units}")
    if best is None:
        raise ValueError(f"rate_uL_per_min {rate_uL_per_min!r} is outside what RAT can express")
    return best[1]


def _volume_argument(volume_uL: float) -> tuple[str, str]:
    """(units, number) for ``VOL``: µL up to 9999 µL, mL above (§2.1)."""
    if not volume_uL > 0:
        raise ValueError(
            f"volume_uL must be > 0 (a target of 0 lets the pump run without end): {volume_uL!r}"
        )
    for units in ("UL", "ML"):
        try:
            return units, format_ne_number(volume_uL / _VOLUME_TO_UL[units])
        except ValueError:
            continue
    raise ValueError(f"volume_uL {volume_uL!r} is outside what VOL can express")


def _diameter_argument(diameter_mm: float) -> str:
    return format_ne_number(diameter_mm)


class NewEraPump(SerialInstrument):
    """New Era NE-500/NE-1000 syringe pump on a serial port, basic mode (§2.1).

    Public API: ``diameter_mm``, ``rate_uL_per_min``, ``volume_target_uL``, ``direction``
    ("infuse"/"withdraw"), ``run()``, ``stop()``, ``dispensed`` (:class:`PumpDispensed`),
    ``clear_dispensed(direction)``, ``status`` (:class:`PumpStatus`), ``is_running``,
    ``last_alarm``, ``id`` (``VER``).
    """

    model = "New Era NE-500"

    def __init__(
        self,
        port: Port,
        address: int = 0,
        *,
        baud_rate: int = 19200,
        timeout_s: float = 1.0,
        visa_library: str = "",
    ) -> None:
        if not isinstance(address, int) or address not in range(100):
            raise ValueError(f"address must be an int 0-99 (§2.1), got {address!r}")
        self.address = address
        self.last_status: PumpStatus | None = None
        self.last_alarm: PumpAlarm | None = None
        self._pending: str | None = None
        self._repeating = False
        self._volume_target_uL: float | None = None
        super().__init__(port, baud_rate=baud_rate, timeout_s=timeout_s, visa_library=visa_library)

    # -- framing --------------------------------------------------------------------------------
    def write(self, command: str, **kwargs: object) -> None:
        """Send ``<addr><command>\\r`` after purging stale input (§2.1)."""
        self.purge_input(command)
        self.send_raw(f"{self.address}{command}\r".encode("ascii"), command)
        self._pending = command

    def read(self, **kwargs: object) -> str:
        """Read ``STX addr status [data] ETX`` of the pending command and return the data."""
        command = self._pending
        self._pending = None
        if command is None:
            raise RuntimeError("read() without a command written first")
        reply = self.read_until(
            lambda buf: buf[-1] == ETX, timeout_s=self.timeout_s, command=command, max_bytes=64
        )
        body = self._reply_body(command, reply)
        if body.startswith("A?"):  # §2.1: an alarm replaces the status
            return self._after_alarm(command, body, reply)
        try:
            self.last_status = PumpStatus(body[:1])
        except ValueError as exc:
            raise self.typed_error(
                InstrumentReplyError, "unknown status character", command=command, reply=reply
            ) from exc
        return self._reply_data(command, body[1:], reply)

    def _reply_body(self, command: str, reply: bytes) -> str:
        """Status and data of ``reply`` once its framing and address are checked (§2.1)."""
        try:
            text = reply.decode("ascii")
        except UnicodeDecodeError as exc:
            raise self.typed_error(
                InstrumentReplyError, "reply is not ASCII (garbage)", command=command, reply=reply
            ) from exc
        if len(text) < 4 or reply[0] != STX or not text[1:3].isdigit():
            raise self.typed_error(
                InstrumentReplyError,
                "reply is not STX addr status … ETX",
                command=command,
                reply=reply,
            )
        if int(text[1:3]) != self.address:
            raise self.typed_error(
                InstrumentReplyError,
                f"reply from address {text[1:3]}, expected {self.address:02d}",
                command=command,
                reply=reply,
            )
        return text[3:-1]

    def _after_alarm(self, command: str, body: str, reply: bytes) -> str:
        """An alarm reply (``A?x``, §2.1): record it, then repeat the command once after a
        power-on reset (reported once, then cleared) or raise :class:`InstrumentAlarm`."""
        try:
            alarm = PumpAlarm(body[2:3])
        except ValueError as exc:
            raise self.typed_error(
                InstrumentReplyError, "unknown alarm", command=command, reply=reply
            ) from exc
        self.last_alarm = alarm
        self.last_status = PumpStatus.STOPPED
        if alarm is PumpAlarm.RESET and not self._repeating:
            # Power-on reset: reported once, then cleared (§2.1); repeat the command.
            self._repeating = True
            try:
                self.write(command)
                return self.read()
            finally:
                self._repeating = False
        raise self.typed_error(
            InstrumentAlarm,
            f"pump alarm {alarm.name}",
            alarm=alarm.value,
            command=command,
            reply=reply,
        )

    def _reply_data(self, command: str, data: str, reply: bytes) -> str:
        """``data`` after the status character, checked: an error token raises the typed
        error of :data:`_ERRORS`, a query's value must match its format, a set command has
        none (§2.1)."""
        parsed = _COMMAND.fullmatch(command)
        mnemonic, args = (parsed["mnemonic"], parsed["args"]) if parsed else (command, "")
        if data.startswith("?"):
            if data not in _ERRORS:
                raise self.typed_error(
                    InstrumentReplyError, "unknown error token", command=command, reply=reply
                )
            error, detail = _ERRORS[data]
            extra = {"value": args} if args else {}
            raise self.typed_error(
                error,
                f"pump rejected {mnemonic}: {detail}",
                code=data,
                command=command,
                reply=reply,
                **extra,
            )
        if not args and mnemonic in _QUERY_FORMATS:
            if not _QUERY_FORMATS[mnemonic].fullmatch(data):
                raise self.typed_error(
                    InstrumentReplyError,
                    f"unexpected {mnemonic} value",
                    command=command,
                    reply=reply,
                )
        elif data:
            raise self.typed_error(
                InstrumentReplyError,
                "unexpected data after a set command",
                command=command,
                reply=reply,
            )
        return data

    def check_set_errors(self) -> list:
        """Consume the status-only reply of a set command; error replies raise (§2.1)."""
        self.read()
        return []

    def _query(self, command: str) -> str:
        self.write(command)
        return self.read()

    # -- settings (§2.1 core commands) ----------------------------------------------------------
    diameter_mm = Instrument.control(
        "DIA",
        "DIA%s",
        """Syringe inner diameter in mm (§2.1 ``DIA``; 4 digits, 3 decimals at most).""",
        set_process=_diameter_argument,
        check_set_errors=True,
    )
    direction = Instrument.control(
        "DIR",
        "DIR%s",
        """Pumping direction, "infuse" or "withdraw" (§2.1 ``DIR INF|WDR``).""",
        validator=strict_discrete_set,
        values={"infuse": "INF", "withdraw": "WDR"},
        map_values=True,
        cast=str,
        check_set_errors=True,
    )
    rate_uL_per_min = Instrument.control(
        "RAT",
        "RAT%s",
        """Pumping rate in µL/min (§2.1 ``RAT``; sent in the units that keep most digits).""",
        set_process=_rate_argument,
        get_process=lambda reply: _parse_with_units(reply, _RATE_TO_UL_PER_MIN),
        cast=str,
        check_set_errors=True,
    )

    @property
    def volume_target_uL(self) -> float:
        """Volume to dispense, µL (§2.1 ``VOL``); 0 means no target."""
        return _parse_with_units(self._query("VOL"), _VOLUME_TO_UL)

    @volume_target_uL.setter
    def volume_target_uL(self, volume_uL: float) -> None:
        units, number = _volume_argument(volume_uL)
        self.write(f"VOL{units}")  # §2.1: units are set by VOL UL / VOL ML
        self.check_set_errors()
        self.write(f"VOL{number}")
        self.check_set_errors()
        self._volume_target_uL = float(number) * _VOLUME_TO_UL[units]

    # -- state ----------------------------------------------------------------------------------
    @property
    def status(self) -> PumpStatus:  # type: ignore[override]
        """Status character from an empty command (§2.1: an empty command is a status query)."""
        self._query("")
        assert self.last_status is not None
        return self.last_status

    @property
    def is_running(self) -> bool:
        """Infusing, withdrawing or purging."""
        return self.status in (PumpStatus.INFUSING, PumpStatus.WITHDRAWING, PumpStatus.PURGING)

    @property
    def dispensed(self) -> PumpDispensed:
        """Infused and withdrawn volume since the last clear, µL (§2.1 ``DIS``)."""
        data = self._query("DIS")
        match = _QUERY_FORMATS["DIS"].fullmatch(data)
        assert match is not None  # read() checked the format
        scale = _VOLUME_TO_UL[match["units"]]
        return PumpDispensed(float(match["inf"]) * scale, float(match["wdr"]) * scale)

    def clear_dispensed(self, direction: Literal["infuse", "withdraw"]) -> None:
        """Zero the infused or withdrawn counter (§2.1 ``CLD INF|WDR``)."""
        code = {"infuse": "INF", "withdraw": "WDR"}.get(direction)
        if code is None:
            raise ValueError(f"direction must be 'infuse' or 'withdraw', got {direction!r}")
        self.write(f"CLD{code}")
        self.check_set_errors()

    @property
    def id(self) -> str:  # type: ignore[override]
        """Model and firmware, e.g. ``NE500V3.928`` (§2.1 ``VER``)."""
        return self._query("VER")

    def run(self) -> None:
        """Start pumping towards the volume target (§2.1 ``RUN``).

        Refuses with :class:`InstrumentSafetyError` unless ``volume_target_uL`` was set through
        this driver; the pump's own target is then read back and must still be non-zero.
        """
        if self._volume_target_uL is None:
            raise self.typed_error(
                InstrumentSafetyError,
                "refusing to run without a volume target: set volume_target_uL first",
                command="RUN",
            )
        target_uL = self.volume_target_uL
        if not target_uL > 0:
            self._volume_target_uL = None
            raise self.typed_error(
                InstrumentSafetyError,
                "the pump reports no volume target (changed on the front panel?); set it again",
                command="RUN",
            )
        self.write("RUN")
        self.check_set_errors()

    def stop(self) -> None:
        """Stop (pause) pumping (§2.1 ``STP``)."""
        self.write("STP")
        self.check_set_errors()


def _parse_with_units(reply: str, scale: dict[str, float]) -> float:
    match = re.fullmatch(rf"({_FLOAT})([A-Z]+)", reply)
    if match is None or match[2] not in scale:  # read() has checked the format already
        raise ValueError(f"cannot parse {reply!r}")
    return float(match[1]) * scale[match[2]]

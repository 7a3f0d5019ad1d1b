"""Simulated New Era NE-500 / NE-1000 syringe pump, basic mode (docs/reference/instruments.md §2.1).

Commands ``[<addr>]<CMD>[<args>]\\r`` (spaces stripped, upper-cased); replies
``STX <addr 2 digits> <status> [data] ETX``. Implemented: status query (empty command), ``DIA``,
``RAT`` (UM/MM/UH/MH), ``VOL`` (value, ``UL``/``ML``), ``DIR`` (INF/WDR/REV), ``RUN``, ``STP``
(first pauses, second stops), ``PUR``, ``DIS``, ``CLD``, ``VER``, ``SAF0`` (basic mode only),
``*RESET``. Errors ``?``, ``?NA``, ``?OOR`` follow the status. Alarms ``A?<type>`` replace the
status of the next reply and are then cleared; a fresh pump reports the power-on reset ``A?R``
(``power_on_alarm=True``) and :meth:`stall` raises a motor-stall alarm.

Pumping follows the clock: volume = rate × clock time, and the pump stops by itself (status
``S``) when the volume target is reached; a target of 0 runs until ``STP``. Rate limits come from
a plunger-speed range and diameter range that are not in the reference (unconfirmed).
"""

from __future__ import annotations

import math
import re

from ionrig.clock import Clock

from ._serial_instrument import Reply, SimulatedSerialInstrument

__all__ = ["SimulatedNE500"]

STX, ETX = b"\x02", b"\x03"  # §2.1 reply framing
RATE_UNITS_UL_PER_MIN = {"UM": 1.0, "MM": 1000.0, "UH": 1 / 60, "MH": 1000 / 60}  # §2.1 RAT
VOLUME_UNITS_UL = {"UL": 1.0, "ML": 1000.0}  # §2.1 VOL
DIAMETER_RANGE_MM = (0.1, 50.0)  # NE-1000 syringe range: not in the reference (unconfirmed)
PLUNGER_SPEED_MM_PER_MIN = (7e-4, 51.0)  # NE-1000 min/max plunger speed (unconfirmed)
UL_DIAMETER_LIMIT_MM = 14.0  # syringes up to 14 mm count volume in µL, larger in mL (unconfirmed)
_NUMBER = re.compile(r"(?=.*\d)(\d{0,4})(\.\d{0,3})?")  # §2.1: ≤ 4 digits + point, ≤ 3 decimals
_COMMAND = re.compile(r"(?P<address>\d{0,2})(?P<mnemonic>\*RESET|[A-Z]{0,3})(?P<args>.*)")


def format_number(value: float) -> str:
    """At most 4 significant digits, at most 3 decimals, like the pump's display (§2.1)."""
    if value <= 0:
        return "0.000"
    integer_digits = max(1, math.floor(math.log10(value)) + 1)
    decimals = max(0, min(3, 4 - integer_digits))
    return f"{value:.{decimals}f}"


def parse_number(text: str) -> float | None:
    """A pump float argument (any digit count), or ``None`` if it is not a number."""
    return float(text) if re.fullmatch(r"\d+\.?\d*|\.\d+", text) else None


def fits_display(text: str) -> bool:
    """At most 4 digits plus the point and at most 3 decimals (§2.1 ``DIA``)."""
    return _NUMBER.fullmatch(text) is not None and len(text.replace(".", "")) <= 4


class SimulatedNE500(SimulatedSerialInstrument):
    """NE-500 syringe pump with the §2.1 basic-mode command set (see the module docstring)."""

    kind = "ne500"
    terminator = ETX

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        address: int = 0,
        diameter_mm: float = 26.59,
        power_on_alarm: bool = True,
        version: str = "NE500V3.928",
    ) -> None:
        super().__init__(clock)
        self.address = address
        self.version = version  # §2.1 VER example form (NE1000V3.928)
        self.diameter_mm = diameter_mm
        self.rate_value, self.rate_units = 1.0, "MM"
        self.volume_target_uL = 0.0
        self.volume_units = self._default_volume_units()
        self.direction = "INF"
        self.status = "S"
        self.alarm: str | None = "R" if power_on_alarm else None
        self.infused_uL = 0.0
        self.withdrawn_uL = 0.0
        self._phase_uL = 0.0  # volume pumped in the current run (towards the target)
        self._last_update_s = self.clock.now_s()
        self._pending = bytearray()

    # -- physics --------------------------------------------------------------------------------
    @property
    def status(self) -> str:
        """Status letter (§2.1): I infusing, W withdrawing, S stopped, P paused, X purging."""
        return self._status

    @status.setter
    def status(self, value: str) -> None:
        changed = value != getattr(self, "_status", None)
        self._status = value
        if changed:
            self.notify_observers("flow_uL_per_min", self.inflow_uL_per_min)

    @property
    def inflow_uL_per_min(self) -> float:
        """What the pump pushes out of the syringe now (0 unless infusing)."""
        if self._status == "I":
            return self.rate_uL_per_min
        if self._status == "X":
            return self._max_rate_uL_per_min()
        return 0.0

    @property
    def rate_uL_per_min(self) -> float:
        return self.rate_value * RATE_UNITS_UL_PER_MIN[self.rate_units]

    def _area_uL_per_mm(self) -> float:
        return math.pi * (self.diameter_mm / 2) ** 2  # mm² = µL per mm of plunger travel

    def _max_rate_uL_per_min(self) -> float:
        return PLUNGER_SPEED_MM_PER_MIN[1] * self._area_uL_per_mm()

    def _default_volume_units(self) -> str:
        return "UL" if self.diameter_mm <= UL_DIAMETER_LIMIT_MM else "ML"

    def advance(self) -> None:
        """Bring the pumped volumes up to the current clock time."""
        with self.lock:
            now = self.clock.now_s()
            elapsed_min = max(0.0, now - self._last_update_s) / 60
            self._last_update_s = now
            if self.status not in ("I", "W", "X"):
                return
            rate = self._max_rate_uL_per_min() if self.status == "X" else self.rate_uL_per_min
            volume = rate * elapsed_min
            if self.status != "X" and self.volume_target_uL > 0:
                volume = min(volume, self.volume_target_uL - self._phase_uL)
            self._phase_uL += volume
            infusing = self.direction == "INF"
            if infusing:
                self.infused_uL += volume
            else:
                self.withdrawn_uL += volume
            if self.status != "X" and 0 < self.volume_target_uL <= self._phase_uL + 1e-9:
                self.status, self._phase_uL = "S", 0.0

    def stall(self) -> None:
        """Motor stall: the pump stops and the next reply carries ``A?S`` (§2.1 alarms)."""
        with self.lock:
            self.advance()
            self.status, self.alarm = "S", "S"

    # -- protocol -------------------------------------------------------------------------------
    def _split(self, data: bytes) -> list[bytes]:
        messages = []
        for byte in data:
            if byte == 0x0D:  # §2.1: commands end with \r
                messages.append(bytes(self._pending))
                self._pending.clear()
            else:
                self._pending.append(byte)
        return messages

    def _reply(self, data: str = "", status: str | None = None) -> list[Reply]:
        text = f"{self.address:02d}{status or self.status}{data}"
        return [Reply(STX + text.encode("ascii") + ETX)]

    def _error_reply(self, message: bytes) -> list[Reply]:
        return self._reply("?NA")

    def _handle(self, message: bytes, now_s: float) -> list[Reply]:
        self.advance()
        try:
            text = message.decode("ascii").replace(" ", "").upper()  # §2.1: spaces stripped
        except UnicodeDecodeError:
            return self._reply("?COM")
        if "*" in text.replace("*RESET", ""):
            return []  # network broadcast (§2.1): replies are garbled, so none is sent
        match = _COMMAND.fullmatch(text)
        if match is None:
            return self._reply("?")
        if match["address"] and int(match["address"]) != self.address:
            return []  # another pump's address
        if self.alarm is not None:  # §2.1: the alarm replaces the status once, then clears
            alarm, self.alarm = self.alarm, None
            return [Reply(STX + f"{self.address:02d}A?{alarm}".encode() + ETX)]
        handler = getattr(self, f"_cmd_{match['mnemonic'].strip('*')}", None)
        if handler is None:
            return self._reply("?")
        return handler(match["args"])

    def _cmd_(self, args: str) -> list[Reply]:
        return self._reply() if not args else self._reply("?")

    def _cmd_DIA(self, args: str) -> list[Reply]:
        if not args:
            return self._reply(format_number(self.diameter_mm))
        if self.status in ("I", "W", "X"):
            return self._reply("?NA")
        value = parse_number(args)
        if value is None:
            return self._reply("?")
        if not fits_display(args) or not DIAMETER_RANGE_MM[0] <= value <= DIAMETER_RANGE_MM[1]:
            return self._reply("?OOR")
        self.diameter_mm = value
        self.volume_units = self._default_volume_units()
        return self._reply()

    def _cmd_RAT(self, args: str) -> list[Reply]:
        if not args:
            return self._reply(f"{format_number(self.rate_value)}{self.rate_units}")
        match = re.fullmatch(r"([0-9.]+)(UM|MM|UH|MH)?", args)
        value = parse_number(match[1]) if match else None
        if match is None or value is None:
            return self._reply("?")
        if not fits_display(match[1]):
            return self._reply("?OOR")
        units = match[2] or self.rate_units
        rate = value * RATE_UNITS_UL_PER_MIN[units]
        low = PLUNGER_SPEED_MM_PER_MIN[0] * self._area_uL_per_mm()
        if not low <= rate <= self._max_rate_uL_per_min():
            return self._reply("?OOR")
        self.rate_value, self.rate_units = value, units
        return self._reply()

    def _cmd_VOL(self, args: str) -> list[Reply]:
        if not args:
            value = self.volume_target_uL / VOLUME_UNITS_UL[self.volume_units]
            return self._reply(f"{format_number(value)}{self.volume_units}")
        if args in VOLUME_UNITS_UL:
            self.volume_units = args
            return self._reply()
        value = parse_number(args)
        if value is None:
            return self._reply("?")
        if not fits_display(args):
            return self._reply("?OOR")
        self.volume_target_uL = value * VOLUME_UNITS_UL[self.volume_units]
        return self._reply()

    def _cmd_DIR(self, args: str) -> list[Reply]:
        if not args:
            return self._reply(self.direction)
        if args not in ("INF", "WDR", "REV"):
            return self._reply("?")
        if self.status in ("I", "W", "X"):
            return self._reply("?NA")
        if args == "REV":
            args = "WDR" if self.direction == "INF" else "INF"
        self.direction = args
        return self._reply()

    def _cmd_RUN(self, args: str) -> list[Reply]:
        if self.status in ("I", "W", "X"):
            return self._reply()
        if self.status != "P":
            self._phase_uL = 0.0  # a paused run resumes, a stopped one starts over
        self.status = "I" if self.direction == "INF" else "W"
        self._last_update_s = self.clock.now_s()
        return self._reply()

    def _cmd_PUR(self, args: str) -> list[Reply]:
        self.status = "X"
        self._last_update_s = self.clock.now_s()
        return self._reply()

    def _cmd_STP(self, args: str) -> list[Reply]:
        # §2.1: STP pauses; a second STP stops.
        self.status = "P" if self.status in ("I", "W") else "S"
        if self.status == "S":
            self._phase_uL = 0.0
        return self._reply()

    def _cmd_DIS(self, args: str) -> list[Reply]:
        scale = VOLUME_UNITS_UL[self.volume_units]
        inf, wdr = format_number(self.infused_uL / scale), format_number(self.withdrawn_uL / scale)
        return self._reply(f"I{inf}W{wdr}{self.volume_units}")

    def _cmd_CLD(self, args: str) -> list[Reply]:
        if args == "INF":
            self.infused_uL = 0.0
        elif args == "WDR":
            self.withdrawn_uL = 0.0
        else:
            return self._reply("?")
        return self._reply()

    def _cmd_VER(self, args: str) -> list[Reply]:
        return self._reply(self.version)

    def _cmd_SAF(self, args: str) -> list[Reply]:
        if not args:
            return self._reply("0")
        return self._reply() if args == "0" else self._reply("?NA")  # safe mode not simulated

    def _cmd_RESET(self, args: str) -> list[Reply]:
        self.status, self.alarm = "S", "R"
        self.rate_value, self.rate_units, self.volume_target_uL = 1.0, "MM", 0.0
        return self._reply()

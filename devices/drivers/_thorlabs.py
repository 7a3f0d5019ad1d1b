"""Thorlabs FW102C (6 positions) / FW212C (12 positions) motorised filter wheel.

ASCII protocol of docs/reference/instruments.md §1.3: 115200 8N1, lower-case commands ending in
``\\r``.
The wheel echoes the command and ``\\r``, sends the value and ``\\r`` for a query, then the prompt
``"> "``. Errors are lines containing ``CMD_NOT_DEFINED`` or ``CMD_ARG_INVALID`` that end with
``\\n`` (exact text unconfirmed, §1.3); they become :class:`UnknownCommandError` and
:class:`InvalidArgumentError`. Whether a prompt follows an error line is unconfirmed, so the
driver stops reading at either.
"""

from __future__ import annotations

import re

from pymeasure.instruments import Instrument
from pymeasure.instruments.validators import strict_discrete_set

from ._errors import (
    FeatureNotFitted,
    InstrumentReplyError,
    InvalidArgumentError,
    UnknownCommandError,
)
from ._transport import Port, SerialInstrument

__all__ = ["ThorlabsFW102C"]

PROMPT = b"> "  # §1.3 framing: every reply ends with the prompt
ERROR_TOKENS = {  # §1.3: Thorlabs error tokens (InstrumentKit thorlabs_utils.check_cmd)
    "CMD_NOT_DEFINED": UnknownCommandError,
    "CMD_ARG_INVALID": InvalidArgumentError,
}
# Value formats of the queries (§1.3 command table); anything else is a reply error.
_QUERY_FORMATS = {
    "pos?": re.compile(r"\d{1,2}"),
    "pcount?": re.compile(r"6|12"),
    "trig?": re.compile(r"[01]"),
    "speed?": re.compile(r"[01]"),
    "sensors?": re.compile(r"[01]"),
    "baud?": re.compile(r"[01]"),
    "*idn?": re.compile(r"[ -~]+"),
}


def _reply_complete(buffer: bytes) -> bool:
    if buffer.endswith(PROMPT):
        return True
    # §1.3: error lines end with \n where normal lines end with \r.
    return buffer.endswith(b"\n") and b"CMD_" in buffer


class ThorlabsFW102C(SerialInstrument):
    """Thorlabs FW102C / FW212C filter wheel (docs/reference/instruments.md §1.3). No shutter.

    ``move(position)`` sends ``pos=n`` and returns when the prompt comes back, within
    ``move_timeout_s`` (the move time is undocumented, §1.3). Positions are 1-based. ``position``,
    ``speed`` ("slow"/"fast"), ``trigger_mode`` ("input"/"output"), ``sensors_always_on`` and
    ``position_count`` are pymeasure properties; ``id`` is ``*idn?``.
    """

    model = "Thorlabs FW102C"
    has_shutter = False

    def __init__(
        self,
        port: Port,
        *,
        baud_rate: int = 115200,
        timeout_s: float = 1.0,
        move_timeout_s: float = 5.0,
        n_positions: int | None = None,
        visa_library: str = "",
    ) -> None:
        if n_positions not in (None, 6, 12):
            raise ValueError(
                f"n_positions must be 6, 12 or None (ask the wheel), got {n_positions!r}"
            )
        self.move_timeout_s = float(move_timeout_s)
        self._n_positions = n_positions
        self._pending: str | None = None
        self._reply_timeout_s: float | None = None
        super().__init__(port, baud_rate=baud_rate, timeout_s=timeout_s, visa_library=visa_library)

    # -- framing: pymeasure calls write() then read() (queries) or check_set_errors() (sets) ----
    def write(self, command: str, **kwargs: object) -> None:
        """Send ``command`` + ``\\r`` after purging stale input (§1.3)."""
        self.purge_input(command)
        self.send_raw((command + "\r").encode("ascii"), command)
        self._pending = command

    def read(self, **kwargs: object) -> str:
        """Read echo, value and prompt of the pending command; return the value ("" for sets)."""
        command = self._pending
        self._pending = None
        if command is None:
            raise RuntimeError("read() without a command written first")
        timeout_s = self._reply_timeout_s or self.timeout_s
        reply = self.read_until(_reply_complete, timeout_s=timeout_s, command=command)
        try:
            text = reply.decode("ascii")
        except UnicodeDecodeError as exc:
            raise self.typed_error(
                InstrumentReplyError, "reply is not ASCII (garbage)", command=command, reply=reply
            ) from exc
        for token, error in ERROR_TOKENS.items():
            if token in text:
                value = command.split("=", 1)[1] if "=" in command else None
                kwargs_ = {"value": value} if value is not None else {}
                raise self.typed_error(
                    error,
                    "wheel rejected the command",
                    code=token,
                    command=command,
                    reply=reply,
                    **kwargs_,
                )
        echo = command + "\r"
        if not text.startswith(echo) or not text.endswith("> "):
            raise self.typed_error(
                InstrumentReplyError,
                "reply does not start with the echo",
                command=command,
                reply=reply,
            )
        lines = [line for line in text[len(echo) : -2].split("\r") if line]
        if command.endswith("?"):
            fmt = _QUERY_FORMATS.get(command)
            if len(lines) != 1 or (fmt is not None and not fmt.fullmatch(lines[0])):
                raise self.typed_error(
                    InstrumentReplyError, "unexpected query value", command=command, reply=reply
                )
            return lines[0]
        if lines:
            raise self.typed_error(
                InstrumentReplyError,
                "unexpected data after a set command",
                command=command,
                reply=reply,
            )
        return ""

    def check_set_errors(self) -> list:
        """Consume echo and prompt of a set command; errors raise (§1.3)."""
        self.read()
        return []

    # -- properties (§1.3 command table) --------------------------------------------------------
    position = Instrument.measurement(
        "pos?", """Current position (1-based, §1.3 ``pos?``).""", cast=int
    )
    position_count = Instrument.control(
        "pcount?",
        "pcount=%d",
        """Number of positions, 6 or 12 (§1.3 ``pcount``).""",
        validator=strict_discrete_set,
        values=(6, 12),
        cast=int,
        check_set_errors=True,
    )
    speed = Instrument.control(
        "speed?",
        "speed=%d",
        """Move speed, "slow" or "fast" (§1.3 ``speed=0|1``).""",
        validator=strict_discrete_set,
        values={"slow": 0, "fast": 1},
        map_values=True,
        cast=int,
        check_set_errors=True,
    )
    trigger_mode = Instrument.control(
        "trig?",
        "trig=%d",
        """Trigger port: "input" (an active-low pulse advances one position) or "output"
        (active-high pulse when a position is reached) (§1.3 ``trig=0|1``).""",
        validator=strict_discrete_set,
        values={"input": 0, "output": 1},
        map_values=True,
        cast=int,
        check_set_errors=True,
    )
    sensors_always_on = Instrument.control(
        "sensors?",
        "sensors=%d",
        """False: position sensors off when idle, avoiding stray light (§1.3 ``sensors=0|1``).""",
        validator=strict_discrete_set,
        values={False: 0, True: 1},
        map_values=True,
        cast=int,
        check_set_errors=True,
    )
    id = Instrument.measurement(  # type: ignore[assignment]
        "*idn?", """Model and firmware (§1.3 ``*idn?``).""", cast=str, separator="\n"
    )

    def save(self) -> None:
        """Store the settings in the wheel (§1.3 ``save``)."""
        self.write("save")
        self.check_set_errors()

    # -- filter wheel protocol ------------------------------------------------------------------
    @property
    def n_positions(self) -> int:
        """6 or 12; asked from the wheel (``pcount?``) unless given to the constructor."""
        if self._n_positions is None:
            self._n_positions = int(self.position_count)
        return self._n_positions

    @property
    def positions(self) -> range:
        return range(1, self.n_positions + 1)

    def move(self, position: int) -> None:
        """Go to ``position`` (1-based) and return when the wheel's prompt comes back (§1.3)."""
        if not isinstance(position, int) or position not in self.positions:
            raise ValueError(f"position must be an int in {self.positions}, got {position!r}")
        self._reply_timeout_s = self.move_timeout_s
        try:
            self.write(f"pos={position}")
            self.check_set_errors()
        finally:
            self._reply_timeout_s = None

    def open_shutter(self) -> None:
        """The FW102C has no shutter (``has_shutter = False``)."""
        raise FeatureNotFitted("has no shutter", instrument=self.model, command="open_shutter")

    def close_shutter(self) -> None:
        """The FW102C has no shutter (``has_shutter = False``)."""
        raise FeatureNotFitted("has no shutter", instrument=self.model, command="close_shutter")

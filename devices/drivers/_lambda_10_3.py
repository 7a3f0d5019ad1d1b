"""Sutter Lambda 10-3 filter wheel controller: binary serial protocol of
docs/reference/instruments.md §1.1.

The echo/CR framing shared with the DG-4 is :class:`SutterController` (``_sutter_protocol``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._errors import InstrumentError, InstrumentReplyError, InstrumentTimeout
from ._sutter_protocol import CR, GO_ONLINE, IDENTIFY, STATUS, SutterController
from ._transport import Port

__all__ = [
    "LAMBDA_10_3_MOVE_TIME_S",
    "SHUTTER_CODES",
    "SHUTTER_MODE_CODES",
    "WHEEL_C_PREFIX",
    "LambdaStatus",
    "SutterLambda10_3",
    "lambda_move_time_s",
]

WHEEL_C_PREFIX = 0xFC  # §1.1: wheel C prefix byte
SHUTTER_CODES = {  # §1.1 special commands: open / conditional / close
    "A": {"open": 0xAA, "conditional": 0xAB, "close": 0xAC},
    "B": {"open": 0xBA, "conditional": 0xBB, "close": 0xBC},
}
SHUTTER_MODE_CODES = {"fast": 0xDC, "soft": 0xDD, "nd": 0xDE}  # §1.1 (10-3: + shutter number)

# Move time (s) of a 10-position 25-mm wheel by speed (rows) and positions moved (columns 1-5);
# LB10-3 manual p. 38 via navigate `sutter.py` delay_matrix (docs/reference/instruments.md §1.1).
LAMBDA_10_3_MOVE_TIME_S: tuple[tuple[float, ...], ...] = (
    (0.031, 0.051, 0.074, 0.095, 0.115),
    (0.040, 0.065, 0.095, 0.120, 0.148),
    (0.044, 0.075, 0.105, 0.136, 0.168),
    (0.050, 0.088, 0.127, 0.165, 0.205),
    (0.060, 0.108, 0.156, 0.205, 0.250),
    (0.068, 0.123, 0.178, 0.235, 0.290),
    (0.124, 0.235, 0.350, 0.460, 0.580),
    (0.230, 0.440, 0.650, 0.860, 1.100),
)


def lambda_move_time_s(speed: int, steps: int) -> float:
    """Table move time for ``steps`` positions at ``speed`` (0 steps: 0 s; §1.1 timing table)."""
    if steps <= 0:
        return 0.0
    return LAMBDA_10_3_MOVE_TIME_S[speed][min(steps, 5) - 1]


@dataclass(frozen=True)
class LambdaStatus:
    """Decoded ``0xCC`` status of a Lambda 10-3 (docs/reference/instruments.md §1.1 status
    table)."""

    wheel_positions: dict[str, int]
    wheel_speeds: dict[str, int]
    shutter_open: dict[str, bool]
    shutter_modes: dict[str, str]
    nd_microsteps: dict[str, int | None]
    raw: bytes


class SutterLambda10_3(SutterController):
    """Sutter Lambda 10-3 controller: one filter wheel (A, B or C) and one shutter (A or B).

    Binary protocol of docs/reference/instruments.md §1.1: RS-232 9600 8N1 (USB VCP: pass
    ``baud_rate=128000``), move byte ``wheel*128 + speed*16 + position``, per-byte echo, ``0x0D``
    when done. ``move`` returns when the completion CR arrives; its timeout is the manual's move
    time for the distance plus ``timeout_s``. The driver goes on-line (``0xEE``) before its first
    command. Tolerated quirks (§1.1): a 10-2 echoing only the position nibble, an SC echoing the
    inverted shutter command, a stray ``0x01`` before the CR. A command identical to the previous
    one may get no reply (§1.1), so a repeated move to the current position or a repeated shutter
    command is not sent again.
    """

    model = "Sutter Lambda 10-3"
    has_shutter = True

    def __init__(
        self,
        port: Port,
        wheel: Literal["A", "B", "C"] = "A",
        *,
        shutter: Literal["A", "B"] = "A",
        speed: int = 3,
        n_positions: int = 10,
        baud_rate: int = 9600,
        timeout_s: float = 1.0,
        visa_library: str = "",
    ) -> None:
        if wheel not in ("A", "B", "C"):
            raise ValueError(f"wheel must be 'A', 'B' or 'C', got {wheel!r}")
        if shutter not in ("A", "B"):
            raise ValueError(f"shutter must be 'A' or 'B', got {shutter!r}")
        if n_positions not in range(1, 11):
            raise ValueError(f"n_positions must be 1-10 (§1.1: position 0-9), got {n_positions!r}")
        self.wheel = wheel
        self.shutter = shutter
        self.speed = self._check_speed(speed)
        self._positions = range(n_positions)
        self._position: int | None = None
        super().__init__(port, baud_rate=baud_rate, timeout_s=timeout_s, visa_library=visa_library)

    # -- protocol helpers -----------------------------------------------------------------------
    @staticmethod
    def _check_speed(speed: int) -> int:
        if not isinstance(speed, int) or speed not in range(8):
            raise ValueError(f"speed must be an int 0-7 (§1.1 bits 4-6), got {speed!r}")
        return speed

    def accepted_echoes(self, sent: int, command: bytes) -> set[int]:
        accepted = {sent}
        if sent & 0x0F <= 9 and sent != WHEEL_C_PREFIX:
            accepted.add(sent & 0x0F)  # §1.1 quirk: the 10-2 echoes only the position nibble
        for codes in SHUTTER_CODES.values():  # §1.1 quirk: the SC echoes the inverted command
            if sent == codes["open"]:
                accepted.add(codes["close"])
            elif sent == codes["close"]:
                accepted.add(codes["open"])
        return accepted

    def move_command(self, position: int, speed: int) -> bytes:
        """Command bytes for a move (§1.1: ``wheel*128 + speed*16 + position``; C: ``FC`` first)."""
        byte = speed * 16 + position
        if self.wheel == "B":
            return bytes([0x80 | byte])
        if self.wheel == "C":
            return bytes([WHEEL_C_PREFIX, byte])
        return bytes([byte])

    # -- on-line / status -----------------------------------------------------------------------
    def go_online(self) -> None:
        """Put the controller in serial (on-line) mode: ``0xEE`` → ``EE 0D`` (§1.1).

        A controller that is already on-line may not answer ``0xEE`` (§1.1 quirks); the driver
        then confirms it is alive with a status query.
        """
        command = bytes([GO_ONLINE])
        try:
            self.transact(command, completion_timeout_s=self.timeout_s)
        except InstrumentTimeout:
            self._read_status()  # raises if the controller is really silent
        self.online = True

    def _resync(self) -> None:
        """After a failed transaction, ask the status: it refreshes the position and makes the
        next move or shutter command differ from the controller's previous command (§1.1)."""
        if self.last_command is None:
            self._position = self._read_status().wheel_positions[self.wheel]

    def _read_status(self) -> LambdaStatus:
        command = bytes([STATUS])
        try:
            return self._read_status_reply(command)
        except InstrumentError:
            self.last_command = None
            raise

    def _read_status_reply(self, command: bytes) -> LambdaStatus:
        self.transact(command, completion_timeout_s=None)
        raw = bytearray()

        def take(n: int) -> bytes:
            data = self.read_exact(n, timeout_s=self.timeout_s, command=command, so_far=bytes(raw))
            raw.extend(data)
            return data

        # §1.1 status table: [0] wheel A, [1] wheel B, [2] FC, [3] wheel C, [4] shutter A state,
        # [5] shutter B state, [6] shutter A mode, [7] ND steps if DE, then shutter B mode (+ND).
        wheel_a, wheel_b, prefix, wheel_c, state_a, state_b = take(6)
        modes: dict[str, str] = {}
        nd: dict[str, int | None] = {}
        for name in ("A", "B"):
            (mode_byte,) = take(1)
            mode = {v: k for k, v in SHUTTER_MODE_CODES.items()}.get(mode_byte)
            if mode is None:
                raise self.typed_error(
                    InstrumentReplyError,
                    f"status: invalid shutter {name} mode byte 0x{mode_byte:02X}",
                    command=command,
                    reply=bytes(raw),
                )
            modes[name] = mode
            nd[name] = take(1)[0] if mode == "nd" else None
        (end,) = take(1)
        valid = (
            prefix == WHEEL_C_PREFIX
            and end == CR
            and wheel_b & 0x80
            and not wheel_a & 0x80
            and not wheel_c & 0x80
            and all((b & 0x0F) <= 9 for b in (wheel_a, wheel_b, wheel_c))
            and state_a in SHUTTER_CODES["A"].values()
            and state_b in SHUTTER_CODES["B"].values()
        )
        if not valid:
            raise self.typed_error(
                InstrumentReplyError,
                "status reply does not parse",
                command=command,
                reply=bytes(raw),
            )
        return LambdaStatus(
            wheel_positions={"A": wheel_a & 0x0F, "B": wheel_b & 0x0F, "C": wheel_c & 0x0F},
            wheel_speeds={"A": wheel_a >> 4 & 7, "B": wheel_b >> 4 & 7, "C": wheel_c >> 4 & 7},
            shutter_open={
                "A": state_a == SHUTTER_CODES["A"]["open"],
                "B": state_b == SHUTTER_CODES["B"]["open"],
            },
            shutter_modes=modes,
            nd_microsteps=nd,
            raw=bytes(raw),
        )

    @property
    def status(self) -> LambdaStatus:  # type: ignore[override]
        """Wheel positions and speeds, shutter states and modes (``0xCC``, §1.1)."""
        self.ensure_online()
        status = self._read_status()
        self._position = status.wheel_positions[self.wheel]
        return status

    @property
    def id(self) -> str:  # type: ignore[override]
        """Controller type/config string from ``0xFD`` (e.g. ``10-3WA-25WB-NC…``, §1.1)."""
        self.ensure_online()
        command = bytes([IDENTIFY])
        self.transact(command, completion_timeout_s=None)
        return self.read_identity(command)

    # -- filter wheel protocol ------------------------------------------------------------------
    @property
    def positions(self) -> range:
        return self._positions

    @property
    def n_positions(self) -> int:
        return len(self._positions)

    @property
    def position(self) -> int:
        """Current position of this driver's wheel, read from the controller status (§1.1)."""
        return self.status.wheel_positions[self.wheel]

    def move(self, position: int, speed: int | None = None) -> None:
        """Move the wheel and return when the controller's completion CR arrives (§1.1)."""
        if not isinstance(position, int) or position not in self._positions:
            raise ValueError(f"position must be an int in {self._positions}, got {position!r}")
        speed = self.speed if speed is None else self._check_speed(speed)
        self.ensure_online()
        self._resync()
        command = self.move_command(position, speed)
        if command == self.last_command and position == self._position:
            return  # §1.1: an identical command may get no reply; the wheel is already there
        n = self.n_positions
        if self._position is None:
            steps = 5
        else:
            distance = abs(position - self._position)
            steps = min(distance, n - distance)
        timeout_s = lambda_move_time_s(speed, steps) + self.timeout_s
        self._position = None
        self.transact(command, completion_timeout_s=timeout_s)
        self._position = position

    def _shutter(self, action: Literal["open", "close"]) -> None:
        self.ensure_online()
        self._resync()
        command = bytes([SHUTTER_CODES[self.shutter][action]])
        if command == self.last_command:
            return  # §1.1: a repeated command may get no reply; the shutter is already there
        self.transact(command, completion_timeout_s=self.timeout_s)

    def open_shutter(self) -> None:
        """Open this driver's shutter (``0xAA`` / ``0xBA``, §1.1)."""
        self._shutter("open")

    def close_shutter(self) -> None:
        """Close this driver's shutter (``0xAC`` / ``0xBC``, §1.1)."""
        self._shutter("close")

    def set_shutter_mode(
        self, mode: Literal["fast", "soft", "nd"], nd_microsteps: int | None = None
    ) -> None:
        """Fast / soft / ND mode of this driver's shutter (10-3 form, §1.1: ``DC 01`` …)."""
        if mode not in SHUTTER_MODE_CODES:
            raise ValueError(f"mode must be 'fast', 'soft' or 'nd', got {mode!r}")
        shutter_number = 1 if self.shutter == "A" else 2
        payload = [SHUTTER_MODE_CODES[mode], shutter_number]
        if mode == "nd":
            if not isinstance(nd_microsteps, int) or nd_microsteps not in range(1, 145):
                raise ValueError(f"nd_microsteps must be 1-144 (§1.1), got {nd_microsteps!r}")
            payload.append(nd_microsteps)
        elif nd_microsteps is not None:
            raise ValueError("nd_microsteps is only valid with mode='nd'")
        self.ensure_online()
        self.transact(bytes(payload), completion_timeout_s=self.timeout_s)

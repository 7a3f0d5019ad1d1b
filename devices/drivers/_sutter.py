"""Sutter Lambda 10-3 filter wheel and Lambda DG-4 wavelength switcher (binary serial protocol).

Both controllers take raw command bytes with no terminator, echo every byte, and send ``0x0D``
when an operation has finished (instrument-protocols.md §1.1, §1.2). The drivers write with
``write_bytes`` and read one byte at a time against a deadline, so silence or garbage ends in a
typed exception from :mod:`ionrig.devices.drivers._errors`.

Sutter controllers have no error reply. A well-formed echo of a *different* byte followed by the
completion CR means the controller received (and acted on) another command than the one sent:
the drivers report it as :class:`InstrumentCommandError` with code ``ECHO_MISMATCH``; any other
unexpected byte is :class:`InstrumentReplyError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ._errors import (
    InstrumentCommandError,
    InstrumentError,
    InstrumentReplyError,
    InstrumentTimeout,
)
from ._transport import Port, SerialInstrument

__all__ = ["LambdaStatus", "SutterLambda10_3", "SutterLambdaDG4"]

CR = 0x0D  # completion byte (§1.1 "Replies and timing")
GO_ONLINE = 0xEE  # §1.1 special commands: go on-line (serial); must be sent first
STATUS = 0xCC  # §1.1: status, echo + data bytes + CR
IDENTIFY = 0xFD  # §1.1: controller type/config, ASCII id then CR
WHEEL_C_PREFIX = 0xFC  # §1.1: wheel C prefix byte
SHUTTER_CODES = {  # §1.1 special commands: open / conditional / close
    "A": {"open": 0xAA, "conditional": 0xAB, "close": 0xAC},
    "B": {"open": 0xBA, "conditional": 0xBB, "close": 0xBC},
}
SHUTTER_MODE_CODES = {"fast": 0xDC, "soft": 0xDD, "nd": 0xDE}  # §1.1 (10-3: + shutter number)
STRAY_BYTE = 0x01  # §1.1 quirks: the SC sometimes sends a stray 0x01 before the CR

# Move time (s) of a 10-position 25-mm wheel by speed (rows) and positions moved (columns 1-5);
# LB10-3 manual p. 38 via navigate `sutter.py` delay_matrix (instrument-protocols.md §1.1).
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
    """Decoded ``0xCC`` status of a Lambda 10-3 (instrument-protocols.md §1.1 status table)."""

    wheel_positions: dict[str, int]
    wheel_speeds: dict[str, int]
    shutter_open: dict[str, bool]
    shutter_modes: dict[str, str]
    nd_microsteps: dict[str, int | None]
    raw: bytes


class _SutterBase(SerialInstrument):
    """Echo/CR framing shared by the Lambda 10-3 and the DG-4."""

    def __init__(self, port: Port, *, baud_rate: int, timeout_s: float, visa_library: str) -> None:
        super().__init__(port, baud_rate=baud_rate, timeout_s=timeout_s, visa_library=visa_library)
        self._online = False
        self._last_command: bytes | None = None

    # Echo bytes the controller may legitimately send back for ``sent`` (§1.1 quirks).
    def _accepted_echoes(self, sent: int, command: bytes) -> set[int]:
        return {sent}

    def _read_echo(self, command: bytes) -> None:
        """Read the echo of every byte of ``command`` (§1.1: every received byte is echoed)."""
        for index, sent in enumerate(command):
            got = self._read_exact(
                1, timeout_s=self.timeout_s, command=command, so_far=command[:index]
            )[0]
            if got in self._accepted_echoes(sent, command):
                continue
            self._echo_mismatch(command, bytes(command[:index]) + bytes([got]))

    def _echo_mismatch(self, command: bytes, received: bytes) -> None:
        """A wrong echo: a clean ``<byte> CR`` is a command error, anything else garbage."""
        try:
            rest = self._read_until(
                lambda buf: buf[-1] == CR, timeout_s=self.timeout_s, command=command, max_bytes=8
            )
        except (InstrumentTimeout, InstrumentReplyError) as exc:
            tail = getattr(exc, "reply", None) or b""
            raise self._error(
                InstrumentReplyError,
                f"unexpected echo byte 0x{received[-1]:02X} (garbage)",
                command=command,
                reply=received + tail,
            ) from exc
        if rest == bytes([CR]):
            raise self._error(
                InstrumentCommandError,
                f"controller echoed 0x{received[-1]:02X}: it received a different command",
                code="ECHO_MISMATCH",
                command=command,
                reply=received + rest,
            )
        raise self._error(
            InstrumentReplyError,
            f"unexpected echo byte 0x{received[-1]:02X} (garbage)",
            command=command,
            reply=received + rest,
        )

    def _read_completion(self, command: bytes, timeout_s: float, so_far: bytes) -> None:
        """Wait for the completion CR (§1.1), tolerating the SC's stray 0x01 before it.

        ``so_far`` (the echo) makes a missing CR a partial reply rather than silence.
        """
        try:
            reply = self._read_until(
                lambda buf: buf[-1] != STRAY_BYTE, timeout_s=timeout_s, command=command, max_bytes=4
            )
        except InstrumentTimeout as exc:
            if not so_far:
                raise
            raise self._error(
                InstrumentReplyError,
                f"partial reply: no completion byte within {timeout_s:g} s",
                command=command,
                reply=so_far,
            ) from exc
        if reply[-1] != CR:
            raise self._error(
                InstrumentReplyError,
                f"expected the completion byte 0x0D, got 0x{reply[-1]:02X}",
                command=command,
                reply=reply,
            )

    def _read_identity(self, command: bytes) -> bytes:
        """The ASCII id after the ``0xFD`` echo, up to and including the CR (§1.1, §1.2)."""
        try:
            return self._read_until(
                lambda buf: buf[-1] == CR, timeout_s=self.timeout_s, command=command, max_bytes=64
            )
        except InstrumentTimeout as exc:
            self._last_command = None
            raise self._error(
                InstrumentReplyError,
                "partial reply: echo without identity",
                command=command,
                reply=command,
            ) from exc
        except InstrumentError:
            self._last_command = None
            raise

    def _transact(
        self, command: bytes, *, completion_timeout_s: float | None, echo: bool = True
    ) -> None:
        """Purge, send, read the echo and (unless ``None``) the completion CR.

        After any failure the controller's idea of "the previous command" is unknown, so
        ``_last_command`` becomes ``None`` and the next command resynchronises first.
        """
        try:
            self._purge(command)
            self._send(command)
            self._last_command = command
            if echo:
                self._read_echo(command)
            if completion_timeout_s is not None:
                self._read_completion(command, completion_timeout_s, command if echo else b"")
        except InstrumentError:
            self._last_command = None
            raise


class SutterLambda10_3(_SutterBase):
    """Sutter Lambda 10-3 controller: one filter wheel (A, B or C) and one shutter (A or B).

    Binary protocol of instrument-protocols.md §1.1: RS-232 9600 8N1 (USB VCP: pass
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

    def _accepted_echoes(self, sent: int, command: bytes) -> set[int]:
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
            self._transact(command, completion_timeout_s=self.timeout_s)
        except InstrumentTimeout:
            self._read_status()  # raises if the controller is really silent
        self._online = True

    def _ensure_online(self) -> None:
        if not self._online:
            self.go_online()

    def _resync(self) -> None:
        """After a failed transaction, ask the status: it refreshes the position and makes the
        next move or shutter command differ from the controller's previous command (§1.1)."""
        if self._last_command is None:
            self._position = self._read_status().wheel_positions[self.wheel]

    def _read_status(self) -> LambdaStatus:
        command = bytes([STATUS])
        try:
            return self._read_status_reply(command)
        except InstrumentError:
            self._last_command = None
            raise

    def _read_status_reply(self, command: bytes) -> LambdaStatus:
        self._transact(command, completion_timeout_s=None)
        raw = bytearray()

        def take(n: int) -> bytes:
            data = self._read_exact(n, timeout_s=self.timeout_s, command=command, so_far=bytes(raw))
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
                raise self._error(
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
            raise self._error(
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
        self._ensure_online()
        status = self._read_status()
        self._position = status.wheel_positions[self.wheel]
        return status

    @property
    def id(self) -> str:  # type: ignore[override]
        """Controller type/config string from ``0xFD`` (e.g. ``10-3WA-25WB-NC…``, §1.1)."""
        self._ensure_online()
        command = bytes([IDENTIFY])
        self._transact(command, completion_timeout_s=None)
        reply = self._read_identity(command)
        try:
            return reply[:-1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise self._error(
                InstrumentReplyError, "identity is not ASCII", command=command, reply=reply
            ) from exc

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
        self._ensure_online()
        self._resync()
        command = self.move_command(position, speed)
        if command == self._last_command and position == self._position:
            return  # §1.1: an identical command may get no reply; the wheel is already there
        n = self.n_positions
        if self._position is None:
            steps = 5
        else:
            distance = abs(position - self._position)
            steps = min(distance, n - distance)
        timeout_s = lambda_move_time_s(speed, steps) + self.timeout_s
        self._position = None
        self._transact(command, completion_timeout_s=timeout_s)
        self._position = position

    def _shutter(self, action: Literal["open", "close"]) -> None:
        self._ensure_online()
        self._resync()
        command = bytes([SHUTTER_CODES[self.shutter][action]])
        if command == self._last_command:
            return  # §1.1: a repeated command may get no reply; the shutter is already there
        self._transact(command, completion_timeout_s=self.timeout_s)

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
        self._ensure_online()
        self._transact(bytes(payload), completion_timeout_s=self.timeout_s)


# DG-4 filter byte map (§1.2): 0 = shutter closed; 1-4 filters at 100 %, 5-8 at 50 %, 9-12 at
# 33 %; +16 = move on the next STROBE trigger instead of now.
DG4_POSITIONS = range(13)
DG4_ON_TRIGGER = 0x10
DG4_REPEAT = 0xAB  # §1.2: "execute next instance of previous command" dummy between repeats
DG4_LOAD_BUFFER = 0xDF  # §1.2 ring buffer: start loading
DG4_END_LOAD = 0xF0  # §1.2: end loading
DG4_RUN_BUFFER = 0xF1  # §1.2: run from the buffer, one entry per trigger/sync pulse
DG4_END_RUN = 0xF2  # §1.2: end the run
DG4_SWITCH_TIME_S = 0.0012  # §1.2: ~1.2 ms between any two filters (exact table unconfirmed)


class SutterLambdaDG4(_SutterBase):
    """Sutter Lambda DG-4 / DG-5 galvo wavelength switcher (instrument-protocols.md §1.2).

    9600 8N1. ``0xEE`` enters serial mode and is the only command that is not echoed; every other
    byte is echoed and a filter move ends with ``0x0D``. A command equal to the previous one is
    neither echoed nor executed, so the driver sends ``0xAB`` before a repeat (§1.2).

    Positions follow the DG-4 byte map: 0 closes the shutter, 1-4 are filters 1-4 at 100 %, 5-8
    at 50 %, 9-12 at 33 %. The DG-4 has no position query, so ``position`` is the last position
    this driver commanded. The shutter is the galvo's closed position, as Micro-Manager's
    ``DG4Shutter`` does: ``close_shutter`` moves to 0 and ``open_shutter`` back to the last open
    position. The ring buffer (``load_ring_buffer`` / ``start_ring_buffer`` /
    ``stop_ring_buffer``) gives hardware-timed alternation, one entry per camera trigger pulse.
    """

    model = "Sutter Lambda DG-4"
    has_shutter = True

    def __init__(
        self,
        port: Port,
        *,
        baud_rate: int = 9600,
        timeout_s: float = 1.0,
        open_position: int = 1,
        visa_library: str = "",
    ) -> None:
        if open_position not in range(1, 13):
            raise ValueError(f"open_position must be 1-12, got {open_position!r}")
        self._position: int | None = None
        self._open_position = open_position
        self.ring_buffer: tuple[int, ...] = ()
        self.ring_buffer_running = False
        super().__init__(port, baud_rate=baud_rate, timeout_s=timeout_s, visa_library=visa_library)

    def go_online(self) -> None:
        """Enter serial mode: ``0xEE``, which the DG-4 does not echo (§1.2)."""
        command = bytes([GO_ONLINE])
        self._transact(command, completion_timeout_s=None, echo=False)
        self._online = True

    def _ensure_online(self) -> None:
        if not self._online:
            self.go_online()

    def _command(self, byte: int, *, completion_timeout_s: float | None) -> None:
        self._ensure_online()
        command = bytes([byte])
        repeat = bytes([DG4_REPEAT])
        if self._last_command is None:
            # State unknown after a failure: send the dummy. If the DG-4 ignores it, its previous
            # command was 0xAB already; either way the next command is not a repeat (§1.2).
            try:
                self._transact(repeat, completion_timeout_s=None)
            except InstrumentTimeout:
                self._last_command = repeat
        elif command == self._last_command:
            # §1.2: a repeat is neither echoed nor executed without the 0xAB dummy before it.
            self._transact(repeat, completion_timeout_s=None)
        self._transact(command, completion_timeout_s=completion_timeout_s)

    @property
    def id(self) -> str:  # type: ignore[override]
        """``0xFD`` reply, e.g. ``DG4/5V1.12SS-ON`` (§1.2 Plus/USB extras)."""
        command = bytes([IDENTIFY])
        self._command(IDENTIFY, completion_timeout_s=None)
        reply = self._read_identity(command)
        try:
            return reply[:-1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise self._error(
                InstrumentReplyError, "identity is not ASCII", command=command, reply=reply
            ) from exc

    # -- filter wheel protocol ------------------------------------------------------------------
    @property
    def positions(self) -> range:
        return DG4_POSITIONS

    @property
    def n_positions(self) -> int:
        return len(DG4_POSITIONS)

    @property
    def position(self) -> int:
        """The last position this driver commanded (the DG-4 has no position query, §1.2)."""
        if self._position is None:
            raise LookupError(f"{self.instrument_label}: position unknown until the first move")
        return self._position

    def _check_position(self, position: int) -> int:
        if not isinstance(position, int) or position not in DG4_POSITIONS:
            raise ValueError(f"position must be an int in {DG4_POSITIONS} (§1.2), got {position!r}")
        return position

    def move(self, position: int, *, on_trigger: bool = False) -> None:
        """Select ``position`` and return at the completion CR (§1.2).

        With ``on_trigger=True`` the DG-4 moves on the next STROBE pulse (byte + 16); the call
        returns once the command is echoed and ``position`` is updated when the move is commanded,
        not when it happens.
        """
        self._check_position(position)
        if self.ring_buffer_running:
            raise RuntimeError("stop the ring buffer before selecting a filter")
        if on_trigger:
            self._command(position | DG4_ON_TRIGGER, completion_timeout_s=None)
        else:
            self._command(position, completion_timeout_s=DG4_SWITCH_TIME_S + self.timeout_s)
        self._position = position
        if position != 0:
            self._open_position = position

    def open_shutter(self) -> None:
        """Return to the last open position (Micro-Manager ``DG4Shutter``, §1.2)."""
        self.move(self._open_position)

    def close_shutter(self) -> None:
        """Move to position 0, shutter closed (§1.2 byte map)."""
        self.move(0)

    # -- ring buffer (§1.2) ---------------------------------------------------------------------
    def load_ring_buffer(self, positions: Sequence[int]) -> None:
        """Load the ring buffer: ``0xDF``, the filter bytes, ``0xF0`` (§1.2).

        Adjacent equal entries are refused: whether the "identical command is ignored" rule also
        applies while loading is unconfirmed (§1.2), so such a sequence could silently shorten.
        """
        entries = tuple(self._check_position(p) for p in positions)
        if not entries:
            raise ValueError("positions must not be empty")
        for index in range(1, len(entries)):
            if entries[index] == entries[index - 1]:
                raise ValueError(
                    f"positions[{index - 1}] and positions[{index}] are both {entries[index]}: "
                    "adjacent repeats may be dropped by the DG-4 (§1.2)"
                )
        if self.ring_buffer_running:
            raise RuntimeError("stop the ring buffer before loading a new one")
        self._command(DG4_LOAD_BUFFER, completion_timeout_s=None)
        for entry in entries:
            self._transact(bytes([entry]), completion_timeout_s=None)
        self._transact(bytes([DG4_END_LOAD]), completion_timeout_s=None)
        self.ring_buffer = entries

    def start_ring_buffer(self) -> None:
        """Run from the ring buffer, one entry per trigger pulse (``0xF1``, §1.2)."""
        if not self.ring_buffer:
            raise RuntimeError("load_ring_buffer() first")
        self._command(DG4_RUN_BUFFER, completion_timeout_s=None)
        self.ring_buffer_running = True
        self._position = None

    def stop_ring_buffer(self) -> None:
        """End the ring-buffer run (``0xF2``, §1.2); the position is unknown afterwards."""
        self._command(DG4_END_RUN, completion_timeout_s=None)
        self.ring_buffer_running = False
        self._position = None

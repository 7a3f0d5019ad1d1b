"""Sutter Lambda DG-4 / DG-5 wavelength switcher: binary serial protocol of
docs/reference/instruments.md §1.2.

The echo/CR framing shared with the Lambda 10-3 is :class:`SutterController`
(``_sutter_protocol``).
"""

from __future__ import annotations

from collections.abc import Sequence

from ._errors import InstrumentTimeout
from ._sutter_protocol import GO_ONLINE, IDENTIFY, SutterController
from ._transport import Port

__all__ = ["DG4_POSITIONS", "DG4_SWITCH_TIME_S", "SutterLambdaDG4"]

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


class SutterLambdaDG4(SutterController):
    """Sutter Lambda DG-4 / DG-5 galvo wavelength switcher (docs/reference/instruments.md §1.2).

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
        self.transact(command, completion_timeout_s=None, echo=False)
        self.online = True

    def _command(self, byte: int, *, completion_timeout_s: float | None) -> None:
        self.ensure_online()
        command = bytes([byte])
        repeat = bytes([DG4_REPEAT])
        if self.last_command is None:
            # State unknown after a failure: send the dummy. If the DG-4 ignores it, its previous
            # command was 0xAB already; either way the next command is not a repeat (§1.2).
            try:
                self.transact(repeat, completion_timeout_s=None)
            except InstrumentTimeout:
                self.last_command = repeat
        elif command == self.last_command:
            # §1.2: a repeat is neither echoed nor executed without the 0xAB dummy before it.
            self.transact(repeat, completion_timeout_s=None)
        self.transact(command, completion_timeout_s=completion_timeout_s)

    @property
    def id(self) -> str:  # type: ignore[override]
        """``0xFD`` reply, e.g. ``DG4/5V1.12SS-ON`` (§1.2 Plus/USB extras)."""
        command = bytes([IDENTIFY])
        self._command(IDENTIFY, completion_timeout_s=None)
        return self.read_identity(command)

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
            self.transact(bytes([entry]), completion_timeout_s=None)
        self.transact(bytes([DG4_END_LOAD]), completion_timeout_s=None)
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

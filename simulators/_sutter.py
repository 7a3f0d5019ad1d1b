"""Simulated Sutter Lambda 10-3 and Lambda DG-4 controllers (same bytes, timing on the clock).

Lambda 10-3 (docs/reference/instruments.md §1.1): on-line with ``0xEE`` (echo + CR; no reply when
already on-line), move byte ``wheel*128 + speed*16 + position`` (wheel C: ``FC`` prefix), per-byte
echo and a CR delayed by the manual's move-time table, shutters ``AA``-``AC`` / ``BA``-``BC``,
status ``0xCC``, identity ``0xFD``, shutter modes ``DC``/``DD``/``DE``. A move or shutter
command identical to the previous command gets no reply (§1.1 quirks). Optional quirks for
driver tests: ``nibble_echo`` (a 10-2 echoing only the position nibble) and ``stray_byte`` (an SC
sending ``0x01`` before the CR). Commands before ``0xEE`` are ignored (assumed: the controller
is in local mode until it is put on-line).

Lambda DG-4 (§1.2): ``0xEE`` enters serial mode and is not echoed; every other byte is echoed;
a command equal to the previous one is neither echoed nor executed (``0xAB`` in between makes a
repeat work); filter bytes 0-12 move the galvo and end with a CR after ~1.2 ms; bytes +16 move
on the next trigger; ring buffer ``DF`` … ``F0``, run ``F1``, end ``F2``. Call :meth:`trigger` for
each camera/STROBE pulse; ``history`` records the last position changes on the clock.
"""

from __future__ import annotations

from collections import deque

from ionrig.clock import Clock

from ._serial_instrument import Reply, SimulatedSerialInstrument

__all__ = ["SimulatedLambda10_3", "SimulatedLambdaDG4"]

CR = b"\r"  # §1.1: completion byte

# Move time (s), 10-position 25-mm wheel, by speed (rows) and positions moved (1-5); LB10-3
# manual p. 38 via navigate `sutter.py` (docs/reference/instruments.md §1.1 timing table).
MOVE_TIME_S: tuple[tuple[float, ...], ...] = (
    (0.031, 0.051, 0.074, 0.095, 0.115),
    (0.040, 0.065, 0.095, 0.120, 0.148),
    (0.044, 0.075, 0.105, 0.136, 0.168),
    (0.050, 0.088, 0.127, 0.165, 0.205),
    (0.060, 0.108, 0.156, 0.205, 0.250),
    (0.068, 0.123, 0.178, 0.235, 0.290),
    (0.124, 0.235, 0.350, 0.460, 0.580),
    (0.230, 0.440, 0.650, 0.860, 1.100),
)
SHUTTER_TIME_S = 0.002  # SmartShutter open/close time: not in the sources (unconfirmed)
SHUTTER_CODES = {
    0xAA: ("A", "open"),
    0xAB: ("A", "conditional"),
    0xAC: ("A", "close"),
    0xBA: ("B", "open"),
    0xBB: ("B", "conditional"),
    0xBC: ("B", "close"),
}  # §1.1
MODE_CODES = {0xDC: "fast", 0xDD: "soft", 0xDE: "nd"}  # §1.1 shutter modes
GO_ONLINE, GO_LOCAL, STATUS, IDENTIFY, WHEEL_C = 0xEE, 0xEF, 0xCC, 0xFD, 0xFC  # §1.1 table


def move_time_s(speed: int, steps: int) -> float:
    """Table move time; 0 positions take 0 s and the table stops at 5 positions (§1.1)."""
    return 0.0 if steps <= 0 else MOVE_TIME_S[speed][min(steps, 5) - 1]


class SimulatedLambda10_3(SimulatedSerialInstrument):
    """Lambda 10-3 controller with wheels A, B, C and shutters A, B (see the module docstring)."""

    kind = "lambda10-3"
    terminator = CR

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        n_positions: int = 10,
        config: str = "10-3WA-25WB-NCWC-NC",
        nibble_echo: bool = False,
        stray_byte: bool = False,
    ) -> None:
        super().__init__(clock)
        self.n_positions = n_positions
        self.config = config  # §1.1 0xFD reply (Rotr manual form)
        self.nibble_echo = nibble_echo
        self.stray_byte = stray_byte
        self.online = False
        self.wheel_position = {"A": 0, "B": 0, "C": 0}
        self.wheel_speed = {"A": 0, "B": 0, "C": 0}
        self.shutter_state = {"A": 0xAC, "B": 0xBC}  # closed
        self.shutter_mode: dict[str, tuple[str, int | None]] = {
            "A": ("fast", None),
            "B": ("fast", None),
        }
        #: (clock time the move ends, wheel, position) of the last moves (bounded, as
        #: ``received``).
        self.history: deque[tuple[float, str, int]] = deque(maxlen=self.received.maxlen)
        self._pending = bytearray()
        self._last: bytes | None = None

    @property
    def shutter_open(self) -> dict[str, bool]:
        return {name: state in (0xAA, 0xBA) for name, state in self.shutter_state.items()}

    # -- framing: commands are 1 byte, FC/DC/DD + 1, DE + 2 (§1.1) --------------------------------
    def _split(self, data: bytes) -> list[bytes]:
        messages = []
        for byte in data:
            self._pending.append(byte)
            first = self._pending[0]
            need = {WHEEL_C: 2, 0xDC: 2, 0xDD: 2, 0xDE: 3}.get(first, 1)
            if len(self._pending) >= need:
                messages.append(bytes(self._pending))
                self._pending.clear()
        return messages

    def _error_reply(self, message: bytes) -> list[Reply]:
        # No error reply exists (§1.1): echo a different, well-formed command, then CR.
        return [Reply(bytes([message[0] ^ 0x01]) + CR)]

    def _handle(self, message: bytes, now_s: float) -> list[Reply]:
        first = message[0]
        if first == GO_ONLINE:
            if self.online:
                return []  # §1.1 quirk: go on-line when already on-line may get no response
            self.online = True
            self._last = message
            return [Reply(message + CR)]
        if not self.online:
            return []
        repeated = message == self._last
        self._last = message
        is_move = first == WHEEL_C or ((first & 0x0F) <= 9 and first not in (STATUS, IDENTIFY))
        if repeated and (is_move or first in SHUTTER_CODES):
            return []  # §1.1 quirk: a command identical to the previous one gets no response
        if is_move:
            return self._move(message, now_s)
        if first in SHUTTER_CODES:
            shutter, action = SHUTTER_CODES[first]
            if action != "conditional":
                self.shutter_state[shutter] = first
                self.notify_observers("shutter", (shutter, self.shutter_open[shutter]))
            return [Reply(message), Reply(CR, SHUTTER_TIME_S)]
        if first == STATUS:
            return [Reply(message + self._status_bytes() + CR)]
        if first == IDENTIFY:
            return [Reply(message + self.config.encode("ascii") + CR)]
        if first in MODE_CODES:
            shutter = "A" if message[1] == 1 else "B"
            nd = message[2] if first == 0xDE else None
            self.shutter_mode[shutter] = (MODE_CODES[first], nd)
            return [Reply(message + CR)]
        if first == GO_LOCAL:
            self.online = False
            return [Reply(message + CR)]
        return [Reply(message)]  # other special bytes: echo only (§1.1: every byte is echoed)

    def _move(self, message: bytes, now_s: float) -> list[Reply]:
        byte = message[-1]
        wheel = "C" if message[0] == WHEEL_C else ("B" if byte & 0x80 else "A")
        speed, position = byte >> 4 & 7, byte & 0x0F
        if position >= self.n_positions:
            return [Reply(message)]
        distance = abs(position - self.wheel_position[wheel])
        steps = min(distance, self.n_positions - distance)
        duration = move_time_s(speed, steps)
        self.wheel_position[wheel] = position
        self.wheel_speed[wheel] = speed
        self.history.append((now_s + duration, wheel, position))
        self.notify_observers("wheel", (wheel, position))
        echo = bytes([*message[:-1], byte & 0x0F]) if self.nibble_echo else message
        done = b"\x01" + CR if self.stray_byte else CR
        return [Reply(echo), Reply(done, duration)]

    def _status_bytes(self) -> bytes:
        # §1.1 status table: wheel A, wheel B (bit 7), FC + wheel C, shutter A/B states, modes.
        def wheel(name: str, bit7: int) -> int:
            return bit7 | self.wheel_speed[name] << 4 | self.wheel_position[name]

        out = bytearray(
            [
                wheel("A", 0),
                wheel("B", 0x80),
                WHEEL_C,
                wheel("C", 0),
                self.shutter_state["A"],
                self.shutter_state["B"],
            ]
        )
        for shutter in ("A", "B"):
            mode, nd = self.shutter_mode[shutter]
            out.append({v: k for k, v in MODE_CODES.items()}[mode])
            if mode == "nd":
                out.append(nd or 1)
        return bytes(out)


DG4_SWITCH_TIME_S = 0.0012  # §1.2: ~1.2 ms between any two filters (exact table unconfirmed)
DG4_REPEAT, DG4_LOAD, DG4_END_LOAD, DG4_RUN, DG4_END_RUN = 0xAB, 0xDF, 0xF0, 0xF1, 0xF2  # §1.2


class SimulatedLambdaDG4(SimulatedSerialInstrument):
    """Lambda DG-4 with ring buffer and trigger input (see the module docstring)."""

    kind = "dg4"
    terminator = CR

    def __init__(self, clock: Clock | None = None, *, identity: str = "DG4/5V1.12SS-ON") -> None:
        super().__init__(clock)
        self.identity = identity  # §1.2: FD "DG4/5" "V1.12" "SS-ON"|"SS-NC" 0D
        self.online = False
        self.position = 0
        self.mode = "normal"  # "normal", "loading", "running"
        self.ring_buffer: list[int] = []
        self._ring_index = 0
        self._on_trigger: int | None = None
        self._last: bytes | None = None
        #: (clock time, position) of the last galvo position changes (bounded, as ``received``).
        self.history: deque[tuple[float, int]] = deque(maxlen=self.received.maxlen)

    def _split(self, data: bytes) -> list[bytes]:
        return [bytes([b]) for b in data]

    def _error_reply(self, message: bytes) -> list[Reply]:
        # No error reply exists (§1.2): echo a different, well-formed command, then CR.
        return [Reply(bytes([message[0] ^ 0x01]) + CR)]

    def _set_position(self, position: int, at_s: float) -> None:
        self.position = position
        self.history.append((at_s, position))
        self.notify_observers("filter", position)

    def trigger(self) -> None:
        """One TTL/STROBE pulse (e.g. the camera's "exposing" output): advance the ring buffer
        in run mode, or perform a pending on-trigger move (§1.2)."""
        with self.lock:
            now = self.clock.now_s()
            if self.mode == "running" and self.ring_buffer:
                entry = self.ring_buffer[self._ring_index % len(self.ring_buffer)]
                self._ring_index += 1
                self._set_position(entry, now + DG4_SWITCH_TIME_S)
            elif self._on_trigger is not None:
                self._set_position(self._on_trigger, now + DG4_SWITCH_TIME_S)
                self._on_trigger = None
                # CR after a triggered move: assumed like an immediate move (unconfirmed).
                self.schedule_replies(now, [Reply(CR, DG4_SWITCH_TIME_S)])

    def _handle(self, message: bytes, now_s: float) -> list[Reply]:
        byte = message[0]
        if byte == 0xEE:
            self.online = True  # §1.2: EE is the only command that is not echoed
            self._last = message
            return []
        if not self.online:
            return []  # parallel mode: serial commands are not listened to (§1.2)
        if message == self._last:
            return []  # §1.2: a command equal to the previous one is neither echoed nor executed
        self._last = message
        if self.mode == "loading":
            if byte == DG4_END_LOAD:
                self.mode = "normal"
            elif byte < 16:
                self.ring_buffer.append(byte)
            return [Reply(message)]
        if byte == DG4_LOAD:
            self.mode, self.ring_buffer = "loading", []
            return [Reply(message)]
        if byte == DG4_RUN:
            self.mode, self._ring_index = "running", 0
            return [Reply(message)]
        if byte == DG4_END_RUN:
            self.mode = "normal"
            return [Reply(message)]
        if byte == 0xFD:
            return [Reply(message + self.identity.encode("ascii") + CR)]
        if self.mode == "normal" and byte <= 12:
            self._set_position(byte, now_s + DG4_SWITCH_TIME_S)
            return [Reply(message), Reply(CR, DG4_SWITCH_TIME_S)]
        if self.mode == "normal" and 16 <= byte <= 28:
            self._on_trigger = byte - 16
            return [Reply(message)]
        return [Reply(message)]  # AB and other bytes: echo only

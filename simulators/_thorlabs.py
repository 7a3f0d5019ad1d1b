"""Simulated Thorlabs FW102C / FW212C filter wheel (docs/reference/instruments.md §1.3).

Lower-case ASCII commands ending in ``\\r``. Every command is echoed with ``\\r``; a query adds its
value and ``\\r``; the prompt ``"> "`` ends every reply. ``pos=n`` echoes at once and sends the
prompt when the move has finished (whether the real wheel does this is unconfirmed, §1.3).
Errors: the echo, ``Command error CMD_NOT_DEFINED\\n`` or ``… CMD_ARG_INVALID\\n`` (error lines
end with ``\\n``; exact text unconfirmed), then the prompt. The move time is undocumented
(§1.3); the simulator uses ``MOVE_TIME_PER_POSITION_S`` along the shorter way round.
"""

from __future__ import annotations

import re
from collections import deque

from ionrig.clock import Clock

from ._serial_instrument import Reply, SimulatedSerialInstrument

__all__ = ["SimulatedFW102C"]

PROMPT = b"> "  # §1.3 framing
# Move time per position by speed setting (0 slow, 1 fast): undocumented, unconfirmed (§1.3).
MOVE_TIME_PER_POSITION_S = {0: 1.0, 1: 0.4}
IDENTITY = "THORLABS FW102C/FW212C Filter Wheel version 1.07"  # *idn? text: unconfirmed
_SET = re.compile(r"(pos|pcount|trig|speed|sensors|baud)=(\d+)")


class SimulatedFW102C(SimulatedSerialInstrument):
    """FW102C (``n_positions=6``) or FW212C (12) with the §1.3 command set.

    :meth:`trigger` is an active-low pulse on the trigger input: in input mode (``trig=0``) it
    advances one position. ``history`` records (clock time the move ends, position).
    """

    kind = "fw102c"
    terminator = PROMPT

    def __init__(self, clock: Clock | None = None, *, n_positions: int = 6) -> None:
        super().__init__(clock)
        if n_positions not in (6, 12):
            raise ValueError(f"n_positions must be 6 or 12, got {n_positions!r}")
        self.settings = {
            "pos": 1,
            "pcount": n_positions,
            "trig": 0,
            "speed": 1,
            "sensors": 0,
            "baud": 1,
        }
        self.saved: dict[str, int] | None = None
        #: (clock time the move ends, position) of the last moves (bounded, as ``received``).
        self.history: deque[tuple[float, int]] = deque(maxlen=self.received.maxlen)
        self._pending = bytearray()

    @property
    def position(self) -> int:
        return self.settings["pos"]

    def _split(self, data: bytes) -> list[bytes]:
        messages = []
        for byte in data:
            if byte == 0x0D:  # §1.3: commands end with \r
                messages.append(bytes(self._pending))
                self._pending.clear()
            else:
                self._pending.append(byte)
        return messages

    def _error(self, message: bytes, token: str) -> list[Reply]:
        return [Reply(message + b"\r" + f"Command error {token}\n".encode() + PROMPT)]

    def _error_reply(self, message: bytes) -> list[Reply]:
        return self._error(message, "CMD_NOT_DEFINED")

    def _move_time_s(self, target: int) -> float:
        n = self.settings["pcount"]
        distance = abs(target - self.settings["pos"])
        return min(distance, n - distance) * MOVE_TIME_PER_POSITION_S[self.settings["speed"]]

    def _handle(self, message: bytes, now_s: float) -> list[Reply]:
        echo = message + b"\r"
        try:
            command = message.decode("ascii")
        except UnicodeDecodeError:
            return self._error(message, "CMD_NOT_DEFINED")
        if command == "*idn?":
            return [Reply(echo + IDENTITY.encode() + b"\r" + PROMPT)]
        if command == "save":
            self.saved = dict(self.settings)
            return [Reply(echo + PROMPT)]
        if command.endswith("?") and command[:-1] in self.settings:
            return [Reply(echo + f"{self.settings[command[:-1]]}\r".encode() + PROMPT)]
        match = _SET.fullmatch(command)
        if match is None:
            return self._error(message, "CMD_NOT_DEFINED")
        name, value = match[1], int(match[2])
        allowed = {
            "pos": range(1, self.settings["pcount"] + 1),
            "pcount": (6, 12),
        }.get(name, (0, 1))
        if value not in allowed:
            return self._error(message, "CMD_ARG_INVALID")
        if name == "pos":
            duration = self._move_time_s(value)
            self.settings["pos"] = value
            self.history.append((now_s + duration, value))
            return [Reply(echo), Reply(PROMPT, duration)]
        self.settings[name] = value
        if name == "pcount" and self.settings["pos"] > value:
            self.settings["pos"] = 1
        return [Reply(echo + PROMPT)]

    def trigger(self) -> None:
        """Active-low pulse on the trigger input: one position forward in input mode (§1.3)."""
        with self.lock:
            if self.settings["trig"] != 0:
                return
            now = self.clock.now_s()
            target = self.settings["pos"] % self.settings["pcount"] + 1
            duration = self._move_time_s(target)
            self.settings["pos"] = target
            self.history.append((now + duration, target))

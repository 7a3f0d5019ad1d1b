"""A scripted serial port for the cases pymeasure's ProtocolAdapter cannot express: silence,
replies that stop part-way, and replies that arrive late."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest
import serial

# One scripted answer per write: None (silence), bytes (at once), or [(delay_s, bytes), …]
# with real delays counted from the write.
Answer = bytes | Sequence[tuple[float, bytes]] | None


class ScriptedPort(serial.SerialBase):
    """Answers the n-th write with the n-th scripted answer; reads time out like a real port."""

    def __init__(self, answers: Sequence[Answer]) -> None:
        super().__init__()
        self.answers = list(answers)
        self.written: list[bytes] = []
        self._queue: list[tuple[float, bytes]] = []
        self.is_open = True

    def open(self) -> None:
        self.is_open = True

    def close(self) -> None:
        self.is_open = False

    def _reconfigure_port(self, force_update: bool = False) -> None:
        pass

    def write(self, data: bytes) -> int:
        self.written.append(bytes(data))
        answer = self.answers.pop(0) if self.answers else None
        now = time.monotonic()
        if isinstance(answer, bytes):
            self._queue.append((now, answer))
        elif answer is not None:
            self._queue.extend((now + delay, chunk) for delay, chunk in answer)
        return len(data)

    def _due(self) -> bytes:
        now = time.monotonic()
        out = bytearray()
        while self._queue and self._queue[0][0] <= now:
            out += self._queue.pop(0)[1]
        if out:
            self._queue.insert(0, (now, bytes(out)))
        return bytes(out)

    def read(self, size: int = 1) -> bytes:
        deadline = time.monotonic() + (self.timeout or 0)
        while True:
            due = self._due()
            if due:
                self._queue[0] = (self._queue[0][0], due[size:])
                if not due[size:]:
                    self._queue.pop(0)
                return due[:size]
            if time.monotonic() >= deadline:
                return b""
            time.sleep(0.001)

    @property
    def in_waiting(self) -> int:
        return len(self._due())

    def reset_input_buffer(self) -> None:
        now = time.monotonic()
        self._queue = [(t, chunk) for t, chunk in self._queue if t > now]

    def reset_output_buffer(self) -> None:
        pass


@pytest.fixture
def scripted_port():
    """Factory: ``scripted_port([answer, …])`` → a :class:`ScriptedPort`."""
    return ScriptedPort

"""Base of the protocol-accurate simulated serial instruments (docs/reference/instruments.md §5.3).

A simulated instrument is a plain object with a byte interface, seen from the host:

- ``write(data)``: bytes the driver sends; each complete message is executed by the state model
  at the current clock time;
- ``read(n)``: up to ``n`` reply bytes that are due by now (never blocks);
- ``wait_readable(timeout_s)``: block (real seconds) until a byte is due;
- ``reset_input()``: discard queued output, *including replies not yet due* (a simplification:
  a real port would still receive them later);
- ``inject(fault)``: arm a :class:`~ionrig.simulators._faults.Fault`.

Replies are scheduled on the instrument's clock (``ScaledClock(1.0)`` unless one is given), so
a 40 ms filter move at ``time_scale=10000`` lasts 4 µs of wall time. While a ``DISCONNECT`` fault
is active, ``write``/``read`` raise ``ConnectionError``; the pyserial URL handler
(:mod:`ionrig.simulators._serial_url`) turns that into ``serial.SerialException``.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ionrig.clock import Clock, ScaledClock

from ._faults import Fault, FaultKind, FaultSchedule

__all__ = ["Reply", "SimulatedSerialInstrument"]

# Noise sent by a GARBAGE fault before the protocol's terminator.
NOISE = b"\xfe\x81?\x00~"


@dataclass(frozen=True)
class Reply:
    """Bytes the instrument sends ``delay_s`` clock seconds after the command arrived."""

    data: bytes
    delay_s: float = 0.0


class SimulatedSerialInstrument(ABC):
    """Byte interface, reply scheduling on the clock and fault handling.

    Subclasses set ``kind`` (the default URL name), ``terminator`` (appended to garbage),
    implement ``_split(data)`` to cut the incoming byte stream into messages, ``_handle(message,
    now_s)`` returning the replies, and ``_error_reply(message)``.
    """

    kind = "instrument"
    terminator = b""

    def __init__(self, clock: Clock | None = None, *, history_length: int = 10_000) -> None:
        self.clock: Clock = clock if clock is not None else ScaledClock(1.0)
        self._cond = threading.Condition(threading.RLock())
        self._out: deque[tuple[float, bytes]] = deque()
        self._faults = FaultSchedule()
        self._was_disconnected = False
        #: The last ``history_length`` messages received, with the clock time (for tests and
        #: the demo; bounded, so a long night does not grow it).
        self.received: deque[tuple[float, bytes]] = deque(maxlen=history_length)
        #: How many messages were received in all.
        self.n_received = 0
        #: Callables ``(what, value)`` told of every state change that acts on the world
        #: (a filter in place, a shutter opened); see :mod:`ionrig.simulators._bindings`.
        self.observers: list[Callable[[str, Any], None]] = []

    def notify_observers(self, what: str, value: Any) -> None:
        """Tell every observer that ``what`` changed to ``value`` (for subclasses)."""
        for observer in self.observers:
            observer(what, value)

    @property
    def lock(self) -> threading.Condition:
        """The instrument's lock, for subclasses changing state outside :meth:`write`."""
        return self._cond

    # -- faults ---------------------------------------------------------------------------------
    def inject(self, fault: Fault) -> None:
        """Arm ``fault`` (see :mod:`ionrig.simulators._faults`)."""
        self._faults.add(fault)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def faults(self) -> tuple[Fault, ...]:
        return self._faults.faults

    @property
    def connected(self) -> bool:
        """False while a DISCONNECT fault window is open."""
        with self._cond:
            gone = self._faults.disconnected(self.clock.now_s())
            if gone and not self._was_disconnected:
                self._out.clear()  # output in flight is lost with the cable
            self._was_disconnected = gone
            return not gone

    def _check_connected(self) -> None:
        if not self.connected:
            raise ConnectionError(f"simulated {self.kind} is disconnected")

    # -- host side ------------------------------------------------------------------------------
    def write(self, data: bytes) -> int:
        """Receive ``data`` from the host; complete messages are executed now."""
        with self._cond:
            self._check_connected()
            for message in self._split(bytes(data)):
                self._execute(message)
            return len(data)

    def read(self, n: int) -> bytes:
        """Return up to ``n`` bytes that are due by now (non-blocking)."""
        with self._cond:
            self._check_connected()
            now = self.clock.now_s()
            out = bytearray()
            while self._out and len(out) < n and self._out[0][0] <= now:
                ready, chunk = self._out.popleft()
                take = chunk[: n - len(out)]
                out += take
                if len(take) < len(chunk):
                    self._out.appendleft((ready, chunk[len(take) :]))
            return bytes(out)

    @property
    def in_waiting(self) -> int:
        """Number of bytes due by now."""
        with self._cond:
            now = self.clock.now_s()
            return sum(len(chunk) for ready, chunk in self._out if ready <= now)

    def seconds_until_readable(self) -> float | None:
        """Real seconds until the next byte is due (0 if one is), ``None`` if nothing is queued."""
        with self._cond:
            if not self._out:
                return None
            return self.clock.real_seconds(self._out[0][0] - self.clock.now_s())

    def wait_readable(self, timeout_s: float) -> bool:
        """Block up to ``timeout_s`` real seconds until a byte is due; True if one is."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                wait = self.seconds_until_readable()
                if wait == 0:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                step = remaining if wait is None else min(wait, remaining)
                self._cond.wait(min(step, 0.05))  # re-check faults and the clock regularly

    def reset_input(self) -> None:
        """Discard all queued output (see the module docstring)."""
        with self._cond:
            self._out.clear()

    # -- scheduling -----------------------------------------------------------------------------
    def schedule_replies(self, now_s: float, replies: list[Reply]) -> None:
        """Queue ``replies`` sent after a command at clock time ``now_s`` (s), in order."""
        for reply in replies:
            if not reply.data:
                continue
            ready = now_s + reply.delay_s
            if self._out and self._out[-1][0] > ready:
                ready = self._out[-1][0]  # bytes leave the UART in order
            self._out.append((ready, reply.data))
        self._cond.notify_all()

    def _execute(self, message: bytes) -> None:
        now = self.clock.now_s()
        self.received.append((now, message))
        self.n_received += 1
        fault = self._faults.take(now)
        kind = fault.kind if fault is not None else None
        if kind is FaultKind.NO_REPLY:
            return
        if kind is FaultKind.ERROR_REPLY:
            self.schedule_replies(now, self._error_reply(message))
            return
        replies = self._handle(message, now)
        if kind is FaultKind.GARBAGE:
            replies = [Reply(NOISE + self.terminator)] if replies else []
        elif kind is FaultKind.PARTIAL:
            whole = b"".join(r.data for r in replies)
            keep = len(whole) // 2
            kept: list[Reply] = []
            for reply in replies:
                if keep <= 0:
                    break
                kept.append(Reply(reply.data[:keep], reply.delay_s))
                keep -= len(reply.data)
            replies = kept
        elif kind is FaultKind.SLOW_REPLY:
            assert fault is not None
            replies = [Reply(r.data, r.delay_s + fault.delay_s) for r in replies]
        self.schedule_replies(now, replies)

    # -- subclass hooks -------------------------------------------------------------------------
    @abstractmethod
    def _split(self, data: bytes) -> list[bytes]:
        """Cut the incoming byte stream into complete messages (keep partial ones)."""

    @abstractmethod
    def _handle(self, message: bytes, now_s: float) -> list[Reply]:
        """Execute one message at clock time ``now_s``; return the replies it causes."""

    @abstractmethod
    def _error_reply(self, message: bytes) -> list[Reply]:
        """The instrument's error reply to ``message`` (for ``ERROR_REPLY`` faults)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} kind={self.kind!r} clock={self.clock!r}>"

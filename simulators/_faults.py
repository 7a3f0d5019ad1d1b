"""Fault injection for simulated serial instruments.

A :class:`Fault` is armed on an instrument with ``instrument.inject(fault)``. It becomes active
at clock time ``at_s`` (the instrument's rig clock, see :mod:`ionrig.clock`) and
affects either the next ``count`` commands received from then on, or every command received
during ``duration_s`` of clock time (whichever ends first when both are given; one command when
neither is). ``DISCONNECT`` is the exception: it is a time window, the port is gone from ``at_s``
for ``duration_s`` and comes back by itself.

Kinds and what the instrument does with an affected command:

- ``NO_REPLY``: the command is lost on the line: not executed, no reply.
- ``GARBAGE``: executed; the reply is replaced by line noise (ending in the protocol's
  terminator, so the driver notices at once).
- ``PARTIAL``: executed; only the first half of the reply is sent.
- ``ERROR_REPLY``: not executed; the instrument's own error reply is sent (Thorlabs
  ``CMD_NOT_DEFINED``, New Era ``?NA``; Sutter controllers have no error reply, so they echo a
  different, well-formed command: docs/reference/instruments.md §1.1).
- ``SLOW_REPLY``: executed; every reply byte is delayed by ``delay_s`` (clock seconds).
- ``DISCONNECT``: reads and writes fail (pyserial ``SerialException``) and queued output is lost
  while the window lasts.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["Fault", "FaultKind", "FaultSchedule"]


class FaultKind(StrEnum):
    """What goes wrong (see the module docstring)."""

    NO_REPLY = "no_reply"
    GARBAGE = "garbage"
    PARTIAL = "partial"
    DISCONNECT = "disconnect"
    ERROR_REPLY = "error_reply"
    SLOW_REPLY = "slow_reply"


@dataclass(frozen=True)
class Fault:
    """One fault: ``kind`` from clock time ``at_s`` for ``count`` commands or ``duration_s``.

    ``delay_s`` is the extra reply delay of a ``SLOW_REPLY`` fault, in clock seconds (a driver
    timeout of 0.2 real seconds is ``0.2 * time_scale`` clock seconds).
    """

    kind: FaultKind
    at_s: float = 0.0
    duration_s: float | None = None
    count: int | None = None
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", FaultKind(self.kind))
        if self.at_s < 0:
            raise ValueError(f"at_s must be >= 0, got {self.at_s!r}")
        if self.duration_s is not None and not self.duration_s > 0:
            raise ValueError(f"duration_s must be > 0, got {self.duration_s!r}")
        if self.count is not None and (not isinstance(self.count, int) or self.count < 1):
            raise ValueError(f"count must be an int >= 1, got {self.count!r}")
        if self.kind is FaultKind.DISCONNECT:
            if self.duration_s is None or self.count is not None:
                raise ValueError("a DISCONNECT fault needs duration_s (and no count)")
        elif self.duration_s is None and self.count is None:
            object.__setattr__(self, "count", 1)
        if self.kind is FaultKind.SLOW_REPLY and not self.delay_s > 0:
            raise ValueError("a SLOW_REPLY fault needs delay_s > 0 (clock seconds)")

    def ends_s(self) -> float:
        """Clock time the fault's window closes (``inf`` for count-only faults)."""
        return float("inf") if self.duration_s is None else self.at_s + self.duration_s


@dataclass
class _Armed:
    fault: Fault
    remaining: int | None = field(default=None)


class FaultSchedule:
    """The faults armed on one instrument (thread-safe)."""

    def __init__(self) -> None:
        self._armed: list[_Armed] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._armed.append(_Armed(fault, fault.count))

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    @property
    def faults(self) -> tuple[Fault, ...]:
        """Faults still armed (not yet used up or expired by the last check)."""
        with self._lock:
            return tuple(a.fault for a in self._armed)

    def disconnected(self, now_s: float) -> bool:
        """True while a DISCONNECT window contains ``now_s``."""
        with self._lock:
            return any(
                a.fault.kind is FaultKind.DISCONNECT and a.fault.at_s <= now_s < a.fault.ends_s()
                for a in self._armed
            )

    def take(self, now_s: float) -> Fault | None:
        """The fault that applies to a command received at ``now_s`` (uses up one count)."""
        with self._lock:
            self._armed = [a for a in self._armed if now_s < a.fault.ends_s()]
            for armed in self._armed:
                fault = armed.fault
                if fault.kind is FaultKind.DISCONNECT or now_s < fault.at_s:
                    continue
                if armed.remaining is not None:
                    armed.remaining -= 1
                    if armed.remaining == 0:
                        self._armed.remove(armed)
                return fault
            return None

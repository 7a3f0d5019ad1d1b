"""The rig clock: wall time on real rigs, accelerated time on simulated ones.

Every rig owns exactly one clock. Simulated instruments take their physical delays from it
(a 45-min dye loading at ``time_scale=10000`` waits 0.27 s of wall time), plans stamp every event
with ``t_s`` read from it, and the session makes the RunEngine's ``sleep`` follow it.

Real I/O timeouts (ophyd-async's, pyserial's) are *not* scaled: they guard real waits, and the
shortened physical delays of simulated instruments never trip them.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ScaledClock", "SteppedClock", "WallClock"]


@runtime_checkable
class Clock(Protocol):
    """What every part of ionrig needs from a clock. Times are in seconds."""

    @property
    def time_scale(self) -> float:
        """Simulated seconds per real second (1 on real rigs)."""
        ...

    def now_s(self) -> float:
        """Seconds since the clock started (monotonic)."""
        ...

    def sleep_s(self, duration_s: float) -> None:
        """Block the calling thread for ``duration_s`` of clock time."""
        ...

    async def async_sleep_s(self, duration_s: float) -> None:
        """Wait ``duration_s`` of clock time without blocking the event loop."""
        ...

    def real_seconds(self, duration_s: float) -> float:
        """How many real seconds ``duration_s`` of clock time lasts."""
        ...


class ScaledClock:
    """Clock time = ``time_scale`` × real elapsed time (monotonic), plus an optional offset.

    ``time_scale=1`` is wall time, which is what real rigs use (:class:`WallClock`).
    ``advance_s`` moves the clock forward instantly (tests and "skip the wait" rehearsals).
    """

    def __init__(self, time_scale: float = 1.0) -> None:
        if not time_scale > 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale!r}")
        self._time_scale = float(time_scale)
        self._t0_real = time.monotonic()
        self._offset_s = 0.0
        self._lock = threading.Lock()

    @property
    def time_scale(self) -> float:
        return self._time_scale

    def now_s(self) -> float:
        with self._lock:
            return (time.monotonic() - self._t0_real) * self._time_scale + self._offset_s

    def advance_s(self, duration_s: float) -> None:
        """Jump the clock forward by ``duration_s`` (never backward)."""
        if duration_s < 0:
            raise ValueError(f"duration_s must be >= 0, got {duration_s!r}")
        with self._lock:
            self._offset_s += duration_s

    def real_seconds(self, duration_s: float) -> float:
        return max(0.0, duration_s) / self._time_scale

    def sleep_s(self, duration_s: float) -> None:
        time.sleep(self.real_seconds(duration_s))

    async def async_sleep_s(self, duration_s: float) -> None:
        await asyncio.sleep(self.real_seconds(duration_s))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(time_scale={self._time_scale:g})"


class WallClock(ScaledClock):
    """Real time: the clock of every real rig."""

    def __init__(self) -> None:
        super().__init__(time_scale=1.0)

    def advance_s(self, duration_s: float) -> None:
        raise RuntimeError("a real rig's wall clock cannot be advanced")


class SteppedClock:
    """Simulated time that moves only when someone waits on it: deterministic tests, no sleeping.

    ``sleep_s``/``async_sleep_s`` advance the clock instantly by the duration (and return at
    once), ``advance_s`` likewise; ``now_s`` never moves by itself. Simulated time is therefore
    exactly the sum of the physical delays asked for, independent of real-time jitter, and a
    world driven by this clock evolves identically on every run. ``time_scale`` is infinite
    (no real time passes per simulated second) and ``real_seconds`` is 0.
    """

    def __init__(self, start_s: float = 0.0) -> None:
        if not start_s >= 0:
            raise ValueError(f"start_s must be >= 0, got {start_s!r}")
        self._now_s = float(start_s)
        self._lock = threading.Lock()

    @property
    def time_scale(self) -> float:
        return float("inf")

    def now_s(self) -> float:
        with self._lock:
            return self._now_s

    def advance_s(self, duration_s: float) -> None:
        """Move the clock forward by ``duration_s`` (never backward)."""
        if not duration_s >= 0:
            raise ValueError(f"duration_s must be >= 0, got {duration_s!r}")
        with self._lock:
            self._now_s += float(duration_s)

    def real_seconds(self, duration_s: float) -> float:
        return 0.0

    def sleep_s(self, duration_s: float) -> None:
        self.advance_s(max(0.0, duration_s))

    async def async_sleep_s(self, duration_s: float) -> None:
        self.advance_s(max(0.0, duration_s))
        await asyncio.sleep(0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(now_s={self.now_s():g})"

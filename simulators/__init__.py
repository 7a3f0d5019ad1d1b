"""Simulated rig: pure physics and protocol-accurate fake instruments (no bluesky, no ophyd)."""

from ._clock import Clock, ScaledClock, WallClock

__all__ = ["Clock", "ScaledClock", "WallClock"]

"""Reads whose answer survives a pause or a suspension of the RunEngine."""

from __future__ import annotations

from typing import Any

import bluesky.plan_stubs as bps
from bluesky.utils import MsgGenerator

from ionrig.devices import Rig

__all__ = ["read_reading", "rig_time_s"]

#: A read is retried this often; only an interruption per attempt would exhaust it.
READ_ATTEMPTS = 5


def read_reading(obj: Any) -> MsgGenerator[dict[str, Any]]:
    """``bps.read(obj)`` (plan stub, no event needed) that returns a reading even when a pause
    or a suspension falls into it.

    An interrupted RunEngine, on resuming, replays the messages since the last checkpoint and
    then answers the message it was processing with ``None`` (bluesky 1.15, ``RunEngine._run``);
    ``bps.rd`` turns that into its default, 0. A plan that used that answer would take the rig
    time for 0 s or hold no reading. Read again instead.
    """
    for _ in range(READ_ATTEMPTS):
        reading = yield from bps.read(obj)
        if reading is not None:
            return reading
    raise RuntimeError(
        f"{getattr(obj, 'name', obj)!s} gave no reading in {READ_ATTEMPTS} attempts: the plan "
        "is not being run by a RunEngine, or every attempt was interrupted"
    )


def rig_time_s(rig: Rig) -> MsgGenerator[float]:
    """The rig clock's time in s (plan stub), read so that an interruption cannot turn it
    into 0 (:func:`read_reading`)."""
    reading = yield from read_reading(rig.t_s)
    return float(next(iter(reading.values()))["value"])

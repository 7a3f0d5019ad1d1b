"""The fixed-rate schedule of periodic plans (pairs, ramps) on the rig clock."""

from __future__ import annotations

from dataclasses import dataclass

import bluesky.plan_stubs as bps
import numpy as np
from bluesky.utils import MsgGenerator

from ionrig.devices import Rig

from ._reading import rig_time_s

__all__ = ["Schedule", "due_slot", "next_tick", "paced"]


def paced(
    rig: Rig, first_s: float | None, slot: int, interval_s: float
) -> MsgGenerator[tuple[int, float]]:
    """Fixed-rate schedule on the rig clock (plan stub): slot ``k`` is due at ``first_s + k *
    interval_s``. Sleeps until ``slot`` is due (no wait while ``first_s`` is None or
    ``interval_s`` is 0) and returns ``(slot taken, rig time at the start)``.

    A plan that has fallen behind (a slow instrument, a stalled computer, real overhead
    multiplied by a simulated rig's ``time_scale``) does not take the missed slots back to
    back: it moves on to the slot nearest the present (:func:`due_slot`), so samples stay on the
    grid, never bunch up, and a timed phase ends on time.
    """
    if interval_s and first_s is not None:
        now_s = yield from rig_time_s(rig)
        slot = due_slot(first_s, slot, interval_s, now_s)
        wait_s = first_s + slot * interval_s - now_s
        if wait_s > 0:
            yield from bps.sleep(wait_s)
    return slot, (yield from rig_time_s(rig))


def due_slot(first_s: float, slot: int, interval_s: float, now_s: float) -> int:
    """The schedule slot to take next at rig time ``now_s`` (s): ``slot``, or the slot nearest
    ``now_s`` when ``slot`` is more than half an interval overdue (missed slots are skipped)."""
    nearest = int(np.floor((now_s - first_s) / interval_s + 0.5))
    return max(slot, nearest)


@dataclass
class Schedule:
    """The state of one fixed-rate schedule on the rig clock: the period (s; 0 for back to
    back), the rig time of the first tick (s; ``None`` before it) and the next slot."""

    interval_s: float
    first_s: float | None = None
    slot: int = 0


def next_tick(rig: Rig, schedule: Schedule) -> MsgGenerator[float]:
    """Wait for ``schedule``'s next slot (plan stub, :func:`paced`), then advance it; returns
    the rig time (s) at the tick's start."""
    slot, t_s = yield from paced(rig, schedule.first_s, schedule.slot, schedule.interval_s)
    schedule.first_s = t_s if schedule.first_s is None else schedule.first_s
    schedule.slot = slot + 1
    return t_s

"""The rig: one ophyd-async Device whose children are the instruments, by role."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bluesky.protocols import Reading, Stageable
from event_model import DataKey
from ophyd_async.core import AsyncStatus, Device

from ionrig.clock import Clock

from ._amplifier import PatchAmplifier
from ._analog import PressureController, TemperatureController
from ._camera import Camera
from ._excitation import FrameExcitation
from ._filter_wheel import FilterWheel
from ._ophyd_async_adapter import set_own_name
from ._perfusion import Perfusion
from ._sequencer import ExcitationSequencer
from ._soft_roles import SoftAmplifier, SoftPerfusion

__all__ = ["ROLES", "ClockReadable", "Rig"]

#: Roles every rig has, in the order they connect.
ROLES = ("filter_wheel", "camera", "perfusion", "amplifier", "pressure", "temperature")


async def _awaited(step) -> None:
    await step


class ClockReadable:
    """Reads the rig clock's time (s) as data key ``t_s``: the time base of every stream.

    A plain bluesky Readable rather than an ophyd-async signal, because a staged signal serves
    reads from its cache, and a time read from a cache would be stale.
    """

    def __init__(self, clock: Clock, name: str = "t_s") -> None:
        self.clock = clock
        self.name = name
        self.parent = None

    def describe(self) -> dict[str, DataKey]:
        return {self.name: DataKey(source="rig clock", dtype="number", shape=[], units="s")}

    def read(self) -> dict[str, Reading]:
        return {self.name: Reading(value=self.clock.now_s(), timestamp=time.time())}


class Rig(Device, Stageable):
    """The instruments of one rig, by role, plus its clock.

    Children are named by role alone (``camera``, ``camera-excitation_nm``, ``t_s``), so data
    keys do not depend on what the rig object is called. ``world`` is the simulated world
    (ground truth) on simulated rigs and ``None`` on real ones; ``config`` the parsed rig file.
    The camera records each frame's excitation from the rig's :class:`FrameExcitation` (its
    sequencer while one runs, else its filter wheel).
    """

    def __init__(
        self,
        *,
        filter_wheel: FilterWheel,
        camera: Camera,
        perfusion: Perfusion | SoftPerfusion,
        amplifier: PatchAmplifier | SoftAmplifier,
        pressure: PressureController | None = None,
        temperature: TemperatureController | None = None,
        sequencer: ExcitationSequencer | None = None,
        clock: Clock,
        world: Any = None,
        config: Any = None,
        name: str = "rig",
    ) -> None:
        self.filter_wheel = filter_wheel
        self.camera = camera
        self.perfusion = perfusion
        self.amplifier = amplifier
        if pressure is not None:
            self.pressure = pressure
        if temperature is not None:
            self.temperature = temperature
        if sequencer is not None:  # hardware-timed excitation (DG-4 ring buffer)
            self.sequencer = sequencer
        camera.set_excitation(FrameExcitation(filter_wheel, sequencer))
        self.t_s = ClockReadable(clock)
        self.clock = clock
        self.world = world
        self.config = config
        #: Ratio → [Mg²⁺] constants of the latest in-situ calibration run on this rig (a dict
        #: with ``source_uid``), set by ``ionrig.plans.calibrate_in_situ``; ``None`` until then.
        self.in_situ_calibration: dict | None = None
        #: The pipette (internal) solution's name and every named solution's composition (mM),
        #: for the patch plans' methods; the rig loader fills them from the rig file.
        self.pipette_solution: str | None = None
        self.solution_compositions: dict[str, dict[str, float]] = {}
        #: every named solution (ionrig.chemistry.Solution: recipe, free ions, osmolality)
        self.solutions: dict[str, Any] = {}
        super().__init__(name=name)

    @AsyncStatus.wrap
    async def stage(self) -> None:
        """Stage every instrument that stages (detectors arm, readables start caching).

        bluesky's ``stage_wrapper`` stages a device's *root ancestor*, which for every role is
        the rig: without this, ``bp.count([rig.camera])`` would never stage the camera.
        """
        await asyncio.gather(*(c.stage() for _, c in self.children() if isinstance(c, Stageable)))

    @AsyncStatus.wrap
    async def unstage(self) -> None:
        """Unstage every instrument that stages (detectors close their files)."""
        await asyncio.gather(*(c.unstage() for _, c in self.children() if isinstance(c, Stageable)))

    async def make_safe(self) -> None:
        """Put every instrument in its safe state: shutter closed, holding potential and pipette
        pressure to their safe values, perfusion flow stopped. Each role is tried even if an
        earlier one fails; the first error is raised at the end."""
        steps = [self.filter_wheel.shutter.close()]
        for role, method in (
            ("amplifier", "make_safe"),
            ("pressure", "make_safe"),
            ("perfusion", "stop_flow"),
        ):
            action = getattr(getattr(self, role, None), method, None)
            if action is not None:
                steps.append(action())
        results = await asyncio.gather(*(_awaited(step) for step in steps), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    @property
    def simulated(self) -> bool:
        return self.world is not None

    def set_name(self, name: str, *, child_name_separator: str | None = None) -> None:
        """Name the rig; its children keep their role names (``camera``, not ``rig-camera``)."""
        set_own_name(self, name)
        for role, child in self.children():
            child.set_name(role, child_name_separator=child_name_separator)

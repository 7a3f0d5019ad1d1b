"""The rig: one ophyd-async Device whose children are the instruments, by role."""

from __future__ import annotations

from typing import Any

from ophyd_async.core import Device, SignalR, soft_signal_r_and_setter

from ionrig.simulators import Clock

from ._camera import Camera
from ._filter_wheel import FilterWheel
from ._soft_roles import SoftAmplifier, SoftPerfusion

__all__ = ["ROLES", "Rig", "clock_signal"]

#: Roles every rig has, in the order they connect.
ROLES = ("filter_wheel", "camera", "perfusion", "amplifier")


def clock_signal(clock: Clock, name: str = "t_s") -> SignalR[float]:
    """A readable whose value is the rig clock's time (s): the ``t_s`` key of every stream."""
    signal, _ = soft_signal_r_and_setter(float, 0.0, name=name, units="s", getter=clock.now_s)
    return signal


class Rig(Device):
    """The instruments of one rig, by role, plus its clock.

    Children are named by role alone (``camera``, ``filter_wheel-wavelength_nm``, ``t_s``), so
    data keys do not depend on what the rig object is called. ``world`` is the simulated world
    (ground truth) on simulated rigs and ``None`` on real ones; ``config`` the parsed rig file.
    """

    def __init__(
        self,
        *,
        filter_wheel: FilterWheel,
        camera: Camera,
        perfusion: SoftPerfusion,
        amplifier: SoftAmplifier,
        clock: Clock,
        world: Any = None,
        config: Any = None,
        name: str = "rig",
    ) -> None:
        self.filter_wheel = filter_wheel
        self.camera = camera
        self.perfusion = perfusion
        self.amplifier = amplifier
        self.t_s = clock_signal(clock)
        self.clock = clock
        self.world = world
        self.config = config
        super().__init__(name=name)

    @property
    def simulated(self) -> bool:
        return self.world is not None

    def set_name(self, name: str, *, child_name_separator: str | None = None) -> None:
        """Name the rig; its children keep their role names (``camera``, not ``rig-camera``)."""
        self._name = name
        if "log" in self.__dict__:
            del self.log
        for role, child in self.children():
            child.set_name(role, child_name_separator=child_name_separator)

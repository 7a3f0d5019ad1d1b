"""Bindings: make a protocol-accurate simulated instrument act on the simulated world.

The serial simulators know bytes and their own state; the world knows physics. A binding is the
one place where an instrument's state change (a filter in place, a shutter opened) becomes a
change of the world (the excitation wavelength, light on the sample).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._sutter import SimulatedLambda10_3, SimulatedLambdaDG4
from ._world import World

__all__ = ["bind_excitation"]


def bind_excitation(
    world: World,
    instrument: SimulatedLambda10_3 | SimulatedLambdaDG4,
    wavelength_by_position: Mapping[int, float],
    *,
    wheel: str = "A",
    shutter: str = "A",
) -> None:
    """Let ``instrument`` set ``world.excitation_nm`` and ``world.shutter_open``.

    Lambda 10-3: moves of ``wheel`` select the wavelength, ``shutter`` gates the light.
    DG-4: position 0 is its closed (dark) position, so a filter position also opens the light path
    (docs/reference/instruments.md §1.2).
    """
    table = {int(k): round(v) for k, v in wavelength_by_position.items()}

    def observe(what: str, value: Any) -> None:
        if what == "wheel":
            moved, position = value
            if moved == wheel:
                world.excitation_nm = table.get(position)
        elif what == "shutter":
            name, is_open = value
            if name == shutter:
                world.shutter_open = bool(is_open)
        elif what == "filter":
            world.excitation_nm = table.get(value)
            world.shutter_open = value != 0

    instrument.observers.append(observe)
    if isinstance(instrument, SimulatedLambda10_3):
        world.excitation_nm = table.get(instrument.wheel_position[wheel])
        world.shutter_open = instrument.shutter_open[shutter]
    else:
        position = getattr(instrument, "position", 0) or 0
        world.excitation_nm = table.get(position)
        world.shutter_open = position != 0

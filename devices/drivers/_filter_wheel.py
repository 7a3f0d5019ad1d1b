"""The small driver protocol every filter wheel / wavelength switcher satisfies.

Positions keep each instrument's own numbering (Sutter Lambda 10-3: 0-9; Lambda DG-4: 0-12,
0 = closed; Thorlabs FW102C: 1-6 or 1-12, docs/reference/instruments.md §1.1-§1.3); ``positions``
says
which. Wheels without a shutter say so with ``has_shutter = False`` and raise
``FeatureNotFitted`` from the shutter methods.
"""

from __future__ import annotations

import inspect
from typing import Protocol

__all__ = ["FilterWheel"]

_MEMBERS = (
    "has_shutter",
    "positions",
    "n_positions",
    "position",
    "move",
    "open_shutter",
    "close_shutter",
)


class _StaticProtocolMeta(type(Protocol)):  # type: ignore[misc]
    """``isinstance`` that looks members up statically.

    Python 3.11's runtime protocols call ``hasattr``, which would run the ``position`` property
    and so talk to the instrument; here nothing is evaluated.
    """

    def __instancecheck__(cls, instance: object) -> bool:
        for name in _MEMBERS:
            try:
                inspect.getattr_static(instance, name)
            except AttributeError:
                return False
        return True


class FilterWheel(Protocol, metaclass=_StaticProtocolMeta):
    """A blocking filter-wheel driver (``isinstance`` checks members without any I/O)."""

    #: Whether ``open_shutter`` / ``close_shutter`` do anything.
    has_shutter: bool

    @property
    def positions(self) -> range:
        """Valid positions in the instrument's own numbering."""
        ...

    @property
    def n_positions(self) -> int:
        """Number of positions (``len(positions)``)."""
        ...

    @property
    def position(self) -> int:
        """The current position."""
        ...

    def move(self, position: int) -> None:
        """Move to ``position`` and return once the instrument reports it has arrived."""
        ...

    def open_shutter(self) -> None:
        """Open the shutter (``FeatureNotFitted`` when ``has_shutter`` is false)."""
        ...

    def close_shutter(self) -> None:
        """Close the shutter (``FeatureNotFitted`` when ``has_shutter`` is false)."""
        ...

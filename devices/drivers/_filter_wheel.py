"""The small driver protocol every filter wheel / wavelength switcher satisfies.

Positions keep each instrument's own numbering (Sutter Lambda 10-3: 0-9; Lambda DG-4: 0-12,
0 = closed; Thorlabs FW102C: 1-6 or 1-12, instrument-protocols.md §1.1-§1.3); ``positions`` says
which. Wheels without a shutter say so with ``has_shutter = False`` and raise
``NotImplementedError`` from the shutter methods.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["FilterWheel"]


@runtime_checkable
class FilterWheel(Protocol):
    """A blocking filter-wheel driver."""

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
        """Open the shutter (``NotImplementedError`` when ``has_shutter`` is false)."""
        ...

    def close_shutter(self) -> None:
        """Close the shutter (``NotImplementedError`` when ``has_shutter`` is false)."""
        ...

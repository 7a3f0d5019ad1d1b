"""TTL-controlled perfusion valves on DAQ digital lines (docs/reference/instruments.md §2.4).

The AutoMate ValveLink8.2 and the Warner VC-8 / VC-6 have no documented serial protocol; both
take one TTL input per valve, which a DAQ drives from digital output lines (§2.4: "Drive it from
DAQ digital lines"). On the ValveLink8.2 a rising edge opens a valve and the last event wins
against the front-panel buttons (§2.4), so this driver writes high to open and low to close.

Switching solutions is *break-before-make*: every other valve is closed before the new one
opens, so two solutions never flow together (the ValveLink's exclusive modes #2, #3 and #6 do
the same in hardware, §2.4). Lines are written low even when they are believed closed already:
a valve opened from the front panel is closed too, and a low line stays low (no edge).

The open/closed state is what this driver last wrote (the controllers report nothing back); it
is unknown until the first :meth:`close_all` or :meth:`open_only`, and again after a failed
write.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._daq import Daq, DaqBackend, as_daq, channel_kind
from ._errors import InstrumentError

__all__ = ["TtlValveController"]


class TtlValveController:
    """Valves on TTL lines: ``lines`` maps valve names to DO lines.

    Example: ``TtlValveController(daq, {"ctrl": "Dev1/port0/line0", "Mg0": "Dev1/port0/line1"})``.

    ``active_high=False`` inverts the lines for controllers that open on low.
    """

    model = "TTL valve controller"

    def __init__(
        self,
        daq: Daq | DaqBackend,
        lines: Mapping[str, str],
        *,
        active_high: bool = True,
    ) -> None:
        self.daq = as_daq(daq)
        if not lines:
            raise ValueError("lines must map at least one valve name to a DO line")
        for name, line in lines.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"valve names must be non-empty strings, got {name!r}")
            if channel_kind(line) != "line":
                raise ValueError(
                    f"valve {name!r}: {line!r} is not a DO line like 'Dev1/port0/line0'"
                )
            if line.split("/", 1)[0] != self.daq.device:
                raise ValueError(f"valve {name!r}: {line!r} is not on {self.daq.label}")
        if len(set(lines.values())) != len(lines):
            raise ValueError(f"two valves share a DO line: {dict(lines)}")
        self.lines: dict[str, str] = dict(lines)
        self.active_high = bool(active_high)
        self._open: set[str] | None = None

    @property
    def instrument_label(self) -> str:
        return f"{self.model} on {self.daq.label}"

    @property
    def valves(self) -> tuple[str, ...]:
        """Valve names, in the order given."""
        return tuple(self.lines)

    @property
    def state_known(self) -> bool:
        return self._open is not None

    @property
    def open_valves(self) -> tuple[str, ...]:
        """Valves this driver has opened (``LookupError`` while the state is unknown)."""
        if self._open is None:
            raise LookupError(
                f"{self.instrument_label}: valve states unknown until close_all() or open_only()"
            )
        return tuple(name for name in self.lines if name in self._open)

    def _check_name(self, name: str) -> str:
        if name not in self.lines:
            raise ValueError(f"unknown valve {name!r}; valves are {list(self.lines)}")
        return name

    def _write(self, name: str, is_open: bool) -> None:
        self.daq.write_do(self.lines[name], is_open == self.active_high)

    def close_all(self) -> None:
        """Close every valve."""
        with self.daq.transaction():
            try:
                for name in self.lines:
                    self._write(name, False)
            except InstrumentError:
                self._open = None
                raise
            self._open = set()

    def open_only(self, name: str) -> None:
        """Open valve ``name`` alone: close every other valve first (break-before-make)."""
        self._check_name(name)
        with self.daq.transaction():
            try:
                for other in self.lines:
                    if other != name:
                        self._write(other, False)
                self._write(name, True)
            except InstrumentError:
                self._open = None
                raise
            self._open = {name}

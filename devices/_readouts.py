"""Values a plan computes during a run (online ratios, ±80 mV currents), as readable signals."""

from __future__ import annotations

import math
from collections.abc import Mapping

from bluesky.protocols import Reading
from event_model import DataKey
from ophyd_async.core import SignalR, soft_signal_r_and_setter

__all__ = ["ComputedReadout"]


class ComputedReadout:
    """Named float signals (data key → units) that a plan fills and records as an event stream.

    The keys are the data keys exactly (no device prefix), e.g. ``t_s``, ``ratio_cell1``. Connect
    the signals inside the plan (``ophyd_async.plan_stubs.ensure_connected(*readout.signals)``),
    then per event: ``readout.update(...)``, ``bps.create(stream)``, ``bps.read(readout)`` and
    ``bps.save``. The readout is itself a bluesky ``Readable`` (every key in one read: one
    message per event, however many ROIs), named ``name`` in the descriptor's object keys.
    """

    def __init__(self, units_by_key: Mapping[str, str], *, name: str = "computed") -> None:
        if not units_by_key:
            raise ValueError("a readout needs at least one key")
        self.name = name
        self.parent = None
        self._signals: dict[str, SignalR[float]] = {}
        self._setters = {}
        for key, units in units_by_key.items():
            signal, setter = soft_signal_r_and_setter(float, math.nan, name=key, units=units)
            self._signals[key] = signal
            self._setters[key] = setter

    @property
    def signals(self) -> list[SignalR[float]]:
        return list(self._signals.values())

    @property
    def keys(self) -> list[str]:
        return list(self._signals)

    def update(self, values: Mapping[str, float]) -> None:
        """Set every key's value; a missing or unknown key is an error."""
        missing = set(self._signals) - set(values)
        unknown = set(values) - set(self._signals)
        if missing or unknown:
            raise KeyError(f"readout update: missing {sorted(missing)}, unknown {sorted(unknown)}")
        for key, value in values.items():
            self._setters[key](float(value))

    async def read(self) -> dict[str, Reading]:
        """Every key's reading (the signals' own readings, merged)."""
        readings: dict[str, Reading] = {}
        for signal in self._signals.values():
            readings.update(await signal.read())
        return readings

    async def describe(self) -> dict[str, DataKey]:
        """Every key's data key (units included), as the signals describe themselves."""
        keys: dict[str, DataKey] = {}
        for signal in self._signals.values():
            keys.update(await signal.describe())
        return keys

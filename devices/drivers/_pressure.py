"""Analog pressure regulator on a DAQ analog output (issue 5; docs/reference/instruments.md §2.4).

Electronic pressure regulators for pipette pressure take a set-point voltage proportional to
pressure (``kPa_per_V``) and often give a monitor voltage back. Neither is a serial protocol:
like the valves and temperature controllers of §2.4 they are DAQ-attached devices. The scale
factors are per model and come from configuration.
"""

from __future__ import annotations

import math

from ._daq import Daq, DaqBackend, as_daq, channel_kind
from ._errors import InstrumentSafetyError

__all__ = ["PressureRegulator"]


class PressureRegulator:
    """Set-point on ``ao_channel`` (``kPa_per_V``), optional monitor on ``ai_monitor``.

    ``limits_kPa`` bound every set-point (checked before anything is written; they must be
    reachable within the AO range). The monitor uses ``monitor_kPa_per_V`` (default: the
    set-point scale). ``safe_kPa`` is what :meth:`safe` sets (atmospheric, 0 kPa gauge, unless
    configured).
    """

    model = "analog pressure regulator"

    def __init__(
        self,
        daq: Daq | DaqBackend,
        ao_channel: str,
        *,
        kPa_per_V: float,
        limits_kPa: tuple[float, float],
        ai_monitor: str | None = None,
        monitor_kPa_per_V: float | None = None,
        safe_kPa: float = 0.0,
    ) -> None:
        self.daq = as_daq(daq)
        if channel_kind(ao_channel) != "ao":
            raise ValueError(f"ao_channel must be an analog output, got {ao_channel!r}")
        ao_low, ao_high = self.daq.range_V(ao_channel)
        if ai_monitor is not None:
            if channel_kind(ai_monitor) != "ai":
                raise ValueError(f"ai_monitor must be an analog input, got {ai_monitor!r}")
            self.daq.range_V(ai_monitor)
        if not (math.isfinite(kPa_per_V) and kPa_per_V != 0):
            raise ValueError(f"kPa_per_V must be finite and non-zero, got {kPa_per_V!r}")
        monitor_scale = kPa_per_V if monitor_kPa_per_V is None else monitor_kPa_per_V
        if not (math.isfinite(monitor_scale) and monitor_scale != 0):
            raise ValueError(
                f"monitor_kPa_per_V must be finite and non-zero, got {monitor_scale!r}"
            )
        low, high = (float(v) for v in limits_kPa)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"limits_kPa must be (min, max) with min < max, got {limits_kPa!r}")
        for end in (low, high):
            volts = end / kPa_per_V
            if not ao_low <= volts <= ao_high:
                raise ValueError(
                    f"limits_kPa {limits_kPa} need {volts:g} V on {ao_channel}, outside its "
                    f"range {ao_low:g} to {ao_high:g} V at {kPa_per_V:g} kPa/V"
                )
        if not low <= safe_kPa <= high:
            raise ValueError(f"safe_kPa {safe_kPa!r} is outside limits_kPa {limits_kPa}")
        self.ao_channel = ao_channel
        self.ai_monitor = ai_monitor
        self.kPa_per_V = float(kPa_per_V)
        self.monitor_kPa_per_V = float(monitor_scale)
        self.limits_kPa = (low, high)
        self.safe_kPa = float(safe_kPa)
        self._setpoint_kPa: float | None = None

    @property
    def instrument_label(self) -> str:
        return f"{self.model} on {self.ao_channel}"

    @property
    def setpoint_kPa(self) -> float | None:
        """The last set-point written (``None`` before the first)."""
        return self._setpoint_kPa

    def set_pressure_kPa(self, pressure_kPa: float) -> None:
        """Write the set-point; refuses values outside ``limits_kPa`` before any output."""
        value = float(pressure_kPa)
        low, high = self.limits_kPa
        if not (math.isfinite(value) and low <= value <= high):
            raise InstrumentSafetyError(
                f"{value!r} kPa is outside the pressure limits {low:g} to {high:g} kPa",
                instrument=self.instrument_label,
                command=f"write_ao {self.ao_channel}",
                value=value,
            )
        self.daq.write_ao(self.ao_channel, value / self.kPa_per_V)
        self._setpoint_kPa = value

    @property
    def pressure_kPa(self) -> float:
        """The monitored pressure if a monitor is wired, else the set-point.

        ``LookupError`` without a monitor before the first set-point.
        """
        if self.ai_monitor is not None:
            return self.daq.read_ai_mean(self.ai_monitor) * self.monitor_kPa_per_V
        if self._setpoint_kPa is None:
            raise LookupError(f"{self.instrument_label}: no monitor wired and no set-point yet")
        return self._setpoint_kPa

    def safe(self) -> None:
        """Set ``safe_kPa``."""
        self.set_pressure_kPa(self.safe_kPa)

"""Bath temperature from a temperature controller's analog monitor output (§2.4).

The Warner TC-324C / TC-344C have no public serial command set; their analog monitor output is
read on a DAQ analog input (docs/reference/instruments.md §2.4: "Use the analog monitor output …
through DAQ channels", commonly 100 mV/°C, i.e. 10 °C/V, *unconfirmed*: check the manual of the
unit in use and configure ``C_per_V``).
"""

from __future__ import annotations

import math

from ._daq import Daq, DaqBackend, DaqReadingError, as_daq, channel_kind

__all__ = ["WARNER_TC_MONITOR_C_PER_V", "TemperatureMonitor"]

#: Warner TC-324C/TC-344C monitor scale commonly quoted, 100 mV/°C (§2.4, unconfirmed).
WARNER_TC_MONITOR_C_PER_V = 10.0


class TemperatureMonitor:
    """``temperature_C = offset_C + C_per_V × volts`` on ``ai_channel``.

    A reading outside ``valid_range_C`` (default -10 to 100 °C; ``None`` disables the check)
    raises :class:`DaqReadingError` (an ``InstrumentReplyError``): it usually means a loose
    cable or a wrong scale.
    """

    model = "temperature monitor"

    def __init__(
        self,
        daq: Daq | DaqBackend,
        ai_channel: str,
        *,
        C_per_V: float,
        offset_C: float = 0.0,
        valid_range_C: tuple[float, float] | None = (-10.0, 100.0),
        n_samples: int = 10,
    ) -> None:
        self.daq = as_daq(daq)
        if channel_kind(ai_channel) != "ai":
            raise ValueError(f"ai_channel must be an analog input, got {ai_channel!r}")
        self.daq.range_V(ai_channel)
        if not (math.isfinite(C_per_V) and C_per_V != 0):
            raise ValueError(f"C_per_V must be finite and non-zero, got {C_per_V!r}")
        if not math.isfinite(offset_C):
            raise ValueError(f"offset_C must be finite, got {offset_C!r}")
        if valid_range_C is not None:
            low, high = (float(v) for v in valid_range_C)
            if not low < high:
                raise ValueError(f"valid_range_C must be (min, max), got {valid_range_C!r}")
            valid_range_C = (low, high)
        if not isinstance(n_samples, int) or n_samples < 1:
            raise ValueError(f"n_samples must be an int >= 1, got {n_samples!r}")
        self.ai_channel = ai_channel
        self.C_per_V = float(C_per_V)
        self.offset_C = float(offset_C)
        self.valid_range_C = valid_range_C
        self.n_samples = n_samples

    @property
    def instrument_label(self) -> str:
        return f"{self.model} on {self.ai_channel}"

    @property
    def temperature_C(self) -> float:
        """Bath temperature now (mean of ``n_samples`` samples at 10 kHz)."""
        volts = self.daq.read_ai_mean(self.ai_channel, n_samples=self.n_samples)
        temperature = self.offset_C + self.C_per_V * volts
        if self.valid_range_C is not None:
            low, high = self.valid_range_C
            if not low <= temperature <= high:
                raise DaqReadingError(
                    f"{self.ai_channel} reads {volts:.3f} V = {temperature:.1f} °C, outside "
                    f"{low:g} to {high:g} °C: check the monitor cable and C_per_V",
                    instrument=self.instrument_label,
                    command=f"read_ai {self.ai_channel}",
                )
        return temperature

"""Axopatch 200B patch-clamp amplifier on a DAQ (docs/reference/instruments.md §3.1).

The 200B is fully analog: it has no computer interface. Its front panel sets mode, gain, filter
and whole-cell compensation by hand; it reports them as *telegraph* voltages on BNC outputs,
which the DAQ reads on analog inputs. The DAQ drives the external command input with an analog
output and records the scaled output on an analog input (§3.1 "Control": 3-4 telegraph AI
channels, one AO command, one AI scaled output).

Every telegraph property is read from its AI channel each time it is asked for (the operator can
turn a knob at any moment) and decoded with the §3.1 tables by nearest value within
``telegraph_tolerance_V``; a voltage matching no table entry (cable out, wrong channel, another
amplifier model) raises :class:`~._daq.DaqReadingError` (an ``InstrumentReplyError``) naming
the channel and the voltage.

Scaling (§3.1):

- command: the front-switched EXT COMMAND input divides by 50 (20 mV of command per volt);
  the rear-panel input divides by 10 (100 mV/V). ``command_sensitivity_mV_per_V`` says which
  one is wired;
- scaled output: αβ mV/pA in V-Clamp and Track, where αβ is the gain telegraph's value; α mV/mV
  (Vm) in the I-clamp modes. β (1 for patch, 0.1 for whole cell) is a front-panel switch with
  no telegraph, so it is configuration (``beta``); the driver checks it against the gain
  telegraph (αβ below 0.5 only occurs with β = 0.1, above 50 only with β = 1).

Commands are refused (:class:`AmplifierModeError`, nothing written) unless the mode telegraph
says V-Clamp or Track: in the I-clamp modes the same command volts would inject current
(2 nA/V, §3.1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._daq import Daq, DaqBackend, DaqReadingError, as_daq, channel_kind
from ._errors import InstrumentReplyError, InstrumentSafetyError

__all__ = [
    "AXOPATCH_200B_FILTER_TELEGRAPH",
    "AXOPATCH_200B_GAIN_TELEGRAPH",
    "AXOPATCH_200B_MODE_TELEGRAPH",
    "AmplifierModeError",
    "Axopatch200B",
    "AxopatchChannels",
    "AxopatchMode",
    "AxopatchSweepInfo",
    "AxopatchTelegraphs",
]


class AxopatchMode(StrEnum):
    """Front-panel mode (§3.1 mode telegraph table)."""

    V_CLAMP = "V-Clamp"
    TRACK = "Track"
    I_ZERO = "I=0"
    I_CLAMP_NORMAL = "I-Clamp Normal"
    I_CLAMP_FAST = "I-Clamp Fast"

    @property
    def output_is_current(self) -> bool:
        """The scaled output carries current in Track and V-Clamp, Vm otherwise (§3.1)."""
        return self in (AxopatchMode.V_CLAMP, AxopatchMode.TRACK)


# §3.1 "Mode telegraph (V)", 200B column.
AXOPATCH_200B_MODE_TELEGRAPH: dict[float, AxopatchMode] = {
    6.0: AxopatchMode.V_CLAMP,
    4.0: AxopatchMode.TRACK,
    3.0: AxopatchMode.I_ZERO,
    2.0: AxopatchMode.I_CLAMP_NORMAL,
    1.0: AxopatchMode.I_CLAMP_FAST,
}
# §3.1 "Gain telegraph (V)": telegraph volts -> αβ (scaled output mV/pA in V-clamp).
AXOPATCH_200B_GAIN_TELEGRAPH: dict[float, float] = {
    0.5: 0.05,
    1.0: 0.1,
    1.5: 0.2,
    2.0: 0.5,
    2.5: 1.0,
    3.0: 2.0,
    3.5: 5.0,
    4.0: 10.0,
    4.5: 20.0,
    5.0: 50.0,
    5.5: 100.0,
    6.0: 200.0,
    6.5: 500.0,
}
# §3.1 "LPF telegraph (V -> kHz)", 200B (10 V = bypass, 100 kHz).
AXOPATCH_200B_FILTER_TELEGRAPH: dict[float, float] = {
    2.0: 1.0,
    4.0: 2.0,
    6.0: 5.0,
    8.0: 10.0,
    10.0: 100.0,
}
# Front-panel gain α settings: αβ / β must be one of these (§3.1 gain table with β = 1, 0.1).
ALPHA_SETTINGS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0)
BETA_SETTINGS = (1.0, 0.1)
# §3.1 "Cm telegraph": 0-10 V ∝ 0-100 pF (β = 1) or 0-1000 pF (β = 0.1); -10 V when off.
CM_TELEGRAPH_FULL_SCALE_V = 10.0
CM_TELEGRAPH_OFF_V = -10.0
# §3.1 "Command scaling": front-switched ÷50 = 20 mV/V; rear ÷10 = 100 mV/V.
COMMAND_SENSITIVITIES_MV_PER_V = (20.0, 100.0)
# The sweep rates this driver accepts (issue 5; docs/reference/bluesky-api.md §5.4 "10 to
# 100 kHz").
SWEEP_RATE_RANGE_HZ = (10_000.0, 100_000.0)


class AmplifierModeError(InstrumentSafetyError):
    """The front-panel mode does not allow the request (e.g. a voltage command in I-clamp)."""


@dataclass(frozen=True)
class AxopatchChannels:
    """DAQ channels wired to the amplifier's BNCs (§3.1 "Control")."""

    command_ao: str  # to EXT COMMAND (front-switched or rear)
    scaled_output_ai: str  # from SCALED OUTPUT
    gain_telegraph_ai: str  # from GAIN TELEGRAPH
    mode_telegraph_ai: str  # from MODE TELEGRAPH
    filter_telegraph_ai: str | None = None  # from LPF (FREQUENCY) TELEGRAPH
    cm_telegraph_ai: str | None = None  # from Cm TELEGRAPH (whole-cell capacitance)


@dataclass(frozen=True)
class AxopatchTelegraphs:
    """One reading of every wired telegraph (``None``: not wired, or Cm compensation off)."""

    mode: AxopatchMode
    gain_alpha_beta: float
    lowpass_kHz: float | None
    whole_cell_capacitance_pF: float | None


@dataclass(frozen=True)
class AxopatchSweepInfo:
    """Settings a sweep was recorded with (for the descriptor / start document)."""

    mode: AxopatchMode
    gain_mV_per_pA: float
    sample_rate_Hz: float
    n_samples: int
    saturated: bool  # the scaled output reached the edge of the AI range somewhere


class Axopatch200B:
    """Axopatch 200B through a DAQ (see the module docstring and §3.1).

    ``beta`` is the front-panel β switch (1 patch, 0.1 whole cell). ``command_limits_mV`` bound
    every commanded voltage (holding and every waveform sample), checked before any output.
    ``safe_holding_mV`` is what :meth:`safe` commands in V-clamp. Telegraphs are averaged over
    ``telegraph_samples`` samples at 10 kHz.
    """

    model = "Axopatch 200B"

    def __init__(
        self,
        daq: Daq | DaqBackend,
        channels: AxopatchChannels,
        *,
        beta: float = 1.0,
        command_sensitivity_mV_per_V: float = 20.0,
        command_limits_mV: tuple[float, float] = (-150.0, 150.0),
        safe_holding_mV: float = 0.0,
        telegraph_tolerance_V: float = 0.2,
        telegraph_samples: int = 10,
    ) -> None:
        self.daq = as_daq(daq)
        if not isinstance(channels, AxopatchChannels):
            raise TypeError(f"channels must be an AxopatchChannels, got {channels!r}")
        if channel_kind(channels.command_ao) != "ao":
            raise ValueError(f"command_ao must be an analog output, got {channels.command_ao!r}")
        self.daq.range_V(channels.command_ao)  # on this DAQ's device
        for name in ("scaled_output_ai", "gain_telegraph_ai", "mode_telegraph_ai"):
            self._check_ai(name, getattr(channels, name))
        for name in ("filter_telegraph_ai", "cm_telegraph_ai"):
            if getattr(channels, name) is not None:
                self._check_ai(name, getattr(channels, name))
        self.channels = channels
        if beta not in BETA_SETTINGS:
            raise ValueError(f"beta must be 1 (patch) or 0.1 (whole cell) (§3.1), got {beta!r}")
        self.beta = float(beta)
        if command_sensitivity_mV_per_V not in COMMAND_SENSITIVITIES_MV_PER_V:
            raise ValueError(
                "command_sensitivity_mV_per_V must be 20 (front-switched EXT COMMAND, ÷50) or "
                f"100 (rear input, ÷10) (§3.1), got {command_sensitivity_mV_per_V!r}"
            )
        self.command_sensitivity_mV_per_V = float(command_sensitivity_mV_per_V)
        low, high = (float(v) for v in command_limits_mV)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"command_limits_mV must be (min, max), got {command_limits_mV!r}")
        ao_low, ao_high = self.daq.range_V(channels.command_ao)
        reach = (
            ao_low * self.command_sensitivity_mV_per_V,
            ao_high * self.command_sensitivity_mV_per_V,
        )
        if low < reach[0] or high > reach[1]:
            raise ValueError(
                f"command_limits_mV {command_limits_mV} exceed what {channels.command_ao} can "
                f"command at {self.command_sensitivity_mV_per_V:g} mV/V: {reach[0]:g} to "
                f"{reach[1]:g} mV"
            )
        self.command_limits_mV = (low, high)
        if not (math.isfinite(safe_holding_mV) and low <= safe_holding_mV <= high):
            raise ValueError(f"safe_holding_mV {safe_holding_mV!r} is outside command_limits_mV")
        self.safe_holding_mV = float(safe_holding_mV)
        if not 0 < telegraph_tolerance_V < 0.25:
            raise ValueError(
                "telegraph_tolerance_V must be > 0 and < 0.25 V (half the 0.5-V gain table "
                f"spacing), got {telegraph_tolerance_V!r}"
            )
        self.telegraph_tolerance_V = float(telegraph_tolerance_V)
        if not isinstance(telegraph_samples, int) or telegraph_samples < 1:
            raise ValueError(f"telegraph_samples must be an int >= 1, got {telegraph_samples!r}")
        self.telegraph_samples = telegraph_samples
        self._holding_mV: float | None = None
        #: Settings of the last recorded sweep (``None`` before the first).
        self.last_sweep: AxopatchSweepInfo | None = None

    @property
    def instrument_label(self) -> str:
        return f"{self.model} on {self.daq.label}"

    def _check_ai(self, name: str, channel: str) -> None:
        if channel_kind(channel) != "ai":
            raise ValueError(f"{name} must be an analog input such as 'Dev1/ai0', got {channel!r}")
        self.daq.range_V(channel)  # on this DAQ's device

    # -- telegraphs (§3.1) ----------------------------------------------------------------------
    def _telegraph_V(self, channel: str) -> float:
        return self.daq.read_ai_mean(channel, n_samples=self.telegraph_samples)

    def _decode(self, what: str, channel: str, volts: float, table: Sequence[float]) -> float:
        """Nearest table voltage within the tolerance (§3.1: argmin |table - v|)."""
        levels = np.asarray(table, dtype=np.float64)
        nearest = float(levels[np.argmin(np.abs(levels - volts))])
        if abs(nearest - volts) > self.telegraph_tolerance_V:
            raise DaqReadingError(
                f"{what} telegraph on {channel} reads {volts:.3f} V, which matches no "
                f"{what} table voltage ({', '.join(f'{v:g}' for v in table)} V ± "
                f"{self.telegraph_tolerance_V:g} V; §3.1): check the telegraph cable and channel",
                instrument=self.instrument_label,
                command=f"read_ai {channel}",
            )
        return nearest

    @property
    def mode(self) -> AxopatchMode:
        """Front-panel mode, from the mode telegraph (§3.1)."""
        channel = self.channels.mode_telegraph_ai
        level = self._decode(
            "mode", channel, self._telegraph_V(channel), list(AXOPATCH_200B_MODE_TELEGRAPH)
        )
        return AXOPATCH_200B_MODE_TELEGRAPH[level]

    @property
    def gain_alpha_beta(self) -> float:
        """αβ from the gain telegraph, checked against the configured β (§3.1)."""
        channel = self.channels.gain_telegraph_ai
        volts = self._telegraph_V(channel)
        alpha_beta = AXOPATCH_200B_GAIN_TELEGRAPH[
            self._decode("gain", channel, volts, list(AXOPATCH_200B_GAIN_TELEGRAPH))
        ]
        alpha = alpha_beta / self.beta
        if not any(math.isclose(alpha, a) for a in ALPHA_SETTINGS):
            raise DaqReadingError(
                f"gain telegraph on {channel} reads {volts:.3f} V (αβ = {alpha_beta:g}), which "
                f"no gain setting gives with β = {self.beta:g}: check the β switch against the "
                "configured beta (§3.1)",
                instrument=self.instrument_label,
                command=f"read_ai {channel}",
            )
        return alpha_beta

    @property
    def gain_mV_per_pA(self) -> float:
        """Scaled-output sensitivity in V-Clamp/Track: αβ mV/pA (§3.1)."""
        return self.gain_alpha_beta

    @property
    def current_clamp_gain_mV_per_mV(self) -> float:
        """Scaled-output sensitivity in the I-clamp modes: α mV/mV (§3.1)."""
        return self.gain_alpha_beta / self.beta

    @property
    def lowpass_kHz(self) -> float | None:
        """Output filter cut-off (4-pole Bessel; 100 = bypass) or ``None`` if not wired (§3.1)."""
        channel = self.channels.filter_telegraph_ai
        if channel is None:
            return None
        level = self._decode(
            "filter", channel, self._telegraph_V(channel), list(AXOPATCH_200B_FILTER_TELEGRAPH)
        )
        return AXOPATCH_200B_FILTER_TELEGRAPH[level]

    @property
    def whole_cell_capacitance_pF(self) -> float | None:
        """Whole-cell capacitance dial (§3.1 Cm telegraph); ``None`` if off or not wired."""
        channel = self.channels.cm_telegraph_ai
        if channel is None:
            return None
        volts = self._telegraph_V(channel)
        if abs(volts - CM_TELEGRAPH_OFF_V) <= self.telegraph_tolerance_V:
            return None
        tol = self.telegraph_tolerance_V
        if not -tol <= volts <= CM_TELEGRAPH_FULL_SCALE_V + tol:
            raise DaqReadingError(
                f"Cm telegraph on {channel} reads {volts:.3f} V: expected 0-10 V, or -10 V "
                "with WHOLE CELL CAP off (§3.1)",
                instrument=self.instrument_label,
                command=f"read_ai {channel}",
            )
        full_scale_pF = 100.0 / self.beta  # 100 pF at β = 1, 1000 pF at β = 0.1
        return max(0.0, volts) / CM_TELEGRAPH_FULL_SCALE_V * full_scale_pF

    def telegraphs(self) -> AxopatchTelegraphs:
        """Every wired telegraph, read in one DAQ transaction."""
        with self.daq.transaction():
            return AxopatchTelegraphs(
                mode=self.mode,
                gain_alpha_beta=self.gain_alpha_beta,
                lowpass_kHz=self.lowpass_kHz,
                whole_cell_capacitance_pF=self.whole_cell_capacitance_pF,
            )

    # -- command --------------------------------------------------------------------------------
    def command_V(self, command_mV: float | ArrayLike) -> NDArray[np.float64]:
        """AO volts for a command in mV (÷ the external command sensitivity, §3.1)."""
        return np.asarray(command_mV, dtype=np.float64) / self.command_sensitivity_mV_per_V

    def _check_command(self, command_mV: NDArray[np.float64], what: str) -> None:
        low, high = self.command_limits_mV
        if command_mV.size == 0 or not np.all(np.isfinite(command_mV)):
            raise ValueError(f"{what} must be finite numbers, got {command_mV!r}")
        if command_mV.min() < low or command_mV.max() > high:
            raise InstrumentSafetyError(
                f"{what} spans {command_mV.min():g} to {command_mV.max():g} mV, outside the "
                f"command limits {low:g} to {high:g} mV",
                instrument=self.instrument_label,
                command=f"write_ao {self.channels.command_ao}",
                value=float(command_mV.max() if command_mV.max() > high else command_mV.min()),
            )

    def _require_voltage_clamp(self, action: str) -> AxopatchMode:
        mode = self.mode
        if not mode.output_is_current:
            raise AmplifierModeError(
                f"the front panel is in {mode.value}: {action} needs V-Clamp or Track (in the "
                "I-clamp modes the command input injects current, 2 nA/V, §3.1)",
                instrument=self.instrument_label,
            )
        return mode

    @property
    def holding_mV(self) -> float | None:
        """The last holding command this driver set (``None`` before the first)."""
        return self._holding_mV

    def set_holding_mV(self, holding_mV: float) -> None:
        """Command ``holding_mV`` (V-Clamp/Track only; limits checked before any output)."""
        value = np.asarray(float(holding_mV), dtype=np.float64).reshape(1)
        self._check_command(value, "holding_mV")
        with self.daq.transaction():
            self._require_voltage_clamp("set_holding_mV")
            self.daq.write_ao(self.channels.command_ao, float(self.command_V(value)[0]))
            self._holding_mV = float(value[0])

    def read_current_pA(self) -> float:
        """Membrane current now: scaled output ÷ αβ mV/pA (V-Clamp/Track only, §3.1)."""
        with self.daq.transaction():
            self._require_voltage_clamp("read_current_pA")
            gain = self.gain_mV_per_pA
            volts = self.daq.read_ai_mean(self.channels.scaled_output_ai, n_samples=10)
        return volts * 1000.0 / gain

    def record_sweep(self, command_mV: ArrayLike, sample_rate_Hz: float) -> NDArray[np.float64]:
        """Play ``command_mV`` and return the current in pA, sample by sample (§3.1, §3.5).

        The command goes through the external command scaling, the scaled output through the
        gain telegraph read just before the sweep; the gain is read again afterwards and a
        change (someone turned the knob) raises :class:`~._daq.DaqReadingError`. Rate and limits
        are checked before any output. The command input then holds the waveform's last sample,
        which becomes :attr:`holding_mV` (protocols start and end at the holding potential).
        """
        rate = float(sample_rate_Hz)
        low_rate, high_rate = SWEEP_RATE_RANGE_HZ
        if not (math.isfinite(rate) and low_rate <= rate <= high_rate):
            raise ValueError(
                f"sample_rate_Hz must be {low_rate:g}-{high_rate:g} Hz, got {sample_rate_Hz!r}"
            )
        command = np.array(command_mV, dtype=np.float64)
        if command.ndim != 1 or command.size < 2:
            raise ValueError(f"command_mV must be 1-D with >= 2 samples, got shape {command.shape}")
        self._check_command(command, "command_mV")
        wave_V = self.command_V(command)
        self.daq.check_waveform(self.channels.command_ao, wave_V)
        out = self.channels.scaled_output_ai
        with self.daq.transaction():
            mode = self._require_voltage_clamp("record_sweep")
            gain = self.gain_mV_per_pA
            data = self.daq.run_sweep(self.channels.command_ao, wave_V, [out], rate)
            self._holding_mV = float(command[-1])
            gain_after = self.gain_mV_per_pA
        if gain_after != gain:
            raise DaqReadingError(
                f"the gain changed during the sweep ({gain:g} -> {gain_after:g} mV/pA): the "
                "sweep is discarded; leave the gain knob alone while recording",
                instrument=self.instrument_label,
                command=f"run_sweep {self.channels.command_ao}",
            )
        volts = data[out]
        low, high = self.daq.range_V(out)
        margin = 1e-3 * (high - low)
        saturated = bool(np.any(volts <= low + margin) or np.any(volts >= high - margin))
        self.last_sweep = AxopatchSweepInfo(mode, gain, rate, int(command.size), saturated)
        return volts * 1000.0 / gain

    def safe(self) -> None:
        """Command the safe holding potential in V-clamp, 0 V (no current) otherwise.

        If the mode telegraph cannot be read, 0 V is commanded: 0 mV in V-clamp and no injected
        current in I-clamp, safe in every mode.
        """
        with self.daq.transaction():
            try:
                voltage_clamp = self.mode.output_is_current
            except InstrumentReplyError:
                voltage_clamp = False
            if voltage_clamp:
                volts = float(self.command_V(self.safe_holding_mV))
                self.daq.write_ao(self.channels.command_ao, volts)
                self._holding_mV = self.safe_holding_mV
            else:
                self.daq.write_ao(self.channels.command_ao, 0.0)
                self._holding_mV = None

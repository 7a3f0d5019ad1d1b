"""A simulated multifunction DAQ that "plays" the instruments wired to it, on the rig clock.

It has the DAQ backend interface of ``ionrig.devices.drivers.Daq`` (``write_ao``, ``read_ai``,
``read_ai_samples``, ``write_do``, ``read_di``, ``run_sweep``, ``close``; channel names as in
NI-DAQmx, docs/reference/instruments.md §3.5), so the real drivers run unchanged against it. It
raises only builtin errors, never driver exceptions (the simulators do not import drivers):
``ConnectionError`` while the device is lost, ``TimeoutError`` when an operation does not
complete, ``OSError(code, message)`` with a DAQmx-style negative code for driver errors,
``ValueError`` for channels that are not on this device. The drivers' ``Daq`` maps them to
typed exceptions.

**Plugging a plant in** (the world's models, or simple circuits in tests). Every callable runs
in the thread of the DAQ call, outside the DAQ's internal lock, and may read DAQ state:

- ``connect_ai(channel, fn)``: ``fn(t_s) -> volts`` for a static input (a telegraph, a monitor
  output). ``t_s`` is clock time, a float or a numpy array of sample times: return a float or
  an array of the same shape (``numpy`` broadcasting makes ``lambda t: 2.5`` work).
- ``connect_sweep(ai_channel, fn, ao_channel=None)``: ``fn(waveform_V, sample_rate_Hz, t0_s)
  -> volts array`` (same length as the waveform) for a hardware-timed response to the swept
  output, e.g. an amplifier's scaled output for a command waveform. Sample k is taken at
  ``t0_s + k / sample_rate_Hz``, on the clock edge that updates ``waveform_V[k]``. With
  ``ao_channel`` the model answers only sweeps on that output; other sweeps fall back to the
  static model. Inputs in a sweep without a sweep model use their static model.
- ``on_ao(channel, callback)`` / ``on_do(line, callback)``: ``callback(t_s, value)`` after every
  static write (and after a sweep, with the waveform's last value, which the output then holds).
- ``connect_di(line, fn)``: ``fn(t_s) -> bool``; an unconnected digital line reads back its
  output state.

Unconnected inputs read 0 V. Inputs are clipped to the channel's range (ADC saturation) and
quantised to ``ai_resolution_bits`` (16 by default, as on NI M/X-series boards; ``None``
disables it). Outputs hold their last value (0 V / low at start).

**Time.** Software-timed calls take no clock time; ``read_ai_samples`` and ``run_sweep`` take
``n / sample_rate_Hz`` of clock time (``clock.sleep_s``), so a 1-s sweep at ``time_scale=1000``
lasts about 1 ms of wall time. Only one hardware-timed operation runs at a time: a second one,
or an analog call during a sweep, fails with ``OSError(-50103)`` (DAQmx "resource reserved"),
as on real hardware; the drivers' DAQ lock prevents that.

**Faults** (:class:`~._faults.Fault`, armed with ``inject``; every host call is one command):

- ``DISCONNECT``: the device is lost for ``duration_s``: every call raises ``ConnectionError``,
  and a sweep or sample read running when the window opens stops within ~20 ms of wall time
  (plus one clock-time chunk) with ``ConnectionError``.
- ``NO_REPLY``: the call is not executed; ``TimeoutError`` after ``timeout_s`` real seconds.
- ``PARTIAL``: a sweep or sample read stops half-way: ``TimeoutError`` after half its duration
  plus ``timeout_s``; other calls behave as ``NO_REPLY``.
- ``GARBAGE``: input data (AI reads, sweep inputs) replaced by noise spanning the range; no
  effect on output-only calls.
- ``ERROR_REPLY``: not executed; ``OSError(-50150, …)`` (DAQmx ``PAL_SOFTWARE_FAULT``).
- ``SLOW_REPLY``: executed, but returns ``delay_s`` clock seconds late; when that is more than
  ``timeout_s`` real seconds, the call gives up with ``TimeoutError`` after ``timeout_s`` (as a
  DAQmx call whose completion comes after its timeout), the operation done all the same.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ionrig.clock import Clock, ScaledClock

from ._faults import Fault, FaultKind, FaultSchedule

__all__ = ["DaqEvent", "SimulatedDaq", "SweepRecord"]

Range = tuple[float, float]
DEFAULT_RANGE_V: Range = (-10.0, 10.0)

RESOURCE_RESERVED = -50103  # DAQmx PAL_RESOURCE_RESERVED
SOFTWARE_FAULT = -50150  # DAQmx PAL_SOFTWARE_FAULT (the ERROR_REPLY fault)

# Wall time between checks for a lost device while a hardware-timed operation runs.
_POLL_REAL_S = 0.02

_AO = re.compile(r"^(?P<device>[^/]+)/ao\d+$")
_AI = re.compile(r"^(?P<device>[^/]+)/ai\d+$")
_LINE = re.compile(r"^(?P<device>[^/]+)/port\d+/line\d+$")

StaticModel = Callable[[Any], Any]
SweepModel = Callable[[NDArray[np.float64], float, float], Any]
OutputCallback = Callable[[float, Any], None]


@dataclass(frozen=True)
class DaqEvent:
    """One output event: ``kind`` is ``"ao"``, ``"do"`` or ``"sweep"`` (value: last sample)."""

    t_s: float
    kind: str
    channel: str
    value: float | bool


@dataclass(frozen=True)
class SweepRecord:
    """A completed sweep: what was played and recorded."""

    t0_s: float
    ao_channel: str
    waveform_V: NDArray[np.float64]
    ai_channels: tuple[str, ...]
    sample_rate_Hz: float
    data_V: dict[str, NDArray[np.float64]]


class SimulatedDaq:
    """Simulated NI-style multifunction DAQ (see the module docstring).

    ``timeout_s`` (real seconds) is how long a ``NO_REPLY``/``PARTIAL`` call waits before its
    ``TimeoutError``, like a DAQmx read timeout. ``seed`` seeds the ``GARBAGE`` noise.
    """

    kind = "daq"

    def __init__(
        self,
        device: str = "Dev1",
        *,
        clock: Clock | None = None,
        ai_resolution_bits: int | None = 16,
        timeout_s: float = 1.0,
        seed: int | None = None,
        history_length: int = 10_000,
    ) -> None:
        if not isinstance(device, str) or not device or "/" in device:
            raise ValueError(f"device must be a name such as 'Dev1', got {device!r}")
        if ai_resolution_bits is not None and not 1 <= ai_resolution_bits <= 32:
            raise ValueError(f"ai_resolution_bits must be 1-32 or None, got {ai_resolution_bits!r}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
        self._device = device
        self.clock: Clock = clock if clock is not None else ScaledClock(1.0)
        self.ai_resolution_bits = ai_resolution_bits
        self.timeout_s = float(timeout_s)
        self._rng = np.random.default_rng(seed)
        self._state = threading.RLock()
        self._faults = FaultSchedule()
        self._ai_models: dict[str, StaticModel] = {}
        self._sweep_models: dict[str, tuple[SweepModel, str | None]] = {}
        self._di_models: dict[str, Callable[[float], Any]] = {}
        self._ao_callbacks: dict[str, list[OutputCallback]] = {}
        self._do_callbacks: dict[str, list[OutputCallback]] = {}
        self._ao: dict[str, float] = {}
        self._do: dict[str, bool] = {}
        self._busy: str | None = None
        #: Output events (static writes and sweeps), oldest first, bounded.
        self.history: deque[DaqEvent] = deque(maxlen=history_length)
        #: The last completed sweep (``None`` before the first).
        self.last_sweep: SweepRecord | None = None
        self.n_sweeps = 0
        self.closed = False

    # -- identity -------------------------------------------------------------------------------
    @property
    def device(self) -> str:
        return self._device

    @property
    def label(self) -> str:
        return f"simulated DAQ {self._device}"

    def __repr__(self) -> str:
        return f"SimulatedDaq({self._device!r}, clock={self.clock!r})"

    # -- plant side -----------------------------------------------------------------------------
    def connect_ai(self, channel: str, fn: StaticModel) -> None:
        """Drive analog input ``channel`` with ``fn(t_s) -> volts`` (replaces any previous)."""
        self._channel(channel, _AI, "analog input")
        with self._state:
            self._ai_models[channel] = fn

    def connect_sweep(
        self, ai_channel: str, fn: SweepModel, *, ao_channel: str | None = None
    ) -> None:
        """Answer sweeps on ``ai_channel`` with ``fn(waveform_V, sample_rate_Hz, t0_s)``."""
        self._channel(ai_channel, _AI, "analog input")
        if ao_channel is not None:
            self._channel(ao_channel, _AO, "analog output")
        with self._state:
            self._sweep_models[ai_channel] = (fn, ao_channel)

    def connect_di(self, line: str, fn: Callable[[float], Any]) -> None:
        """Drive digital line ``line`` (as an input) with ``fn(t_s) -> bool``."""
        self._channel(line, _LINE, "digital line")
        with self._state:
            self._di_models[line] = fn

    def on_ao(self, channel: str, callback: OutputCallback) -> None:
        """Call ``callback(t_s, volts)`` after every write to analog output ``channel``."""
        self._channel(channel, _AO, "analog output")
        with self._state:
            self._ao_callbacks.setdefault(channel, []).append(callback)

    def on_do(self, line: str, callback: OutputCallback) -> None:
        """Call ``callback(t_s, state)`` after every write to digital output ``line``."""
        self._channel(line, _LINE, "digital line")
        with self._state:
            self._do_callbacks.setdefault(line, []).append(callback)

    def disconnect_models(self, channel: str) -> None:
        """Remove every model and callback attached to ``channel`` (it then reads 0 V / low)."""
        with self._state:
            for table in (
                self._ai_models,
                self._sweep_models,
                self._di_models,
                self._ao_callbacks,
                self._do_callbacks,
            ):
                table.pop(channel, None)

    def ao_V(self, channel: str) -> float:
        """The voltage analog output ``channel`` holds now (0 V before the first write)."""
        self._channel(channel, _AO, "analog output")
        with self._state:
            return self._ao.get(channel, 0.0)

    def do_state(self, line: str) -> bool:
        """The state digital output ``line`` holds now (low before the first write)."""
        self._channel(line, _LINE, "digital line")
        with self._state:
            return self._do.get(line, False)

    # -- faults ---------------------------------------------------------------------------------
    def inject(self, fault: Fault) -> None:
        """Arm ``fault`` (see the module docstring for what each kind does to a DAQ)."""
        self._faults.add(fault)

    def clear_faults(self) -> None:
        self._faults.clear()

    def reseed(self, seed: int | None) -> None:
        """Restart the ``GARBAGE`` noise from ``seed``, as the constructor's ``seed`` does: a
        garbage fault armed after it garbles the same values whatever was drawn before."""
        self._rng = np.random.default_rng(seed)

    @property
    def faults(self) -> tuple[Fault, ...]:
        return self._faults.faults

    @property
    def connected(self) -> bool:
        """False while a ``DISCONNECT`` window is open."""
        return not self._faults.disconnected(self.clock.now_s())

    # -- host side (the DaqBackend interface) ---------------------------------------------------
    def write_ao(self, channel: str, volts: float, *, range_V: Range = DEFAULT_RANGE_V) -> None:
        self._channel(channel, _AO, "analog output")
        value = float(volts)
        low, high = _range(range_V)
        if not low <= value <= high:
            raise ValueError(f"{channel}: {value} V is outside the task range {low}..{high} V")
        fault = self._begin()
        self._fail_fast(fault)
        self._check_idle(channel)
        self._set_ao(channel, value)
        self._late(fault)

    def read_ai(self, channel: str, *, range_V: Range = DEFAULT_RANGE_V) -> float:
        self._channel(channel, _AI, "analog input")
        fault = self._begin()
        self._fail_fast(fault)
        self._check_idle(channel)
        now = self.clock.now_s()
        value = self._static_ai(channel, np.array([now]))
        value = self._adc(value, _range(range_V), fault)
        self._late(fault)
        return float(value[0])

    def read_ai_samples(
        self,
        channel: str,
        n_samples: int,
        sample_rate_Hz: float,
        *,
        range_V: Range = DEFAULT_RANGE_V,
    ) -> NDArray[np.float64]:
        self._channel(channel, _AI, "analog input")
        n, rate = _timing(n_samples, sample_rate_Hz)
        fault = self._begin()
        self._fail_fast(fault, timed=True)
        t0 = self._reserve(channel)
        try:
            times = t0 + np.arange(n) / rate
            data = self._adc(self._static_ai(channel, times), _range(range_V), fault)
            self._run_for(n / rate, fault)
        finally:
            self._release()
        self._late(fault)
        return data

    def write_do(self, line: str, value: bool) -> None:
        self._channel(line, _LINE, "digital line")
        fault = self._begin()
        self._fail_fast(fault)
        state = bool(value)
        now = self.clock.now_s()
        with self._state:
            self._do[line] = state
            self.history.append(DaqEvent(now, "do", line, state))
            callbacks = list(self._do_callbacks.get(line, ()))
        for callback in callbacks:
            callback(now, state)
        self._late(fault)

    def read_di(self, line: str) -> bool:
        self._channel(line, _LINE, "digital line")
        fault = self._begin()
        self._fail_fast(fault)
        self._late(fault)
        with self._state:
            model = self._di_models.get(line)
            if model is None:
                return self._do.get(line, False)
        if fault is not None and fault.kind is FaultKind.GARBAGE:
            return bool(self._rng.integers(0, 2))
        return bool(model(self.clock.now_s()))

    def run_sweep(
        self,
        ao_channel: str,
        waveform_V: NDArray[np.float64],
        ai_channels: Sequence[str],
        sample_rate_Hz: float,
        *,
        ao_range_V: Range = DEFAULT_RANGE_V,
        ai_ranges_V: Sequence[Range] | None = None,
    ) -> dict[str, NDArray[np.float64]]:
        self._channel(ao_channel, _AO, "analog output")
        channels = tuple(ai_channels)
        for channel in channels:
            self._channel(channel, _AI, "analog input")
        ranges = [DEFAULT_RANGE_V] * len(channels) if ai_ranges_V is None else list(ai_ranges_V)
        if len(ranges) != len(channels):
            raise ValueError("ai_ranges_V must give one range per input")
        wave = np.array(waveform_V, dtype=np.float64).reshape(-1)
        n, rate = _timing(wave.size, sample_rate_Hz)
        low, high = _range(ao_range_V)
        if not (np.all(np.isfinite(wave)) and wave.min() >= low and wave.max() <= high):
            raise ValueError(f"{ao_channel}: waveform outside the task range {low}..{high} V")
        fault = self._begin()
        self._fail_fast(fault, timed=True)
        t0 = self._reserve("sweep")
        try:
            data = {
                channel: self._adc(
                    self._sweep_ai(channel, ao_channel, wave, rate, t0), _range(range_V), fault
                )
                for channel, range_V in zip(channels, ranges, strict=True)
            }
            self._run_for(n / rate, fault)
        finally:
            self._release()
        self._late(fault)
        record = SweepRecord(t0, ao_channel, wave.copy(), channels, rate, data)
        with self._state:
            self.last_sweep = record
            self.n_sweeps += 1
        self._set_ao(ao_channel, float(wave[-1]), kind="sweep")
        return {channel: array.copy() for channel, array in data.items()}

    def close(self) -> None:
        """Mark the DAQ closed (a simulated device has nothing to release; models stay)."""
        self.closed = True

    # -- internals ------------------------------------------------------------------------------
    def _channel(self, channel: str, pattern: re.Pattern[str], what: str) -> None:
        match = pattern.match(channel) if isinstance(channel, str) else None
        if match is None:
            raise ValueError(f"{channel!r} is not a valid {what} name")
        if match["device"] != self._device:
            raise ValueError(f"{channel!r}: physical channel not on device {self._device}")

    def _begin(self) -> Fault | None:
        """Refuse while lost; take the fault that applies to this command, if any."""
        now = self.clock.now_s()
        if self._faults.disconnected(now):
            raise ConnectionError(f"{self.label} is lost (device not present)")
        return self._faults.take(now)

    def _fail_fast(self, fault: Fault | None, *, timed: bool = False) -> None:
        """The faults that stop a command before it runs (``PARTIAL`` too, unless the call is
        hardware-timed: those stop half-way, in ``_run_for``)."""
        if fault is None:
            return
        if fault.kind is FaultKind.ERROR_REPLY:
            raise OSError(SOFTWARE_FAULT, f"{self.label}: DAQmx software fault (simulated)")
        if fault.kind is FaultKind.NO_REPLY or (fault.kind is FaultKind.PARTIAL and not timed):
            self._wait_real(self.timeout_s)
            raise TimeoutError(f"{self.label}: no response within {self.timeout_s:g} s")

    def _late(self, fault: Fault | None) -> None:
        if fault is not None and fault.kind is FaultKind.SLOW_REPLY:
            if self.clock.real_seconds(fault.delay_s) > self.timeout_s:
                self._wait_real(self.timeout_s)
                raise TimeoutError(
                    f"{self.label}: no completion within {self.timeout_s:g} s "
                    f"(it came {fault.delay_s:g} clock s late)"
                )
            self._wait_clock(fault.delay_s)

    def _check_idle(self, channel: str) -> None:
        with self._state:
            if self._busy is not None:
                raise OSError(
                    RESOURCE_RESERVED,
                    f"{self.label}: {channel} is reserved by a running hardware-timed task",
                )

    def _reserve(self, what: str) -> float:
        with self._state:
            if self._busy is not None:
                raise OSError(
                    RESOURCE_RESERVED,
                    f"{self.label}: the timing engine is reserved by a running task ({what})",
                )
            self._busy = what
            return self.clock.now_s()

    def _release(self) -> None:
        with self._state:
            self._busy = None

    def _run_for(self, duration_s: float, fault: Fault | None) -> None:
        """Let a hardware-timed operation run for ``duration_s`` of clock time."""
        if fault is not None and fault.kind is FaultKind.PARTIAL:
            self._wait_clock(duration_s / 2)
            self._wait_real(self.timeout_s)
            raise TimeoutError(f"{self.label}: only part of the samples arrived within the timeout")
        self._wait_clock(duration_s)

    def _wait_clock(self, duration_s: float) -> None:
        """Sleep ``duration_s`` of clock time in short slices, failing fast if the device goes."""
        end = self.clock.now_s() + duration_s
        slice_s = _POLL_REAL_S * self.clock.time_scale
        while True:
            now = self.clock.now_s()
            if self._faults.disconnected(now):
                raise ConnectionError(f"{self.label} was lost during the operation")
            if now >= end:
                return
            self.clock.sleep_s(min(end - now, slice_s))

    def _wait_real(self, duration_s: float) -> None:
        deadline = time.monotonic() + duration_s
        while (left := deadline - time.monotonic()) > 0:
            if self._faults.disconnected(self.clock.now_s()):
                raise ConnectionError(f"{self.label} was lost during the operation")
            time.sleep(min(left, _POLL_REAL_S))

    def _set_ao(self, channel: str, value: float, kind: str = "ao") -> None:
        now = self.clock.now_s()
        with self._state:
            self._ao[channel] = value
            self.history.append(DaqEvent(now, kind, channel, value))
            callbacks = list(self._ao_callbacks.get(channel, ()))
        for callback in callbacks:
            callback(now, value)

    def _static_ai(self, channel: str, times_s: NDArray[np.float64]) -> NDArray[np.float64]:
        with self._state:
            model = self._ai_models.get(channel)
        if model is None:
            return np.zeros(times_s.shape)
        values = model(times_s if times_s.size > 1 else float(times_s[0]))
        return _as_samples(channel, values, times_s.size)

    def _sweep_ai(
        self,
        channel: str,
        ao_channel: str,
        wave: NDArray[np.float64],
        rate: float,
        t0_s: float,
    ) -> NDArray[np.float64]:
        with self._state:
            entry = self._sweep_models.get(channel)
        if entry is not None and entry[1] in (None, ao_channel):
            return _as_samples(channel, entry[0](wave.copy(), rate, t0_s), wave.size)
        return self._static_ai(channel, t0_s + np.arange(wave.size) / rate)

    def _adc(
        self, volts: NDArray[np.float64], range_V: Range, fault: Fault | None
    ) -> NDArray[np.float64]:
        """Clip to the range (saturation) and quantise, as the board's ADC would."""
        low, high = range_V
        if fault is not None and fault.kind is FaultKind.GARBAGE:
            volts = self._rng.uniform(low, high, size=volts.shape)
        clipped = np.clip(volts, low, high)
        if self.ai_resolution_bits is None:
            return clipped
        steps = 2**self.ai_resolution_bits - 1
        lsb = (high - low) / steps
        return low + np.round((clipped - low) / lsb) * lsb


def _range(range_V: Range) -> Range:
    low, high = float(range_V[0]), float(range_V[1])
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"range must be finite with min < max, got {range_V!r}")
    return (low, high)


def _timing(n_samples: int, sample_rate_Hz: float) -> tuple[int, float]:
    n = int(n_samples)
    rate = float(sample_rate_Hz)
    if n < 1 or n != n_samples:
        raise ValueError(f"n_samples must be an int >= 1, got {n_samples!r}")
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"sample_rate_Hz must be > 0, got {sample_rate_Hz!r}")
    return n, rate


def _as_samples(channel: str, values: Any, n: int) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    try:
        out = np.broadcast_to(array, (n,)).astype(np.float64)
    except ValueError as exc:
        raise ValueError(
            f"model of {channel} returned shape {array.shape}, expected {n} samples"
        ) from exc
    if not np.all(np.isfinite(out)):
        raise ValueError(f"model of {channel} returned non-finite volts")
    return out

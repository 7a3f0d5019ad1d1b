"""The DAQ layer: one checked, locked, typed front (:class:`Daq`) over any DAQ backend.

Analog instruments (Axopatch 200B telegraphs and command, pressure regulator, temperature
monitor) and TTL instruments (ValveLink8.2 / VC-8 valves) hang off a multifunction DAQ
(docs/reference/instruments.md §2.4, §3.1, §3.5). Drivers never talk to a DAQ backend directly: they
go through a :class:`Daq`, which

- checks every channel name (``Dev1/ao0``, ``Dev1/ai3``, ``Dev1/port0/line2``) and that it is on
  this DAQ's device;
- checks every output voltage, and every sample of a waveform, against the channel's range
  (±10 V unless configured) *before* anything is written, and names channel, value and range
  when it refuses (:class:`DaqRangeError`);
- serialises transactions with **one lock per DAQ** (docs/reference/bluesky-api.md §4.5):
every public
  method runs under :attr:`Daq.lock`, a re-entrant ``threading.RLock``, so calls from several
  devices sharing one DAQ (amplifier, valves, pressure) never interleave, whichever thread they
  come from. Drivers that need several calls to be atomic (read the gain telegraph, run a sweep,
  read it again) hold ``with daq.transaction():``. A sweep holds the lock for its whole duration,
  so a valve switch requested during a 1-s sweep waits until the sweep ends;
- maps what the backend raises to the typed exceptions of :mod:`._errors`: ``ConnectionError``
  (the device is gone) → :class:`DaqDeviceLost`, ``TimeoutError`` → :class:`DaqTimeout`, any other
  ``OSError`` → :class:`DaqCommandError` (its ``errno`` is the code). This is how the simulated
  DAQ (:mod:`ionrig.simulators`, which must not import drivers) and the NI-DAQmx backend
  (:mod:`._nidaqmx`, which raises the typed errors itself) look the same to drivers.

A backend is any object with the :class:`DaqBackend` methods; :func:`as_daq` wraps it (always in
the same :class:`Daq`, so drivers handed the same backend share one lock).
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._errors import (
    InstrumentCommandError,
    InstrumentDisconnected,
    InstrumentError,
    InstrumentReplyError,
    InstrumentSafetyError,
    InstrumentTimeout,
)

__all__ = [
    "DEFAULT_RANGE_V",
    "Daq",
    "DaqBackend",
    "DaqCommandError",
    "DaqDeviceLost",
    "DaqRangeError",
    "DaqReadingError",
    "DaqTimeout",
    "as_daq",
    "channel_kind",
]

Range = tuple[float, float]

#: Default AO/AI range: ±10 V, the widest range of NI multifunction boards (§3.5).
DEFAULT_RANGE_V: Range = (-10.0, 10.0)

# NI-DAQmx physical channel names (§3.5 example: "Dev1/ai0", "Dev1/ao0"; lines "Dev1/port0/line0").
_CHANNEL_PATTERNS = {
    "ao": re.compile(r"^(?P<device>[A-Za-z][\w-]*)/ao(?P<n>\d+)$"),
    "ai": re.compile(r"^(?P<device>[A-Za-z][\w-]*)/ai(?P<n>\d+)$"),
    "line": re.compile(r"^(?P<device>[A-Za-z][\w-]*)/port(?P<port>\d+)/line(?P<n>\d+)$"),
}
_EXAMPLES = {"ao": "Dev1/ao0", "ai": "Dev1/ai0", "line": "Dev1/port0/line0"}


class DaqDeviceLost(InstrumentDisconnected):
    """The DAQ device disappeared (unplugged, powered off, driver lost it) or was closed."""

    mentions_reply = False


class DaqTimeout(InstrumentTimeout):
    """A DAQ operation did not complete in time (samples never arrived, lock never freed)."""

    mentions_reply = False


class DaqCommandError(InstrumentCommandError):
    """The DAQ driver reported an error; ``code`` is its error code (NI-DAQmx: a negative int)."""

    mentions_reply = False


class DaqReadingError(InstrumentReplyError):
    """An input reading that cannot be right (a telegraph voltage in no table, NaN samples)."""

    mentions_reply = False


class DaqRangeError(InstrumentSafetyError, ValueError):
    """A voltage outside the channel's range was refused; nothing was written."""


@runtime_checkable
class DaqBackend(Protocol):
    """What a DAQ backend provides (``NidaqmxDaq``, ``ionrig.simulators.SimulatedDaq``).

    Backends do no argument checking beyond what their hardware does: :class:`Daq` has checked
    names, ranges and rates before calling. Voltages are in volts, rates in samples per second
    per channel. Backends raise ``ConnectionError`` when the device is gone, ``TimeoutError``
    when an operation does not complete, other ``OSError`` for driver errors (or the typed
    errors of :mod:`._errors` directly).
    """

    @property
    def device(self) -> str:
        """Device name as in channel names (``"Dev1"``)."""
        ...

    @property
    def label(self) -> str:
        """Human name for error messages (``"NI-DAQmx Dev1"``)."""
        ...

    def write_ao(self, channel: str, volts: float, *, range_V: Range = DEFAULT_RANGE_V) -> None:
        """Set an analog output now (software timed); it holds the value afterwards."""
        ...

    def read_ai(self, channel: str, *, range_V: Range = DEFAULT_RANGE_V) -> float:
        """One analog input sample now (software timed)."""
        ...

    def read_ai_samples(
        self,
        channel: str,
        n_samples: int,
        sample_rate_Hz: float,
        *,
        range_V: Range = DEFAULT_RANGE_V,
    ) -> NDArray[np.float64]:
        """``n_samples`` hardware-timed samples of one input (blocks n/rate seconds)."""
        ...

    def write_do(self, line: str, value: bool) -> None:
        """Drive a digital output line high (True) or low; it holds the state afterwards."""
        ...

    def read_di(self, line: str) -> bool:
        """Read a digital line."""
        ...

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
        """Play ``waveform_V`` and record ``ai_channels`` on one sample clock (§3.5).

        Blocks for the sweep's duration; AI sample k is taken on the clock edge that updates AO
        sample k. The AO channel holds the waveform's last value afterwards.
        """
        ...

    def close(self) -> None:
        """Release the device."""
        ...


def channel_kind(channel: str) -> str:
    """``"ao"``, ``"ai"`` or ``"line"`` for a valid channel name; ``ValueError`` otherwise."""
    if isinstance(channel, str):
        for kind, pattern in _CHANNEL_PATTERNS.items():
            if pattern.match(channel):
                return kind
    raise ValueError(
        f"{channel!r} is not a DAQ channel name (examples: {', '.join(_EXAMPLES.values())}; §3.5)"
    )


def _check_range(name: str, range_V: object) -> Range:
    try:
        low, high = (float(v) for v in range_V)  # type: ignore[attr-defined]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a (min_V, max_V) pair, got {range_V!r}") from exc
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"{name} must be finite with min_V < max_V, got {range_V!r}")
    return (low, high)


# One Daq per backend object, so every driver handed the same backend shares one lock.
_WRAPPERS: weakref.WeakKeyDictionary[object, weakref.ref[Daq]] = weakref.WeakKeyDictionary()
_WRAPPERS_LOCK = threading.RLock()


def as_daq(daq: Daq | DaqBackend) -> Daq:
    """``daq`` itself if it is a :class:`Daq`, else the one :class:`Daq` wrapping that backend."""
    if isinstance(daq, Daq):
        return daq
    if not isinstance(daq, DaqBackend):
        raise TypeError(
            f"expected a Daq or a DAQ backend (NidaqmxDaq, SimulatedDaq), got {type(daq).__name__}"
        )
    with _WRAPPERS_LOCK:
        try:
            ref = _WRAPPERS.get(daq)
        except TypeError:  # not weak-referenceable: cannot be shared, wrap it once
            ref = None
        existing = ref() if ref is not None else None
        return existing if existing is not None else Daq(daq)


class Daq:
    """Checked, locked, typed access to one DAQ device (see the module docstring).

    ``ao_range_V`` / ``ai_range_V`` are the default ranges of all analog outputs / inputs;
    ``channel_ranges_V`` overrides them per channel (``{"Dev1/ai4": (0.0, 10.0)}``). The range
    is both the limit checked before writing and the range the hardware is configured with (an
    input beyond it saturates). ``lock_timeout_s`` bounds how long a call waits for another
    transaction to finish (real seconds) before :class:`DaqTimeout`.
    """

    def __init__(
        self,
        backend: DaqBackend,
        *,
        ao_range_V: Range = DEFAULT_RANGE_V,
        ai_range_V: Range = DEFAULT_RANGE_V,
        channel_ranges_V: Mapping[str, Range] | None = None,
        max_sample_rate_Hz: float = 1e6,
        lock_timeout_s: float = 60.0,
    ) -> None:
        if isinstance(backend, Daq) or not isinstance(backend, DaqBackend):
            raise TypeError(f"backend must be a DAQ backend, got {type(backend).__name__}")
        self.backend = backend
        self._ao_range_V = _check_range("ao_range_V", ao_range_V)
        self._ai_range_V = _check_range("ai_range_V", ai_range_V)
        self._channel_ranges_V: dict[str, Range] = {}
        for channel, range_V in (channel_ranges_V or {}).items():
            self._check_channel(channel, ("ao", "ai"))
            self._channel_ranges_V[channel] = _check_range(f"range of {channel}", range_V)
        if not (math.isfinite(max_sample_rate_Hz) and max_sample_rate_Hz > 0):
            raise ValueError(f"max_sample_rate_Hz must be > 0, got {max_sample_rate_Hz!r}")
        self.max_sample_rate_Hz = float(max_sample_rate_Hz)
        if not lock_timeout_s > 0:
            raise ValueError(f"lock_timeout_s must be > 0, got {lock_timeout_s!r}")
        self.lock_timeout_s = float(lock_timeout_s)
        #: The one lock of this DAQ (re-entrant: drivers nest calls inside ``transaction()``).
        self.lock = threading.RLock()
        self._closed = False
        with _WRAPPERS_LOCK:
            try:
                ref = _WRAPPERS.get(backend)
                if ref is not None and ref() is not None:
                    raise ValueError(
                        f"{self.label} already has a Daq (one lock per DAQ): pass that Daq to "
                        "every driver instead of wrapping the backend again"
                    )
                _WRAPPERS[backend] = weakref.ref(self)
            except TypeError:  # backend not weak-referenceable: cannot be tracked
                pass

    # -- identity -------------------------------------------------------------------------------
    @property
    def device(self) -> str:
        return str(self.backend.device)

    @property
    def label(self) -> str:
        return str(getattr(self.backend, "label", f"DAQ {self.device}"))

    def __repr__(self) -> str:
        return f"Daq({self.label})"

    def range_V(self, channel: str) -> Range:
        """The configured (min_V, max_V) of an analog channel."""
        kind = self._check_channel(channel, ("ao", "ai"))
        default = self._ao_range_V if kind == "ao" else self._ai_range_V
        return self._channel_ranges_V.get(channel, default)

    # -- locking and error mapping --------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Daq]:
        """Hold this DAQ's lock across several calls (re-entrant)."""
        if not self.lock.acquire(timeout=self.lock_timeout_s):
            raise DaqTimeout(
                f"DAQ busy: another transaction held its lock for more than "
                f"{self.lock_timeout_s:g} s",
                instrument=self.label,
            )
        try:
            yield self
        finally:
            self.lock.release()

    @contextlib.contextmanager
    def _io(self, command: str) -> Iterator[None]:
        """Lock, refuse when closed, and turn backend exceptions into typed ones."""
        with self.transaction():
            if self._closed:
                raise DaqDeviceLost("the DAQ was closed", instrument=self.label, command=command)
            try:
                yield
            except InstrumentError:
                raise
            except ConnectionError as exc:
                raise DaqDeviceLost(
                    f"DAQ device lost ({exc}); check its cable/power, then reconnect",
                    instrument=self.label,
                    command=command,
                ) from exc
            except TimeoutError as exc:
                raise DaqTimeout(
                    f"DAQ operation timed out ({exc})", instrument=self.label, command=command
                ) from exc
            except OSError as exc:
                code = str(exc.errno) if exc.errno is not None else "DAQ_ERROR"
                detail = exc.strerror if exc.strerror else str(exc)
                raise DaqCommandError(
                    f"DAQ error: {detail}", code=code, instrument=self.label, command=command
                ) from exc

    # -- argument checks ------------------------------------------------------------------------
    def _check_channel(self, channel: str, kinds: Sequence[str]) -> str:
        kind = channel_kind(channel)
        if kind not in kinds:
            wanted = " or ".join(f"{_EXAMPLES[k]!r}-style" for k in kinds)
            raise ValueError(f"{channel!r} is not an {'/'.join(kinds)} channel (expected {wanted})")
        device = channel.split("/", 1)[0]
        if device != self.device:
            raise ValueError(f"{channel!r} is not on this DAQ ({self.label}, device {self.device})")
        return kind

    def _check_volts(self, channel: str, volts: float) -> float:
        try:
            value = float(volts)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{channel}: volts must be a number, got {volts!r}") from exc
        low, high = self.range_V(channel)
        if not (math.isfinite(value) and low <= value <= high):
            raise DaqRangeError(
                f"{channel}: {value!r} V is outside the channel range {low:g} to {high:g} V",
                instrument=self.label,
                command=f"write_ao {channel}",
                value=value,
            )
        return value

    def _check_rate(self, sample_rate_Hz: float) -> float:
        try:
            rate = float(sample_rate_Hz)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"sample_rate_Hz must be a number, got {sample_rate_Hz!r}") from exc
        if not (math.isfinite(rate) and 0 < rate <= self.max_sample_rate_Hz):
            raise ValueError(
                f"sample_rate_Hz must be > 0 and <= {self.max_sample_rate_Hz:g}, got {rate!r}"
            )
        return rate

    @staticmethod
    def _check_n_samples(n_samples: int) -> int:
        if isinstance(n_samples, bool) or not isinstance(n_samples, int | np.integer):
            raise ValueError(f"n_samples must be an int >= 1, got {n_samples!r}")
        if n_samples < 1:
            raise ValueError(f"n_samples must be >= 1, got {n_samples!r}")
        return int(n_samples)

    def check_waveform(self, ao_channel: str, waveform_V: ArrayLike) -> NDArray[np.float64]:
        """The waveform as a float64 1-D array, refused unless every sample is in range."""
        self._check_channel(ao_channel, ("ao",))
        try:
            wave = np.array(waveform_V, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{ao_channel}: waveform_V must be numbers, got {exc}") from exc
        if wave.ndim != 1 or wave.size < 2:
            raise ValueError(
                f"{ao_channel}: waveform_V must be 1-D with >= 2 samples, got shape {wave.shape}"
            )
        if not np.all(np.isfinite(wave)):
            bad = int(np.flatnonzero(~np.isfinite(wave))[0])
            raise ValueError(f"{ao_channel}: waveform_V[{bad}] is {float(wave[bad])!r}")
        low, high = self.range_V(ao_channel)
        outside = np.flatnonzero((wave < low) | (wave > high))
        if outside.size:
            first = int(outside[0])
            raise DaqRangeError(
                f"{ao_channel}: waveform_V[{first}] = {wave[first]:g} V (waveform spans "
                f"{wave.min():g} to {wave.max():g} V) is outside the channel range "
                f"{low:g} to {high:g} V",
                instrument=self.label,
                command=f"run_sweep {ao_channel}",
                value=float(wave[first]),
            )
        return wave

    # -- analog and digital I/O -----------------------------------------------------------------
    def write_ao(self, channel: str, volts: float) -> None:
        """Set analog output ``channel`` to ``volts`` now; it holds the value afterwards."""
        self._check_channel(channel, ("ao",))
        value = self._check_volts(channel, volts)
        with self._io(f"write_ao {channel} {value:g} V"):
            self.backend.write_ao(channel, value, range_V=self.range_V(channel))

    def read_ai(self, channel: str) -> float:
        """One sample of analog input ``channel``, in volts."""
        self._check_channel(channel, ("ai",))
        with self._io(f"read_ai {channel}"):
            value = self.backend.read_ai(channel, range_V=self.range_V(channel))
        return self._check_reading(channel, value)

    def read_ai_samples(
        self, channel: str, n_samples: int, sample_rate_Hz: float
    ) -> NDArray[np.float64]:
        """``n_samples`` hardware-timed samples of ``channel`` (blocks n/rate seconds)."""
        self._check_channel(channel, ("ai",))
        n = self._check_n_samples(n_samples)
        rate = self._check_rate(sample_rate_Hz)
        with self._io(f"read_ai_samples {channel} n={n} at {rate:g} Hz"):
            data = self.backend.read_ai_samples(channel, n, rate, range_V=self.range_V(channel))
        return self._check_samples(channel, data, n, f"read_ai_samples {channel}")

    def read_ai_mean(
        self, channel: str, n_samples: int = 10, sample_rate_Hz: float = 10_000.0
    ) -> float:
        """Mean of a few hardware-timed samples (telegraphs, monitors: less noise than one)."""
        return float(np.mean(self.read_ai_samples(channel, n_samples, sample_rate_Hz)))

    def write_do(self, line: str, value: bool) -> None:
        """Drive digital line ``line`` high (``True``) or low; it holds the state afterwards."""
        self._check_channel(line, ("line",))
        if not isinstance(value, bool | np.bool_):
            raise ValueError(f"{line}: value must be a bool, got {value!r}")
        with self._io(f"write_do {line} {'high' if value else 'low'}"):
            self.backend.write_do(line, bool(value))

    def read_di(self, line: str) -> bool:
        """Read digital line ``line``."""
        self._check_channel(line, ("line",))
        with self._io(f"read_di {line}"):
            return bool(self.backend.read_di(line))

    def run_sweep(
        self,
        ao_channel: str,
        waveform_V: ArrayLike,
        ai_channels: Sequence[str],
        sample_rate_Hz: float,
    ) -> dict[str, NDArray[np.float64]]:
        """Play ``waveform_V`` on ``ao_channel`` and record ``ai_channels``, sample-locked.

        AO and AI run on one hardware sample clock (AO clocked by the AI sample clock and
        started by the AI start trigger, §3.5), so sample k of every returned array was taken on
        the edge that updated ``waveform_V[k]``. Blocks for ``len(waveform_V) / sample_rate_Hz``
        seconds (rig clock on simulated DAQs). Everything is checked before the first sample is
        written. Returns ``{ai_channel: volts}``, each as long as the waveform; the AO channel
        holds the waveform's last value afterwards.
        """
        wave = self.check_waveform(ao_channel, waveform_V)
        if isinstance(ai_channels, str):
            raise TypeError(f"ai_channels must be a sequence of names, e.g. [{ai_channels!r}]")
        channels = list(ai_channels)
        if not channels:
            raise ValueError("ai_channels must name at least one input")
        for channel in channels:
            self._check_channel(channel, ("ai",))
        if len(set(channels)) != len(channels):
            raise ValueError(f"ai_channels has duplicates: {channels}")
        rate = self._check_rate(sample_rate_Hz)
        command = f"run_sweep {ao_channel} -> {','.join(channels)} n={wave.size} at {rate:g} Hz"
        with self._io(command):
            data = self.backend.run_sweep(
                ao_channel,
                wave,
                channels,
                rate,
                ao_range_V=self.range_V(ao_channel),
                ai_ranges_V=[self.range_V(c) for c in channels],
            )
        if not isinstance(data, Mapping) or set(data) != set(channels):
            got = sorted(data) if isinstance(data, Mapping) else type(data).__name__
            raise DaqReadingError(
                f"sweep returned channels {got}, expected {channels}",
                instrument=self.label,
                command=command,
            )
        return {c: self._check_samples(c, data[c], wave.size, command) for c in channels}

    def close(self) -> None:
        """Release the backend; later calls raise :class:`DaqDeviceLost`."""
        with self.transaction():
            if self._closed:
                return
            self._closed = True
            with _WRAPPERS_LOCK, contextlib.suppress(TypeError):
                _WRAPPERS.pop(self.backend, None)
            with contextlib.suppress(OSError):
                self.backend.close()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- reply checks ---------------------------------------------------------------------------
    def _check_reading(self, channel: str, value: object) -> float:
        try:
            volts = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise DaqReadingError(
                f"{channel}: the DAQ returned {value!r}, not a voltage",
                instrument=self.label,
                command=f"read_ai {channel}",
            ) from exc
        if not math.isfinite(volts):
            raise DaqReadingError(
                f"{channel}: the DAQ returned {volts!r}",
                instrument=self.label,
                command=f"read_ai {channel}",
            )
        return volts

    def _check_samples(
        self, channel: str, data: object, n: int, command: str
    ) -> NDArray[np.float64]:
        try:
            array = np.array(data, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise DaqReadingError(
                f"{channel}: the DAQ returned unusable data ({exc})",
                instrument=self.label,
                command=command,
            ) from exc
        if array.size != n or not np.all(np.isfinite(array)):
            raise DaqReadingError(
                f"{channel}: expected {n} finite samples, got {array.size}",
                instrument=self.label,
                command=command,
            )
        return array

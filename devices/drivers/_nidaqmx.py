"""NI-DAQmx backend for :class:`~._daq.Daq`, through NI's ``nidaqmx`` Python package (§3.5).

``nidaqmx`` is an optional dependency: it is imported inside the methods, so importing
:mod:`ionrig.devices.drivers` works without it, and constructing :class:`NidaqmxDaq` does not
need it either (a rig file can be loaded and checked on any machine). The first I/O call raises
an ``ImportError`` saying how to install it. The package also needs NI's NI-DAQmx driver
(Windows, or Linux for many boards; §3.5).

Each call creates a task, configures it and clears it again (``with nidaqmx.Task()``): slower
than keeping tasks open (a few ms per call), but a task never outlives an error and channels are
never left reserved. Facts relied on, from NI's documentation of ``nidaqmx`` (PyPI 1.x) and
NI-DAQmx behaviour; the ones marked *check on hardware* are not in the reference:

- a sweep is two finite tasks on one sample clock: AI with its own sample clock; AO clocked by
  ``/Dev1/ai/SampleClock`` and started by ``/Dev1/ai/StartTrigger``; AO is written and started
  before AI so it is armed when AI starts (docs/reference/instruments.md §3.5, after
  ni/nidaqmx-python
  ``examples/synchronization/multi_function/ai_ao_sync.py``);
- ``add_ai_voltage_chan`` defaults to ±5 V, so the range is always passed explicitly;
- an AO channel keeps its last value, and a static DO line its state, after the task is cleared
  (NI default idle behaviour; *check on hardware* for the board in use);
- error codes mapped to :class:`DaqDeviceLost` / :class:`DaqTimeout` are listed below with their
  ``nidaqmx.error_codes.DAQmxErrors`` names; every other ``DaqError`` becomes
  :class:`DaqCommandError` with the DAQmx code.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator, Sequence
from types import ModuleType

import numpy as np
from numpy.typing import NDArray

from ._daq import DEFAULT_RANGE_V, DaqCommandError, DaqDeviceLost, DaqTimeout, Range
from ._errors import InstrumentError

__all__ = ["NIDAQMX_INSTALL_HINT", "NidaqmxDaq"]

NIDAQMX_INSTALL_HINT = (
    "NidaqmxDaq needs NI's 'nidaqmx' Python package, which is not installed: "
    "`pip install nidaqmx` in ionrig's environment, then install the NI-DAQmx driver itself "
    "(`python -m nidaqmx installdriver`, or from ni.com). Simulated rigs use "
    "ionrig.simulators.SimulatedDaq (DAQ backend 'sim') and need neither."
)

# DAQmx error codes meaning "the device is gone" (nidaqmx.error_codes.DAQmxErrors names).
DEVICE_LOST_CODES = frozenset(
    {
        -201003,  # DEV_CANNOT_BE_ACCESSED
        -200324,  # DEV_ABSENT_OR_UNAVAILABLE
        -88705,  # DRIVER_DEVICE_GUID_NOT_FOUND_ROUTING
        -88708,  # RESOURCE_NOT_IN_POOL_ROUTING
        -88709,  # RUNTIME_ABORTED_ROUTING
        -50300,  # PAL_DEVICE_NOT_FOUND
        -50405,  # PAL_TRANSFER_ABORTED (USB devices unplugged mid-transfer)
        -50802,  # PAL_CONNECTION_ABORTED
        -50803,  # PAL_CONNECTION_RESET
        -201390,  # NETWORK_STATUS_CONNECTION_LOST
        -201423,  # CHASSIS_COMMUNICATION_INTERRUPTED
    }
)
# DAQmx error codes meaning "it did not finish in time".
TIMEOUT_CODES = frozenset(
    {
        -200284,  # SAMPLES_NOT_YET_AVAILABLE (read timeout)
        -200560,  # WAIT_UNTIL_DONE_DOES_NOT_INDICATE_DONE
        -200474,  # OPERATION_TIMED_OUT
        -200221,  # TIMEOUT_EXCEEDED
        -50400,  # PAL_TRANSFER_TIMED_OUT
    }
)


def _import(name: str = "nidaqmx") -> ModuleType:
    """Import ``nidaqmx`` (or a submodule) on first use, with an install hint when absent."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ImportError(NIDAQMX_INSTALL_HINT) from exc


class NidaqmxDaq:
    """A DAQ backend on an NI device through ``nidaqmx`` (use it through :class:`~._daq.Daq`).

    ``device`` is the NI MAX device name (``"Dev1"``). ``ai_terminal_config`` names a member
    of ``nidaqmx.constants.TerminalConfiguration`` (``"DEFAULT"``, ``"RSE"``, ``"NRSE"``,
    ``"DIFF"``, ``"PSEUDO_DIFF"``; the Axopatch BNC outputs are single-ended, so ``"RSE"`` or
    ``"NRSE"`` wiring is common). ``timeout_margin_s`` is added to every hardware-timed
    operation's duration to form the DAQmx read/wait timeout (real seconds).

    Not exercised against real hardware or the real package in ionrig's tests (neither is
    available there): the call sequence is tested against a stand-in module.
    """

    def __init__(
        self,
        device: str = "Dev1",
        *,
        ai_terminal_config: str = "DEFAULT",
        timeout_margin_s: float = 2.0,
    ) -> None:
        if not isinstance(device, str) or not device or "/" in device or device != device.strip():
            raise ValueError(f"device must be an NI device name such as 'Dev1', got {device!r}")
        if not isinstance(ai_terminal_config, str) or not ai_terminal_config:
            raise ValueError(
                f"ai_terminal_config must name a TerminalConfiguration member, "
                f"got {ai_terminal_config!r}"
            )
        if not timeout_margin_s > 0:
            raise ValueError(f"timeout_margin_s must be > 0, got {timeout_margin_s!r}")
        self._device = device
        self.ai_terminal_config = ai_terminal_config
        self.timeout_margin_s = float(timeout_margin_s)

    @property
    def device(self) -> str:
        return self._device

    @property
    def label(self) -> str:
        return f"NI-DAQmx {self._device}"

    def __repr__(self) -> str:
        return f"NidaqmxDaq({self._device!r})"

    # -- nidaqmx access -------------------------------------------------------------------------
    def _terminal_config(self, constants: ModuleType) -> object:
        members = constants.TerminalConfiguration
        try:
            return getattr(members, self.ai_terminal_config)
        except AttributeError:
            names = [m.name for m in members]
            raise ValueError(
                f"ai_terminal_config {self.ai_terminal_config!r} is not a TerminalConfiguration "
                f"member of the installed nidaqmx; choose one of {names}"
            ) from None

    @contextlib.contextmanager
    def _errors(self, command: str) -> Iterator[None]:
        """Turn ``nidaqmx.errors`` exceptions into ionrig's typed errors."""
        errors = _import("nidaqmx.errors")
        not_found = getattr(errors, "DaqNotFoundError", None)
        try:
            yield
        except InstrumentError:
            raise
        except Exception as exc:
            if not_found is not None and isinstance(exc, not_found):
                raise DaqDeviceLost(
                    f"the NI-DAQmx driver is not installed or not found ({exc}); install it "
                    "with `python -m nidaqmx installdriver` or from ni.com",
                    instrument=self.label,
                    command=command,
                ) from exc
            if not isinstance(exc, errors.DaqError):
                raise
            code = int(exc.error_code)
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "DAQmx error"
            if code in DEVICE_LOST_CODES:
                raise DaqDeviceLost(
                    f"device {self._device} is gone (DAQmx {code}: {detail}); check its "
                    "cable/power and NI MAX",
                    instrument=self.label,
                    command=command,
                ) from exc
            if code in TIMEOUT_CODES:
                raise DaqTimeout(
                    f"DAQmx {code}: {detail}", instrument=self.label, command=command
                ) from exc
            raise DaqCommandError(
                detail, code=str(code), instrument=self.label, command=command
            ) from exc

    def _timeout_s(self, n_samples: int, sample_rate_Hz: float) -> float:
        return n_samples / sample_rate_Hz + self.timeout_margin_s

    # -- DaqBackend -----------------------------------------------------------------------------
    def write_ao(self, channel: str, volts: float, *, range_V: Range = DEFAULT_RANGE_V) -> None:
        nidaqmx = _import()
        with self._errors(f"write_ao {channel}"), nidaqmx.Task() as task:
            task.ao_channels.add_ao_voltage_chan(channel, min_val=range_V[0], max_val=range_V[1])
            task.write(float(volts), auto_start=True)

    def read_ai(self, channel: str, *, range_V: Range = DEFAULT_RANGE_V) -> float:
        nidaqmx = _import()
        constants = _import("nidaqmx.constants")
        with self._errors(f"read_ai {channel}"), nidaqmx.Task() as task:
            task.ai_channels.add_ai_voltage_chan(
                channel,
                terminal_config=self._terminal_config(constants),
                min_val=range_V[0],
                max_val=range_V[1],
            )
            return float(task.read())

    def read_ai_samples(
        self,
        channel: str,
        n_samples: int,
        sample_rate_Hz: float,
        *,
        range_V: Range = DEFAULT_RANGE_V,
    ) -> NDArray[np.float64]:
        if n_samples == 1:  # a finite acquisition wants >= 2 samples: read on demand instead
            return np.array([self.read_ai(channel, range_V=range_V)])
        nidaqmx = _import()
        constants = _import("nidaqmx.constants")
        with self._errors(f"read_ai_samples {channel}"), nidaqmx.Task() as task:
            task.ai_channels.add_ai_voltage_chan(
                channel,
                terminal_config=self._terminal_config(constants),
                min_val=range_V[0],
                max_val=range_V[1],
            )
            task.timing.cfg_samp_clk_timing(
                sample_rate_Hz,
                sample_mode=constants.AcquisitionType.FINITE,
                samps_per_chan=n_samples,
            )
            data = task.read(
                number_of_samples_per_channel=n_samples,
                timeout=self._timeout_s(n_samples, sample_rate_Hz),
            )
        return np.asarray(data, dtype=np.float64).reshape(-1)

    def write_do(self, line: str, value: bool) -> None:
        nidaqmx = _import()
        constants = _import("nidaqmx.constants")
        with self._errors(f"write_do {line}"), nidaqmx.Task() as task:
            task.do_channels.add_do_chan(line, line_grouping=constants.LineGrouping.CHAN_PER_LINE)
            task.write(bool(value), auto_start=True)

    def read_di(self, line: str) -> bool:
        nidaqmx = _import()
        constants = _import("nidaqmx.constants")
        with self._errors(f"read_di {line}"), nidaqmx.Task() as task:
            task.di_channels.add_di_chan(line, line_grouping=constants.LineGrouping.CHAN_PER_LINE)
            return bool(task.read())

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
        """AO and AI on the AI sample clock, AO started by the AI start trigger (§3.5)."""
        nidaqmx = _import()
        constants = _import("nidaqmx.constants")
        wave = np.ascontiguousarray(waveform_V, dtype=np.float64)
        n = int(wave.size)
        channels = list(ai_channels)
        ranges = list(ai_ranges_V) if ai_ranges_V is not None else [DEFAULT_RANGE_V] * len(channels)
        timeout_s = self._timeout_s(n, sample_rate_Hz)
        finite = constants.AcquisitionType.FINITE
        terminal = self._terminal_config(constants)
        with (
            self._errors(f"run_sweep {ao_channel}"),
            nidaqmx.Task() as ai_task,
            nidaqmx.Task() as ao_task,
        ):
            for channel, (low, high) in zip(channels, ranges, strict=True):
                ai_task.ai_channels.add_ai_voltage_chan(
                    channel, terminal_config=terminal, min_val=low, max_val=high
                )
            ai_task.timing.cfg_samp_clk_timing(sample_rate_Hz, sample_mode=finite, samps_per_chan=n)
            ao_task.ao_channels.add_ao_voltage_chan(
                ao_channel, min_val=ao_range_V[0], max_val=ao_range_V[1]
            )
            # Sample-locked: AO updates on every AI sample clock edge (§3.5 "Synchronisation").
            ao_task.timing.cfg_samp_clk_timing(
                sample_rate_Hz,
                source=f"/{self._device}/ai/SampleClock",
                sample_mode=finite,
                samps_per_chan=n,
            )
            ao_task.triggers.start_trigger.cfg_dig_edge_start_trig(
                f"/{self._device}/ai/StartTrigger"
            )
            ao_task.write(wave, auto_start=False)
            ao_task.start()  # armed first, so the AI start trigger finds it waiting (§3.5)
            ai_task.start()
            data = ai_task.read(number_of_samples_per_channel=n, timeout=timeout_s)
            ao_task.wait_until_done(timeout=timeout_s)
        array = np.asarray(data, dtype=np.float64).reshape(len(channels), n)
        return {channel: array[index].copy() for index, channel in enumerate(channels)}

    def close(self) -> None:
        """Nothing to release: every call clears its own tasks."""

"""The patch-clamp amplifier as a detector: one collection is one sweep, written to HDF5.

Holding potential is a movable signal (``bps.mv(amplifier.holding_mV, -70)``); mode, gain and
filter are read-only (they are set on the front panel and read from the telegraphs);
``set_protocol`` fixes the command waveform of the next sweeps. Reading ``resistance_MOhm``
runs a seal test: the resistance seen by the pipette from a 5-mV step.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray
from ophyd_async.core import (
    AsyncStatus,
    DetectorTriggerLogic,
    PathProvider,
    TriggerInfo,
    soft_signal_r_and_setter,
    soft_signal_rw,
)

from ._port import BlockingPort
from ._recording import (
    RecordField,
    RecordFile,
    RecordingAcquireLogic,
    RecordingDataLogic,
    RecordingDetector,
)

__all__ = ["SWEEPS_DATASET", "AmplifierDriver", "PatchAmplifier", "step_protocol"]

SWEEPS_DATASET = "/entry/im"
SWEEP_T_S_DATASET = "/entry/t_s"
#: The command of every sweep, as sent (mV per sample): sweeps of one run may differ
#: (voltage-step families, P/N leak pulses), so each is kept beside its current.
SWEEP_COMMAND_DATASET = "/entry/command_mV"


class AmplifierDriver(Protocol):
    """What an amplifier driver offers (Axopatch 200B through a DAQ, or simulated)."""

    safe_holding_mV: float

    def set_holding_mV(self, holding_mV: float) -> None: ...

    def record_sweep(self, command_mV: ArrayLike, sample_rate_Hz: float) -> NDArray: ...

    def read_current_pA(self) -> float: ...

    def safe(self) -> None: ...


class _SweepTriggerLogic(DetectorTriggerLogic):
    """Software-started sweeps; a sweep lasts as long as its protocol."""

    def __init__(self, amplifier: PatchAmplifier) -> None:
        self._amplifier = amplifier

    async def prepare_internal(self, num: int, livetime: float, deadtime: float) -> None:
        self._amplifier.acquisition.count = max(1, num)

    async def default_trigger_info(self) -> TriggerInfo:
        return TriggerInfo()


def step_protocol(
    *, holding_mV: float, step_mV: float, step_ms: float, sample_rate_Hz: float
) -> NDArray[np.float64]:
    """Holding, a step, holding again: a quarter, a half and a quarter of the sweep (mV)."""
    n_step = max(4, round(step_ms * sample_rate_Hz / 1000.0))
    quarter = n_step // 2
    return np.concatenate(
        [
            np.full(quarter, holding_mV),
            np.full(n_step, holding_mV + step_mV),
            np.full(quarter, holding_mV),
        ]
    )


class PatchAmplifier(RecordingDetector):
    """Whole-cell amplifier + digitiser. Sweeps (pA, float32) go to HDF5 by reference."""

    def __init__(
        self,
        driver: AmplifierDriver,
        path_provider: PathProvider,
        *,
        now_s: Callable[[], float],
        telegraphs: Callable[[], dict[str, object]] | None = None,
        port: BlockingPort | None = None,
        sample_rate_Hz: float = 10_000.0,
        name: str = "",
    ) -> None:
        self._driver = driver
        self._port = port or BlockingPort(name or "amplifier")
        self._now_s = now_s
        self._telegraphs = telegraphs
        self._file: RecordFile | None = None
        self._file_samples = 0
        self._command_mV = step_protocol(
            holding_mV=driver.safe_holding_mV,
            step_mV=-5.0,
            step_ms=10.0,
            sample_rate_Hz=sample_rate_Hz,
        )
        self._sample_rate_Hz = sample_rate_Hz
        self.holding_mV = soft_signal_rw(
            float,
            driver.safe_holding_mV,
            units="mV",
            getter=self._holding_now,
            setter=self._put_holding,
        )
        self.sample_rate_Hz, self._set_rate = soft_signal_r_and_setter(
            float, sample_rate_Hz, units="Hz"
        )
        self.protocol, self._set_protocol_summary = soft_signal_r_and_setter(str, "")
        self.telegraphs, _ = soft_signal_r_and_setter(str, "{}", getter=self._read_telegraphs)
        self.sweeps_written, self._set_sweeps_written = soft_signal_r_and_setter(int, 0)
        self.last_sweep_pA, self._set_last_sweep = soft_signal_r_and_setter(
            np.ndarray, np.zeros(0), units="pA"
        )
        self.current_pA, _ = soft_signal_r_and_setter(
            float, 0.0, units="pA", getter=self._read_current
        )
        self.resistance_MOhm, _ = soft_signal_r_and_setter(
            float, 0.0, units="MOhm", getter=self.seal_test_MOhm
        )
        self._summarise_protocol()
        self.acquisition = RecordingAcquireLogic(self._port, self._record_one, self._on_sweep)
        self.add_detector_logics(
            _SweepTriggerLogic(self),
            self.acquisition,
            RecordingDataLogic(
                self._port, path_provider, self._fields, self._on_open, self.sweeps_written
            ),
        )
        self.add_config_signals(
            self.holding_mV, self.sample_rate_Hz, self.protocol, self.telegraphs
        )
        super().__init__(name=name)

    # -- protocol and holding -----------------------------------------------------------------
    def set_protocol(self, command_mV: ArrayLike, sample_rate_Hz: float) -> None:
        """Fix the command waveform (mV, one value per sample) of the next sweeps."""
        command = np.asarray(command_mV, dtype=np.float64)
        if command.ndim != 1 or command.size < 2 or not np.isfinite(command).all():
            raise ValueError("command_mV must be a 1-D array of >= 2 finite values (mV)")
        if not 10_000 <= sample_rate_Hz <= 100_000:
            raise ValueError(f"sample_rate_Hz must be in 10000..100000 Hz, got {sample_rate_Hz!r}")
        self._command_mV, self._sample_rate_Hz = command, float(sample_rate_Hz)
        self._set_rate(self._sample_rate_Hz)
        self._summarise_protocol()

    def _summarise_protocol(self) -> None:
        c = self._command_mV
        self._set_protocol_summary(
            json.dumps(
                {
                    "n_samples": int(c.size),
                    "duration_ms": 1000.0 * c.size / self._sample_rate_Hz,
                    "min_mV": float(c.min()),
                    "max_mV": float(c.max()),
                    "first_mV": float(c[0]),
                    "last_mV": float(c[-1]),
                }
            )
        )

    @property
    def command_mV(self) -> NDArray[np.float64]:
        return self._command_mV.copy()

    def _holding_now(self) -> float:
        holding = getattr(self._driver, "holding_mV", None)
        return self._driver.safe_holding_mV if holding is None else float(holding)

    async def _put_holding(self, holding_mV: float) -> None:
        await self._port.call(self._driver.set_holding_mV, float(holding_mV))

    @AsyncStatus.wrap
    async def make_safe(self) -> None:
        """Holding to the configured safe value (no current in current clamp)."""
        await self._port.call(self._driver.safe)

    async def _read_current(self) -> float:
        return float(await self._port.call(self._driver.read_current_pA))

    async def _read_telegraphs(self) -> str:
        if self._telegraphs is None:
            return "{}"
        values = await self._port.call(self._telegraphs)
        return json.dumps(values, default=str)

    async def seal_test_MOhm(self, step_mV: float = 5.0, step_ms: float = 10.0) -> float:
        """Resistance (MΩ) from a ``step_mV`` step: ΔV / ΔI over the settled last half of the
        step against the baseline before it (docs/reference/physiology.md §1.3, Rseal and Rp)."""
        holding = await self.holding_mV.get_value()
        rate = self._sample_rate_Hz
        command = step_protocol(
            holding_mV=holding, step_mV=step_mV, step_ms=step_ms, sample_rate_Hz=rate
        )
        current = await self._port.call(self._driver.record_sweep, command, rate)
        quarter = (command.size - command.size // 2) // 2
        n_step = command.size - 2 * quarter
        baseline = float(np.mean(current[:quarter]))
        settled = float(np.mean(current[quarter + n_step // 2 : quarter + n_step]))
        delta_pA = settled - baseline
        if delta_pA == 0:
            return float("inf")
        return abs(step_mV / delta_pA) * 1000.0  # mV / pA = GΩ → MΩ

    # -- the record: sweep, start time ------------------------------------------------------------
    def _fields(self) -> list[RecordField]:
        return [
            RecordField("", SWEEPS_DATASET, (int(self._command_mV.size),), "<f4", "pA"),
            RecordField("-t_s", SWEEP_T_S_DATASET, (), "<f8", "s"),
            RecordField(
                "-command_mV", SWEEP_COMMAND_DATASET, (int(self._command_mV.size),), "<f4", "mV"
            ),
        ]

    def _on_open(self, file: RecordFile | None) -> None:
        self._file = file
        self._file_samples = int(self._command_mV.size)
        if file is not None:
            self._set_sweeps_written(0)

    def _record_one(self) -> NDArray[np.float64]:
        if self._file is None:
            raise RuntimeError(f"{self.name}: no file open; prepare() the amplifier first")
        command = self._command_mV
        if command.size != self._file_samples:
            raise ValueError(
                f"{self.name}: the command has {command.size} samples but this run's sweeps "
                f"have {self._file_samples}; set_protocol before staging, same length per run"
            )
        t_s = self._now_s()
        current = np.asarray(
            self._driver.record_sweep(command, self._sample_rate_Hz), dtype=np.float64
        )
        self._file.append([current.astype(np.float32), t_s, command.astype(np.float32)])
        return current

    def _on_sweep(self, current: NDArray[np.float64]) -> None:
        self._set_last_sweep(current)
        if self._file is not None:
            self._set_sweeps_written(self._file.records_written)

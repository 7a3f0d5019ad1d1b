"""Voltage protocols in whole cell: a family of steps (with P/N leak subtraction) and ramps.

Sweeps go to stream ``primary`` (``amplifier`` by reference, ``t_s``, and the sweep's command
as numbers: ``command_level_mV`` — the step or ramp-start potential — and ``leak_pulse``, 1 for
a P/N leak pulse). Read-outs per test sweep go to stream ``iv``. Parameters follow
docs/reference/physiology.md §7 (whole cell) and §8.1 (ramps); P/N after Bezanilla & Armstrong
(1977).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import bluesky.plan_stubs as bps
import numpy as np
from bluesky.utils import MsgGenerator
from numpy.typing import NDArray
from ophyd_async.plan_stubs import ensure_connected

from ionrig import analysis
from ionrig.devices import ComputedReadout, Rig, step_protocol

from ._parameters import Integer, Metadata, Number, OneOf, check_value, plan_parameters
from ._patch_stubs import SampleRateHz, emit, guarded, patch_amplifier, patch_methods, staged
from ._ramps import LEAK_FIT_MV, HoldingMV, RampLeak, RampMV, check_ramp_leak, ramp_command
from ._reading import rig_time_s
from ._validation import PlanParameterError

__all__ = ["voltage_ramp", "voltage_steps"]


def _check_levels(name: str, values: Any) -> list[float]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
        raise PlanParameterError(f"{name} must be a non-empty list of potentials (mV)")
    if len(values) > 200:
        raise PlanParameterError(f"{name} may hold at most 200 potentials, got {len(values)}")
    return [check_value(f"{name}[{i}]", RampMV, v) for i, v in enumerate(values)]


def _sweep_readout() -> ComputedReadout:
    return ComputedReadout({"command_level_mV": "mV", "leak_pulse": "1"})


def _record(
    rig: Rig,
    command: NDArray[np.float64],
    rate_Hz: float,
    sweep: ComputedReadout,
    level: float,
    leak_pulse: bool,
) -> MsgGenerator[NDArray[np.float64]]:
    """One sweep of ``command`` into ``primary``; returns its current (pA)."""
    rig.amplifier.set_protocol(command, rate_Hz)
    sweep.update({"command_level_mV": level, "leak_pulse": float(leak_pulse)})
    yield from bps.trigger_and_read([rig.amplifier, rig.t_s, *sweep.signals], name="primary")
    return np.asarray((yield from bps.rd(rig.amplifier.last_sweep_pA)), dtype=np.float64)


@dataclass(frozen=True)
class _StepFamily:
    """Checked :func:`voltage_steps` protocol: potentials (mV), step (ms), rate (Hz), P/N."""

    holding_mV: float
    levels: list[float]
    step_ms: float
    sample_rate_Hz: float
    leak_p_over_n: float | None
    n_leak: int

    def command(self, delta_mV: float) -> NDArray[np.float64]:
        """One sweep's command (mV per sample) for a step of ``delta_mV`` from holding."""
        return step_protocol(
            holding_mV=self.holding_mV,
            step_mV=delta_mV,
            step_ms=self.step_ms,
            sample_rate_Hz=self.sample_rate_Hz,
        )

    def step_samples(self) -> tuple[int, int]:
        """(samples at holding before the step, samples of the step)."""
        size = self.command(0.0).size
        n_step = size - 2 * ((size - size // 2) // 2)
        return (size - n_step) // 2, n_step


@plan_parameters
def voltage_steps(
    rig: Rig,
    *,
    holding_mV: Number(-120.0, 60.0, "mV") = -70.0,
    steps_mV: Sequence[float] = (-100, -80, -60, -40, -20, 0, 20, 40, 60, 80),
    step_ms: Number(2.0, 10_000.0, "ms") = 100.0,
    leak_p_over_n: Number(-1.0, 1.0, "(fraction)") | None = None,
    n_leak: Integer(1, 32) = 4,
    sample_rate_Hz: SampleRateHz = 10_000.0,
    md: Metadata = None,
) -> MsgGenerator[str]:
    """A family of steps from ``holding_mV`` to each of ``steps_mV`` for ``step_ms`` (each
    sweep: half of ``step_ms`` at holding, the step, half of ``step_ms`` at holding).

    With ``leak_p_over_n`` (e.g. ``-0.25`` for P/−4) every test step is followed by ``n_leak``
    pulses of ``leak_p_over_n`` × its amplitude from holding, and the stream ``iv`` gives the
    leak-subtracted current (:func:`ionrig.analysis.leak_subtract`). Stream ``iv`` (one event
    per step): ``t_s``, ``step_mV``, ``i_holding_pA`` (before the step), and relative to it
    ``i_steady_pA`` (mean over the step's last quarter) and ``i_peak_pA`` (largest excursion
    after the first 10 % of the step, past the capacitive transient). Returns the start uid.
    """
    levels = _check_levels("steps_mV", steps_mV)
    if leak_p_over_n == 0:
        raise PlanParameterError("leak_p_over_n must be non-zero (e.g. -0.25 for P/-4)")
    if step_ms * sample_rate_Hz / 1000.0 * 1.5 > 2_000_000:
        raise PlanParameterError(
            "step_ms × sample_rate_Hz is too long for one sweep (> 2 M samples)"
        )
    patch_amplifier(rig)
    family = _StepFamily(holding_mV, levels, step_ms, sample_rate_Hz, leak_p_over_n, n_leak)
    args = {
        "holding_mV": holding_mV,
        "steps_mV": levels,
        "step_ms": step_ms,
        "leak_p_over_n": leak_p_over_n,
        "n_leak": n_leak if leak_p_over_n is not None else 0,
        "sample_rate_Hz": sample_rate_Hz,
    }
    return _steps_run(rig, family, args, md)


def _steps_run(
    rig: Rig, family: _StepFamily, args: dict[str, Any], extra: dict[str, Any]
) -> MsgGenerator[str]:
    """The methods, then the run of :func:`voltage_steps` (guarded, amplifier staged)."""
    methods = yield from patch_methods(rig, "voltage_steps", args, extra)
    probe = family.command(0.0)
    quarter, n_step = family.step_samples()
    methods["protocol"] = {
        "sweep": "holding for half of step_ms, the step, holding for half of step_ms",
        "n_samples": int(probe.size),
        "step_samples": [int(quarter), int(quarter + n_step)],
        "leak": "P/N (Bezanilla & Armstrong 1977)" if family.leak_p_over_n is not None else None,
    }
    methods["hints"] = {"dimensions": [[["step_mV"], "iv"]]}
    sweep = _sweep_readout()
    iv = ComputedReadout(
        {
            "t_s": "s",
            "step_mV": "mV",
            "i_holding_pA": "pA",
            "i_steady_pA": "pA",
            "i_peak_pA": "pA",
        }
    )
    yield from ensure_connected(*sweep.signals, *iv.signals)
    rig.amplifier.set_protocol(probe, family.sample_rate_Hz)  # the file's sweep length, at stage

    def body() -> MsgGenerator[None]:
        yield from bps.mv(rig.amplifier.holding_mV, family.holding_mV)
        for level in family.levels:
            t_s = yield from rig_time_s(rig)
            current = yield from _step_current(rig, family, sweep, level)
            yield from emit(iv, "iv", _iv_values(family, current, t_s, level))

    return (yield from guarded(rig, staged(rig.amplifier, body()), methods))


def _step_current(
    rig: Rig, family: _StepFamily, sweep: ComputedReadout, level: float
) -> MsgGenerator[NDArray[np.float64]]:
    """The test sweep to ``level`` (mV) and, with P/N, its ``n_leak`` leak pulses (plan stub,
    sweeps in ``primary``); returns the (leak-subtracted) current (pA)."""
    rate_Hz, delta = family.sample_rate_Hz, level - family.holding_mV
    current = yield from _record(rig, family.command(delta), rate_Hz, sweep, level, False)
    if family.leak_p_over_n is None:
        return current
    leak_delta = delta * family.leak_p_over_n
    leaks = []
    for _ in range(family.n_leak):
        leak_level = family.holding_mV + leak_delta
        command = family.command(leak_delta)
        leaks.append((yield from _record(rig, command, rate_Hz, sweep, leak_level, True)))
    quarter, _ = family.step_samples()
    return analysis.leak_subtract(
        current, np.vstack(leaks), family.leak_p_over_n, baseline_samples=quarter
    )


def _iv_values(
    family: _StepFamily, current: NDArray[np.float64], t_s: float, level: float
) -> dict[str, float]:
    """One ``iv`` event: holding current, then steady and peak currents relative to it (pA)."""
    quarter, n_step = family.step_samples()
    holding_pA = float(current[:quarter].mean())
    during = current[quarter : quarter + n_step] - holding_pA
    settled = during[n_step // 10 :]
    return {
        "t_s": t_s,
        "step_mV": level,
        "i_holding_pA": holding_pA,
        "i_steady_pA": float(during[-max(1, n_step // 4) :].mean()),
        "i_peak_pA": float(settled[int(np.argmax(np.abs(settled)))]),
    }


@plan_parameters
def voltage_ramp(
    rig: Rig,
    *,
    start_mV: RampMV = -100.0,
    stop_mV: RampMV = 100.0,
    duration_ms: Number(5.0, 10_000.0, "ms") = 500.0,
    holding_mV: HoldingMV = 0.0,
    n_sweeps: Integer(1, 10_000) = 1,
    sample_rate_Hz: SampleRateHz = 10_000.0,
    leak: OneOf("none", "linear") = "none",
    leak_fit_mV: tuple[float, float] = LEAK_FIT_MV,
    md: Metadata = None,
) -> MsgGenerator[str]:
    """``n_sweeps`` ramps ``start_mV`` → ``stop_mV`` over ``duration_ms`` from ``holding_mV``
    (10 ms at holding before and after each). Stream ``iv`` (one event per ramp): ``t_s``,
    ``reversal_mV`` (NaN if the current does not cross zero) and the current at −80/+80 mV
    when the ramp spans them (``i_minus80_pA``, ``i_plus80_pA``), after the ``leak``
    subtraction (``"none"`` or ``"linear"`` in ``leak_fit_mV``; see ``trpm7_ramps``).
    Returns the start uid.
    """
    if abs(stop_mV - start_mV) < 10:
        raise PlanParameterError(
            f"stop_mV must differ from start_mV by >= 10 mV, got {start_mV:g} → {stop_mV:g}"
        )
    ramp_leak = check_ramp_leak(leak, leak_fit_mV, 1)
    patch_amplifier(rig)
    command = ramp_command(
        holding_mV=holding_mV,
        start_mV=start_mV,
        stop_mV=stop_mV,
        ramp_ms=duration_ms,
        sample_rate_Hz=sample_rate_Hz,
    )
    args = {
        "start_mV": start_mV,
        "stop_mV": stop_mV,
        "duration_ms": duration_ms,
        "holding_mV": holding_mV,
        "n_sweeps": n_sweeps,
        "sample_rate_Hz": sample_rate_Hz,
        "leak": leak,
        "leak_fit_mV": list(ramp_leak.fit_mV),
    }
    return _ramp_run(rig, command, ramp_leak, args, md)


def _ramp_read_outs(start_mV: float, stop_mV: float) -> tuple[float, ...]:
    """The read-out potentials (−80 and +80 mV) that a ramp ``start_mV`` → ``stop_mV`` spans."""
    low, high = min(start_mV, stop_mV), max(start_mV, stop_mV)
    return tuple(v for v in (-80.0, 80.0) if low <= v <= high)


def _ramp_run(
    rig: Rig,
    command: NDArray[np.float64],
    ramp_leak: RampLeak,
    args: dict[str, Any],
    extra: dict[str, Any],
) -> MsgGenerator[str]:
    """The methods, then the run of :func:`voltage_ramp` (``args``: its checked arguments)."""
    start_mV, rate_Hz = args["start_mV"], args["sample_rate_Hz"]
    at = _ramp_read_outs(start_mV, args["stop_mV"])
    methods = yield from patch_methods(rig, "voltage_ramp", args, extra)
    methods["protocol"] = {"n_samples": int(command.size), "hold_ms_before_and_after": 10.0}
    sweep = _sweep_readout()
    iv = ComputedReadout(
        {"t_s": "s", "reversal_mV": "mV"}
        | {("i_minus80_pA" if v < 0 else "i_plus80_pA"): "pA" for v in at}
    )
    yield from ensure_connected(*sweep.signals, *iv.signals)
    rig.amplifier.set_protocol(command, rate_Hz)  # the file's sweep length, at stage

    def body() -> MsgGenerator[None]:
        yield from bps.mv(rig.amplifier.holding_mV, args["holding_mV"])
        for _ in range(args["n_sweeps"]):
            t_s = yield from rig_time_s(rig)
            current = yield from _record(rig, command, rate_Hz, sweep, start_mV, False)
            corrected = ramp_leak.subtract(current, command)
            curve = analysis.iv_from_ramp(corrected, command, at_mV=at or (start_mV,))
            values = {"t_s": t_s, "reversal_mV": curve.reversal_mV}
            for v, i in zip(at, curve.current_at_pA, strict=False):
                values["i_minus80_pA" if v < 0 else "i_plus80_pA"] = i
            yield from emit(iv, "iv", values)

    return (yield from guarded(rig, staged(rig.amplifier, body()), methods))

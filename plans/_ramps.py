"""TRPM7 ramps: the ramp command, live leak subtraction, the ±80 mV read-outs, the run-up plan.

Protocol values cite the project's docs/reference/physiology.md §8.1-8.2 (TRPM7 ramps and leak).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import bluesky.plan_stubs as bps
import numpy as np
from bluesky.utils import MsgGenerator
from numpy.typing import NDArray
from ophyd_async.plan_stubs import ensure_connected

from ionrig import analysis
from ionrig.devices import ComputedReadout, Rig

from ._parameters import Integer, Metadata, Number, OneOf, check_value, plan_parameters
from ._patch_stubs import SampleRateHz, emit, guarded, patch_amplifier, patch_methods, staged
from ._schedule import Schedule, next_tick
from ._validation import PlanParameterError

__all__ = [
    "LEAK_FIT_MV",
    "LEAK_MODES",
    "RAMP_HOLD_MS",
    "TRPM7_AT_MV",
    "CapacitancePF",
    "HoldingMV",
    "LeakMode",
    "LeakRamps",
    "RampLeak",
    "RampMV",
    "RampMs",
    "RampProtocol",
    "RunDurationS",
    "check_ramp_leak",
    "check_sweep_fits",
    "checked_ramps",
    "ramp_command",
    "ramp_tick",
    "trpm7_keys",
    "trpm7_ramps",
    "trpm7_values",
]

RAMP_HOLD_MS = 10.0  # holding before and after each ramp
TRPM7_AT_MV = (80.0, -80.0)  # §8.1 read-outs at +80 and −80 mV
LEAK_MODES = ("linear", "first_ramps", "none")
#: §8.2: TRPM7 is a steep outward rectifier with a tiny inward current, so the ramp below
#: −40 mV is mostly leak (and the ramp's constant capacitive current, Cm·dV/dt, §8.1).
LEAK_FIT_MV = (-90.0, 0.0)

# The rules of the ramp parameters (shared by every plan that ramps; the sample rate's is
# SampleRateHz of the patch stubs, shared by every sweep protocol).
RampMs = Number(5.0, 2000.0, "ms")
HoldingMV = Number(-120.0, 120.0, "mV")
RampMV = Number(-200.0, 200.0, "mV")
CapacitancePF = Number(0.0, 1000.0, "pF", min_inclusive=False)
LeakMode = OneOf(*LEAK_MODES)
LeakRamps = Integer(1, 20)
#: The rule of a periodic protocol's duration (s of rig time; a day at most).
RunDurationS = Number(0.0, 86_400.0, "s", min_inclusive=False)


def ramp_command(
    *,
    holding_mV: float,
    start_mV: float,
    stop_mV: float,
    ramp_ms: float,
    sample_rate_Hz: float,
) -> NDArray[np.float64]:
    """Holding (10 ms), a linear ramp ``start_mV`` → ``stop_mV`` over ``ramp_ms``, holding
    (10 ms): one sweep's command (mV per sample)."""
    n_hold = max(3, round(RAMP_HOLD_MS * sample_rate_Hz / 1000.0))
    n_ramp = max(3, round(ramp_ms * sample_rate_Hz / 1000.0))
    return np.concatenate(
        [
            np.full(n_hold, holding_mV),
            np.linspace(start_mV, stop_mV, n_ramp),
            np.full(n_hold, holding_mV),
        ]
    )


@dataclass
class RampLeak:
    """Live leak subtraction for TRPM7 ramps (§8.1 read-outs are leak-subtracted).

    ``"linear"``: a line fitted to each ramp's own current in ``fit_mV`` (ohmic leak plus the
    capacitive offset) is subtracted from it. ``"first_ramps"``: the mean of the first
    ``n_template`` ramps (§8.1: 1-3 ramps before activation) is the template subtracted from
    every ramp (the template ramps read ~0). ``"none"``: raw currents.
    """

    mode: str = "linear"
    fit_mV: tuple[float, float] = LEAK_FIT_MV
    n_template: int = 3
    _template: list[NDArray[np.float64]] = field(default_factory=list)

    def subtract(
        self, sweep_pA: NDArray[np.float64], command_mV: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        if self.mode == "linear":
            ramp = analysis.ramp_samples(command_mV)
            leak = analysis.fit_linear_leak(command_mV[ramp], sweep_pA[ramp], fit_mV=self.fit_mV)
            return sweep_pA - leak.current_pA(command_mV)
        if self.mode == "first_ramps":
            if len(self._template) < self.n_template:
                self._template.append(sweep_pA)
            return sweep_pA - np.mean(self._template, axis=0)
        return sweep_pA


def check_ramp_leak(leak: Any, leak_fit_mV: Any, leak_ramps: Any) -> RampLeak:
    """Checked leak options (:class:`PlanParameterError` naming the parameter): the mode, the
    fit window ``leak_fit_mV`` (a pair of potentials, each a :data:`RampMV`) and the number of
    template ramps."""
    leak = check_value("leak", LeakMode, leak)
    if not (isinstance(leak_fit_mV, tuple | list) and len(leak_fit_mV) == 2):
        raise PlanParameterError(f"leak_fit_mV must be (low_mV, high_mV), got {leak_fit_mV!r}")
    low = check_value("leak_fit_mV[0]", RampMV, leak_fit_mV[0])
    high = check_value("leak_fit_mV[1]", RampMV, leak_fit_mV[1])
    if high - low < 10:
        raise PlanParameterError(
            f"leak_fit_mV must span at least 10 mV (low < high), got {leak_fit_mV!r}"
        )
    n_template = check_value("leak_ramps", LeakRamps, leak_ramps)
    return RampLeak(leak, (low, high), n_template)


def check_sweep_fits(ramp_ms: float, period_s: float) -> None:
    """Refuse a ramp period (s) no longer than the sweep (``ramp_ms`` plus holding)."""
    sweep_ms = ramp_ms + 2 * RAMP_HOLD_MS
    if sweep_ms >= 1000.0 * period_s:
        raise PlanParameterError(
            f"period_s must exceed the sweep ({sweep_ms:g} ms: ramp_ms + 2 × {RAMP_HOLD_MS:g} ms "
            f"at holding), got {period_s:g} s"
        )


def trpm7_values(
    sweep_pA: NDArray[np.float64],
    command_mV: NDArray[np.float64],
    leak: RampLeak,
    t_s: float,
    cm_pF: float | None,
) -> dict[str, float]:
    """One ramp's ``trpm7`` event: raw and leak-subtracted currents at ±80 mV (and densities)."""
    raw_plus, raw_minus = analysis.iv_from_ramp(
        sweep_pA, command_mV, at_mV=TRPM7_AT_MV
    ).current_at_pA
    corrected = leak.subtract(sweep_pA, command_mV)
    i_plus, i_minus = analysis.iv_from_ramp(corrected, command_mV, at_mV=TRPM7_AT_MV).current_at_pA
    values = {
        "t_s": t_s,
        "i_plus80_pA": i_plus,
        "i_minus80_pA": i_minus,
        "raw_i_plus80_pA": raw_plus,
        "raw_i_minus80_pA": raw_minus,
    }
    if cm_pF is not None:
        values |= {"i_plus80_pA_per_pF": i_plus / cm_pF, "i_minus80_pA_per_pF": i_minus / cm_pF}
    return values


def trpm7_keys(cm_pF: float | None) -> dict[str, str]:
    """The ``trpm7`` stream's keys and units (densities only with ``cm_pF``)."""
    keys = {
        "t_s": "s",
        "i_plus80_pA": "pA",
        "i_minus80_pA": "pA",
        "raw_i_plus80_pA": "pA",
        "raw_i_minus80_pA": "pA",
    }
    if cm_pF is not None:
        keys |= {"i_plus80_pA_per_pF": "pA/pF", "i_minus80_pA_per_pF": "pA/pF"}
    return keys


@dataclass(frozen=True)
class RampProtocol:
    """Checked periodic ramps: the sweep's command (mV per sample) at ``sample_rate_Hz``, the
    holding (mV), one ramp every ``period_s`` (rig clock), ``n_ramps`` of them, the live leak
    subtraction and the capacitance (pF) for densities."""

    command_mV: NDArray[np.float64]
    sample_rate_Hz: float
    holding_mV: float
    period_s: float
    n_ramps: int
    leak: RampLeak
    cm_pF: float | None


def checked_ramps(
    *,
    holding_mV: float,
    start_mV: float,
    stop_mV: float,
    ramp_ms: float,
    sample_rate_Hz: float,
    period_s: float,
    duration_s: float,
    leak: str,
    leak_fit_mV: Any,
    leak_ramps: int,
    cm_pF: float | None,
) -> RampProtocol:
    """The ramps of a run-up plan from its declared parameters, after the checks that join
    several of them (:class:`PlanParameterError` naming them): the ramp spans the ±80 mV
    read-outs, a sweep fits in a period, and the leak options (:func:`check_ramp_leak`)."""
    if not (
        min(start_mV, stop_mV) <= min(TRPM7_AT_MV) and max(start_mV, stop_mV) >= max(TRPM7_AT_MV)
    ):
        raise PlanParameterError(
            f"start_mV..stop_mV must span -80..+80 mV (the §8.1 read-outs), got "
            f"{start_mV:g}..{stop_mV:g}"
        )
    check_sweep_fits(ramp_ms, period_s)
    return periodic_ramps(
        holding_mV=holding_mV,
        start_mV=start_mV,
        stop_mV=stop_mV,
        ramp_ms=ramp_ms,
        sample_rate_Hz=sample_rate_Hz,
        period_s=period_s,
        duration_s=duration_s,
        leak=check_ramp_leak(leak, leak_fit_mV, leak_ramps),
        cm_pF=cm_pF,
    )


def periodic_ramps(
    *,
    holding_mV: float,
    start_mV: float,
    stop_mV: float,
    ramp_ms: float,
    sample_rate_Hz: float,
    period_s: float,
    duration_s: float,
    leak: RampLeak,
    cm_pF: float | None,
) -> RampProtocol:
    """The ramps of checked parameters: the sweep's command, and one ramp per ``period_s`` for
    ``duration_s`` (at least one)."""
    command = ramp_command(
        holding_mV=holding_mV,
        start_mV=start_mV,
        stop_mV=stop_mV,
        ramp_ms=ramp_ms,
        sample_rate_Hz=sample_rate_Hz,
    )
    n_ramps = max(1, math.floor(duration_s / period_s + 1e-9))
    return RampProtocol(command, sample_rate_Hz, holding_mV, period_s, n_ramps, leak, cm_pF)


def ramp_tick(
    rig: Rig, ramps: RampProtocol, schedule: Schedule, readout: ComputedReadout, stream: str
) -> MsgGenerator[None]:
    """One ramp on the fixed-rate schedule (plan stub, inside a staged run): the sweep in
    ``stream`` (``amplifier`` by reference, ``t_s``), its read-outs in ``trpm7``."""
    # fixed-rate schedule on the rig clock: ramp k starts at t0 + k * period
    t_s = yield from next_tick(rig, schedule)
    amplifier = rig.amplifier
    yield from bps.trigger_and_read([amplifier, rig.t_s], name=stream)
    sweep = np.asarray((yield from bps.rd(amplifier.last_sweep_pA)), dtype=float)
    values = trpm7_values(sweep, ramps.command_mV, ramps.leak, t_s, ramps.cm_pF)
    yield from emit(readout, "trpm7", values)


@plan_parameters
def trpm7_ramps(
    rig: Rig,
    *,
    duration_s: RunDurationS = 300.0,
    period_s: Number(0.05, 3600.0, "s") = 2.0,
    start_mV: RampMV = -100.0,
    stop_mV: RampMV = 100.0,
    ramp_ms: RampMs = 50.0,
    holding_mV: HoldingMV = 0.0,
    sample_rate_Hz: SampleRateHz = 10_000.0,
    cm_pF: CapacitancePF | None = None,
    leak: LeakMode = "linear",
    leak_fit_mV: tuple[float, float] = LEAK_FIT_MV,
    leak_ramps: LeakRamps = 3,
    md: Metadata = None,
) -> MsgGenerator[str]:
    """TRPM7 run-up (§8.1): ``ramp_ms`` ramps ``start_mV`` → ``stop_mV`` from ``holding_mV``
    every ``period_s`` of rig time (fixed-rate schedule) for ``duration_s``, sampled at
    ``sample_rate_Hz`` (§8.1: 50 ms, −100 → +100 mV, 0.5 Hz, 300-600 s, 0 mV, 10 kHz).

    Streams: ``primary`` (one event per ramp: ``amplifier`` sweep by reference, ``t_s``) and
    ``trpm7`` (one per ramp: ``t_s`` at the ramp's start, leak-subtracted ``i_plus80_pA`` and
    ``i_minus80_pA`` from the ramp's I-V, the raw ``raw_i_plus80_pA``/``raw_i_minus80_pA``, and
    with ``cm_pF`` given the densities ``i_plus80_pA_per_pF``, ``i_minus80_pA_per_pF``). Leak
    subtraction is live (:class:`RampLeak`: ``leak="linear"`` fits each ramp in
    ``leak_fit_mV``; ``"first_ramps"`` subtracts the mean of the first ``leak_ramps``; the
    analysis can redo it from the sweeps). Returns the start uid.
    """
    ramps = checked_ramps(
        holding_mV=holding_mV,
        start_mV=start_mV,
        stop_mV=stop_mV,
        ramp_ms=ramp_ms,
        sample_rate_Hz=sample_rate_Hz,
        period_s=period_s,
        duration_s=duration_s,
        leak=leak,
        leak_fit_mV=leak_fit_mV,
        leak_ramps=leak_ramps,
        cm_pF=cm_pF,
    )
    patch_amplifier(rig)
    args = {
        "duration_s": duration_s,
        "period_s": period_s,
        "start_mV": start_mV,
        "stop_mV": stop_mV,
        "ramp_ms": ramp_ms,
        "holding_mV": holding_mV,
        "sample_rate_Hz": sample_rate_Hz,
        "cm_pF": cm_pF,
        "leak": leak,
        "leak_fit_mV": list(ramps.leak.fit_mV),
        "leak_ramps": ramps.leak.n_template,
    }
    return _trpm7_run(rig, ramps, args, md)


def _trpm7_run(
    rig: Rig, ramps: RampProtocol, args: dict[str, Any], extra: dict[str, Any]
) -> MsgGenerator[str]:
    """The methods, then the run of :func:`trpm7_ramps` (guarded, amplifier staged)."""
    methods = yield from patch_methods(rig, "trpm7_ramps", args, extra)
    methods["protocol"] = {
        "n_ramps": ramps.n_ramps,
        "n_samples": int(ramps.command_mV.size),
        "hold_ms_before_and_after": RAMP_HOLD_MS,
        "read_out_at_mV": list(TRPM7_AT_MV),
        "section": "§8.1",
    }
    methods["cm_pF"] = ramps.cm_pF
    methods["hints"] = {"dimensions": [[["t_s"], "trpm7"]]}
    amplifier = rig.amplifier
    amplifier.set_protocol(ramps.command_mV, ramps.sample_rate_Hz)
    readout = ComputedReadout(trpm7_keys(ramps.cm_pF))
    yield from ensure_connected(*readout.signals)

    def body() -> MsgGenerator[None]:
        yield from bps.mv(amplifier.holding_mV, ramps.holding_mV)
        schedule = Schedule(ramps.period_s)
        for _ in range(ramps.n_ramps):
            yield from ramp_tick(rig, ramps, schedule, readout, "primary")

    return (yield from guarded(rig, staged(amplifier, body()), methods))

"""Whole-cell patch clamp: pipette resistance, gigaseal, break-in, membrane test.

Protocol values cite the shared docs/reference/physiology.md: §7.1 (pipette, seal, break-in),
§7.2-7.3 (filter, membrane test). Every plan checks its parameters when called
(:class:`PlanParameterError`, before any run opens), records ``t_s`` from the rig clock in every
stream, puts its methods in the start document, and leaves the rig safe whatever happens
(pipette pressure 0 kPa, holding potential at the amplifier's safe value). Failures of the
preparation (a pipette out of range, no seal, no break-in, no capacitive transient) raise
:class:`PatchFailure` after the run is closed with ``exit_status="fail"``. The TRPM7 ramps
(§8.1) are in ``_ramps``, the shared stubs in ``_patch_stubs``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import bluesky.plan_stubs as bps
import numpy as np
from bluesky.utils import MsgGenerator
from numpy.typing import NDArray
from ophyd_async.plan_stubs import ensure_connected

from ionrig import analysis
from ionrig.devices import ComputedReadout, PatchAmplifier, Rig, step_protocol

from ._operator import APPROACH_CELL, operator_step
from ._parameters import Integer, Metadata, Number, plan_parameters
from ._patch_stubs import (
    PatchFailure,
    SampleRateHz,
    emit,
    guarded,
    lowpass_kHz,
    patch_amplifier,
    patch_methods,
    pipette_pressure,
    staged,
)
from ._reading import rig_time_s
from ._validation import PlanParameterError

__all__ = [
    "CellIndex",
    "PatchFailure",
    "SealGOhm",
    "SealHoldingMV",
    "SealTimeoutS",
    "SuctionKPa",
    "break_in",
    "form_seal",
    "membrane_test",
    "pipette_resistance",
]

#: §7.1: 5 MΩ general, 2-3.5 MΩ in TRPM7 studies, 2-10 MΩ range; outside 1-20 MΩ the tip is
#: broken or blocked.
PIPETTE_RANGE_MOHM = (1.0, 20.0)
#: ACQ4's lesson (§7.1 "holding at −60/−70 mV helps"): hyperpolarise once the seal passes this.
SEAL_HOLDING_THRESHOLD_GOHM = 0.1
#: Seal-test period while sealing (rig clock).
SEAL_TEST_INTERVAL_S = 0.5
#: Seal-test step while sealing (mV).
SEAL_TEST_STEP_MV = 5.0
#: §7.1 positive pressure on approach, +20 to +70 mbar.
APPROACH_PRESSURE_KPA = 3.0
#: Whole cell when the membrane test sees more than this capacitance: the pipette's own ~5 pF
#: (§7.1) is fast-compensated, so a cell-attached patch shows none.
WHOLE_CELL_CM_PF = 5.0
#: ...and an access resistance that a whole-cell pipette can have (§7.1: 5-20 MΩ acceptable);
#: a fit to the noise of a cell-attached patch gives none.
WHOLE_CELL_MAX_RA_MOHM = 200.0
MEMBRANE_TEST_STEP_MS = 10.0
#: The break-in's short membrane test: sample rate (Hz), step (mV), sweeps per test.
BREAK_IN_RATE_HZ, BREAK_IN_STEP_MV, BREAK_IN_SWEEPS = 50_000.0, -5.0, 3

# The rules of the sealing parameters (form_seal's, and patch_cell's that it passes on).
#: The seal to reach (GΩ; §7.1: > 1 GΩ).
SealGOhm = Number(0.1, 100.0, "GΩ")
#: How long sealing may take (s of rig time; §7.1: seconds to ~1 min).
SealTimeoutS = Number(0.0, 3600.0, "s", min_inclusive=False)
#: Gentle suction while sealing (kPa; §7.1: −1 to −5 kPa).
SuctionKPa = Number(-10.0, -0.1, "kPa")
#: The holding once the seal passes 0.1 GΩ (mV; hyperpolarised or 0, never depolarised).
SealHoldingMV = Number(-120.0, 0.0, "mV")
#: A cell of the dish, by index (the operator step ``approach_cell`` places the pipette on it).
CellIndex = Integer(0, 100_000)


# -- stubs ---------------------------------------------------------------------------------------
def _seal_test_MOhm(amplifier: PatchAmplifier, step_mV: float) -> MsgGenerator[float]:
    """One seal test of ``step_mV`` (plan stub); returns the resistance (MΩ)."""
    tasks = yield from bps.wait_for([lambda: amplifier.seal_test_MOhm(step_mV)])
    return float(tasks[0].result())


def _record_sweeps(rig: Rig, n_sweeps: int) -> MsgGenerator[tuple[NDArray[np.float64], float]]:
    """``n_sweeps`` sweeps of the set protocol in stream ``primary`` (by reference) with
    ``t_s``; returns (sweeps (n, samples), rig time before the first sweep)."""
    amplifier = rig.amplifier
    t0_s = yield from rig_time_s(rig)
    sweeps = []
    for _ in range(n_sweeps):
        yield from bps.trigger_and_read([amplifier, rig.t_s], name="primary")
        sweeps.append(np.asarray((yield from bps.rd(amplifier.last_sweep_pA)), dtype=float))
    return np.vstack(sweeps), float(t0_s)


def _membrane_test_values(
    sweeps: NDArray[np.float64], command_mV: NDArray[np.float64], rate_Hz: float, lowpass
) -> analysis.MembraneTest:
    time_s = np.arange(command_mV.size) / rate_Hz
    try:
        return analysis.membrane_test(time_s, sweeps, command_mV, filter_kHz=lowpass)
    except ValueError as error:
        raise PatchFailure(f"membrane test: {error} (is the pipette in whole cell?)") from error


def _short_membrane_test(
    rig: Rig, sample_rate_Hz: float, step_mV: float
) -> MsgGenerator[NDArray[np.float64]]:
    """Set a 10-ms ``step_mV`` step from the present holding as the amplifier's protocol
    (plan stub); returns its command (mV per sample)."""
    holding = yield from bps.rd(rig.amplifier.holding_mV)
    command = step_protocol(
        holding_mV=float(holding),
        step_mV=step_mV,
        step_ms=MEMBRANE_TEST_STEP_MS,
        sample_rate_Hz=sample_rate_Hz,
    )
    rig.amplifier.set_protocol(command, sample_rate_Hz)
    return command


# -- pipette resistance --------------------------------------------------------------------------
@plan_parameters
def pipette_resistance(
    rig: Rig, *, step_mV: Number(1.0, 20.0, "mV") = 5.0, md: Metadata = None
) -> MsgGenerator[float]:
    """Pipette resistance in the bath from a ``step_mV`` seal test (§7.1: Rp 2-10 MΩ).

    One run: stream ``primary`` with ``t_s`` (s) and ``pipette_MOhm`` (MΩ). Returns Rp (MΩ).
    Outside 1-20 MΩ (broken or blocked tip) the run fails with :class:`PatchFailure` (the value
    is still recorded).
    """
    patch_amplifier(rig)
    return _pipette_run(rig, step_mV, md)


def _pipette_run(rig: Rig, step_mV: float, extra: dict[str, Any]) -> MsgGenerator[float]:
    """The methods, then the run of :func:`pipette_resistance`; returns Rp (MΩ)."""
    methods = yield from patch_methods(rig, "pipette_resistance", {"step_mV": step_mV}, extra)
    methods["criteria"] = {"pipette_MOhm_range": list(PIPETTE_RANGE_MOHM), "section": "§7.1"}
    readout = ComputedReadout({"t_s": "s", "pipette_MOhm": "MOhm"})
    yield from ensure_connected(*readout.signals)
    result: dict[str, float] = {}
    yield from guarded(rig, _pipette_body(rig, step_mV, readout, result), methods)
    return result["pipette_MOhm"]


def _pipette_body(
    rig: Rig, step_mV: float, readout: ComputedReadout, result: dict[str, float]
) -> MsgGenerator[None]:
    """One seal test in ``primary``; Rp (MΩ) in ``result``, or :class:`PatchFailure`."""
    t_s = yield from rig_time_s(rig)
    value = yield from _seal_test_MOhm(rig.amplifier, step_mV)
    yield from emit(readout, "primary", {"t_s": t_s, "pipette_MOhm": value})
    low, high = PIPETTE_RANGE_MOHM
    if not low <= value <= high:
        raise PatchFailure(
            f"pipette resistance {value:.3g} MΩ is outside {low:g}-{high:g} MΩ "
            "(§7.1): not a usable pipette (broken or blocked tip, or not in the bath)"
        )
    result["pipette_MOhm"] = value


# -- gigaseal ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Seal:
    """Checked :func:`form_seal` arguments (their start-document ``plan_args``, in order)."""

    target_GOhm: float
    timeout_s: float
    suction_kPa: float
    holding_mV: float
    cell_index: int | None


@plan_parameters
def form_seal(
    rig: Rig,
    *,
    target_GOhm: SealGOhm = 1.0,
    timeout_s: SealTimeoutS = 60.0,
    suction_kPa: SuctionKPa = -2.0,
    holding_mV: SealHoldingMV = -70.0,
    cell_index: CellIndex | None = 0,
    md: Metadata = None,
) -> MsgGenerator[float]:
    """Form a gigaseal (§7.1: > 1 GΩ with −1 to −5 kPa suction in seconds to ~1 min).

    With ``cell_index`` given, positive pressure (+3 kPa, §7.1) is applied and the operator
    step ``approach_cell(cell_index=...)`` places the pipette on the cell (``None``: it is
    already there). Then gentle suction ``suction_kPa`` and a 5-mV seal test every 0.5 s of rig
    time (stream ``seal``: ``t_s``, ``seal_GOhm``); the holding goes to ``holding_mV`` once the
    seal passes 0.1 GΩ. Succeeds when the seal reaches ``target_GOhm`` (returns it, GΩ); after
    ``timeout_s`` of rig time fails with :class:`PatchFailure`. Pressure is released either way.
    """
    patch_amplifier(rig)
    pipette_pressure(rig)
    seal = _Seal(target_GOhm, timeout_s, suction_kPa, holding_mV, cell_index)
    return _seal_run(rig, seal, md)


def _seal_run(rig: Rig, seal: _Seal, extra: dict[str, Any]) -> MsgGenerator[float]:
    """The methods, then the run of :func:`form_seal`; returns the seal (GΩ)."""
    methods = yield from patch_methods(rig, "form_seal", asdict(seal), extra)
    methods["criteria"] = {
        "seal_GOhm_at_least": seal.target_GOhm,
        "timeout_s": seal.timeout_s,
        "holding_after_GOhm": SEAL_HOLDING_THRESHOLD_GOHM,
        "approach_pressure_kPa": APPROACH_PRESSURE_KPA if seal.cell_index is not None else None,
        "seal_test_step_mV": SEAL_TEST_STEP_MV,
        "seal_test_interval_s": SEAL_TEST_INTERVAL_S,
        "section": "§7.1",
    }
    methods["cell_index"] = seal.cell_index
    methods["hints"] = {"dimensions": [[["t_s"], "seal"]]}
    readout = ComputedReadout({"t_s": "s", "seal_GOhm": "GOhm"})
    yield from ensure_connected(*readout.signals)
    result: dict[str, float] = {}
    yield from guarded(rig, _seal_body(rig, seal, readout, result), methods)
    return result["seal_GOhm"]


def _seal_body(
    rig: Rig, seal: _Seal, readout: ComputedReadout, result: dict[str, float]
) -> MsgGenerator[None]:
    """Approach (with ``cell_index``), suction until sealed, release the pressure."""
    pressure = pipette_pressure(rig)
    if seal.cell_index is not None:
        yield from bps.mv(pressure, APPROACH_PRESSURE_KPA)
        yield from operator_step(
            rig,
            f"Place the pipette on cell {seal.cell_index} (positive pressure is on).",
            action=APPROACH_CELL,
            cell_index=seal.cell_index,
        )
    yield from bps.mv(pressure, seal.suction_kPa)
    result["seal_GOhm"] = yield from _seal_tests(rig, seal, readout)
    yield from bps.mv(pressure, 0.0)


def _seal_tests(rig: Rig, seal: _Seal, readout: ComputedReadout) -> MsgGenerator[float]:
    """Seal tests every ``SEAL_TEST_INTERVAL_S`` (stream ``seal``), the holding set once the
    seal passes ``SEAL_HOLDING_THRESHOLD_GOHM``; returns the seal (GΩ) once it reaches the
    target, raises :class:`PatchFailure` after the timeout."""
    amplifier = rig.amplifier
    start_s = yield from rig_time_s(rig)
    held = False
    while True:
        t_s = yield from rig_time_s(rig)
        seal_GOhm = (yield from _seal_test_MOhm(amplifier, SEAL_TEST_STEP_MV)) / 1000.0
        yield from emit(readout, "seal", {"t_s": t_s, "seal_GOhm": seal_GOhm})
        if not held and seal_GOhm >= SEAL_HOLDING_THRESHOLD_GOHM:
            yield from bps.mv(amplifier.holding_mV, seal.holding_mV)
            held = True
        if seal_GOhm >= seal.target_GOhm:
            return seal_GOhm
        if t_s - start_s >= seal.timeout_s:
            raise PatchFailure(
                f"no seal: {seal_GOhm:.3g} GΩ after {t_s - start_s:.3g} s of suction at "
                f"{seal.suction_kPa:g} kPa (needed >= {seal.target_GOhm:g} GΩ within "
                f"{seal.timeout_s:g} s)"
            )
        yield from bps.sleep(SEAL_TEST_INTERVAL_S)


# -- break-in ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _BreakIn:
    """Checked :func:`break_in` arguments (their start-document ``plan_args``, in order)."""

    method: str
    pulse_kPa: float
    max_pulses: int
    pulse_s: float


@plan_parameters
def break_in(
    rig: Rig,
    *,
    method: str = "suction",
    pulse_kPa: Number(-50.0, -5.0, "kPa") = -15.0,
    max_pulses: Integer(1, 50) = 5,
    pulse_s: Number(0.0, 10.0, "s", min_inclusive=False) = 0.3,
    md: Metadata = None,
) -> MsgGenerator[analysis.MembraneTest]:
    """Rupture the patch under a gigaseal by suction pulses (§7.1: −10 to −20 kPa pulses).

    Before the first pulse and after each, a short membrane test (−5 mV, 10 ms, 3 sweeps at
    50 kHz; sweeps in ``primary``) looks for the cell's capacitance: whole cell once Cm > 5 pF
    (the pipette's ~5 pF is fast-compensated, §7.1). Stream ``break_in``: ``t_s``, ``pulse``
    (0 = before any pulse), ``pulse_kPa``, ``cm_pF``, ``ra_MOhm`` (NaN without a transient).
    Returns the whole-cell membrane test; after ``max_pulses`` fails with :class:`PatchFailure`.
    Only ``method="suction"`` (ZAP needs an amplifier that gives one).
    """
    if method != "suction":
        raise PlanParameterError(f"method must be one of 'suction', got {method!r}")
    patch_amplifier(rig)
    pipette_pressure(rig)
    return _break_in_run(rig, _BreakIn(method, pulse_kPa, max_pulses, pulse_s), md)


def _break_in_run(
    rig: Rig, pulses: _BreakIn, extra: dict[str, Any]
) -> MsgGenerator[analysis.MembraneTest]:
    """The methods, then the run of :func:`break_in`; returns the whole-cell membrane test."""
    methods = yield from patch_methods(rig, "break_in", asdict(pulses), extra)
    methods["criteria"] = {"whole_cell_cm_pF_above": WHOLE_CELL_CM_PF, "section": "§7.1"}
    methods["membrane_test"] = {
        "step_mV": BREAK_IN_STEP_MV,
        "step_ms": MEMBRANE_TEST_STEP_MS,
        "sample_rate_Hz": BREAK_IN_RATE_HZ,
        "n_sweeps": BREAK_IN_SWEEPS,
    }
    lowpass = lowpass_kHz(methods)
    command = yield from _short_membrane_test(rig, BREAK_IN_RATE_HZ, BREAK_IN_STEP_MV)
    readout = ComputedReadout(
        {"t_s": "s", "pulse": "1", "pulse_kPa": "kPa", "cm_pF": "pF", "ra_MOhm": "MOhm"}
    )
    yield from ensure_connected(*readout.signals)
    result: dict[str, analysis.MembraneTest] = {}
    body = _break_in_body(rig, pulses, command, lowpass, readout, result)
    yield from guarded(rig, staged(rig.amplifier, body), methods)
    return result["test"]


def _break_in_body(
    rig: Rig,
    pulses: _BreakIn,
    command: NDArray[np.float64],
    lowpass: float | None,
    readout: ComputedReadout,
    result: dict[str, analysis.MembraneTest],
) -> MsgGenerator[None]:
    """A membrane test, then a suction pulse and a test until whole cell (the test in
    ``result``); :class:`PatchFailure` after ``max_pulses``."""
    pressure = pipette_pressure(rig)
    last = ""
    for pulse in range(pulses.max_pulses + 1):
        if pulse:
            yield from bps.mv(pressure, pulses.pulse_kPa)
            yield from bps.sleep(pulses.pulse_s)
            yield from bps.mv(pressure, 0.0)
        test, cm, error = yield from _break_in_test(rig, pulses, pulse, command, lowpass, readout)
        if test is not None:
            result["test"] = test
            return
        last = error or last or f"Cm {cm:.3g} pF"
    raise PatchFailure(
        f"no break-in after {pulses.max_pulses} pulses of {pulses.pulse_kPa:g} kPa: the membrane "
        f"test shows no cell (Cm must exceed {WHOLE_CELL_CM_PF:g} pF; last: {last})"
    )


def _break_in_test(
    rig: Rig,
    pulses: _BreakIn,
    pulse: int,
    command: NDArray[np.float64],
    lowpass: float | None,
    readout: ComputedReadout,
) -> MsgGenerator[tuple[analysis.MembraneTest | None, float, str]]:
    """One short membrane test after ``pulse`` (0: before any), its ``break_in`` event;
    returns (the test if it shows whole cell else ``None``, Cm (pF; NaN without a transient),
    the test's failure message or ``""``)."""
    sweeps, t_s = yield from _record_sweeps(rig, BREAK_IN_SWEEPS)
    try:
        test = _membrane_test_values(sweeps, command, BREAK_IN_RATE_HZ, lowpass)
        cm, ra, error = test.cm_pF, test.ra_MOhm, ""
    except PatchFailure as failure:
        test, cm, ra, error = None, math.nan, math.nan, str(failure)
    values = {
        "t_s": t_s,
        "pulse": pulse,
        "pulse_kPa": pulses.pulse_kPa if pulse else 0.0,
        "cm_pF": cm,
        "ra_MOhm": ra,
    }
    yield from emit(readout, "break_in", values)
    whole_cell = test is not None and cm > WHOLE_CELL_CM_PF and 0 < ra < WHOLE_CELL_MAX_RA_MOHM
    return (test if whole_cell else None), cm, error


# -- membrane test -------------------------------------------------------------------------------
@plan_parameters
def membrane_test(
    rig: Rig,
    *,
    step_mV: Number(-20.0, 20.0, "mV") = -5.0,
    n_sweeps: Integer(1, 1000) = 5,
    sample_rate_Hz: SampleRateHz = 50_000.0,
    md: Metadata = None,
) -> MsgGenerator[analysis.MembraneTest]:
    """Whole-cell membrane test (§1.3, §7.3): ``n_sweeps`` 10-ms steps of ``step_mV`` from the
    present holding, sweeps in ``primary`` (``amplifier`` by reference, ``t_s``), averaged and
    analysed with :func:`ionrig.analysis.membrane_test` through the telegraphed Bessel lowpass.

    Stream ``membrane_test``: ``t_s``, ``ra_MOhm``, ``rm_MOhm``, ``cm_pF``, ``tau_ms``. Returns
    the :class:`~ionrig.analysis.MembraneTest`; without a capacitive transient fails with
    :class:`PatchFailure`.
    """
    if abs(step_mV) < 1.0:
        raise PlanParameterError(f"step_mV must be in [-20, -1] or [1, 20] mV, got {step_mV!r}")
    patch_amplifier(rig)
    args = {"step_mV": step_mV, "n_sweeps": n_sweeps, "sample_rate_Hz": sample_rate_Hz}
    return _membrane_test_run(rig, args, md)


def _membrane_test_run(
    rig: Rig, args: dict[str, Any], extra: dict[str, Any]
) -> MsgGenerator[analysis.MembraneTest]:
    """The methods, then the run of :func:`membrane_test` (``args``: its checked arguments);
    returns the test."""
    sample_rate_Hz = args["sample_rate_Hz"]
    methods = yield from patch_methods(rig, "membrane_test", args, extra)
    lowpass = lowpass_kHz(methods)
    methods["membrane_test"] = {
        "step_ms": MEMBRANE_TEST_STEP_MS,
        "filter_kHz": lowpass,
        "section": "§1.3, §7.3",
    }
    command = yield from _short_membrane_test(rig, sample_rate_Hz, args["step_mV"])
    readout = ComputedReadout(
        {"t_s": "s", "ra_MOhm": "MOhm", "rm_MOhm": "MOhm", "cm_pF": "pF", "tau_ms": "ms"}
    )
    yield from ensure_connected(*readout.signals)
    result: dict[str, analysis.MembraneTest] = {}

    def body() -> MsgGenerator[None]:
        sweeps, t_s = yield from _record_sweeps(rig, args["n_sweeps"])
        test = _membrane_test_values(sweeps, command, sample_rate_Hz, lowpass)
        rm = test.rm_MOhm if math.isfinite(test.rm_MOhm) else math.nan
        values = {
            "t_s": t_s,
            "ra_MOhm": test.ra_MOhm,
            "rm_MOhm": rm,
            "cm_pF": test.cm_pF,
            "tau_ms": test.tau_ms,
        }
        yield from emit(readout, "membrane_test", values)
        result["test"] = test

    yield from guarded(rig, staged(rig.amplifier, body()), methods)
    return result["test"]

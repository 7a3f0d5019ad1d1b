"""Whole-cell patch clamp: pipette resistance, gigaseal, break-in, membrane test, TRPM7 ramps.

Protocol values cite the shared physiology-parameters.md: §7.1 (pipette, seal, break-in),
§7.2-7.3 (filter, membrane test), §8.1 (TRPM7 ramps). Every plan checks its parameters when
called (:class:`PlanParameterError`, before any run opens), records ``t_s`` from the rig clock
in every stream, puts its methods in the start document, and leaves the rig safe whatever
happens (pipette pressure 0 kPa, holding potential at the amplifier's safe value).
Failures of the preparation (a pipette out of range, no seal, no break-in, no capacitive
transient) raise :class:`PatchFailure` after the run is closed with ``exit_status="fail"``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
from bluesky.utils import MsgGenerator
from numpy.typing import NDArray
from ophyd_async.core import TriggerInfo
from ophyd_async.plan_stubs import ensure_connected

from ionrig import analysis
from ionrig.devices import ComputedReadout, PatchAmplifier, Rig, step_protocol

from ._chemistry import chemistry_md
from ._operator import APPROACH_CELL, operator_step
from ._reading import rig_time_s
from ._schedule import paced
from ._validation import PlanParameterError, check_int, check_number

__all__ = [
    "PatchFailure",
    "break_in",
    "form_seal",
    "membrane_test",
    "pipette_resistance",
    "trpm7_ramps",
]

REFERENCE = "physiology-parameters.md"
#: §7.1: 5 MΩ general, 2-3.5 MΩ in TRPM7 studies, 2-10 MΩ range; outside 1-20 MΩ the tip is
#: broken or blocked.
PIPETTE_RANGE_MOHM = (1.0, 20.0)
#: ACQ4's lesson (§7.1 "holding at −60/−70 mV helps"): hyperpolarise once the seal passes this.
SEAL_HOLDING_THRESHOLD_GOHM = 0.1
#: Seal-test period while sealing (rig clock).
SEAL_TEST_INTERVAL_S = 0.5
#: §7.1 positive pressure on approach, +20 to +70 mbar.
APPROACH_PRESSURE_KPA = 3.0
#: Whole cell when the membrane test sees more than this capacitance: the pipette's own ~5 pF
#: (§7.1) is fast-compensated, so a cell-attached patch shows none.
WHOLE_CELL_CM_PF = 5.0
#: ...and an access resistance that a whole-cell pipette can have (§7.1: 5-20 MΩ acceptable);
#: a fit to the noise of a cell-attached patch gives none.
WHOLE_CELL_MAX_RA_MOHM = 200.0
MEMBRANE_TEST_STEP_MS = 10.0
RAMP_HOLD_MS = 10.0  # holding before and after each ramp
TRPM7_AT_MV = (80.0, -80.0)  # §8.1 read-outs at +80 and −80 mV
#: Telegraphed modes in which the scaled output is membrane current (instrument-protocols §3.1).
VOLTAGE_CLAMP_MODES = ("V-Clamp", "Track")
#: Operator step: turn the amplifier's front-panel mode switch. Params: ``mode: str``.
SET_AMPLIFIER_MODE = "set_amplifier_mode"


class PatchFailure(RuntimeError):
    """A patch-clamp step did not succeed on this cell (the run is closed as failed, the rig
    left safe); the message says what was measured against which criterion."""


# -- shared helpers ------------------------------------------------------------------------------
def _amplifier(rig: Rig) -> PatchAmplifier:
    amplifier = getattr(rig, "amplifier", None)
    if not isinstance(amplifier, PatchAmplifier):
        raise PlanParameterError(
            "rig.amplifier must be a recording PatchAmplifier (this rig has "
            f"{type(amplifier).__name__}); patch-clamp plans need sweeps"
        )
    return amplifier


def _pressure(rig: Rig) -> Any:
    pressure = getattr(rig, "pressure", None)
    if pressure is None:
        raise PlanParameterError("rig.pressure is required (a pipette pressure controller)")
    return pressure


def _md(md: Mapping[str, Any] | None) -> dict[str, Any]:
    if md is not None and not isinstance(md, Mapping):
        raise PlanParameterError(f"md must be a mapping, got {md!r}")
    return dict(md or {})


def _voltage_clamp_telegraphs(rig: Rig) -> MsgGenerator[dict[str, Any]]:
    """The amplifier's telegraphs, checked before anything is recorded: the mode must be
    V-Clamp (or Track) and the gain readable. A wrong mode is an operator step
    (``set_amplifier_mode``); if it stays wrong, :class:`PatchFailure`."""
    telegraphs = json.loads((yield from bps.rd(rig.amplifier.telegraphs)) or "{}")
    if telegraphs and telegraphs.get("mode") not in VOLTAGE_CLAMP_MODES:
        yield from operator_step(
            rig,
            f"Switch the amplifier's mode to V-Clamp (it telegraphs {telegraphs.get('mode')!r}).",
            action=SET_AMPLIFIER_MODE,
            mode="V-Clamp",
        )
        telegraphs = json.loads((yield from bps.rd(rig.amplifier.telegraphs)) or "{}")
        if telegraphs.get("mode") not in VOLTAGE_CLAMP_MODES:
            raise PatchFailure(
                f"the amplifier telegraphs mode {telegraphs.get('mode')!r}; voltage-clamp plans "
                f"need one of {', '.join(VOLTAGE_CLAMP_MODES)}"
            )
    if telegraphs:
        gain = telegraphs.get("gain_mV_per_pA")
        if not isinstance(gain, int | float) or not gain > 0:
            raise PatchFailure(f"the amplifier's gain telegraph reads {gain!r}; check its cable")
    return telegraphs


def _methods(
    rig: Rig, plan_name: str, plan_args: dict[str, Any], md: dict[str, Any]
) -> MsgGenerator[dict[str, Any]]:
    """The start document's methods: plan, arguments, pipette solution, amplifier telegraphs."""
    telegraphs = yield from _voltage_clamp_telegraphs(rig)
    holding_mV = yield from bps.rd(rig.amplifier.holding_mV)
    pipette = getattr(rig, "pipette_solution", None)
    compositions = getattr(rig, "solution_compositions", {}) or {}
    bath = yield from bps.rd(rig.perfusion.solution)
    chemistry = chemistry_md(
        rig, [bath] if isinstance(bath, str) else [], pipette=pipette, plan_name=plan_name
    )
    return {
        "plan_name": plan_name,
        "plan_args": plan_args,
        # what the rig exposes (None when nobody told it); the operator may give it in md
        "pipette_solution": pipette,
        "pipette_solution_composition_mM": compositions.get(pipette) if pipette else None,
        "bath_solution": bath if isinstance(bath, str) else None,
        "chemistry": chemistry,
        "amplifier_telegraphs": telegraphs,
        "holding_mV_at_start": float(holding_mV),
        "reference": REFERENCE,
        **md,
    }


def _lowpass_kHz(methods: Mapping[str, Any]) -> float | None:
    value = methods["amplifier_telegraphs"].get("lowpass_kHz")
    return float(value) if isinstance(value, int | float) and value > 0 else None


def _emit(readout: ComputedReadout, stream: str, values: Mapping[str, float]) -> MsgGenerator:
    readout.update(values)
    yield from bps.create(stream)
    yield from bps.read(readout)
    yield from bps.save()


async def _done(status: Any) -> None:
    await status


def _make_safe(rig: Rig) -> MsgGenerator[None]:
    """Pressure to 0 kPa and holding to the amplifier's safe value, both attempted."""
    factories: list[Callable[[], Any]] = [lambda: _done(rig.amplifier.make_safe())]
    if getattr(rig, "pressure", None) is not None:
        factories.append(lambda: _done(rig.pressure.make_safe()))
    tasks = yield from bps.wait_for(factories)
    errors = [task.exception() for task in tasks]  # every one retrieved, the first raised
    for error in errors:
        if error is not None:
            raise error


def _seal_test_MOhm(amplifier: PatchAmplifier, step_mV: float) -> MsgGenerator[float]:
    tasks = yield from bps.wait_for([lambda: amplifier.seal_test_MOhm(step_mV)])
    return float(tasks[0].result())


def _guarded(rig: Rig, body: MsgGenerator[Any], md: dict[str, Any]) -> MsgGenerator[str]:
    return (yield from bpp.finalize_wrapper(bpp.run_wrapper(body, md=md), _make_safe(rig)))


def _staged(amplifier: PatchAmplifier, body: MsgGenerator[Any]) -> MsgGenerator[Any]:
    """Stage (waiting for it: an unwaited stage races the first trigger and can reuse the
    previous run's file), prepare for single sweeps, run ``body``, unstage (waited)."""

    def inner() -> MsgGenerator[Any]:
        yield from bps.stage(amplifier, wait=True)
        yield from bps.prepare(amplifier, TriggerInfo(), wait=True)
        return (yield from body)

    return (yield from bpp.finalize_wrapper(inner(), bps.unstage(amplifier, wait=True)))


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


# -- plans ---------------------------------------------------------------------------------------
def pipette_resistance(
    rig: Rig, *, step_mV: float = 5.0, md: Mapping[str, Any] | None = None
) -> MsgGenerator[float]:
    """Pipette resistance in the bath from a ``step_mV`` seal test (§7.1: Rp 2-10 MΩ).

    One run: stream ``primary`` with ``t_s`` (s) and ``pipette_MOhm`` (MΩ). Returns Rp (MΩ).
    Outside 1-20 MΩ (broken or blocked tip) the run fails with :class:`PatchFailure` (the value
    is still recorded).
    """
    step_mV = check_number("step_mV", step_mV, minimum=1.0, maximum=20.0, unit="mV")
    amplifier = _amplifier(rig)
    extra = _md(md)
    result: dict[str, float] = {}

    def plan() -> MsgGenerator[float]:
        methods = yield from _methods(rig, "pipette_resistance", {"step_mV": step_mV}, extra)
        methods["criteria"] = {"pipette_MOhm_range": list(PIPETTE_RANGE_MOHM), "section": "§7.1"}
        readout = ComputedReadout({"t_s": "s", "pipette_MOhm": "MOhm"})
        yield from ensure_connected(*readout.signals)

        def body() -> MsgGenerator[None]:
            t_s = yield from rig_time_s(rig)
            value = yield from _seal_test_MOhm(amplifier, step_mV)
            yield from _emit(readout, "primary", {"t_s": t_s, "pipette_MOhm": value})
            low, high = PIPETTE_RANGE_MOHM
            if not low <= value <= high:
                raise PatchFailure(
                    f"pipette resistance {value:.3g} MΩ is outside {low:g}-{high:g} MΩ "
                    "(§7.1): not a usable pipette (broken or blocked tip, or not in the bath)"
                )
            result["pipette_MOhm"] = value

        yield from _guarded(rig, body(), methods)
        return result["pipette_MOhm"]

    return plan()


def form_seal(
    rig: Rig,
    *,
    target_GOhm: float = 1.0,
    timeout_s: float = 60.0,
    suction_kPa: float = -2.0,
    holding_mV: float = -70.0,
    cell_index: int | None = 0,
    md: Mapping[str, Any] | None = None,
) -> MsgGenerator[float]:
    """Form a gigaseal (§7.1: > 1 GΩ with −1 to −5 kPa suction in seconds to ~1 min).

    With ``cell_index`` given, positive pressure (+3 kPa, §7.1) is applied and the operator
    step ``approach_cell(cell_index=...)`` places the pipette on the cell (``None``: it is
    already there). Then gentle suction ``suction_kPa`` and a 5-mV seal test every 0.5 s of rig
    time (stream ``seal``: ``t_s``, ``seal_GOhm``); the holding goes to ``holding_mV`` once the
    seal passes 0.1 GΩ. Succeeds when the seal reaches ``target_GOhm`` (returns it, GΩ); after
    ``timeout_s`` of rig time fails with :class:`PatchFailure`. Pressure is released either way.
    """
    target_GOhm = check_number("target_GOhm", target_GOhm, minimum=0.1, maximum=100.0, unit="GΩ")
    timeout_s = check_number(
        "timeout_s", timeout_s, minimum=0.0, maximum=3600.0, unit="s", min_inclusive=False
    )
    suction_kPa = check_number("suction_kPa", suction_kPa, minimum=-10.0, maximum=-0.1, unit="kPa")
    holding_mV = check_number("holding_mV", holding_mV, minimum=-120.0, maximum=0.0, unit="mV")
    if cell_index is not None:
        cell_index = check_int("cell_index", cell_index, minimum=0, maximum=100_000)
    amplifier = _amplifier(rig)
    pressure = _pressure(rig)
    extra = _md(md)
    args = {
        "target_GOhm": target_GOhm,
        "timeout_s": timeout_s,
        "suction_kPa": suction_kPa,
        "holding_mV": holding_mV,
        "cell_index": cell_index,
    }
    result: dict[str, float] = {}

    def plan() -> MsgGenerator[float]:
        methods = yield from _methods(rig, "form_seal", args, extra)
        methods["criteria"] = {
            "seal_GOhm_at_least": target_GOhm,
            "timeout_s": timeout_s,
            "holding_after_GOhm": SEAL_HOLDING_THRESHOLD_GOHM,
            "approach_pressure_kPa": APPROACH_PRESSURE_KPA if cell_index is not None else None,
            "seal_test_step_mV": 5.0,
            "seal_test_interval_s": SEAL_TEST_INTERVAL_S,
            "section": "§7.1",
        }
        methods["cell_index"] = cell_index
        methods["hints"] = {"dimensions": [[["t_s"], "seal"]]}
        readout = ComputedReadout({"t_s": "s", "seal_GOhm": "GOhm"})
        yield from ensure_connected(*readout.signals)

        def body() -> MsgGenerator[None]:
            if cell_index is not None:
                yield from bps.mv(pressure, APPROACH_PRESSURE_KPA)
                yield from operator_step(
                    rig,
                    f"Place the pipette on cell {cell_index} (positive pressure is on).",
                    action=APPROACH_CELL,
                    cell_index=cell_index,
                )
            yield from bps.mv(pressure, suction_kPa)
            start_s = yield from rig_time_s(rig)
            held = False
            while True:
                t_s = yield from rig_time_s(rig)
                seal_GOhm = (yield from _seal_test_MOhm(amplifier, 5.0)) / 1000.0
                yield from _emit(readout, "seal", {"t_s": t_s, "seal_GOhm": seal_GOhm})
                if not held and seal_GOhm >= SEAL_HOLDING_THRESHOLD_GOHM:
                    yield from bps.mv(amplifier.holding_mV, holding_mV)
                    held = True
                if seal_GOhm >= target_GOhm:
                    result["seal_GOhm"] = seal_GOhm
                    break
                if t_s - start_s >= timeout_s:
                    raise PatchFailure(
                        f"no seal: {seal_GOhm:.3g} GΩ after {t_s - start_s:.3g} s of suction at "
                        f"{suction_kPa:g} kPa (needed >= {target_GOhm:g} GΩ within {timeout_s:g} s)"
                    )
                yield from bps.sleep(SEAL_TEST_INTERVAL_S)
            yield from bps.mv(pressure, 0.0)

        yield from _guarded(rig, body(), methods)
        return result["seal_GOhm"]

    return plan()


def _short_membrane_test(
    rig: Rig, sample_rate_Hz: float, step_mV: float
) -> MsgGenerator[NDArray[np.float64]]:
    holding = yield from bps.rd(rig.amplifier.holding_mV)
    command = step_protocol(
        holding_mV=float(holding),
        step_mV=step_mV,
        step_ms=MEMBRANE_TEST_STEP_MS,
        sample_rate_Hz=sample_rate_Hz,
    )
    rig.amplifier.set_protocol(command, sample_rate_Hz)
    return command


def break_in(
    rig: Rig,
    *,
    method: str = "suction",
    pulse_kPa: float = -15.0,
    max_pulses: int = 5,
    pulse_s: float = 0.3,
    md: Mapping[str, Any] | None = None,
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
    pulse_kPa = check_number("pulse_kPa", pulse_kPa, minimum=-50.0, maximum=-5.0, unit="kPa")
    max_pulses = check_int("max_pulses", max_pulses, minimum=1, maximum=50)
    pulse_s = check_number(
        "pulse_s", pulse_s, minimum=0.0, maximum=10.0, unit="s", min_inclusive=False
    )
    _amplifier(rig)
    pressure = _pressure(rig)
    extra = _md(md)
    args = {"method": method, "pulse_kPa": pulse_kPa, "max_pulses": max_pulses, "pulse_s": pulse_s}
    rate_Hz, step_mV, n_sweeps = 50_000.0, -5.0, 3
    result: dict[str, analysis.MembraneTest] = {}

    def plan() -> MsgGenerator[analysis.MembraneTest]:
        methods = yield from _methods(rig, "break_in", args, extra)
        methods["criteria"] = {"whole_cell_cm_pF_above": WHOLE_CELL_CM_PF, "section": "§7.1"}
        methods["membrane_test"] = {
            "step_mV": step_mV,
            "step_ms": MEMBRANE_TEST_STEP_MS,
            "sample_rate_Hz": rate_Hz,
            "n_sweeps": n_sweeps,
        }
        lowpass = _lowpass_kHz(methods)
        command = yield from _short_membrane_test(rig, rate_Hz, step_mV)
        readout = ComputedReadout(
            {"t_s": "s", "pulse": "1", "pulse_kPa": "kPa", "cm_pF": "pF", "ra_MOhm": "MOhm"}
        )
        yield from ensure_connected(*readout.signals)

        def body() -> MsgGenerator[None]:
            last = ""
            for pulse in range(max_pulses + 1):
                if pulse:
                    yield from bps.mv(pressure, pulse_kPa)
                    yield from bps.sleep(pulse_s)
                    yield from bps.mv(pressure, 0.0)
                sweeps, t_s = yield from _record_sweeps(rig, n_sweeps)
                try:
                    test = _membrane_test_values(sweeps, command, rate_Hz, lowpass)
                    cm, ra = test.cm_pF, test.ra_MOhm
                except PatchFailure as error:
                    test, cm, ra, last = None, math.nan, math.nan, str(error)
                yield from _emit(
                    readout,
                    "break_in",
                    {
                        "t_s": t_s,
                        "pulse": pulse,
                        "pulse_kPa": pulse_kPa if pulse else 0.0,
                        "cm_pF": cm,
                        "ra_MOhm": ra,
                    },
                )
                if test is not None and cm > WHOLE_CELL_CM_PF and 0 < ra < WHOLE_CELL_MAX_RA_MOHM:
                    result["test"] = test
                    return
                last = last or f"Cm {cm:.3g} pF"
            raise PatchFailure(
                f"no break-in after {max_pulses} pulses of {pulse_kPa:g} kPa: the membrane test "
                f"shows no cell (Cm must exceed {WHOLE_CELL_CM_PF:g} pF; last: {last})"
            )

        yield from _guarded(rig, _staged(rig.amplifier, body()), methods)
        return result["test"]

    return plan()


def membrane_test(
    rig: Rig,
    *,
    step_mV: float = -5.0,
    n_sweeps: int = 5,
    sample_rate_Hz: float = 50_000.0,
    md: Mapping[str, Any] | None = None,
) -> MsgGenerator[analysis.MembraneTest]:
    """Whole-cell membrane test (§1.3, §7.3): ``n_sweeps`` 10-ms steps of ``step_mV`` from the
    present holding, sweeps in ``primary`` (``amplifier`` by reference, ``t_s``), averaged and
    analysed with :func:`ionrig.analysis.membrane_test` through the telegraphed Bessel lowpass.

    Stream ``membrane_test``: ``t_s``, ``ra_MOhm``, ``rm_MOhm``, ``cm_pF``, ``tau_ms``. Returns
    the :class:`~ionrig.analysis.MembraneTest`; without a capacitive transient fails with
    :class:`PatchFailure`.
    """
    step_mV = check_number("step_mV", step_mV, minimum=-20.0, maximum=20.0, unit="mV")
    if abs(step_mV) < 1.0:
        raise PlanParameterError(f"step_mV must be in [-20, -1] or [1, 20] mV, got {step_mV!r}")
    n_sweeps = check_int("n_sweeps", n_sweeps, minimum=1, maximum=1000)
    sample_rate_Hz = check_number(
        "sample_rate_Hz", sample_rate_Hz, minimum=10_000.0, maximum=100_000.0, unit="Hz"
    )
    _amplifier(rig)
    extra = _md(md)
    args = {"step_mV": step_mV, "n_sweeps": n_sweeps, "sample_rate_Hz": sample_rate_Hz}
    result: dict[str, analysis.MembraneTest] = {}

    def plan() -> MsgGenerator[analysis.MembraneTest]:
        methods = yield from _methods(rig, "membrane_test", args, extra)
        lowpass = _lowpass_kHz(methods)
        methods["membrane_test"] = {
            "step_ms": MEMBRANE_TEST_STEP_MS,
            "filter_kHz": lowpass,
            "section": "§1.3, §7.3",
        }
        command = yield from _short_membrane_test(rig, sample_rate_Hz, step_mV)
        readout = ComputedReadout(
            {"t_s": "s", "ra_MOhm": "MOhm", "rm_MOhm": "MOhm", "cm_pF": "pF", "tau_ms": "ms"}
        )
        yield from ensure_connected(*readout.signals)

        def body() -> MsgGenerator[None]:
            sweeps, t_s = yield from _record_sweeps(rig, n_sweeps)
            test = _membrane_test_values(sweeps, command, sample_rate_Hz, lowpass)
            rm = test.rm_MOhm if math.isfinite(test.rm_MOhm) else math.nan
            yield from _emit(
                readout,
                "membrane_test",
                {
                    "t_s": t_s,
                    "ra_MOhm": test.ra_MOhm,
                    "rm_MOhm": rm,
                    "cm_pF": test.cm_pF,
                    "tau_ms": test.tau_ms,
                },
            )
            result["test"] = test

        yield from _guarded(rig, _staged(rig.amplifier, body()), methods)
        return result["test"]

    return plan()


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


LEAK_MODES = ("linear", "first_ramps", "none")
#: §8.2: TRPM7 is a steep outward rectifier with a tiny inward current, so the ramp below
#: −40 mV is mostly leak (and the ramp's constant capacitive current, Cm·dV/dt, §8.1).
LEAK_FIT_MV = (-90.0, 0.0)


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
    """Checked leak options (:class:`PlanParameterError` naming the parameter)."""
    if leak not in LEAK_MODES:
        raise PlanParameterError(f"leak must be one of {', '.join(LEAK_MODES)}; got {leak!r}")
    if not (isinstance(leak_fit_mV, tuple | list) and len(leak_fit_mV) == 2):
        raise PlanParameterError(f"leak_fit_mV must be (low_mV, high_mV), got {leak_fit_mV!r}")
    low = check_number("leak_fit_mV[0]", leak_fit_mV[0], minimum=-200, maximum=200, unit="mV")
    high = check_number("leak_fit_mV[1]", leak_fit_mV[1], minimum=-200, maximum=200, unit="mV")
    if high - low < 10:
        raise PlanParameterError(
            f"leak_fit_mV must span at least 10 mV (low < high), got {leak_fit_mV!r}"
        )
    n_template = check_int("leak_ramps", leak_ramps, minimum=1, maximum=20)
    return RampLeak(leak, (low, high), n_template)


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


def trpm7_ramps(
    rig: Rig,
    *,
    duration_s: float = 300.0,
    period_s: float = 2.0,
    start_mV: float = -100.0,
    stop_mV: float = 100.0,
    ramp_ms: float = 50.0,
    holding_mV: float = 0.0,
    sample_rate_Hz: float = 10_000.0,
    cm_pF: float | None = None,
    leak: str = "linear",
    leak_fit_mV: tuple[float, float] = LEAK_FIT_MV,
    leak_ramps: int = 3,
    md: Mapping[str, Any] | None = None,
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
    duration_s = check_number(
        "duration_s", duration_s, minimum=0.0, maximum=86_400.0, unit="s", min_inclusive=False
    )
    period_s = check_number("period_s", period_s, minimum=0.05, maximum=3600.0, unit="s")
    start_mV = check_number("start_mV", start_mV, minimum=-200.0, maximum=200.0, unit="mV")
    stop_mV = check_number("stop_mV", stop_mV, minimum=-200.0, maximum=200.0, unit="mV")
    ramp_ms = check_number("ramp_ms", ramp_ms, minimum=5.0, maximum=2000.0, unit="ms")
    holding_mV = check_number("holding_mV", holding_mV, minimum=-120.0, maximum=120.0, unit="mV")
    sample_rate_Hz = check_number(
        "sample_rate_Hz", sample_rate_Hz, minimum=10_000.0, maximum=100_000.0, unit="Hz"
    )
    low, high = min(start_mV, stop_mV), max(start_mV, stop_mV)
    if not (low <= min(TRPM7_AT_MV) and high >= max(TRPM7_AT_MV)):
        raise PlanParameterError(
            f"start_mV..stop_mV must span -80..+80 mV (the §8.1 read-outs), got "
            f"{start_mV:g}..{stop_mV:g}"
        )
    sweep_ms = ramp_ms + 2 * RAMP_HOLD_MS
    if sweep_ms >= 1000.0 * period_s:
        raise PlanParameterError(
            f"period_s must exceed the sweep ({sweep_ms:g} ms: ramp_ms + 2 × {RAMP_HOLD_MS:g} ms "
            f"at holding), got {period_s:g} s"
        )
    if cm_pF is not None:
        cm_pF = check_number(
            "cm_pF", cm_pF, minimum=0.0, maximum=1000.0, unit="pF", min_inclusive=False
        )
    ramp_leak = check_ramp_leak(leak, leak_fit_mV, leak_ramps)
    _amplifier(rig)
    extra = _md(md)
    n_ramps = max(1, math.floor(duration_s / period_s + 1e-9))
    command = ramp_command(
        holding_mV=holding_mV,
        start_mV=start_mV,
        stop_mV=stop_mV,
        ramp_ms=ramp_ms,
        sample_rate_Hz=sample_rate_Hz,
    )
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
        "leak_fit_mV": list(ramp_leak.fit_mV),
        "leak_ramps": ramp_leak.n_template,
    }
    keys = trpm7_keys(cm_pF)

    def plan() -> MsgGenerator[str]:
        methods = yield from _methods(rig, "trpm7_ramps", args, extra)
        methods["protocol"] = {
            "n_ramps": n_ramps,
            "n_samples": int(command.size),
            "hold_ms_before_and_after": RAMP_HOLD_MS,
            "read_out_at_mV": list(TRPM7_AT_MV),
            "section": "§8.1",
        }
        methods["cm_pF"] = cm_pF
        methods["hints"] = {"dimensions": [[["t_s"], "trpm7"]]}
        amplifier = rig.amplifier
        amplifier.set_protocol(command, sample_rate_Hz)
        readout = ComputedReadout(keys)
        yield from ensure_connected(*readout.signals)

        def body() -> MsgGenerator[None]:
            yield from bps.mv(amplifier.holding_mV, holding_mV)
            first_s: float | None = None
            slot = 0
            for _ in range(n_ramps):
                # fixed-rate schedule on the rig clock: ramp k starts at t0 + k * period
                slot, t_s = yield from paced(rig, first_s, slot, period_s)
                first_s = t_s if first_s is None else first_s
                slot += 1
                yield from bps.trigger_and_read([amplifier, rig.t_s], name="primary")
                sweep = np.asarray((yield from bps.rd(amplifier.last_sweep_pA)), dtype=float)
                values = trpm7_values(sweep, command, ramp_leak, t_s, cm_pF)
                yield from _emit(readout, "trpm7", values)

        return (yield from _guarded(rig, _staged(amplifier, body()), methods))

    return plan()

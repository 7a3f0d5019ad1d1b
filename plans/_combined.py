"""``imaging_with_ramps``: 340/380 imaging and TRPM7 ramps of one cell on one timeline."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
from bluesky.utils import MsgGenerator
from ophyd_async.core import TriggerInfo
from ophyd_async.plan_stubs import ensure_connected

from ionrig.devices import ComputedReadout, Rig

from ._imaging import check_imaging, open_imaging, take_pair
from ._patch import (
    LEAK_FIT_MV,
    _amplifier,
    _emit,
    _guarded,
    _md,
    _methods,
    _staged,
    check_ramp_leak,
    ramp_command,
    trpm7_keys,
    trpm7_values,
)
from ._schedule import paced
from ._validation import PlanParameterError, check_number

__all__ = ["imaging_with_ramps"]


def imaging_with_ramps(
    rig: Rig,
    *,
    duration_s: float = 300.0,
    period_s: float = 2.0,
    pair_every_s: float = 10.0,
    exposure_ms: float = 20.0,
    start_mV: float = -100.0,
    stop_mV: float = 100.0,
    ramp_ms: float = 50.0,
    holding_mV: float = 0.0,
    sample_rate_Hz: float = 10_000.0,
    cm_pF: float | None = None,
    leak: str = "linear",
    leak_fit_mV: tuple[float, float] = LEAK_FIT_MV,
    leak_ramps: int = 3,
    rois: Mapping[str, Any] | Sequence[Any] | None = None,
    background_roi: Mapping[str, Any] | None = None,
    md: Mapping[str, Any] | None = None,
) -> MsgGenerator[str]:
    """TRPM7 ramps every ``period_s`` (as :func:`trpm7_ramps`) and a 340/380 pair every
    ``pair_every_s`` (a multiple of ``period_s``, taken right after that tick's ramp), on one
    schedule of the rig clock, in one run, for ``duration_s``.

    Streams: ``primary`` (frames, as ``ratiometric_timecourse``), ``ratio`` (per pair),
    ``ramps`` (one event per ramp: ``amplifier`` sweep by reference, ``t_s``) and ``trpm7``
    (per ramp, leak-subtracted ±80 mV currents as in ``trpm7_ramps``). Every stream's ``t_s``
    is the rig clock, so [Mg²⁺]ᵢ and the TRPM7 current share a time axis. Returns the uid.
    """
    duration_s = check_number(
        "duration_s", duration_s, minimum=0.0, maximum=86_400.0, unit="s", min_inclusive=False
    )
    period_s = check_number("period_s", period_s, minimum=0.1, maximum=3600.0, unit="s")
    pair_every_s = check_number(
        "pair_every_s", pair_every_s, minimum=period_s, maximum=86_400.0, unit="s"
    )
    ratio_ticks = pair_every_s / period_s
    if abs(ratio_ticks - round(ratio_ticks)) > 1e-6:
        raise PlanParameterError(
            f"pair_every_s must be a multiple of period_s ({period_s:g} s), got {pair_every_s:g}"
        )
    request = check_imaging(rig, exposure_ms=exposure_ms, rois=rois, background_roi=background_roi)
    for name, value in (("start_mV", start_mV), ("stop_mV", stop_mV)):
        check_number(name, value, minimum=-200.0, maximum=200.0, unit="mV")
    if not (min(start_mV, stop_mV) <= -80 and max(start_mV, stop_mV) >= 80):
        raise PlanParameterError(
            f"start_mV..stop_mV must span -80..+80 mV, got {start_mV:g}..{stop_mV:g}"
        )
    ramp_ms = check_number("ramp_ms", ramp_ms, minimum=5.0, maximum=2000.0, unit="ms")
    holding_mV = check_number("holding_mV", holding_mV, minimum=-120.0, maximum=120.0, unit="mV")
    sample_rate_Hz = check_number(
        "sample_rate_Hz", sample_rate_Hz, minimum=10_000.0, maximum=100_000.0, unit="Hz"
    )
    if cm_pF is not None:
        cm_pF = check_number(
            "cm_pF", cm_pF, minimum=0.0, maximum=1000.0, unit="pF", min_inclusive=False
        )
    sweep_ms = ramp_ms + 20.0  # 10 ms at holding before and after the ramp
    if sweep_ms >= 1000.0 * period_s:
        raise PlanParameterError(
            f"period_s must exceed the sweep ({sweep_ms:g} ms: ramp_ms + 2 × 10 ms at "
            f"holding), got {period_s:g} s"
        )
    ramp_leak = check_ramp_leak(leak, leak_fit_mV, leak_ramps)
    _amplifier(rig)
    extra = _md(md)
    command = ramp_command(
        holding_mV=holding_mV,
        start_mV=start_mV,
        stop_mV=stop_mV,
        ramp_ms=ramp_ms,
        sample_rate_Hz=sample_rate_Hz,
    )
    n_ticks = max(1, math.floor(duration_s / period_s + 1e-9))
    every = round(ratio_ticks)
    args = {
        "duration_s": duration_s,
        "period_s": period_s,
        "pair_every_s": pair_every_s,
        "exposure_ms": request.exposure_ms,
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
    camera, amplifier = rig.camera, rig.amplifier

    def plan() -> MsgGenerator[str]:
        imaging = yield from open_imaging(request, rig)
        methods = yield from _methods(rig, "imaging_with_ramps", args, extra)
        solution = yield from bps.rd(rig.perfusion.solution)
        methods |= imaging.start_md()
        methods["solution"] = solution
        methods["protocol"] = {"n_ramps": n_ticks, "n_samples": int(command.size)}
        methods["hints"] = {"dimensions": [[["t_s"], "trpm7"]]}
        readout = ComputedReadout(trpm7_keys(cm_pF))
        yield from ensure_connected(*readout.signals)
        amplifier.set_protocol(command, sample_rate_Hz)  # the file's sweep length, at stage

        def body() -> MsgGenerator[None]:
            yield from bps.prepare(
                camera, TriggerInfo(livetime=request.exposure_ms / 1000.0), wait=True
            )
            yield from bps.mv(amplifier.holding_mV, holding_mV)
            first_s, slot = None, 0
            for index in range(n_ticks):
                slot, t_s = yield from paced(rig, first_s, slot, period_s)
                first_s = t_s if first_s is None else first_s
                slot += 1
                yield from bps.trigger_and_read([amplifier, rig.t_s], name="ramps")
                sweep = np.asarray((yield from bps.rd(amplifier.last_sweep_pA)), dtype=float)
                yield from _emit(
                    readout, "trpm7", trpm7_values(sweep, command, ramp_leak, t_s, cm_pF)
                )
                if index % every == 0:
                    yield from take_pair(imaging)

        def close_shutter() -> MsgGenerator[None]:
            yield from bps.mv(rig.filter_wheel.shutter, "closed")

        staged = bpp.stage_wrapper(_staged(amplifier, body()), [camera])
        return (yield from bpp.finalize_wrapper(_guarded(rig, staged, methods), close_shutter()))

    return plan()

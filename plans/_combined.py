"""``imaging_with_ramps``: 340/380 imaging and TRPM7 ramps of one cell on one timeline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import MsgGenerator
from ophyd_async.core import TriggerInfo
from ophyd_async.plan_stubs import ensure_connected

from ionrig.devices import ComputedReadout, Rig

from ._imaging import ExposureMs, Imaging, ImagingRequest, check_imaging, open_imaging, take_pair
from ._parameters import Metadata, Number, plan_parameters
from ._patch_stubs import SampleRateHz, guarded, patch_amplifier, patch_methods, staged
from ._ramps import (
    LEAK_FIT_MV,
    CapacitancePF,
    HoldingMV,
    LeakMode,
    LeakRamps,
    RampMs,
    RampMV,
    RampProtocol,
    RunDurationS,
    checked_ramps,
    ramp_tick,
    trpm7_keys,
)
from ._schedule import Schedule
from ._validation import PlanParameterError, check_number

__all__ = ["imaging_with_ramps"]


@plan_parameters
def imaging_with_ramps(
    rig: Rig,
    *,
    duration_s: RunDurationS = 300.0,
    period_s: Number(0.1, 3600.0, "s") = 2.0,
    pair_every_s: float = 10.0,
    exposure_ms: ExposureMs = 20.0,
    start_mV: RampMV = -100.0,
    stop_mV: RampMV = 100.0,
    ramp_ms: RampMs = 50.0,
    holding_mV: HoldingMV = 0.0,
    sample_rate_Hz: SampleRateHz = 10_000.0,
    cm_pF: CapacitancePF | None = None,
    leak: LeakMode = "linear",
    leak_fit_mV: tuple[float, float] = LEAK_FIT_MV,
    leak_ramps: LeakRamps = 3,
    rois: Mapping[str, Any] | Sequence[Any] | None = None,
    background_roi: Mapping[str, Any] | None = None,
    md: Metadata = None,
) -> MsgGenerator[str]:
    """TRPM7 ramps every ``period_s`` (as :func:`trpm7_ramps`) and a 340/380 pair every
    ``pair_every_s`` (a multiple of ``period_s``, taken right after that tick's ramp), on one
    schedule of the rig clock, in one run, for ``duration_s``.

    Streams: ``primary`` (frames, as ``ratiometric_timecourse``), ``ratio`` (per pair),
    ``ramps`` (one event per ramp: ``amplifier`` sweep by reference, ``t_s``) and ``trpm7``
    (per ramp, leak-subtracted ±80 mV currents as in ``trpm7_ramps``). Every stream's ``t_s``
    is the rig clock, so [Mg²⁺]ᵢ and the TRPM7 current share a time axis. Returns the uid.
    """
    pair_every_s = check_number(
        "pair_every_s", pair_every_s, minimum=period_s, maximum=86_400.0, unit="s"
    )
    ratio_ticks = pair_every_s / period_s
    if abs(ratio_ticks - round(ratio_ticks)) > 1e-6:
        raise PlanParameterError(
            f"pair_every_s must be a multiple of period_s ({period_s:g} s), got {pair_every_s:g}"
        )
    request = check_imaging(rig, exposure_ms=exposure_ms, rois=rois, background_roi=background_roi)
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
        "pair_every_s": pair_every_s,
        "exposure_ms": request.exposure_ms,
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
    return _combined_run(rig, request, ramps, round(ratio_ticks), args, md)


def _combined_run(
    rig: Rig,
    request: ImagingRequest,
    ramps: RampProtocol,
    pair_every_ticks: int,
    args: dict[str, Any],
    extra: dict[str, Any],
) -> MsgGenerator[str]:
    """ROIs, methods, then the run of :func:`imaging_with_ramps` (guarded, amplifier and
    camera staged, the shutter closed at the end); returns the start uid."""
    imaging = yield from open_imaging(request, rig)
    methods = yield from patch_methods(rig, "imaging_with_ramps", args, extra)
    solution = yield from bps.rd(rig.perfusion.solution)
    methods |= imaging.start_md()
    methods["solution"] = solution
    methods["protocol"] = {"n_ramps": ramps.n_ramps, "n_samples": int(ramps.command_mV.size)}
    methods["hints"] = {"dimensions": [[["t_s"], "trpm7"]]}
    readout = ComputedReadout(trpm7_keys(ramps.cm_pF))
    yield from ensure_connected(*readout.signals)
    amplifier = rig.amplifier
    amplifier.set_protocol(ramps.command_mV, ramps.sample_rate_Hz)  # the sweep length, at stage
    body = _combined_body(rig, imaging, ramps, pair_every_ticks, readout)
    staged_body = bpp.stage_wrapper(staged(amplifier, body), [rig.camera])
    return (
        yield from bpp.finalize_wrapper(guarded(rig, staged_body, methods), _close_shutter(rig))
    )


def _combined_body(
    rig: Rig,
    imaging: Imaging,
    ramps: RampProtocol,
    pair_every_ticks: int,
    readout: ComputedReadout,
) -> MsgGenerator[None]:
    """Every tick a ramp (stream ``ramps``, read-outs in ``trpm7``); every
    ``pair_every_ticks``-th tick, right after its ramp, a 340/380 pair."""
    livetime_s = imaging.request.exposure_ms / 1000.0
    yield from bps.prepare(rig.camera, TriggerInfo(livetime=livetime_s), wait=True)
    yield from bps.mv(rig.amplifier.holding_mV, ramps.holding_mV)
    schedule = Schedule(ramps.period_s)
    for index in range(ramps.n_ramps):
        yield from ramp_tick(rig, ramps, schedule, readout, "ramps")
        if index % pair_every_ticks == 0:
            yield from take_pair(imaging)


def _close_shutter(rig: Rig) -> MsgGenerator[None]:
    yield from bps.mv(rig.filter_wheel.shutter, "closed")

"""The 340/380 ratiometric time course.

Step mode: software-timed, the wheel moves between frames (any filter wheel). Fly mode:
hardware-timed, a ring-buffer switcher (Sutter DG-4) advances on the camera's exposure output
while the camera streams frames back to back (docs/reference/instruments.md §1.2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
from bluesky.utils import MsgGenerator
from ophyd_async.core import TriggerInfo

from ionrig.devices import ExcitationSequence, Rig

from ._chemistry import chemistry_md
from ._imaging import (
    BACKGROUND_ROI,
    ExposureMs,
    Imaging,
    ImagingRequest,
    check_imaging,
    emit_pair,
    open_imaging,
    pair_values,
    take_pair,
)
from ._parameters import Integer, Metadata, Number, OneOf, plan_parameters
from ._schedule import Schedule, next_tick
from ._validation import PlanParameterError

__all__ = ["BACKGROUND_ROI", "MODES", "ratiometric_timecourse"]

MODES = ("step", "fly")
#: Fly mode: real seconds between collections of the camera's frames (live ratio latency).
FLY_FLUSH_PERIOD_S = 0.2


def _fly_pairs(imaging: Imaging, n_pairs: int) -> MsgGenerator[None]:
    """``n_pairs`` hardware-timed pairs: the DG-4 ring buffer (340, 380) steps on the camera's
    exposure output; frames are collected every ``FLY_FLUSH_PERIOD_S`` and each completed pair
    gives a ``ratio`` event from the camera's per-frame ROI sums and start times. The camera
    records each frame's excitation as the sequencer reports it (``camera-excitation_nm``,
    as in step mode).

    A hardware-timed stream cannot be replayed from a checkpoint (the camera and the DG-4 run
    on), so there is none: the RunEngine keeps no messages for rewinding, and a pause or a
    suspension ends the run (bluesky aborts a run without a checkpoint; what was collected is
    stored)."""
    yield from bps.clear_checkpoint()
    rig = imaging.rig
    camera, sequencer = rig.camera, rig.sequencer
    exposure_ms = imaging.request.exposure_ms
    n_frames = 2 * n_pairs
    frame_t_s: list[float] = []
    frame_sums: list[np.ndarray] = []
    # Both signals are set for every frame, t_s first; subscribing calls back at once with
    # the present value, which is dropped.
    skip = {"t": 1, "sums": 1}

    def on_t(reading: dict[str, Any]) -> None:
        if skip["t"]:
            skip["t"] -= 1
        else:
            frame_t_s.append(float(next(iter(reading.values()))["value"]))

    def on_sums(reading: dict[str, Any]) -> None:
        if skip["sums"]:
            skip["sums"] -= 1
        else:
            value = next(iter(reading.values()))["value"]
            frame_sums.append(np.asarray(value, dtype=np.float64))

    yield from bps.prepare(
        camera, TriggerInfo(number_of_events=n_frames, livetime=exposure_ms / 1000.0), wait=True
    )
    yield from bps.prepare(
        sequencer, ExcitationSequence(imaging.request.filters, n_frames), wait=True
    )
    yield from bps.mv(rig.filter_wheel, imaging.request.filters[0])
    yield from bps.declare_stream(camera, name="primary")
    camera.last_frame_t_s.subscribe_reading(on_t)
    camera.last_roi_sums_adu.subscribe_reading(on_sums)
    try:
        yield from bps.mv(rig.filter_wheel.shutter, "open")
        yield from bps.kickoff(sequencer, wait=True)
        yield from bps.kickoff(camera, wait=True)
        group = "ratiometric_fly"
        yield from bps.complete(camera, group=group, wait=False)
        emitted, done = 0, False
        while not done:
            done = yield from bps.wait(
                group=group, timeout=FLY_FLUSH_PERIOD_S, error_on_timeout=False
            )
            yield from bps.collect(camera, name="primary")
            while 2 * (emitted + 1) <= min(len(frame_t_s), len(frame_sums)):
                i = 2 * emitted
                values = pair_values(
                    frame_sums[i],
                    frame_sums[i + 1],
                    imaging.n_px,
                    exposure_ms,
                    imaging.names,
                    float(np.mean(frame_t_s[i : i + 2])),
                )
                yield from emit_pair(imaging, values)
                emitted += 1
        yield from bps.complete(sequencer, wait=True)
    finally:
        camera.last_frame_t_s.clear_sub(on_t)
        camera.last_roi_sums_adu.clear_sub(on_sums)


@plan_parameters
def ratiometric_timecourse(
    rig: Rig,
    n_pairs: Integer(1, 10_000_000),
    *,
    exposure_ms: ExposureMs = 20.0,
    interval_s: Number(0.0, 86_400.0, "s") | None = None,
    mode: OneOf(*MODES) = "step",
    rois: Mapping[str, Any] | Sequence[Any] | None = None,
    background_roi: Mapping[str, Any] | None = None,
    md: Metadata = None,
) -> MsgGenerator[str]:
    """Alternate 340/380-nm excitation, one frame per wavelength, ``n_pairs`` times.

    ``mode="step"``: the plan moves the wheel before each frame (software timing; pairs may be
    paced by ``interval_s``). ``mode="fly"``: the rig's excitation sequencer (DG-4 ring
    buffer) is loaded with 340, 380 and advanced by the camera's exposure output while the
    camera takes ``2 * n_pairs`` frames back to back — pairs at the hardware limit; needs a
    rig with a ``sequencer`` and ``interval_s=None``. Both modes record the same streams.

    Streams: ``primary`` (one event per frame: ``camera`` frame by reference, ``camera-t_s``,
    ``camera-roi_sums_adu``, ``camera-excitation_nm``; in step mode also ``t_s``) and
    ``ratio`` (one event per pair: ``t_s`` and per cell ROI ``ratio_<roi>``, ``f340_<roi>``,
    ``f380_<roi>``; see docs/data-model.md). ROIs are fixed before the run opens: given, or
    detected on a 380-nm preview frame; the background ROI likewise. ``interval_s`` is the
    pair period on the rig clock (``None``: pairs back to back). Yields the run's messages;
    returns the start uid. Parameters are checked now, before anything moves.
    """
    request = check_imaging(rig, exposure_ms=exposure_ms, rois=rois, background_roi=background_roi)
    _check_mode(rig, mode, interval_s)
    return _timecourse_plan(rig, request, n_pairs, interval_s, mode, md)


def _check_mode(rig: Rig, mode: str, interval_s: float | None) -> None:
    """Fly mode needs a sequencer and no ``interval_s``."""
    if mode == "fly":
        if getattr(rig, "sequencer", None) is None:
            raise PlanParameterError(
                "mode='fly' needs a rig with a hardware excitation sequencer (a Sutter DG-4: "
                "filter_wheel driver 'dg4' in the rig file); this rig has none, use mode='step'"
            )
        if interval_s:
            raise PlanParameterError(
                "interval_s must be None in mode='fly' (pairs run back to back at the camera's "
                f"frame rate); got {interval_s!r}. Use mode='step' for paced pairs"
            )


def _timecourse_plan(
    rig: Rig,
    request: ImagingRequest,
    n_pairs: int,
    interval_s: float | None,
    mode: str,
    extra_md: dict[str, Any],
) -> MsgGenerator[str]:
    """ROIs, then the run of :func:`ratiometric_timecourse` (camera staged; shutter closed
    and, in fly mode, the sequencer stopped at the end); returns the start uid."""
    imaging = yield from open_imaging(request, rig)
    solution = yield from bps.rd(rig.perfusion.solution)
    start_md = {
        "plan_name": "ratiometric_timecourse",
        "plan_args": {
            "n_pairs": n_pairs,
            "exposure_ms": request.exposure_ms,
            "interval_s": interval_s,
            "mode": mode,
        },
        "timing": "hardware (DG-4 ring buffer paced by the camera)"
        if mode == "fly"
        else "software (wheel moved between frames)",
        **imaging.start_md(),
        "solution": solution,
        "solution_composition_mM": rig.perfusion.composition(solution),
        "chemistry": chemistry_md(rig, [solution], plan_name="ratiometric_timecourse"),
        "hints": {"dimensions": [[["t_s"], "ratio"]]},
        **extra_md,
    }
    if mode == "fly":
        body = _fly_pairs(imaging, n_pairs)
    else:
        body = _step_pairs(imaging, n_pairs, interval_s)
    return (
        yield from bpp.finalize_wrapper(
            bpp.stage_wrapper(bpp.run_wrapper(body, md=start_md), [rig.camera]),
            _close_shutter(rig, mode),
        )
    )


def _step_pairs(imaging: Imaging, n_pairs: int, interval_s: float | None) -> MsgGenerator[None]:
    """``n_pairs`` software-timed pairs, every ``interval_s`` of rig time (``None``: back to
    back, the shutter kept open between them)."""
    rig = imaging.rig
    livetime = imaging.request.exposure_ms / 1000.0
    yield from bps.prepare(rig.camera, TriggerInfo(livetime=livetime), wait=True)
    schedule = Schedule(interval_s or 0.0)
    for index in range(n_pairs):
        yield from next_tick(rig, schedule)
        # back to back: keep the light on between pairs; paced: close it
        yield from take_pair(imaging, close_shutter=bool(interval_s), next_pair=index < n_pairs - 1)


def _close_shutter(rig: Rig, mode: str) -> MsgGenerator[None]:
    yield from bps.mv(rig.filter_wheel.shutter, "closed")
    if mode == "fly":
        yield from bps.wait_for([rig.sequencer.flyable_logic.stop])

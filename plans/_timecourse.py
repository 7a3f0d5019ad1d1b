"""The 340/380 ratiometric time course (step mode: the wheel moves between frames)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
from bluesky.utils import MsgGenerator
from ophyd_async.core import TriggerInfo
from ophyd_async.plan_stubs import ensure_connected

from ionrig import analysis
from ionrig.devices import ComputedReadout, Rig

from ._validation import PlanParameterError, check_int, check_name, check_number

__all__ = ["BACKGROUND_ROI", "ratiometric_timecourse"]

#: Name of the background ROI in start documents and in the camera's ROI sums.
BACKGROUND_ROI = "background"
EXCITATION_NM = (340, 380)


def _parse_rois(
    rois: Mapping[str, Any] | Sequence[Any] | None, shape: tuple[int, int]
) -> dict[str, analysis.Roi] | None:
    if rois is None:
        return None
    if isinstance(rois, Mapping):
        named = dict(rois)
    elif isinstance(rois, Sequence) and not isinstance(rois, str):
        named = {f"cell{i + 1}": roi for i, roi in enumerate(rois)}
    else:
        raise PlanParameterError(
            f"rois must be a mapping name → ROI or a list of ROIs, got {rois!r}"
        )
    if not named:
        raise PlanParameterError("rois must hold at least one ROI (or be None to detect cells)")
    parsed = {}
    for name, spec in named.items():
        check_name("rois: ROI name", name)
        if name == BACKGROUND_ROI:
            raise PlanParameterError(
                f"rois: {BACKGROUND_ROI!r} is reserved; give it as background_roi"
            )
        try:
            parsed[name] = analysis.roi_from_spec(spec, name=f"rois[{name!r}]")
        except ValueError as error:
            raise PlanParameterError(str(error)) from None
        if not analysis.roi_mask(parsed[name], shape).any():
            raise PlanParameterError(f"rois[{name!r}] covers no pixel of the {shape} image")
    return parsed


def _parse_background(spec: Any, shape: tuple[int, int]) -> analysis.Roi | None:
    if spec is None:
        return None
    try:
        roi = analysis.roi_from_spec(spec, name="background_roi")
    except ValueError as error:
        raise PlanParameterError(str(error)) from None
    if not analysis.roi_mask(roi, shape).any():
        raise PlanParameterError(f"background_roi covers no pixel of the {shape} image")
    return roi


def _pair_values(
    sums340: np.ndarray,
    sums380: np.ndarray,
    n_px: np.ndarray,
    exposure_ms: float,
    names: Sequence[str],
    t_s: float,
) -> dict[str, float]:
    """Online ratio per cell ROI from ROI sums; the last ROI is the background."""
    mean340, mean380 = sums340 / n_px, sums380 / n_px
    bg340, bg380 = mean340[-1], mean380[-1]
    ratios = analysis.ratio(
        mean340[:-1],
        mean380[:-1],
        background340=bg340,
        background380=bg380,
        exposure340_ms=exposure_ms,
        exposure380_ms=exposure_ms,
    )
    values = {"t_s": t_s}
    for i, name in enumerate(names):
        values[f"ratio_{name}"] = float(ratios[i])
        values[f"f340_{name}"] = float((mean340[i] - bg340) / exposure_ms)
        values[f"f380_{name}"] = float((mean380[i] - bg380) / exposure_ms)
    return values


def ratiometric_timecourse(
    rig: Rig,
    n_pairs: int,
    *,
    exposure_ms: float = 20.0,
    interval_s: float | None = None,
    rois: Mapping[str, Any] | Sequence[Any] | None = None,
    background_roi: Mapping[str, Any] | None = None,
    md: Mapping[str, Any] | None = None,
) -> MsgGenerator[str]:
    """Alternate 340/380-nm excitation, one frame per wavelength, ``n_pairs`` times.

    Streams: ``primary`` (one event per frame: ``camera`` frame by reference, ``camera-t_s``,
    ``camera-roi_sums_adu``, ``filter_wheel-filter``, ``filter_wheel-wavelength_nm``, ``t_s``)
    and ``ratio`` (one event per pair: ``t_s`` and per cell ROI ``ratio_<roi>``, ``f340_<roi>``,
    ``f380_<roi>``; see docs/data-model.md). ROIs are fixed before the run opens: given, or
    detected on a 380-nm preview frame; the background ROI likewise. ``interval_s`` is the pair
    period on the rig clock (``None``: pairs back to back). Yields the run's messages; returns
    the start uid. Parameters are checked now, before anything moves.
    """
    n_pairs = check_int("n_pairs", n_pairs, minimum=1, maximum=10_000_000)
    exposure_ms = check_number(
        "exposure_ms", exposure_ms, minimum=0.0, maximum=10_000.0, unit="ms", min_inclusive=False
    )
    if interval_s is not None:
        interval_s = check_number("interval_s", interval_s, minimum=0.0, maximum=86_400.0, unit="s")
    shape = (rig.camera.height_px, rig.camera.width_px)
    cell_rois = _parse_rois(rois, shape)
    bg_roi = _parse_background(background_roi, shape)
    try:
        filters = [rig.filter_wheel.resolve(nm) for nm in EXCITATION_NM]
    except ValueError as error:
        raise PlanParameterError(
            f"the filter wheel cannot select 340 and 380 nm: {error}"
        ) from None
    if md is not None and not isinstance(md, Mapping):
        raise PlanParameterError(f"md must be a mapping, got {md!r}")

    camera, wheel, shutter = rig.camera, rig.filter_wheel, rig.filter_wheel.shutter

    def detect_rois() -> MsgGenerator[tuple[dict[str, analysis.Roi], analysis.Roi]]:
        yield from bps.mv(wheel, filters[1])
        yield from bps.mv(shutter, "open")
        try:
            image = yield from bps.rd(camera.preview_frame)
        finally:
            yield from bps.mv(shutter, "closed")
        cells = cell_rois
        if cells is None:
            found = analysis.detect_cells(image)
            if not found:
                raise RuntimeError(
                    "no cells detected on the 380-nm preview; check focus, loading and "
                    "exposure, or give rois explicitly"
                )
            cells = {f"cell{i + 1}": roi for i, roi in enumerate(found)}
        background = bg_roi or analysis.detect_background(image, list(cells.values()))
        return cells, background

    def acquire(cells: dict[str, analysis.Roi], background: analysis.Roi) -> MsgGenerator[str]:
        names = list(cells)
        masks = {name: analysis.roi_mask(roi, shape) for name, roi in cells.items()}
        masks[BACKGROUND_ROI] = analysis.roi_mask(background, shape)
        camera.set_rois(masks)
        n_px = np.array([m.sum() for m in masks.values()], dtype=np.float64)
        solution = yield from bps.rd(rig.perfusion.solution)
        calibration = rig.config.calibration if rig.config is not None else None
        readout = ComputedReadout(
            {"t_s": "s"}
            | {f"ratio_{n}": "1" for n in names}
            | {f"f340_{n}": "ADU/px/ms" for n in names}
            | {f"f380_{n}": "ADU/px/ms" for n in names}
        )
        yield from ensure_connected(*readout.signals)
        start_md = {
            "plan_name": "ratiometric_timecourse",
            "plan_args": {"n_pairs": n_pairs, "exposure_ms": exposure_ms, "interval_s": interval_s},
            "dye": "Mag-fura-2",
            "excitation_nm": list(EXCITATION_NM),
            "emission_nm": 510,
            "rois": {name: roi.to_spec() for name, roi in cells.items()},
            "background_roi": background.to_spec(),
            "roi_pixels": {name: int(n) for name, n in zip(masks, n_px, strict=True)},
            "roi_order": [*names, BACKGROUND_ROI],
            "solution": solution,
            "calibration": (
                {
                    "r_min": calibration.r_min,
                    "r_max": calibration.r_max,
                    "beta": calibration.beta,
                    "kd_mM": calibration.kd_mM,
                    "source": calibration.source,
                }
                if calibration is not None
                else None
            ),
            "hints": {"dimensions": [[["t_s"], "ratio"]]},
            **(md or {}),
        }

        def run_body() -> MsgGenerator[None]:
            yield from bps.prepare(camera, TriggerInfo(livetime=exposure_ms / 1000.0), wait=True)
            first_start_s = None
            for index in range(n_pairs):
                if interval_s and first_start_s is not None:
                    # fixed-rate schedule on the rig clock: pair k starts at t0 + k * interval
                    now_s = yield from bps.rd(rig.t_s)
                    wait_s = first_start_s + index * interval_s - now_s
                    if wait_s > 0:
                        yield from bps.sleep(wait_s)
                pair_start_s = yield from bps.rd(rig.t_s)
                if first_start_s is None:
                    first_start_s = pair_start_s
                yield from bps.mv(shutter, "open")
                sums, starts = [], []
                for filter_name in filters:
                    yield from bps.mv(wheel, filter_name)
                    starts.append((yield from bps.rd(rig.t_s)))
                    yield from bps.trigger_and_read([camera, wheel, rig.t_s], name="primary")
                    sums.append(np.asarray((yield from bps.rd(camera.last_roi_sums_adu))))
                if interval_s:
                    yield from bps.mv(shutter, "closed")  # no light between pairs: less bleaching
                readout.update(
                    _pair_values(sums[0], sums[1], n_px, exposure_ms, names, float(np.mean(starts)))
                )
                yield from bps.create("ratio")
                for signal in readout.signals:
                    yield from bps.read(signal)
                yield from bps.save()

        def close_shutter() -> MsgGenerator[None]:
            yield from bps.mv(shutter, "closed")

        uid = yield from bpp.finalize_wrapper(
            bpp.stage_wrapper(bpp.run_wrapper(run_body(), md=start_md), [camera]),
            close_shutter(),
        )
        return uid

    def plan() -> MsgGenerator[str]:
        cells, background = yield from detect_rois()
        return (yield from acquire(cells, background))

    return plan()

"""340/380 imaging pieces shared by the imaging plans: ROIs, one pair, the ratio stream.

A plan checks its imaging parameters when called (:func:`check_imaging`), fixes its ROIs on a
380-nm preview before the run opens (:func:`open_imaging`), and inside the open run takes pairs
with :func:`take_pair` (step mode: the wheel moves between the two frames). Every pair gives
two ``primary`` events (one per frame) and one ``ratio`` event; docs/data-model.md has the keys.
Each frame's excitation is recorded by the camera itself (``camera-excitation_nm``, from the
rig's ``FrameExcitation``), as in fly mode.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import bluesky.plan_stubs as bps
import numpy as np
from bluesky.utils import Msg, MsgGenerator, short_uid
from numpy.typing import NDArray
from ophyd_async.plan_stubs import ensure_connected

from ionrig import analysis
from ionrig.devices import AfterExposure, ComputedReadout, Rig

from ._parameters import Number, check_value
from ._reading import rig_time_s
from ._validation import PlanParameterError, check_name

__all__ = [
    "BACKGROUND_ROI",
    "EXCITATION_NM",
    "ExposureMs",
    "Imaging",
    "ImagingRequest",
    "check_imaging",
    "current_calibration",
    "emit_pair",
    "open_imaging",
    "pair_values",
    "set_calibration",
    "take_pair",
]

#: Name of the background ROI in start documents and in the camera's ROI sums.
BACKGROUND_ROI = "background"
EXCITATION_NM = (340, 380)
#: The status group of a filter change started during a readout (see ``take_pair``).
WHEEL_GROUP = "ionrig_wheel_next_filter"
#: How many of the latest pairs' values :attr:`Imaging.pairs` keeps by default (a long run
#: must not grow with its pairs; a plan that needs all of them opens its imaging with
#: ``keep_pairs=None``).
RECENT_PAIRS = 100
#: The rule of a camera exposure (every imaging plan's ``exposure_ms``).
ExposureMs = Number(0.0, 10_000.0, "ms", min_inclusive=False)


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


@dataclass(frozen=True)
class ImagingRequest:
    """Checked imaging parameters (before the run opens)."""

    exposure_ms: float
    filters: tuple[str, str]
    cell_rois: dict[str, analysis.Roi] | None
    background_roi: analysis.Roi | None
    shape: tuple[int, int]


def check_imaging(
    rig: Rig,
    *,
    exposure_ms: Any,
    rois: Mapping[str, Any] | Sequence[Any] | None,
    background_roi: Mapping[str, Any] | None,
) -> ImagingRequest:
    """Check exposure, ROIs and that the wheel has 340 and 380 nm; raise
    :class:`PlanParameterError` naming the parameter otherwise."""
    exposure_ms = check_value("exposure_ms", ExposureMs, exposure_ms)
    shape = (rig.camera.height_px, rig.camera.width_px)
    cell_rois = _parse_rois(rois, shape)
    bg_roi = _parse_background(background_roi, shape)
    try:
        filters = tuple(rig.filter_wheel.resolve(nm) for nm in EXCITATION_NM)
    except ValueError as error:
        raise PlanParameterError(
            f"the filter wheel cannot select 340 and 380 nm: {error}"
        ) from None
    return ImagingRequest(exposure_ms, filters, cell_rois, bg_roi, shape)


def current_calibration(rig: Rig) -> dict[str, Any] | None:
    """The ratio → [Mg²⁺] constants the next run relies on: the latest in-situ calibration
    run's (see :func:`set_calibration`; ``source_uid`` names it), else the rig file's."""
    latest = getattr(rig, "in_situ_calibration", None)
    if latest is not None:
        return dict(latest)
    calibration = rig.config.calibration if getattr(rig, "config", None) is not None else None
    if calibration is None:
        return None
    return {
        "r_min": calibration.r_min,
        "r_max": calibration.r_max,
        "beta": calibration.beta,
        "kd_mM": calibration.kd_mM,
        "source": calibration.source,
        "source_uid": None,
    }


def set_calibration(rig: Rig, values: Mapping[str, Any]) -> None:
    """Make an in-situ calibration the one later imaging runs on this rig rely on."""
    rig.in_situ_calibration = dict(values)


class Interruptions:
    """Counts the RunEngine's pauses and suspensions (bluesky calls ``pause()`` on every
    object its messages named): :func:`take_pair` names it at the start of each pair and
    retakes a pair that an interruption fell into."""

    name = "imaging_interruptions"
    parent = None

    def __init__(self) -> None:
        self.count = 0

    def pause(self) -> None:
        self.count += 1

    def resume(self) -> None:
        pass


@dataclass
class Imaging:
    """Fixed ROIs and the live-ratio readout of one imaging run."""

    rig: Rig
    request: ImagingRequest
    cells: dict[str, analysis.Roi]
    background: analysis.Roi
    n_px: NDArray[np.float64]
    readout: ComputedReadout
    #: The latest ``ratio`` events' values, in order (one small dict per pair; all of them
    #: when opened with ``keep_pairs=None``).
    pairs: deque[dict[str, float]] = field(default_factory=lambda: deque(maxlen=RECENT_PAIRS))
    interruptions: Interruptions = field(default_factory=Interruptions)
    #: The filter the wheel was sent to during the last readout (group ``WHEEL_GROUP``) and
    #: the interruption count then; ``None`` when no move is under way.
    wheel_moving: tuple[str, int] | None = None
    #: The interruption count when take_pair last opened the shutter (``None``: closed
    #: since); back-to-back pairs open it once, and again after any pause or suspension.
    shutter_opened: int | None = None
    #: Moves the wheel when the camera's exposure is over (made at the first frame).
    wheel_after_exposure: AfterExposure | None = None

    @property
    def names(self) -> list[str]:
        return list(self.cells)

    def start_md(self) -> dict[str, Any]:
        """The imaging part of a start document (dye, optics, ROIs, calibration)."""
        return {
            "dye": "Mag-fura-2",
            "excitation_nm": list(EXCITATION_NM),
            "emission_nm": 510,
            "exposure_ms": self.request.exposure_ms,
            "rois": {name: roi.to_spec() for name, roi in self.cells.items()},
            "background_roi": self.background.to_spec(),
            "roi_pixels": {
                name: int(n)
                for name, n in zip([*self.names, BACKGROUND_ROI], self.n_px, strict=True)
            },
            "roi_order": [*self.names, BACKGROUND_ROI],
            "calibration": current_calibration(self.rig),
        }


def open_imaging(
    request: ImagingRequest, rig: Rig, *, keep_pairs: int | None = RECENT_PAIRS
) -> MsgGenerator[Imaging]:
    """Before the run: fix the ROIs (given, or detected on a 380-nm preview frame with the
    shutter opened only for it), set them on the camera, connect the ratio readout.
    :attr:`Imaging.pairs` keeps the latest ``keep_pairs`` pairs (``None``: all)."""
    camera, wheel, shutter = rig.camera, rig.filter_wheel, rig.filter_wheel.shutter
    cells = request.cell_rois
    background = request.background_roi
    if cells is None or background is None:
        yield from bps.mv(wheel, request.filters[1])
        yield from bps.mv(shutter, "open")
        try:
            image = yield from bps.rd(camera.preview_frame)
        finally:
            yield from bps.mv(shutter, "closed")
        if cells is None:
            found = analysis.detect_cells(image)
            if not found:
                raise RuntimeError(
                    "no cells detected on the 380-nm preview; check focus, loading and "
                    "exposure, or give rois explicitly"
                )
            cells = {f"cell{i + 1}": roi for i, roi in enumerate(found)}
        background = background or analysis.detect_background(image, list(cells.values()))
    masks = {name: analysis.roi_mask(roi, request.shape) for name, roi in cells.items()}
    masks[BACKGROUND_ROI] = analysis.roi_mask(background, request.shape)
    camera.set_rois(masks)
    n_px = np.array([m.sum() for m in masks.values()], dtype=np.float64)
    names = list(cells)
    readout = ComputedReadout(
        {"t_s": "s"}
        | {f"ratio_{n}": "1" for n in names}
        | {f"f340_{n}": "ADU/px/ms" for n in names}
        | {f"f380_{n}": "ADU/px/ms" for n in names}
    )
    yield from ensure_connected(*readout.signals)
    return Imaging(rig, request, cells, background, n_px, readout, deque(maxlen=keep_pairs))


def pair_values(
    sums340: NDArray[np.float64],
    sums380: NDArray[np.float64],
    n_px: NDArray[np.float64],
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


def emit_pair(imaging: Imaging, values: Mapping[str, float]) -> MsgGenerator[None]:
    """One ``ratio`` event from a pair's values."""
    imaging.readout.update(values)
    yield from bps.create("ratio")
    yield from bps.read(imaging.readout)
    yield from bps.save()
    imaging.pairs.append(dict(values))


def _wheel_to(imaging: Imaging, filter_name: str) -> MsgGenerator[None]:
    """Have the wheel at ``filter_name`` (plan stub): wait for the move :func:`_frame` started
    during the previous readout, or move now."""
    moving = imaging.wheel_moving
    imaging.wheel_moving = None
    if moving is not None and moving == (filter_name, imaging.interruptions.count):
        yield from bps.wait(group=WHEEL_GROUP)
    else:  # nothing under way to this filter, or an interruption came since: move now
        yield from bps.mv(imaging.rig.filter_wheel, filter_name)


def _frame(
    imaging: Imaging,
    filter_name: str,
    next_filter: str | None,
    extra: Sequence[Any],
    interruptions: int,
) -> MsgGenerator[tuple[float, int] | None]:
    """One ``primary`` event: the camera's frame (with the excitation it records for it: the
    wheel's filter during the exposure), ``t_s`` and ``extra``. As soon as the exposure is
    over the wheel starts for ``next_filter`` (:class:`~ionrig.devices.AfterExposure`), so the
    filter change runs during the camera's readout and the event's writing.

    Returns the rig time at the exposure's start and the RunEngine's interruption count once
    the trigger went out (an interruption that lands as the trigger goes out is replayed
    with it by bluesky, so the exposure comes after the gap and the count already holds it);
    or ``None`` without taking a frame when the RunEngine has been interrupted since the pair
    began (``interruptions`` is the count then): the pair starts again."""
    rig = imaging.rig
    camera, wheel = rig.camera, rig.filter_wheel
    yield from _wheel_to(imaging, filter_name)
    started_s = yield from rig_time_s(rig)
    if imaging.interruptions.count != interruptions:
        return None  # the wheel, shutter or sample may have changed: no frame for this pair
    group = short_uid("frame")
    yield from bps.trigger(camera, group=group)
    triggered = imaging.interruptions.count
    if triggered != interruptions:  # the exposure came after the interruption's gap
        started_s = yield from rig_time_s(rig)
    if next_filter is not None and next_filter != filter_name:
        if imaging.wheel_after_exposure is None:
            imaging.wheel_after_exposure = AfterExposure(camera, wheel)
        yield from bps.abs_set(imaging.wheel_after_exposure, next_filter, group=WHEEL_GROUP)
        imaging.wheel_moving = (next_filter, imaging.interruptions.count)
    yield from bps.wait(group=group)
    yield from bps.create("primary")
    for readable in (camera, rig.t_s, *extra):
        yield from bps.read(readable)
    yield from bps.save()
    return float(started_s), triggered


def take_pair(
    imaging: Imaging,
    *,
    close_shutter: bool = True,
    extra: Sequence[Any] = (),
    next_pair: bool = True,
) -> MsgGenerator[dict[str, float]]:
    """One 340/380 pair in step mode (plan stub, inside an open run with the camera staged and
    prepared): the shutter opens, the wheel goes to each filter and a ``primary`` event reads
    the camera (the frame and its excitation), ``t_s`` (and ``extra`` readables); then a
    ``ratio`` event. The shutter closes after the pair unless ``close_shutter=False``.
    Returns the pair's values.

    Each filter change starts as soon as the previous exposure is over and runs during the
    readout (with ``next_pair``, the move back to the first filter also starts after the
    pair's last exposure, for the next pair; the next :func:`take_pair` waits for it).

    A pause rewinds at most to the start of the pair: a checkpoint opens it and follows each
    frame's event, so bluesky's replay after a pause or suspension never sends an event again
    (and the RunEngine keeps no more than a pair's messages for it). A pair that a pause or
    suspension fell into gives no ``ratio`` event (its frames stay in ``primary``) and is
    retaken whole: no ratio mixes frames from either side of a gap. An interruption before
    the pair's first exposure costs no frame: the pair starts again (shutter, wheel)."""
    camera, shutter = imaging.rig.camera, imaging.rig.filter_wheel.shutter
    filters = imaging.request.filters
    sums: list[NDArray[np.float64]] = []
    while len(sums) < 2:
        yield from bps.checkpoint()
        yield Msg("null", imaging.interruptions)  # the RunEngine now tells it of pauses
        interruptions = imaging.interruptions.count
        if imaging.shutter_opened != interruptions:  # closed, or anything may have happened
            yield from bps.mv(shutter, "open")
            imaging.shutter_opened = interruptions
        sums, starts = [], []
        for index, filter_name in enumerate(filters):
            last = index == len(filters) - 1
            next_filter = filters[0] if last and next_pair else None if last else filters[index + 1]
            taken = yield from _frame(imaging, filter_name, next_filter, extra, interruptions)
            if taken is None:
                break  # interrupted before this exposure: start the pair again
            started_s, triggered = taken
            if index == 0:  # a gap before the pair's first exposure does not split it
                interruptions = triggered
            starts.append(started_s)
            yield from bps.checkpoint()
            if imaging.interruptions.count != interruptions:
                break  # retake the pair
            sums.append(np.asarray((yield from bps.rd(camera.last_roi_sums_adu)), dtype=np.float64))
        if imaging.interruptions.count != interruptions:
            sums = []
    if close_shutter:
        imaging.shutter_opened = None
        yield from bps.mv(shutter, "closed")  # no light between pairs: less bleaching
    values = pair_values(
        sums[0],
        sums[1],
        imaging.n_px,
        imaging.request.exposure_ms,
        imaging.names,
        float(np.mean(starts)),
    )
    yield from emit_pair(imaging, values)
    return values

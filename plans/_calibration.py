"""In-situ calibration of Mag-fura-2: Rmin, Rmax and beta in the cells themselves."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
from bluesky.utils import MsgGenerator
from ophyd_async.core import TriggerInfo
from ophyd_async.plan_stubs import ensure_connected

from ionrig import analysis
from ionrig.devices import ComputedReadout, Rig

from ._chemistry import chemistry_md
from ._imaging import (
    ExposureMs,
    Imaging,
    ImagingRequest,
    check_imaging,
    current_calibration,
    open_imaging,
    set_calibration,
    take_pair,
)
from ._parameters import Metadata, Number, check_value, plan_parameters
from ._perfusion import BathVolumes, check_solution, exchange_solution
from ._reading import rig_time_s
from ._schedule import due_slot, paced
from ._validation import PlanParameterError

__all__ = [
    "KdMM",
    "PairIntervalS",
    "calibrate_in_situ",
    "chelators_mM",
    "excess_free_mg_mM",
    "imaging_phase",
]

#: The rule of the pair interval of paced imaging (:func:`imaging_phase`), in rig seconds.
PairIntervalS = Number(1.0, 600.0, "s")
#: The rule of Mag-fura-2's Mg²⁺ dissociation constant (given, or the rig's calibration's).
KdMM = Number(0.01, 100.0, "mM")

#: Chelators that bind Mg²⁺ 1:1 (totals in the solutions file, mM).
_CHELATORS = ("edta_mM", "egta_mM", "atp_mM", "bapta_mM")


def chelators_mM(composition: Mapping[str, float]) -> float:
    """Total Mg²⁺-binding chelator of a solution (mM): EDTA + EGTA + ATP + BAPTA."""
    return float(sum(composition.get(k, 0.0) for k in _CHELATORS))


def excess_free_mg_mM(composition: Mapping[str, float], *, parameter: str) -> float:
    """Free Mg²⁺ of a solution with Mg in large excess over its chelators: total − chelators
    (each chelator saturated; good to < 1 % when Mg exceeds them tenfold). Refused otherwise."""
    total = float(composition.get("mg_mM", 0.0))
    chelators = chelators_mM(composition)
    if not total > 10 * chelators or total <= 0:
        raise PlanParameterError(
            f"{parameter}: its Mg ({total:g} mM) is not in tenfold excess over its chelators "
            f"({chelators:g} mM), so its free Mg is not known; give rmax_mg_free_mM"
        )
    return total - chelators


def imaging_phase(
    imaging: Imaging,
    *,
    interval_s: float,
    max_s: float,
    plateau_window_s: float | None = None,
    plateau_tolerance: float = 0.0,
    first_s: float | None = None,
    extra: Sequence[Any] = (),
    after_pair: Callable[[], MsgGenerator[None]] | None = None,
) -> MsgGenerator[tuple[float, float, bool]]:
    """Take paced pairs for up to ``max_s`` of rig time (plan stub, inside an open run).

    With ``plateau_window_s`` the phase ends early once the median ratio over cells has a
    linear trend over the last window smaller than ``plateau_tolerance`` of its mean.
    ``first_s`` continues an earlier schedule (pairs at ``first_s + k * interval_s``; slots
    missed by a plan running late are skipped, so the phase ends on time);
    ``after_pair`` (a plan stub factory) runs after every pair.
    Returns (phase start, phase end, plateau reached) in rig seconds.
    """
    rig = imaging.rig
    start_s = yield from rig_time_s(rig)
    schedule_s = first_s if first_s is not None else start_s
    index = max(0, int(np.ceil((start_s - schedule_s) / interval_s - 1e-9))) if interval_s else 0
    times: list[float] = []
    medians: list[float] = []
    end_s = start_s + max_s
    while True:
        now_s = yield from rig_time_s(rig)
        if interval_s:  # a plan running late skips the slots it missed (see paced)
            index = due_slot(schedule_s, index, interval_s, now_s)
        if schedule_s + index * interval_s >= end_s or now_s >= end_s:  # no pair fits
            if now_s < end_s:
                yield from bps.sleep(end_s - now_s)
            return start_s, (yield from rig_time_s(rig)), False
        index, now_s = yield from paced(rig, schedule_s, index, interval_s)
        values = yield from take_pair(imaging, extra=extra)
        if after_pair is not None:
            yield from after_pair()
        times.append(values["t_s"])
        medians.append(float(np.median([values[f"ratio_{n}"] for n in imaging.names])))
        index += 1
        if plateau_window_s and times[-1] - start_s >= plateau_window_s:
            t = np.asarray(times)
            recent = t >= times[-1] - plateau_window_s
            if recent.sum() >= 4:
                slope, _ = np.polyfit(t[recent], np.asarray(medians)[recent], 1)
                drift = abs(slope) * plateau_window_s / float(np.mean(np.asarray(medians)[recent]))
                if drift <= plateau_tolerance:
                    return start_s, times[-1], True


@dataclass(frozen=True)
class _CalibrationSettings:
    """Checked :func:`calibrate_in_situ` arguments, with the two solutions' compositions
    (mM)."""

    rmin_solution: str
    rmax_solution: str
    low: Mapping[str, float]
    high: Mapping[str, float]
    rmax_mg_free_mM: float
    kd_mM: float
    interval_s: float
    max_equilibrate_min: float
    plateau_window_min: float
    plateau_tolerance: float
    bath_volumes: float


def _check_solutions(
    rig: Rig, rmin_solution: Any, rmax_solution: Any
) -> tuple[Mapping[str, float], Mapping[str, float]]:
    """Both solutions known, different, with ionophore, the low one Mg-free with a chelator;
    returns their compositions (mM)."""
    check_solution(rig, rmin_solution, "rmin_solution")
    check_solution(rig, rmax_solution, "rmax_solution")
    if rmin_solution == rmax_solution:
        raise PlanParameterError("rmin_solution and rmax_solution must be different solutions")
    low = rig.perfusion.composition(rmin_solution)
    high = rig.perfusion.composition(rmax_solution)
    for name, composition in ((rmin_solution, low), (rmax_solution, high)):
        if composition.get("ionophore_uM", 0.0) <= 0:
            raise PlanParameterError(
                f"solution {name!r} has no ionophore (ionophore_uM): the cells would not "
                "equilibrate with it"
            )
    if low.get("mg_mM", 0.0) > 0 or chelators_mM(low) <= 0:
        raise PlanParameterError(
            f"rmin_solution {rmin_solution!r} must be Mg-free with a chelator (EDTA/EGTA), "
            f"got mg_mM={low.get('mg_mM', 0.0):g}, chelators {chelators_mM(low):g} mM"
        )
    return low, high


def _check_constants(
    rig: Rig,
    high: Mapping[str, float],
    rmax_solution: str,
    rmax_mg_free_mM: float | None,
    kd_mM: float | None,
) -> tuple[float, float]:
    """The high solution's free Mg²⁺ and the Kd (mM): given (checked by the signature) or
    defaulted from the high solution and from the rig's calibration."""
    if rmax_mg_free_mM is None:
        rmax_mg_free_mM = excess_free_mg_mM(high, parameter=f"rmax_solution {rmax_solution!r}")
    if kd_mM is None:
        assumed = current_calibration(rig)
        if assumed is None:
            raise PlanParameterError("kd_mM is required: the rig has no calibration section")
        kd_mM = check_value("kd_mM", KdMM, float(assumed["kd_mM"]))
    return rmax_mg_free_mM, kd_mM


def _check_equilibration(
    interval_s: float, max_equilibrate_min: float, plateau_window_min: float
) -> None:
    """The plateau window (min) shorter than the longest equilibration (min) and holding at
    least 4 pairs of the pair interval (s)."""
    if plateau_window_min >= max_equilibrate_min:
        raise PlanParameterError(
            f"plateau_window_min must be below max_equilibrate_min ({max_equilibrate_min:g} "
            f"min), got {plateau_window_min:g}"
        )
    if plateau_window_min * 60.0 < 4 * interval_s:
        raise PlanParameterError(
            f"plateau_window_min must hold at least 4 pairs ({4 * interval_s / 60:.3g} min at "
            f"interval_s={interval_s:g}), got {plateau_window_min:g}"
        )


@plan_parameters
def calibrate_in_situ(
    rig: Rig,
    *,
    rmin_solution: str = "calibration_rmin",
    rmax_solution: str = "calibration_rmax",
    rmax_mg_free_mM: Number(1.0, 1000.0, "mM") | None = None,
    kd_mM: KdMM | None = None,
    exposure_ms: ExposureMs = 20.0,
    interval_s: PairIntervalS = 20.0,
    max_equilibrate_min: Number(1.0, 240.0, "min") = 40.0,
    plateau_window_min: Number(0.5, 60.0, "min") = 5.0,
    plateau_tolerance: Number(0.0001, 0.2, "(fraction)") = 0.001,
    bath_volumes: BathVolumes = 5.0,
    rois: Mapping[str, Any] | Sequence[Any] | None = None,
    background_roi: Mapping[str, Any] | None = None,
    md: Metadata = None,
) -> MsgGenerator[str]:
    """Calibrate Mag-fura-2 in the cells (docs/reference/physiology.md §3.2): ionophore with a
    Mg-free, Ca-free EDTA/EGTA solution (``rmin_solution``), then ionophore with high Mg²⁺
    (``rmax_solution``), imaging 340/380 pairs every ``interval_s`` (rig clock) through both.

    Each solution is perfused (``bath_volumes``) and the flow stopped (ionophore solutions are
    used sparingly; the cells equilibrate with the static bath). Pairs are taken until the
    cells' median ratio drifts by less than ``plateau_tolerance`` (fraction) over
    ``plateau_window_min``; after ``max_equilibrate_min`` without a plateau the run fails and
    nothing is stored. The two plateau windows are unmixed by
    :func:`ionrig.analysis.calibrate_two_solutions` with the high solution's free Mg²⁺
    (``rmax_mg_free_mM``; default: its Mg minus its chelators) and ``kd_mM`` (default: the
    rig's calibration Kd).

    Streams: ``primary`` and ``ratio`` (as ``ratiometric_timecourse``), ``perfusion``
    (solution changes) and ``calibration`` (one event: ``r_min``, ``r_max``, ``beta``,
    ``kd_mM``, their standard errors, the plateau windows' times, per-cell values). Later
    imaging runs on this rig rely on it (their start documents' ``calibration.source_uid``).
    The flow is left stopped (the cells are permeabilised). Returns the start uid.
    """
    low, high = _check_solutions(rig, rmin_solution, rmax_solution)
    rmax_mg_free_mM, kd_mM = _check_constants(rig, high, rmax_solution, rmax_mg_free_mM, kd_mM)
    request = check_imaging(rig, exposure_ms=exposure_ms, rois=rois, background_roi=background_roi)
    _check_equilibration(interval_s, max_equilibrate_min, plateau_window_min)
    args = {
        "rmin_solution": rmin_solution,
        "rmax_solution": rmax_solution,
        "rmax_mg_free_mM": rmax_mg_free_mM,
        "kd_mM": kd_mM,
        "exposure_ms": request.exposure_ms,
        "interval_s": interval_s,
        "max_equilibrate_min": max_equilibrate_min,
        "plateau_window_min": plateau_window_min,
        "plateau_tolerance": plateau_tolerance,
        "bath_volumes": bath_volumes,
    }
    settings = _CalibrationSettings(
        rmin_solution,
        rmax_solution,
        low,
        high,
        rmax_mg_free_mM,
        kd_mM,
        interval_s,
        max_equilibrate_min,
        plateau_window_min,
        plateau_tolerance,
        bath_volumes,
    )
    return _calibration_run(rig, request, settings, args, md)


def _calibration_run(
    rig: Rig,
    request: ImagingRequest,
    settings: _CalibrationSettings,
    args: dict[str, Any],
    extra_md: dict[str, Any],
) -> MsgGenerator[str]:
    """ROIs, then the run of :func:`calibrate_in_situ` (camera staged; shutter closed and flow
    stopped at the end); the result becomes the rig's calibration. Returns the start uid."""
    imaging = yield from open_imaging(request, rig, keep_pairs=None)
    result = _calibration_readout(imaging.names)
    yield from ensure_connected(*result.signals)
    start_md = {
        "plan_name": "calibrate_in_situ",
        "plan_args": args,
        **imaging.start_md(),
        "solutions": {
            settings.rmin_solution: {
                "role": "Rmin (Mg-free, ionophore)",
                "composition_mM": settings.low,
            },
            settings.rmax_solution: {
                "role": "Rmax (high Mg, ionophore)",
                "composition_mM": settings.high,
            },
        },
        "chemistry": chemistry_md(
            rig, [settings.rmin_solution, settings.rmax_solution], plan_name="calibrate_in_situ"
        ),
        "method": "Grynkiewicz in-situ: ionophore + Mg-free/EDTA, then ionophore + high "
        "Mg; high-Mg signals unmixed with the bound fraction C/(C+Kd) "
        "(ionrig.analysis.calibrate_two_solutions; docs/reference/physiology.md §3.2)",
        "hints": {"dimensions": [[["t_s"], "ratio"]]},
        **extra_md,
    }
    outcome: dict[str, Any] = {}
    body = _calibration_body(imaging, settings, result, outcome)
    uid = yield from bpp.finalize_wrapper(
        bpp.stage_wrapper(bpp.run_wrapper(body, md=start_md), [rig.camera]),
        _finish(rig),
    )
    calibration = outcome["calibration"]
    set_calibration(
        rig,
        {
            "r_min": calibration.r_min,
            "r_max": calibration.r_max,
            "beta": calibration.beta,
            "kd_mM": calibration.kd_mM,
            "source": f"in-situ calibration run {uid}",
            "source_uid": uid,
        },
    )
    return uid


def _calibration_readout(names: Sequence[str]) -> ComputedReadout:
    """The ``calibration`` stream's readout: constants, their errors, windows, per cell."""
    per_cell = {f"{what}_{n}": "1" for n in names for what in ("r_min", "r_max", "beta")}
    return ComputedReadout(
        {
            "t_s": "s",
            "r_min": "1",
            "r_max": "1",
            "beta": "1",
            "kd_mM": "mM",
            "r_min_se": "1",
            "r_max_se": "1",
            "beta_se": "1",
            "low_plateau_start_s": "s",
            "low_plateau_stop_s": "s",
            "high_plateau_start_s": "s",
            "high_plateau_stop_s": "s",
        }
        | per_cell
    )


def _equilibrate(
    imaging: Imaging, settings: _CalibrationSettings, solution: str
) -> MsgGenerator[tuple[float, float]]:
    """Perfuse ``solution``, stop the flow, image until the ratio plateaus (plan stub);
    returns the plateau window (rig s), raises when there is no plateau in time."""
    rig = imaging.rig
    yield from exchange_solution(rig, solution, bath_volumes=settings.bath_volumes)
    # static bath while the cells equilibrate: ionophore solutions are used sparingly
    yield from bps.wait_for([rig.perfusion.stop_flow])
    yield from bps.trigger_and_read([rig.t_s, rig.perfusion], name="perfusion")
    window_s = settings.plateau_window_min * 60.0
    started, stopped, plateau = yield from imaging_phase(
        imaging,
        interval_s=settings.interval_s,
        max_s=settings.max_equilibrate_min * 60.0,
        plateau_window_s=window_s,
        plateau_tolerance=settings.plateau_tolerance,
    )
    if not plateau:
        raise RuntimeError(
            f"calibration: the ratio in {solution!r} did not reach a plateau (drift "
            f"<= {settings.plateau_tolerance:g} over {settings.plateau_window_min:g} min) "
            f"within {settings.max_equilibrate_min:g} min; no calibration was stored"
        )
    return max(started, stopped - window_s), stopped


def _calibration_body(
    imaging: Imaging,
    settings: _CalibrationSettings,
    result: ComputedReadout,
    outcome: dict[str, Any],
) -> MsgGenerator[None]:
    """Both solutions to their plateaus, then the ``calibration`` event (the calibration in
    ``outcome``)."""
    rig = imaging.rig
    livetime = imaging.request.exposure_ms / 1000.0
    yield from bps.prepare(rig.camera, TriggerInfo(livetime=livetime), wait=True)
    low_window = yield from _equilibrate(imaging, settings, settings.rmin_solution)
    high_window = yield from _equilibrate(imaging, settings, settings.rmax_solution)
    t_s = yield from rig_time_s(rig)
    calibration, cells = _unmix(imaging, settings, low_window, high_window)
    (low_start, low_stop), (high_start, high_stop) = low_window, high_window
    values = {
        "t_s": t_s,
        "r_min": calibration.r_min,
        "r_max": calibration.r_max,
        "beta": calibration.beta,
        "kd_mM": calibration.kd_mM,
        "r_min_se": calibration.r_min_se,
        "r_max_se": calibration.r_max_se,
        "beta_se": calibration.beta_se,
        "low_plateau_start_s": low_start,
        "low_plateau_stop_s": low_stop,
        "high_plateau_start_s": high_start,
        "high_plateau_stop_s": high_stop,
    }
    for n, cell in zip(imaging.names, cells, strict=True):
        values |= {f"r_min_{n}": cell.r_min, f"r_max_{n}": cell.r_max}
        values[f"beta_{n}"] = cell.beta
    result.update(values)
    yield from bps.create("calibration")
    yield from bps.read(result)
    yield from bps.save()
    outcome["calibration"] = calibration


def _unmix(
    imaging: Imaging,
    settings: _CalibrationSettings,
    low_window: tuple[float, float],
    high_window: tuple[float, float],
) -> tuple[Any, Any]:
    """The calibration from the pairs in the two plateau windows (rig s):
    :func:`ionrig.analysis.calibrate_two_solutions`; returns (calibration, per-cell values)."""
    names, pairs = imaging.names, imaging.pairs
    t = np.array([p["t_s"] for p in pairs])
    in_low = (t >= low_window[0]) & (t <= low_window[1])
    in_high = (t >= high_window[0]) & (t <= high_window[1])

    def column(key: str, mask: np.ndarray) -> np.ndarray:
        chosen = [p for p, inside in zip(pairs, mask, strict=True) if inside]
        return np.array([[p[f"{key}_{n}"] for n in names] for p in chosen])

    try:
        return analysis.calibrate_two_solutions(
            t[in_low],
            column("f340", in_low),
            column("f380", in_low),
            t[in_high],
            column("f340", in_high),
            column("f380", in_high),
            high_mg_free_mM=settings.rmax_mg_free_mM,
            kd_mM=settings.kd_mM,
        )
    except ValueError as error:
        raise RuntimeError(f"calibration failed: {error}") from error


def _finish(rig: Rig) -> MsgGenerator[None]:
    """Close the shutter and leave the flow stopped (the cells are permeabilised)."""
    yield from bps.mv(rig.filter_wheel.shutter, "closed")
    yield from bps.wait_for([rig.perfusion.stop_flow])

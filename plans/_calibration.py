"""In-situ calibration of Mag-fura-2: Rmin, Rmax and beta in the cells themselves."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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
    Imaging,
    check_imaging,
    current_calibration,
    open_imaging,
    set_calibration,
    take_pair,
)
from ._perfusion import check_solution, exchange_solution
from ._reading import rig_time_s
from ._schedule import due_slot, paced
from ._validation import PlanParameterError, check_md, check_number

__all__ = ["calibrate_in_situ", "chelators_mM", "excess_free_mg_mM", "imaging_phase"]

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


def calibrate_in_situ(
    rig: Rig,
    *,
    rmin_solution: str = "calibration_rmin",
    rmax_solution: str = "calibration_rmax",
    rmax_mg_free_mM: float | None = None,
    kd_mM: float | None = None,
    exposure_ms: float = 20.0,
    interval_s: float = 20.0,
    max_equilibrate_min: float = 40.0,
    plateau_window_min: float = 5.0,
    plateau_tolerance: float = 0.001,
    bath_volumes: float = 5.0,
    rois: Mapping[str, Any] | Sequence[Any] | None = None,
    background_roi: Mapping[str, Any] | None = None,
    md: Mapping[str, Any] | None = None,
) -> MsgGenerator[str]:
    """Calibrate Mag-fura-2 in the cells (physiology-parameters.md §3.2): ionophore with a
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
    if rmax_mg_free_mM is None:
        rmax_mg_free_mM = excess_free_mg_mM(high, parameter=f"rmax_solution {rmax_solution!r}")
    else:
        rmax_mg_free_mM = check_number(
            "rmax_mg_free_mM", rmax_mg_free_mM, minimum=1.0, maximum=1000.0, unit="mM"
        )
    if kd_mM is None:
        assumed = current_calibration(rig)
        if assumed is None:
            raise PlanParameterError("kd_mM is required: the rig has no calibration section")
        kd_mM = float(assumed["kd_mM"])
    kd_mM = check_number("kd_mM", kd_mM, minimum=0.01, maximum=100.0, unit="mM")
    request = check_imaging(rig, exposure_ms=exposure_ms, rois=rois, background_roi=background_roi)
    interval_s = check_number("interval_s", interval_s, minimum=1.0, maximum=600.0, unit="s")
    max_equilibrate_min = check_number(
        "max_equilibrate_min", max_equilibrate_min, minimum=1.0, maximum=240.0, unit="min"
    )
    plateau_window_min = check_number(
        "plateau_window_min", plateau_window_min, minimum=0.5, maximum=60.0, unit="min"
    )
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
    plateau_tolerance = check_number(
        "plateau_tolerance", plateau_tolerance, minimum=0.0001, maximum=0.2, unit="(fraction)"
    )
    bath_volumes = check_number(
        "bath_volumes", bath_volumes, minimum=1.0, maximum=50.0, unit="bath volumes"
    )
    extra_md = check_md(md)
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
    camera = rig.camera
    outcome: dict[str, Any] = {}

    def plan() -> MsgGenerator[str]:
        imaging = yield from open_imaging(request, rig, keep_pairs=None)
        names = imaging.names
        per_cell = {f"{what}_{n}": "1" for n in names for what in ("r_min", "r_max", "beta")}
        result = ComputedReadout(
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
        yield from ensure_connected(*result.signals)
        start_md = {
            "plan_name": "calibrate_in_situ",
            "plan_args": args,
            **imaging.start_md(),
            "solutions": {
                rmin_solution: {"role": "Rmin (Mg-free, ionophore)", "composition_mM": low},
                rmax_solution: {"role": "Rmax (high Mg, ionophore)", "composition_mM": high},
            },
            "chemistry": chemistry_md(
                rig, [rmin_solution, rmax_solution], plan_name="calibrate_in_situ"
            ),
            "method": "Grynkiewicz in-situ: ionophore + Mg-free/EDTA, then ionophore + high "
            "Mg; high-Mg signals unmixed with the bound fraction C/(C+Kd) "
            "(ionrig.analysis.calibrate_two_solutions; physiology-parameters.md §3.2)",
            "hints": {"dimensions": [[["t_s"], "ratio"]]},
            **extra_md,
        }

        def phase(solution: str) -> MsgGenerator[tuple[float, float]]:
            yield from exchange_solution(rig, solution, bath_volumes=bath_volumes)
            # static bath while the cells equilibrate: ionophore solutions are used sparingly
            yield from bps.wait_for([rig.perfusion.stop_flow])
            yield from bps.trigger_and_read([rig.t_s, rig.perfusion], name="perfusion")
            started, stopped, plateau = yield from imaging_phase(
                imaging,
                interval_s=interval_s,
                max_s=max_equilibrate_min * 60.0,
                plateau_window_s=plateau_window_min * 60.0,
                plateau_tolerance=plateau_tolerance,
            )
            if not plateau:
                raise RuntimeError(
                    f"calibration: the ratio in {solution!r} did not reach a plateau (drift "
                    f"<= {plateau_tolerance:g} over {plateau_window_min:g} min) within "
                    f"{max_equilibrate_min:g} min; no calibration was stored"
                )
            return max(started, stopped - plateau_window_min * 60.0), stopped

        def body() -> MsgGenerator[None]:
            livetime = request.exposure_ms / 1000.0
            yield from bps.prepare(camera, TriggerInfo(livetime=livetime), wait=True)
            low_window = yield from phase(rmin_solution)
            high_window = yield from phase(rmax_solution)
            outcome["windows"] = (low_window, high_window)
            outcome["names"] = names
            t_s = yield from rig_time_s(rig)
            outcome["t_s"] = t_s

        def with_result() -> MsgGenerator[None]:
            yield from body()
            (low_start, low_stop), (high_start, high_stop) = outcome["windows"]
            pairs = imaging.pairs
            t = np.array([p["t_s"] for p in pairs])
            in_low = (t >= low_start) & (t <= low_stop)
            in_high = (t >= high_start) & (t <= high_stop)

            def column(key: str, mask: np.ndarray) -> np.ndarray:
                chosen = [p for p, inside in zip(pairs, mask, strict=True) if inside]
                return np.array([[p[f"{key}_{n}"] for n in names] for p in chosen])

            try:
                calibration, cells = analysis.calibrate_two_solutions(
                    t[in_low],
                    column("f340", in_low),
                    column("f380", in_low),
                    t[in_high],
                    column("f340", in_high),
                    column("f380", in_high),
                    high_mg_free_mM=rmax_mg_free_mM,
                    kd_mM=kd_mM,
                )
            except ValueError as error:
                raise RuntimeError(f"calibration failed: {error}") from error
            values = {
                "t_s": outcome["t_s"],
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
            for n, cell in zip(names, cells, strict=True):
                values |= {f"r_min_{n}": cell.r_min, f"r_max_{n}": cell.r_max}
                values[f"beta_{n}"] = cell.beta
            result.update(values)
            yield from bps.create("calibration")
            yield from bps.read(result)
            yield from bps.save()
            outcome["calibration"] = calibration

        def finish() -> MsgGenerator[None]:
            yield from bps.mv(rig.filter_wheel.shutter, "closed")
            yield from bps.wait_for([rig.perfusion.stop_flow])

        uid = yield from bpp.finalize_wrapper(
            bpp.stage_wrapper(bpp.run_wrapper(with_result(), md=start_md), [camera]),
            finish(),
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

    return plan()

"""The seed experiment: intracellular free Mg²⁺ through baseline → Mg-K-aspartate → washout."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import MsgGenerator
from ophyd_async.core import TriggerInfo, wait_for_value

from ionrig.devices import Rig

from ._calibration import calibrate_in_situ, imaging_phase
from ._imaging import Imaging, check_imaging, open_imaging
from ._perfusion import check_solution
from ._reading import rig_time_s
from ._validation import PlanParameterError, check_md, check_number

__all__ = ["MgUptakeResult", "mg_uptake"]


@dataclass(frozen=True)
class MgUptakeResult:
    """The runs of one :func:`mg_uptake`: the time course and (``calibrate=True``) its
    in-situ calibration, whose start document names the time course in ``calibrates_uid``."""

    uptake_uid: str
    calibration_uid: str | None


def _record_perfusion(rig: Rig) -> MsgGenerator[None]:
    yield from bps.trigger_and_read([rig.t_s, rig.perfusion], name="perfusion")


def mg_uptake(
    rig: Rig,
    *,
    treatment: str = "mg_k_aspartate",
    baseline_solution: str = "hbss",
    baseline_min: float = 5.0,
    treatment_min: float = 20.0,
    washout_min: float = 15.0,
    calibrate: bool = True,
    exposure_ms: float = 20.0,
    interval_s: float = 10.0,
    rois: Mapping[str, Any] | Sequence[Any] | None = None,
    background_roi: Mapping[str, Any] | None = None,
    calibration: Mapping[str, Any] | None = None,
    md: Mapping[str, Any] | None = None,
) -> MsgGenerator[MgUptakeResult]:
    """Continuous 340/380 imaging (a pair every ``interval_s`` of rig time) while the bath is
    perfused with ``baseline_solution`` for ``baseline_min``, ``treatment`` for
    ``treatment_min`` and ``baseline_solution`` again for ``washout_min``; then, with
    ``calibrate``, :func:`calibrate_in_situ` on the same ROIs (options in ``calibration``).

    Solution changes do not pause imaging: each is a ``perfusion`` event when the valve
    switches and another when the bath has exchanged (``exchanged_bath_volumes``). Streams of
    the time course: ``primary``, ``ratio`` (as ``ratiometric_timecourse``) and ``perfusion``;
    its start document lists both solutions with their compositions and the planned phases.
    Returns :class:`MgUptakeResult`.
    """
    check_solution(rig, treatment, "treatment")
    check_solution(rig, baseline_solution, "baseline_solution")
    if treatment == baseline_solution:
        raise PlanParameterError("treatment and baseline_solution must be different solutions")
    phases_min = {}
    for name, value, low in (
        ("baseline_min", baseline_min, 0.5),
        ("treatment_min", treatment_min, 0.5),
        ("washout_min", washout_min, 0.0),
    ):
        phases_min[name] = check_number(name, value, minimum=low, maximum=1440.0, unit="min")
    if not isinstance(calibrate, bool):
        raise PlanParameterError(f"calibrate must be True or False, got {calibrate!r}")
    request = check_imaging(rig, exposure_ms=exposure_ms, rois=rois, background_roi=background_roi)
    interval_s = check_number("interval_s", interval_s, minimum=1.0, maximum=600.0, unit="s")
    if calibration is not None and not isinstance(calibration, Mapping):
        raise PlanParameterError(f"calibration must be a mapping of options, got {calibration!r}")
    calibration_options = dict(calibration or {})
    for reserved in ("rois", "background_roi", "md"):
        if reserved in calibration_options:
            raise PlanParameterError(
                f"calibration: {reserved!r} is set by mg_uptake (the same ROIs as the time course)"
            )
    options = [
        name
        for name, p in inspect.signature(calibrate_in_situ).parameters.items()
        if p.kind is p.KEYWORD_ONLY and name not in ("rois", "background_roi", "md")
    ]
    unknown = sorted(set(calibration_options) - set(options), key=str)
    if unknown:
        raise PlanParameterError(
            f"calibration: unexpected keyword argument{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(k) for k in unknown)}; allowed options (calibrate_in_situ's): "
            f"{', '.join(options)}"
        )
    # The calibration's options are checked now too (a dry call: nothing runs).
    try:
        calibrate_in_situ(
            rig,
            **{"exposure_ms": request.exposure_ms, **calibration_options},
            rois=rois,
            background_roi=background_roi,
        ).close()
    except TypeError as error:
        raise PlanParameterError(
            f"calibration: {error} (options are calibrate_in_situ's keyword arguments)"
        ) from None
    except PlanParameterError as error:
        raise PlanParameterError(f"calibration: {error}") from None
    extra_md = check_md(md)
    # Reservoirs: each solution must last through its phases (flow continues all along).
    flow = rig.perfusion.flow_rate_mL_per_min
    needs_mL = {
        baseline_solution: flow * (phases_min["baseline_min"] + phases_min["washout_min"]),
        treatment: flow * phases_min["treatment_min"],
    }
    for solution, needed in needs_mL.items():
        held = rig.perfusion.remaining_mL(solution)
        if needed > held:
            raise PlanParameterError(
                f"the {solution!r} reservoir holds {held:.1f} mL but {needed:.1f} mL are needed "
                f"({flow:g} mL/min over its phases): refill it or shorten the phases"
            )
    args = {
        "treatment": treatment,
        "baseline_solution": baseline_solution,
        **phases_min,
        "calibrate": calibrate,
        "exposure_ms": request.exposure_ms,
        "interval_s": interval_s,
        "calibration": calibration_options or None,
    }
    camera = rig.camera

    def time_course(imaging: Imaging) -> MsgGenerator[str]:
        start_md = {
            "plan_name": "mg_uptake",
            "plan_args": args,
            **imaging.start_md(),
            "solution": baseline_solution,
            "solutions": {
                baseline_solution: {
                    "role": "baseline and washout",
                    "composition_mM": rig.perfusion.composition(baseline_solution),
                },
                treatment: {
                    "role": "treatment",
                    "composition_mM": rig.perfusion.composition(treatment),
                },
            },
            "phases": [
                {"solution": baseline_solution, "duration_min": phases_min["baseline_min"]},
                {"solution": treatment, "duration_min": phases_min["treatment_min"]},
                {"solution": baseline_solution, "duration_min": phases_min["washout_min"]},
            ],
            "calibration_run": "an in-situ calibration run follows (its start document's "
            "calibrates_uid names this run)"
            if calibrate
            else None,
            "hints": {"dimensions": [[["t_s"], "ratio"]]},
            **extra_md,
        }

        def body() -> MsgGenerator[None]:
            livetime = request.exposure_ms / 1000.0
            yield from bps.prepare(camera, TriggerInfo(livetime=livetime), wait=True)
            first_s = yield from rig_time_s(rig)
            for solution, minutes in (
                (baseline_solution, phases_min["baseline_min"]),
                (treatment, phases_min["treatment_min"]),
                (baseline_solution, phases_min["washout_min"]),
            ):
                if minutes <= 0:
                    continue
                group = bps.short_uid("exchange")
                yield from bps.abs_set(rig.perfusion, solution, group=group)
                yield from bps.wait_for(
                    [lambda s=solution: wait_for_value(rig.perfusion.solution, s, timeout=10.0)]
                )
                yield from _record_perfusion(rig)  # the valve switched
                watch = {"group": group, "recorded": False}

                def after_pair(watch=watch) -> MsgGenerator[None]:
                    if watch["recorded"]:
                        return
                    done = yield from bps.wait(
                        group=watch["group"], timeout=0.001, error_on_timeout=False
                    )
                    if done:
                        watch["recorded"] = True
                        yield from _record_perfusion(rig)  # the bath has exchanged

                yield from imaging_phase(
                    imaging,
                    interval_s=interval_s,
                    max_s=minutes * 60.0,
                    first_s=first_s,
                    after_pair=after_pair,
                )
                if not watch["recorded"]:
                    yield from bps.wait(group=group)
                    yield from _record_perfusion(rig)

        def close_shutter() -> MsgGenerator[None]:
            yield from bps.mv(rig.filter_wheel.shutter, "closed")

        return (
            yield from bpp.finalize_wrapper(
                bpp.stage_wrapper(bpp.run_wrapper(body(), md=start_md), [camera]),
                close_shutter(),
            )
        )

    def plan() -> MsgGenerator[MgUptakeResult]:
        imaging = yield from open_imaging(request, rig)
        uptake_uid = yield from time_course(imaging)
        calibration_uid = None
        if calibrate:
            calibration_uid = yield from calibrate_in_situ(
                rig,
                **{"exposure_ms": request.exposure_ms, **calibration_options},
                rois={name: roi.to_spec() for name, roi in imaging.cells.items()},
                background_roi=imaging.background.to_spec(),
                md={"calibrates_uid": uptake_uid},
            )
        return MgUptakeResult(uptake_uid, calibration_uid)

    return plan()

"""The seed experiment: intracellular free Mg²⁺ through baseline → (matched control → washout)
→ Mg-K-aspartate → washout."""

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

from ._calibration import PairIntervalS, calibrate_in_situ, imaging_phase
from ._chemistry import chemistry_md
from ._imaging import ExposureMs, Imaging, ImagingRequest, check_imaging, open_imaging
from ._parameters import Metadata, Number, plan_parameters
from ._perfusion import check_solution
from ._reading import rig_time_s
from ._validation import PlanParameterError

__all__ = [
    "MgUptakeResult",
    "Phase",
    "PhaseMin",
    "check_probenecid",
    "mg_uptake",
    "uptake_phases",
]

#: The rule of a perfusion phase's duration (min; a day at most).
PhaseMin = Number(0.5, 1440.0, "min")


@dataclass(frozen=True)
class MgUptakeResult:
    """The runs of one :func:`mg_uptake`: the time course and (``calibrate=True``) its
    in-situ calibration, whose start document names the time course in ``calibrates_uid``."""

    uptake_uid: str
    calibration_uid: str | None


def _record_perfusion(rig: Rig) -> MsgGenerator[None]:
    yield from bps.trigger_and_read([rig.t_s, rig.perfusion], name="perfusion")


@dataclass(frozen=True)
class Phase:
    """One perfusion phase of :func:`mg_uptake`: solution, duration (min) and role."""

    solution: str
    minutes: float
    role: str  # baseline, control, washout, treatment


def uptake_phases(
    baseline: str, treatment: str, control: str | None, minutes: Mapping[str, float]
) -> list[Phase]:
    """baseline → treatment → washout; with a ``control``: baseline → control → washout →
    treatment → washout (the control as long as the treatment, on the same cells)."""
    phases = [Phase(baseline, minutes["baseline_min"], "baseline")]
    if control is not None:
        phases += [
            Phase(control, minutes["treatment_min"], "control"),
            Phase(baseline, minutes["washout_min"], "washout"),
        ]
    phases += [
        Phase(treatment, minutes["treatment_min"], "treatment"),
        Phase(baseline, minutes["washout_min"], "washout"),
    ]
    return phases


def _probenecid_mM(rig: Rig, solution: str) -> float:
    table = getattr(rig, "solutions", None) or {}
    return table[solution].totals_mM.get("probenecid", 0.0) if solution in table else 0.0


def check_probenecid(rig: Rig, phases: Sequence[Phase], flowing: str | None = None) -> None:
    """Refuse phases that drop probenecid when the baseline (or the wash that left ``flowing``
    in the bath) has it: dye leak would change with the solution, not with Mg²⁺."""
    source = next(
        (n for n in (flowing, phases[0].solution) if n and _probenecid_mM(rig, n) > 0), None
    )
    if source is None:
        return
    without = [p.solution for p in phases if _probenecid_mM(rig, p.solution) <= 0]
    if without:
        raise PlanParameterError(
            f"{source!r} holds probenecid ({_probenecid_mM(rig, source):g} mM) but "
            f"{', '.join(dict.fromkeys(without))} do not: keep probenecid in every phase "
            "(e.g. mg_k_aspartate_probenecid and hbss_probenecid) so dye leak stays the same"
        )


def _check_reservoirs(rig: Rig, phases: Sequence[Phase]) -> None:
    """Each solution must last through its phases (flow continues all along)."""
    flow = rig.perfusion.flow_rate_mL_per_min
    needs_mL: dict[str, float] = {}
    for phase in phases:
        needs_mL[phase.solution] = needs_mL.get(phase.solution, 0.0) + flow * phase.minutes
    for solution, needed in needs_mL.items():
        held = rig.perfusion.remaining_mL(solution)
        if needed > held:
            raise PlanParameterError(
                f"the {solution!r} reservoir holds {held:.1f} mL but {needed:.1f} mL are needed "
                f"({flow:g} mL/min over its phases): refill it or shorten the phases"
            )


def _check_calibration_options(
    rig: Rig, request, calibration, rois, background_roi
) -> dict[str, Any]:
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
    return calibration_options


def _check_solutions(rig: Rig, treatment: str, control: str | None, baseline: str) -> None:
    check_solution(rig, treatment, "treatment")
    check_solution(rig, baseline, "baseline_solution")
    if control is not None:
        check_solution(rig, control, "control")
    named = [treatment, baseline, *([control] if control is not None else [])]
    if len(set(named)) != len(named):
        raise PlanParameterError(
            "treatment, control and baseline_solution must be different solutions; got "
            + ", ".join(repr(n) for n in named)
        )


def _run_phases(
    rig: Rig, imaging: Imaging, phases: Sequence[Phase], interval_s: float, exposure_ms: float
) -> MsgGenerator[None]:
    """Image through every phase: switch the valve, record it, image until the phase ends,
    recording the moment the bath has exchanged."""
    yield from bps.prepare(rig.camera, TriggerInfo(livetime=exposure_ms / 1000.0), wait=True)
    first_s = yield from rig_time_s(rig)
    for phase in phases:
        if phase.minutes <= 0:
            continue
        group = bps.short_uid("exchange")
        yield from bps.abs_set(rig.perfusion, phase.solution, group=group)
        yield from bps.wait_for(
            [lambda s=phase.solution: wait_for_value(rig.perfusion.solution, s, timeout=10.0)]
        )
        yield from _record_perfusion(rig)  # the valve switched
        watch = {"group": group, "recorded": False}

        def after_pair(watch=watch) -> MsgGenerator[None]:
            if watch["recorded"]:
                return
            done = yield from bps.wait(group=watch["group"], timeout=0.001, error_on_timeout=False)
            if done:
                watch["recorded"] = True
                yield from _record_perfusion(rig)  # the bath has exchanged

        yield from imaging_phase(
            imaging,
            interval_s=interval_s,
            max_s=phase.minutes * 60.0,
            first_s=first_s,
            after_pair=after_pair,
        )
        if not watch["recorded"]:
            yield from bps.wait(group=group)
            yield from _record_perfusion(rig)


@plan_parameters
def mg_uptake(
    rig: Rig,
    *,
    treatment: str = "mg_k_aspartate",
    control: str | None = None,
    baseline_solution: str = "hbss",
    baseline_min: PhaseMin = 5.0,
    treatment_min: PhaseMin = 20.0,
    washout_min: Number(0.0, 1440.0, "min") = 15.0,
    calibrate: bool = True,
    exposure_ms: ExposureMs = 20.0,
    interval_s: PairIntervalS = 10.0,
    rois: Mapping[str, Any] | Sequence[Any] | None = None,
    background_roi: Mapping[str, Any] | None = None,
    calibration: Mapping[str, Any] | None = None,
    md: Metadata = None,
) -> MsgGenerator[MgUptakeResult]:
    """Continuous 340/380 imaging (a pair every ``interval_s`` of rig time) while the bath is
    perfused with ``baseline_solution`` for ``baseline_min``, ``treatment`` for
    ``treatment_min`` and ``baseline_solution`` again for ``washout_min``; then, with
    ``calibrate``, :func:`calibrate_in_situ` on the same ROIs (options in ``calibration``).

    ``control`` (e.g. ``k_aspartate_control``: the treatment's K⁺, Na⁺, aspartate and
    tonicity without its Mg²⁺) runs first on the same cells, as long as the treatment and
    followed by a washout, so the Mg²⁺-specific change (treatment − control) separates from
    the K⁺/aspartate/tonicity change (:func:`ionrig.analysis.phase_changes`). When the
    baseline or the solution flowing at the start (a wash) holds probenecid, every phase must.

    Solution changes do not pause imaging: each is a ``perfusion`` event when the valve
    switches and another when the bath has exchanged (``exchanged_bath_volumes``). Streams of
    the time course: ``primary``, ``ratio`` (as ``ratiometric_timecourse``) and ``perfusion``;
    its start document lists the solutions with their compositions and chemistry, and the
    planned ``phases`` (solution, duration_min, role). Returns :class:`MgUptakeResult`.
    """
    _check_solutions(rig, treatment, control, baseline_solution)
    phases_min = {
        "baseline_min": baseline_min,
        "treatment_min": treatment_min,
        "washout_min": washout_min,
    }
    if not isinstance(calibrate, bool):
        raise PlanParameterError(f"calibrate must be True or False, got {calibrate!r}")
    request = check_imaging(rig, exposure_ms=exposure_ms, rois=rois, background_roi=background_roi)
    if calibrate:
        calibration_options = _check_calibration_options(
            rig, request, calibration, rois, background_roi
        )
    elif calibration:
        raise PlanParameterError("calibration options are given but calibrate is False")
    else:
        calibration_options = {}
    phases = uptake_phases(baseline_solution, treatment, control, phases_min)
    check_probenecid(rig, phases)
    _check_reservoirs(rig, phases)
    args = {
        "treatment": treatment,
        "control": control,
        "baseline_solution": baseline_solution,
        **phases_min,
        "calibrate": calibrate,
        "exposure_ms": request.exposure_ms,
        "interval_s": interval_s,
        "calibration": calibration_options or None,
    }
    roles = {baseline_solution: "baseline and washout", treatment: "treatment"}
    if control is not None:
        roles[control] = "control (treatment without its Mg)"
    options = {"exposure_ms": request.exposure_ms, **calibration_options} if calibrate else None
    uptake = _Uptake(args, phases, roles, interval_s, request, options, md)
    return _uptake_plan(rig, uptake)


@dataclass(frozen=True)
class _Uptake:
    """Checked :func:`mg_uptake` arguments: ``plan_args``, phases, each solution's role, the
    pair interval (s), imaging, the calibration's options (``None``: no calibration), md."""

    args: dict[str, Any]
    phases: list[Phase]
    roles: dict[str, str]
    interval_s: float
    request: ImagingRequest
    calibration_options: dict[str, Any] | None
    extra_md: dict[str, Any]


def _uptake_plan(rig: Rig, uptake: _Uptake) -> MsgGenerator[MgUptakeResult]:
    """Probenecid checked against the solution flowing now, ROIs, the time course, then (with
    calibration options) the in-situ calibration on the same ROIs."""
    flowing = yield from bps.rd(rig.perfusion.solution)
    check_probenecid(rig, uptake.phases, flowing if isinstance(flowing, str) else None)
    imaging = yield from open_imaging(uptake.request, rig)
    uptake_uid = yield from _time_course(rig, imaging, uptake)
    calibration_uid = None
    if uptake.calibration_options is not None:
        calibration_uid = yield from calibrate_in_situ(
            rig,
            **uptake.calibration_options,
            rois={name: roi.to_spec() for name, roi in imaging.cells.items()},
            background_roi=imaging.background.to_spec(),
            md={"calibrates_uid": uptake_uid},
        )
    return MgUptakeResult(uptake_uid, calibration_uid)


def _uptake_md(rig: Rig, imaging: Imaging, uptake: _Uptake) -> dict[str, Any]:
    """The time course's start document."""
    return {
        "plan_name": "mg_uptake",
        "plan_args": uptake.args,
        **imaging.start_md(),
        "solution": uptake.args["baseline_solution"],
        "solutions": {
            name: {"role": role, "composition_mM": rig.perfusion.composition(name)}
            for name, role in uptake.roles.items()
        },
        "chemistry": chemistry_md(rig, list(uptake.roles), plan_name="mg_uptake"),
        "phases": [
            {"solution": p.solution, "duration_min": p.minutes, "role": p.role}
            for p in uptake.phases
        ],
        "calibration_run": "an in-situ calibration run follows (its start document's "
        "calibrates_uid names this run)"
        if uptake.args["calibrate"]
        else None,
        "hints": {"dimensions": [[["t_s"], "ratio"]]},
        **uptake.extra_md,
    }


def _time_course(rig: Rig, imaging: Imaging, uptake: _Uptake) -> MsgGenerator[str]:
    """The time-course run (camera staged, shutter closed at the end); returns its uid."""
    start_md = _uptake_md(rig, imaging, uptake)
    exposure_ms = uptake.request.exposure_ms
    body = _run_phases(rig, imaging, uptake.phases, uptake.interval_s, exposure_ms)
    return (
        yield from bpp.finalize_wrapper(
            bpp.stage_wrapper(bpp.run_wrapper(body, md=start_md), [rig.camera]),
            _close_shutter(rig),
        )
    )


def _close_shutter(rig: Rig) -> MsgGenerator[None]:
    yield from bps.mv(rig.filter_wheel.shutter, "closed")

"""Mag-fura-2 AM loading: perfuse the loading solution, stop the flow, hold, watch 380 nm."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
from bluesky.utils import MsgGenerator
from ophyd_async.core import TriggerInfo

from ionrig.devices import Rig

from ._chemistry import chemistry_md
from ._imaging import ExposureMs
from ._operator import operator_step
from ._parameters import Metadata, Number, plan_parameters
from ._perfusion import check_solution, exchange_solution
from ._reading import rig_time_s
from ._validation import PlanParameterError

__all__ = ["SET_BATH_TEMPERATURE", "dye_loading"]

#: Operator step: set the bath heater. Params: ``temperature_C: float``.
SET_BATH_TEMPERATURE = "set_bath_temperature"
FIELD_ROI = "field"


@dataclass(frozen=True)
class _Loading:
    """Checked :func:`dye_loading` arguments (the 380-nm filter resolved on the wheel)."""

    solution: str
    duration_min: float
    temperature_C: float
    monitor_every_s: float
    exposure_ms: float
    plateau_fraction: float
    temperature_tolerance_C: float
    filter_380: Any

    def plan_args(self) -> dict[str, Any]:
        """The start document's ``plan_args``."""
        return {
            "solution": self.solution,
            "duration_min": self.duration_min,
            "temperature_C": self.temperature_C,
            "monitor_every_s": self.monitor_every_s,
            "exposure_ms": self.exposure_ms,
            "plateau_fraction": self.plateau_fraction,
        }


def _filter_380(rig: Rig) -> Any:
    """The rig's bath thermometer is required; returns the wheel's 380-nm filter."""
    if getattr(rig, "temperature", None) is None:
        raise PlanParameterError("dye_loading needs a rig with a temperature role")
    try:
        return rig.filter_wheel.resolve(380)
    except ValueError as error:
        raise PlanParameterError(f"the filter wheel cannot select 380 nm: {error}") from None


@plan_parameters
def dye_loading(
    rig: Rig,
    *,
    solution: str = "loading",
    duration_min: Number(1.0, 240.0, "min") = 45.0,
    temperature_C: Number(15.0, 40.0, "°C") = 37.0,
    monitor_every_s: Number(5.0, 3600.0, "s") = 60.0,
    exposure_ms: ExposureMs = 20.0,
    plateau_fraction: Number(0.0, 0.5, "(fraction)") = 0.02,
    temperature_tolerance_C: Number(0.0, 10.0, "°C", min_inclusive=False) = 1.0,
    md: Metadata = None,
) -> MsgGenerator[str]:
    """Load cells with Mag-fura-2 AM (docs/reference/physiology.md §4: 2–5 µM AM with Pluronic,
    30–60 min; loading is faster at 37 °C than at room temperature).

    The bath is brought to ``temperature_C`` (an operator step sets the heater when the bath
    is off by more than ``temperature_tolerance_C``), ``solution`` is perfused for 5 bath
    volumes, the flow is stopped and the bath held. Every ``monitor_every_s`` (rig clock) one
    380-nm frame is taken (stream ``loading``: frame, ``t_s``, field mean in
    ``camera-roi_sums_adu``); loading ends after ``duration_min`` or once the field brightness
    grew by less than ``plateau_fraction`` over the last interval. Returns the start uid.
    """
    check_solution(rig, solution, "solution")
    loading = _Loading(
        solution,
        duration_min,
        temperature_C,
        monitor_every_s,
        exposure_ms,
        plateau_fraction,
        temperature_tolerance_C,
        _filter_380(rig),
    )
    start_md = {
        "plan_name": "dye_loading",
        "plan_args": loading.plan_args(),
        "dye": "Mag-fura-2 AM",
        "solution": solution,
        "solution_composition_mM": rig.perfusion.composition(solution),
        "chemistry": chemistry_md(rig, [solution], plan_name="dye_loading"),
        "excitation_nm": [380],
        **md,
    }
    return _loading_run(rig, loading, start_md)


def _loading_run(rig: Rig, loading: _Loading, start_md: dict[str, Any]) -> MsgGenerator[str]:
    """The field ROI, then the run of :func:`dye_loading` (camera staged, shutter closed at
    the end); returns the start uid."""
    camera = rig.camera
    camera.set_rois({FIELD_ROI: np.ones((camera.height_px, camera.width_px), bool)})
    return (
        yield from bpp.finalize_wrapper(
            bpp.stage_wrapper(bpp.run_wrapper(_loading_body(rig, loading), md=start_md), [camera]),
            _close_shutter(rig),
        )
    )


def _close_shutter(rig: Rig) -> MsgGenerator[None]:
    yield from bps.mv(rig.filter_wheel.shutter, "closed")


def _reach_temperature(rig: Rig, loading: _Loading) -> MsgGenerator[float]:
    """Bring the bath to the loading temperature (plan stub; an operator step sets the heater
    when it is off by more than the tolerance, then 30-s checks for up to 30 min of clock
    time); returns the bath's temperature (°C)."""
    target_C, tolerance_C = loading.temperature_C, loading.temperature_tolerance_C
    measured = yield from bps.rd(rig.temperature.temperature_C)
    if abs(measured - target_C) > tolerance_C:
        yield from operator_step(
            rig,
            f"set the bath heater to {target_C:g} °C (bath reads {measured:.1f} °C)",
            action=SET_BATH_TEMPERATURE,
            temperature_C=target_C,
        )
        for _ in range(60):  # up to 30 min of clock time, 30 s per check
            yield from bps.sleep(30.0)
            measured = yield from bps.rd(rig.temperature.temperature_C)
            if abs(measured - target_C) <= tolerance_C:
                break
        else:
            raise RuntimeError(f"the bath did not reach {target_C:g} °C (reads {measured:.1f} °C)")
    return measured


def _loading_body(rig: Rig, loading: _Loading) -> MsgGenerator[None]:
    """Warm the bath, perfuse the loading solution, hold the bath static, watch 380 nm."""
    yield from _reach_temperature(rig, loading)
    yield from bps.trigger_and_read([rig.t_s, rig.temperature], name="temperature")
    yield from exchange_solution(rig, loading.solution, bath_volumes=5.0)
    yield from bps.wait_for([rig.perfusion.stop_flow])  # hold: static bath while loading
    yield from bps.mv(rig.filter_wheel, loading.filter_380)
    livetime_s = loading.exposure_ms / 1000.0
    yield from bps.prepare(rig.camera, TriggerInfo(livetime=livetime_s), wait=True)
    yield from _monitor_loading(rig, loading)


def _monitor_loading(rig: Rig, loading: _Loading) -> MsgGenerator[None]:
    """One 380-nm frame (stream ``loading``) every ``monitor_every_s`` until the duration is
    over or the field brightness grew by less than ``plateau_fraction`` over an interval."""
    camera, shutter = rig.camera, rig.filter_wheel.shutter
    duration_s = loading.duration_min * 60.0
    t0 = yield from rig_time_s(rig)
    previous = None
    while True:
        yield from bps.mv(shutter, "open")
        yield from bps.trigger_and_read([camera, rig.t_s, rig.temperature], name="loading")
        yield from bps.mv(shutter, "closed")
        brightness = float(np.asarray((yield from bps.rd(camera.last_roi_sums_adu)))[0])
        now = yield from rig_time_s(rig)
        if now - t0 >= duration_s:
            break
        if previous is not None and brightness - previous < loading.plateau_fraction * previous:
            break
        previous = brightness
        yield from bps.sleep(min(loading.monitor_every_s, t0 + duration_s - now))

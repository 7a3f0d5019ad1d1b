"""Bluesky plans: experiments as code, talking to a :class:`ionrig.devices.Rig` by role."""

from ._calibration import calibrate_in_situ
from ._loading import SET_BATH_TEMPERATURE, dye_loading
from ._operator import (
    APPROACH_CELL,
    OperatorResponder,
    OperatorUnavailable,
    operator_step,
    set_unattended,
)
from ._patch import (
    PatchFailure,
    break_in,
    form_seal,
    membrane_test,
    pipette_resistance,
    trpm7_ramps,
)
from ._perfusion import exchange_solution, wash
from ._timecourse import BACKGROUND_ROI, ratiometric_timecourse
from ._uptake import MgUptakeResult, mg_uptake
from ._validation import PlanParameterError

__all__ = [
    "APPROACH_CELL",
    "BACKGROUND_ROI",
    "SET_BATH_TEMPERATURE",
    "MgUptakeResult",
    "OperatorResponder",
    "OperatorUnavailable",
    "PatchFailure",
    "PlanParameterError",
    "break_in",
    "calibrate_in_situ",
    "dye_loading",
    "exchange_solution",
    "form_seal",
    "membrane_test",
    "mg_uptake",
    "operator_step",
    "pipette_resistance",
    "ratiometric_timecourse",
    "set_unattended",
    "trpm7_ramps",
    "wash",
]

"""Bluesky plans: experiments as code, talking to a :class:`ionrig.devices.Rig` by role."""

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
from ._validation import PlanParameterError

__all__ = [
    "APPROACH_CELL",
    "BACKGROUND_ROI",
    "SET_BATH_TEMPERATURE",
    "OperatorResponder",
    "OperatorUnavailable",
    "PatchFailure",
    "PlanParameterError",
    "break_in",
    "dye_loading",
    "exchange_solution",
    "form_seal",
    "membrane_test",
    "operator_step",
    "pipette_resistance",
    "ratiometric_timecourse",
    "set_unattended",
    "trpm7_ramps",
    "wash",
]

"""Bluesky plans: experiments as code, talking to a :class:`ionrig.devices.Rig` by role."""

from ._calibration import calibrate_in_situ
from ._combined import imaging_with_ramps
from ._loading import SET_BATH_TEMPERATURE, dye_loading
from ._operator import (
    APPROACH_CELL,
    OperatorResponder,
    OperatorUnavailable,
    operator_step,
    set_unattended,
)
from ._parameters import (
    describe_parameter,
    plan_parameters_schema,
    python_type_name,
)
from ._patch import break_in, form_seal, membrane_test, pipette_resistance
from ._patch_cell import FILL_PIPETTE, PATCH_STATES, WITHDRAW_PIPETTE, PatchResult, patch_cell
from ._patch_stubs import SET_AMPLIFIER_MODE, PatchFailure
from ._perfusion import exchange_solution, wash
from ._protocols import voltage_ramp, voltage_steps
from ._ramps import ramp_command, trpm7_ramps
from ._timecourse import BACKGROUND_ROI, ratiometric_timecourse
from ._uptake import MgUptakeResult, mg_uptake
from ._validation import PlanParameterError

__all__ = [
    "APPROACH_CELL",
    "BACKGROUND_ROI",
    "FILL_PIPETTE",
    "PATCH_STATES",
    "SET_AMPLIFIER_MODE",
    "SET_BATH_TEMPERATURE",
    "WITHDRAW_PIPETTE",
    "MgUptakeResult",
    "OperatorResponder",
    "OperatorUnavailable",
    "PatchFailure",
    "PatchResult",
    "PlanParameterError",
    "break_in",
    "calibrate_in_situ",
    "describe_parameter",
    "dye_loading",
    "exchange_solution",
    "form_seal",
    "imaging_with_ramps",
    "membrane_test",
    "mg_uptake",
    "operator_step",
    "patch_cell",
    "pipette_resistance",
    "plan_parameters_schema",
    "python_type_name",
    "ramp_command",
    "ratiometric_timecourse",
    "set_unattended",
    "trpm7_ramps",
    "voltage_ramp",
    "voltage_steps",
    "wash",
]

"""Bluesky plans: experiments as code, talking to a :class:`ionrig.devices.Rig` by role."""

from ._perfusion import exchange_solution, wash
from ._timecourse import BACKGROUND_ROI, ratiometric_timecourse
from ._validation import PlanParameterError

__all__ = [
    "BACKGROUND_ROI",
    "PlanParameterError",
    "exchange_solution",
    "ratiometric_timecourse",
    "wash",
]

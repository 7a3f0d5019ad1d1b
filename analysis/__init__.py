"""Analysis: numpy/scipy only, arrays in, numbers and small frozen dataclasses out."""

from ._calibration import CellCalibration, RatioCalibration, calibrate, calibrate_two_solutions
from ._hill import BiphasicHillFit, HillFit, fit_hill, fit_hill_biphasic
from ._iv import IVCurve, iv_curve, iv_from_ramp, iv_from_steps, ramp_samples
from ._leak import LinearLeak, fit_linear_leak, leak_subtract
from ._membrane_test import (
    MembraneTest,
    RampCapacitance,
    membrane_capacitance_from_ramp,
    membrane_test,
)
from ._phases import PhaseChange, SpecificChange, phase_changes, specific_change
from ._ratiometric_estimate import RatiometricEstimate, ratiometric_estimate
from ._ratiometry import ion_concentration, ratio
from ._rois import (
    ROI_SHAPES,
    CircleRoi,
    PolygonRoi,
    RectangleRoi,
    Roi,
    detect_background,
    detect_cells,
    roi_from_spec,
    roi_mask,
)
from ._traces import RoiTraces, roi_sums, subtract_background
from ._trpm7 import RunUp, Trpm7Ramps, fit_run_up, trpm7_ramps

__all__ = [
    "ROI_SHAPES",
    "BiphasicHillFit",
    "CellCalibration",
    "CircleRoi",
    "HillFit",
    "IVCurve",
    "LinearLeak",
    "MembraneTest",
    "PhaseChange",
    "PolygonRoi",
    "RampCapacitance",
    "RatioCalibration",
    "RatiometricEstimate",
    "RectangleRoi",
    "Roi",
    "RoiTraces",
    "RunUp",
    "SpecificChange",
    "Trpm7Ramps",
    "calibrate",
    "calibrate_two_solutions",
    "detect_background",
    "detect_cells",
    "fit_hill",
    "fit_hill_biphasic",
    "fit_linear_leak",
    "fit_run_up",
    "ion_concentration",
    "iv_curve",
    "iv_from_ramp",
    "iv_from_steps",
    "leak_subtract",
    "membrane_capacitance_from_ramp",
    "membrane_test",
    "phase_changes",
    "ramp_samples",
    "ratio",
    "ratiometric_estimate",
    "roi_from_spec",
    "roi_mask",
    "roi_sums",
    "specific_change",
    "subtract_background",
    "trpm7_ramps",
]

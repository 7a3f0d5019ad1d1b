"""Bad-input matrix of ``ionrig.analysis`` (issue 11): every public function, every parameter,
handed corrupt or truncated data.

Functions come from ``ionrig.analysis.__all__``, parameters from their signatures, corruptions
from each parameter's annotation (NaN or inf inside an array, an empty array, a wrong shape, a
truncated array — fewer samples than its partners —, strings, ``None``; for numbers NaN, inf,
a string and values out of range). Every case starts from a valid call (:func:`good_calls`,
checked by :func:`test_the_valid_calls_succeed`) and spoils one argument. It must raise
``ValueError`` (or ``TypeError``) naming that parameter and what is allowed; the few
corruptions that are valid input for a function are listed in :data:`ACCEPTED` with the reason.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import ionrig.analysis as analysis

FUNCTIONS: dict[str, Callable[..., Any]] = {
    name: getattr(analysis, name)
    for name in analysis.__all__
    if inspect.isfunction(getattr(analysis, name))
}

#: Corruptions by annotation (the signature's annotation text).
ARRAY = ("nan", "inf", "empty", "extra_dim", "truncated", "strings", "none")
KINDS_BY_ANNOTATION: dict[str, tuple[str, ...]] = {
    "ArrayLike": ARRAY,
    "float | ArrayLike": ("nan", "inf", "negative", "truncated", "strings", "none"),
    "float": ("nan", "inf", "string", "none", "negative"),
    "float | None": ("nan", "inf", "string", "negative"),
    "int": ("fraction", "string", "negative", "huge", "bool"),
    "int | None": ("fraction", "string", "negative"),
    "bool": ("string", "none"),
    "Sequence[float]": ("string", "nan_item", "one_item", "none"),
    "tuple[float, float]": ("string", "nan_item", "one_item", "none"),
    "tuple[int, int]": ("string", "negative_item", "one_item", "none"),
    "Sequence[Roi]": ("not_rois", "none"),
    "Sequence[ArrayLike]": ("empty_list", "not_bool", "wrong_shape", "all_false", "none"),
    "FrameStack": ("nan_in_mask", "extra_dim", "strings", "no_frames", "none"),
    "RoiTraces": ("one_roi", "none"),
    "Mapping[str, Any] | Roi": ("unknown_shape", "missing_key", "nan_field", "string", "none"),
    "Roi | Mapping[str, Any]": ("unknown_shape", "missing_key", "nan_field", "string", "none"),
    "Sequence[tuple[str, str, float, float]]": (
        "string",
        "nan_item",
        "one_item",
        "empty_list",
        "none",
    ),
    "PhaseChange": ("string", "none"),
}

#: Parameters outside the matrix: a label only used inside error messages.
LABELS = {("roi_from_spec", "name"), ("roi_mask", "name")}

#: Corruptions that are valid input, with the reason.
ACCEPTED: dict[tuple[str, str, str], str] = {
    ("detect_background", "image", "truncated"): "half the columns is still an image",
    ("detect_cells", "image", "truncated"): "half the columns is still an image",
    ("detect_cells", "max_cells", "huge"): "a loose cap on the number of cells",
    ("detect_cells", "min_area_px", "huge"): "no cell is that large: none found",
    ("fit_hill", "bottom", "negative"): "a fully blocked response may be below zero",
    ("ion_concentration", "ratio", "empty"): "elementwise: empty in, empty out",
    ("ion_concentration", "ratio", "extra_dim"): "elementwise on any shape",
    ("ion_concentration", "ratio", "truncated"): "elementwise: any length",
    ("ion_concentration", "r_min", "negative"): "only Rmin < Rmax is required",
    ("leak_subtract", "p_over_n", "negative"): "P/-1: leak pulses of opposite sign are usual",
    ("ramp_samples", "command_mV", "truncated"): "half a ramp command still holds a ramp",
    ("ratio", "background340", "truncated"): "a scalar background has nothing to truncate",
    ("ratio", "background380", "truncated"): "a scalar background has nothing to truncate",
    ("ratiometric_estimate", "n_cell_px", "huge"): "any pixel count >= 1",
    ("ratiometric_estimate", "n_bg_px", "huge"): "any pixel count >= 1",
    ("ratiometric_estimate", "r_min", "negative"): "only Rmin < Rmax is required",
    ("roi_sums", "chunk_frames", "huge"): "a chunk larger than the stack reads it whole",
    ("phase_changes", "signal", "truncated"): "fewer cells (columns) is still a signal",
    ("trpm7_ramps", "cm_pF", "truncated"): "a scalar Cm has nothing to truncate",
}

ALLOWED = re.compile(
    r"must|allowed|at least|needs|expected|contains (NaN|inf)|not finite|one of|>=|> 0|finite"
)


def _iv_ramp() -> tuple[np.ndarray, np.ndarray]:
    command = np.concatenate([np.zeros(20), np.linspace(-100, 100, 201), np.zeros(20)])
    return command, 0.2 * command + 0.001 * np.maximum(command, 0) ** 2


def _image() -> tuple[np.ndarray, list[analysis.CircleRoi]]:
    rng = np.random.default_rng(3)
    image = 100 + rng.normal(0, 2, (48, 48))
    yy, xx = np.mgrid[0:48, 0:48]
    image[(xx - 12) ** 2 + (yy - 14) ** 2 <= 16] += 400
    return image, [analysis.CircleRoi(12.0, 14.0, 4.0)]


def _calibration_calls() -> dict[str, dict[str, Any]]:
    """Valid calls of the calibration and ratiometry functions."""
    fb = 100.0 / (100.0 + 1.9)
    low = np.tile([[40.0, 42.0]], (4, 1)), np.tile([[100.0, 105.0]], (4, 1))
    high = fb * 60 + (1 - fb) * low[0], fb * 20 + (1 - fb) * low[1]
    return {
        "calibrate": {
            "r_min_ratios": [0.4, 0.41, 0.39],
            "r_max_ratios": [3.0, 3.1, 2.9],
            "f380_free": [100.0, 101.0, 99.0],
            "f380_bound": [20.0, 21.0, 19.0],
            "kd_mM": 1.9,
            "kd_se_mM": 0.1,
        },
        "calibrate_two_solutions": {
            "low_t_s": [0.0, 10.0, 20.0, 30.0],
            "low_f340": low[0],
            "low_f380": low[1],
            "high_t_s": [100.0, 110.0, 120.0, 130.0],
            "high_f340": high[0],
            "high_f380": high[1],
            "high_mg_free_mM": 100.0,
            "kd_mM": 1.9,
            "kd_se_mM": 0.1,
        },
        "ion_concentration": {
            "ratio": [1.0, 1.5],
            "r_min": 0.4,
            "r_max": 3.0,
            "kd": 1.9,
            "beta": 5.0,
        },
        "ratio": {
            "f340": [100.0, 110.0],
            "f380": [50.0, 55.0],
            "background340": 10.0,
            "background380": 10.0,
            "exposure340_ms": 10.0,
            "exposure380_ms": 5.0,
        },
        "ratiometric_estimate": {
            "cell340_adu": np.full(4, 3000.0),
            "bg340_adu": np.full(4, 1000.0),
            "cell380_adu": np.full(4, 2000.0),
            "bg380_adu": np.full(4, 900.0),
            "n_cell_px": 30,
            "n_bg_px": 100,
            "exposure340_ms": 10.0,
            "exposure380_ms": 5.0,
            "gain_adu_per_e": 0.146,
            "read_noise_e": 16.4,
            "r_min": 0.4,
            "r_max": 3.0,
            "kd": 1.9,
            "beta": 5.0,
            "excess_noise_factor": 1.0,
        },
    }


def _image_calls() -> dict[str, dict[str, Any]]:
    """Valid calls of the cell-detection and ROI functions."""
    image, cells = _image()
    stack = np.arange(4 * 8 * 8, dtype=np.float64).reshape(4, 8, 8)
    mask_a = np.zeros((8, 8), bool)
    mask_a[1:3, 1:3] = True
    mask_b = np.zeros((8, 8), bool)
    mask_b[5:7, 5:7] = True
    return {
        "detect_background": {"image": image, "cells": cells, "size_px": 6, "clearance_px": 2},
        "detect_cells": {"image": image, "max_cells": 5, "min_area_px": 8, "threshold_sigma": 6.0},
        "roi_from_spec": {
            "spec": {"shape": "circle", "x_px": 5.0, "y_px": 5.0, "radius_px": 2.0},
            "name": "spec",  # errors name the ROI by this label
        },
        "roi_mask": {
            "roi": {"shape": "circle", "x_px": 5.0, "y_px": 5.0, "radius_px": 2.0},
            "shape": (20, 20),
        },
        "roi_sums": {"stack": stack, "masks": [mask_a, mask_b], "chunk_frames": 2},
        "subtract_background": {
            "traces": analysis.roi_sums(stack, [mask_a, mask_b]),
            "background_index": 1,
        },
    }


def _fit_calls() -> dict[str, dict[str, Any]]:
    """Valid calls of the curve fits and the phase analysis."""
    conc = np.array([0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0])
    t_phases = np.arange(0.0, 400.0, 10.0)
    step = np.select([t_phases < 100, t_phases < 200, t_phases < 300], [0.8, 0.7, 0.8], 1.2)
    signal_phases = np.column_stack([step, 1.1 * step])
    phases = [
        ("baseline", "a", 0.0, 100.0),
        ("control", "c", 100.0, 200.0),
        ("washout", "a", 200.0, 300.0),
        ("treatment", "b", 300.0, 400.0),
    ]
    every = analysis.phase_changes(t_phases, signal_phases, phases, window_s=50.0)
    changes = [every[0], every[2]]
    return {
        "fit_hill": {
            "concentration": conc,
            "response": 100.0 / (1 + conc / 1.5) + np.array([0.3, -0.2, 0.1, 0, -0.1, 0.2, 0]),
            "decreasing": True,
            "bottom": 0.0,
        },
        "fit_hill_biphasic": {
            "concentration": np.array([0.0, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0]),
            "response": 100.0
            * (
                0.6 / (1 + np.array([0.0, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0]) / 0.01)
                + 0.4 / (1 + np.array([0.0, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0]) / 0.165)
            ),
            "decreasing": True,
            "hill": (1.0, 1.0),
        },
        "fit_run_up": {
            "time_s": np.arange(0.0, 210.0, 10.0),
            "current_pA": 100 * (1 - np.exp(-np.arange(0.0, 210.0, 10.0) / 60)),
        },
        "phase_changes": {
            "t_s": t_phases,
            "signal": signal_phases,
            "phases": phases,
            "window_s": 50.0,
        },
        "specific_change": {"treatment": changes[1], "control": changes[0]},
    }


def _current_calls(rc_step, rc_triangle) -> dict[str, dict[str, Any]]:
    """Valid calls of the patch-clamp current analyses."""
    t_step, i_step, v_step = rc_step(
        ra_MOhm=10.0, cm_pF=20.0, rm_MOhm=500.0, filter_kHz=None, sample_kHz=50.0
    )
    t_tri, i_tri, v_tri = rc_triangle(
        ra_MOhm=10.0, cm_pF=20.0, rm_MOhm=500.0, filter_kHz=None, sample_kHz=50.0
    )
    command, current = _iv_ramp()
    t_iv = np.linspace(0, 0.1, 101)
    sweeps = np.outer([-80.0, -40.0, 0.0, 40.0, 80.0], np.ones(101)) * 0.5 + 2.0
    ramp_times = np.array([0.0, 2.0, 4.0, 6.0, 8.0])
    return {
        "fit_linear_leak": {"command_mV": command, "current_pA": current, "fit_mV": (-90.0, 0.0)},
        "iv_curve": {
            "voltage_mV": np.linspace(-100, 100, 41),
            "current_pA": 0.2 * np.linspace(-100, 100, 41) - 3.0,
            "at_mV": (-80.0, 80.0),
        },
        "iv_from_ramp": {"current_pA": current, "command_mV": command, "at_mV": (-80.0, 80.0)},
        "iv_from_steps": {
            "time_s": t_iv,
            "sweeps_pA": sweeps,
            "step_mV": [-80.0, -40.0, 0.0, 40.0, 80.0],
            "window_s": (0.05, 0.09),
            "at_mV": (-80.0, 80.0),
        },
        "leak_subtract": {
            "sweep": np.linspace(0, 10, 100),
            "leak_sweeps": np.tile(np.linspace(0, 2.5, 100), (4, 1)),
            "p_over_n": -0.25,
            "baseline_samples": 10,
        },
        "membrane_capacitance_from_ramp": {
            "time_s": t_tri,
            "current_pA": i_tri,
            "command_mV": v_tri,
            "central_fraction": 0.5,
            "filter_kHz": 10.0,
            "ra_MOhm": 10.0,
        },
        "membrane_test": {
            "time_s": t_step,
            "current_pA": i_step,
            "command_mV": v_step,
            "filter_kHz": 10.0,
        },
        "ramp_samples": {"command_mV": command},
        "trpm7_ramps": {
            "ramps_pA": np.vstack([current * (1 + k) for k in range(5)]),
            "command_mV": command,
            "ramp_time_s": ramp_times,
            "cm_pF": 20.0,
            "leak_ramps": 1,
            "at_mV": (80.0, -80.0),
        },
    }


@pytest.fixture(scope="module")
def good_calls(rc_step, rc_triangle) -> dict[str, dict[str, Any]]:
    """One valid call of every public function: its keyword arguments."""
    return {
        **_calibration_calls(),
        **_image_calls(),
        **_fit_calls(),
        **_current_calls(rc_step, rc_triangle),
    }


def _annotation(function: Callable[..., Any], parameter: str) -> str:
    return str(inspect.signature(function).parameters[parameter].annotation)


def _parameters(name: str) -> list[str]:
    return [p for p in inspect.signature(FUNCTIONS[name]).parameters if (name, p) not in LABELS]


def _cases() -> list[Any]:
    cases = []
    for name, function in FUNCTIONS.items():
        for parameter in _parameters(name):
            for kind in KINDS_BY_ANNOTATION.get(_annotation(function, parameter), ()):
                if (name, parameter, kind) not in ACCEPTED:  # those: valid input, tested below
                    cases.append(
                        pytest.param(name, parameter, kind, id=f"{name}-{parameter}-{kind}")
                    )
    return cases


CASES = _cases()


def _corrupt(kind: str, good: Any) -> Any:
    """``good`` spoiled in the way ``kind`` names."""
    array = None
    if kind in ("nan", "inf", "extra_dim", "truncated", "strings"):
        array = np.array(good, dtype=np.float64) if not hasattr(good, "sums_adu") else None
    if kind in ("nan", "inf"):
        spoiled = np.array(array, dtype=np.float64)
        spoiled.reshape(-1)[spoiled.size // 2] = math.nan if kind == "nan" else math.inf
        return spoiled
    if kind == "empty":
        return np.zeros(0)
    if kind == "extra_dim":
        return np.stack([array, array, array], axis=0)[None]
    if kind == "truncated":
        return array[..., : max(1, array.shape[-1] // 2)] if array.ndim else array
    if kind == "strings":
        return np.full(np.shape(array), "abc")
    if kind == "negative":
        return -1.0 if not isinstance(good, int) else -1
    if kind == "string":
        return "abc"
    if kind == "none":
        return None
    if kind == "fraction":
        return 2.5
    if kind == "huge":
        return 10**9
    if kind == "bool":
        return True
    if kind == "nan_item":
        return (math.nan, *list(good)[1:])
    if kind == "one_item":
        return (next(iter(good)),)
    if kind == "negative_item":
        return (-5, *list(good)[1:])
    if kind == "not_rois":
        return ["a circle"]
    if kind == "empty_list":
        return []
    if kind == "not_bool":
        return [np.asarray(m, dtype=np.float64) for m in good]
    if kind == "wrong_shape":
        return [np.asarray(m)[:-1] for m in good]
    if kind == "all_false":
        return [np.zeros_like(np.asarray(m)) for m in good]
    if kind == "nan_in_mask":  # the stack's pixel (1, 1) lies in the first mask
        spoiled = np.array(good, dtype=np.float64)
        spoiled[0, 1, 1] = math.nan
        return spoiled
    if kind == "no_frames":
        return np.asarray(good)[:0]
    if kind == "one_roi":
        return analysis.RoiTraces(good.sums_adu[:, :1], good.n_pixels[:1])
    if kind == "unknown_shape":
        return {**good, "shape": "blob"}
    if kind == "missing_key":
        return {k: v for k, v in good.items() if k != "radius_px"}
    if kind == "nan_field":
        return {**good, "x_px": math.nan}
    raise AssertionError(f"unknown corruption {kind!r}")


def _call(good_calls: dict, name: str, parameter: str, kind: str) -> None:
    kwargs = dict(good_calls[name])
    function = FUNCTIONS[name]
    default = inspect.signature(function).parameters[parameter].default
    good = kwargs.get(parameter, default)
    kwargs[parameter] = _corrupt(kind, good)
    function(**kwargs)


def test_every_parameter_annotation_has_corruptions() -> None:
    missing = sorted(
        f"{name}.{p}: {_annotation(FUNCTIONS[name], p)}"
        for name in FUNCTIONS
        for p in _parameters(name)
        if _annotation(FUNCTIONS[name], p) not in KINDS_BY_ANNOTATION
    )
    assert not missing, f"add corruptions for these annotations: {missing}"


def test_accepted_corruptions_are_in_the_matrix() -> None:
    """No stale entry: each accepted corruption is one the annotations generate."""
    generated = {
        (name, p, kind)
        for name, function in FUNCTIONS.items()
        for p in _parameters(name)
        for kind in KINDS_BY_ANNOTATION.get(_annotation(function, p), ())
    }
    assert set(ACCEPTED) <= generated


def test_the_valid_calls_succeed(good_calls) -> None:
    assert set(good_calls) == set(FUNCTIONS)
    for name, kwargs in good_calls.items():
        FUNCTIONS[name](**kwargs)


@pytest.mark.parametrize(("name", "parameter", "kind"), CASES)
def test_corrupt_input_is_refused_by_name(good_calls, name, parameter, kind) -> None:
    with pytest.raises((ValueError, TypeError)) as refused:
        _call(good_calls, name, parameter, kind)
    message = str(refused.value)
    assert parameter in message, f"the message does not name {parameter!r}: {message}"
    assert ALLOWED.search(message), f"the message does not say what is allowed: {message}"


@pytest.mark.parametrize(("name", "parameter", "kind"), sorted(ACCEPTED))
def test_accepted_corruptions_are_valid_input(good_calls, name, parameter, kind) -> None:
    _call(good_calls, name, parameter, kind)

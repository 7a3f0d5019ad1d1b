"""``ionrig.analysis`` imports only numpy/scipy, and refuses bad input by parameter name."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import ionrig.analysis as analysis
from ionrig.analysis import RatioCalibration, ion_concentration, ratio, ratiometric_estimate

FORBIDDEN = ("bluesky", "ophyd", "ophyd_async", "tiled", "h5py", "event_model")


def test_analysis_imports_no_other_framework() -> None:
    code = (
        "import sys, ionrig.analysis\n"
        "mods = {m.split('.')[0] for m in sys.modules}\n"
        "print(' '.join(sorted(mods)))\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('ionrig'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    top_level, ionrig_modules = set(out[0].split()), out[1].split()
    assert not top_level & set(FORBIDDEN)
    assert all(m == "ionrig" or m.startswith("ionrig.analysis") for m in ionrig_modules)


def test_public_names_are_exported() -> None:
    for name in analysis.__all__:
        assert getattr(analysis, name) is not None
    assert {"ratiometric_estimate", "membrane_test", "fit_hill", "roi_sums"} <= set(
        analysis.__all__
    )


GOOD = dict(
    n_cell_px=3,
    n_bg_px=448,
    exposure340_ms=10.0,
    exposure380_ms=3.0,
    gain_adu_per_e=0.146,
    read_noise_e=16.4,
    r_min=0.4,
    r_max=3.0,
    kd=1.9,
    beta=5.0,
)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"n_cell_px": 0}, r"n_cell_px must be an integer >= 1"),
        ({"n_bg_px": 2.5}, r"n_bg_px must be an integer >= 1"),
        ({"exposure340_ms": 0.0}, r"exposure340_ms must be a finite number > 0"),
        ({"exposure380_ms": -3.0}, r"exposure380_ms must be a finite number > 0"),
        ({"gain_adu_per_e": float("nan")}, r"gain_adu_per_e must be a finite number > 0"),
        ({"read_noise_e": -1.0}, r"read_noise_e must be a finite number >= 0"),
        ({"r_max": 0.4}, r"r_max must be greater than r_min \(allowed: r_max > r_min\)"),
        ({"r_max": 0.1}, r"r_max must be greater than r_min"),
        ({"r_min": float("nan")}, r"r_min must be a finite real number"),
        ({"kd": 0.0}, r"kd must be a finite number > 0"),
        ({"beta": -5.0}, r"beta must be a finite number > 0"),
    ],
)
def test_ratiometric_estimate_refuses_bad_parameters(change: dict, match: str) -> None:
    sums = np.full(4, 1000.0)
    with pytest.raises(ValueError, match=match):
        ratiometric_estimate(sums, sums, sums, sums, **{**GOOD, **change})


def test_ratiometric_estimate_refuses_bad_arrays() -> None:
    sums = np.full(4, 1000.0)
    bad = sums.copy()
    bad[2] = np.nan
    with pytest.raises(ValueError, match=r"bg380_adu contains NaN; allowed values are finite"):
        ratiometric_estimate(sums, sums, sums, bad, **GOOD)
    with pytest.raises(ValueError, match=r"shapes must match: .*cell380_adu \(3,\)"):
        ratiometric_estimate(sums, sums, sums[:3], sums, **GOOD)
    with pytest.raises(ValueError, match=r"cell340_adu must have at least 1 element"):
        ratiometric_estimate([], sums, sums, sums, **GOOD)


def test_calibration_and_conversion_refusals() -> None:
    with pytest.raises(ValueError, match=r"r_max must be greater than r_min"):
        RatioCalibration(3.0, 0.4, 5.0, 1.9)
    with pytest.raises(ValueError, match=r"kd_mM must be a finite number > 0"):
        RatioCalibration(0.4, 3.0, 5.0, 0.0)
    with pytest.raises(ValueError, match=r"beta_se must be a finite number >= 0"):
        RatioCalibration(0.4, 3.0, 5.0, 1.9, beta_se=-0.1)
    with pytest.raises(ValueError, match=r"ratio contains NaN"):
        RatioCalibration(0.4, 3.0, 5.0, 1.9).concentration([1.0, np.nan])
    with pytest.raises(ValueError, match=r"r_max must be greater than r_min"):
        ion_concentration(1.0, r_min=2.0, r_max=1.0, kd=1.0)
    with pytest.raises(ValueError, match=r"f380 contains NaN; allowed values are real numbers"):
        ratio([1.0], [np.nan])
    with pytest.raises(ValueError, match=r"exposure340_ms must be > 0"):
        ratio([1.0], [1.0], exposure340_ms=0)

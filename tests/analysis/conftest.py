"""Fixtures for the analysis tests: the shared fura-2 recordings and synthetic patch-clamp data.

The synthetic recordings are the exact response of the §1.3 circuit (docs/reference/physiology.md):
Ra in series with Rm ∥ Cm, resting potential ``e_rest_mV``, followed by the amplifier's 4-pole
Bessel low-pass (``scipy.signal.bessel(4, 2π fc, analog=True, norm="mag")``, -3 dB at fc). The
cascade is a linear system solved by ``scipy.signal.lsim`` with its matrix exponential: exact for
piecewise-constant commands (``interp=False``, steps at sample times) and piecewise-linear ones
(``interp=True``, ramps with corners at sample times). None of this is in the library.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

REPO_ROOT = Path(__file__).resolve().parents[2]
FURA2_DIR = REPO_ROOT / ".." / "shared" / "data" / "fura2"


@pytest.fixture(scope="session")
def fura2_dir() -> Path:
    """`<repo>/../shared/data/fura2`, or skip when the shared recordings are not checked out."""
    if not (FURA2_DIR / "README.md").is_file():
        pytest.skip(f"shared fura-2 recordings not found at {FURA2_DIR} (fresh clone)")
    return FURA2_DIR


def circuit_response(
    time_s: np.ndarray,
    command_mV: np.ndarray,
    *,
    ra_MOhm: float,
    cm_pF: float,
    rm_MOhm: float,
    filter_kHz: float | None,
    e_rest_mV: float = -30.0,
    ramp: bool = False,
) -> np.ndarray:
    """Filtered pipette current (pA) of the §1.3 circuit for ``command_mV`` sampled at ``time_s``.

    Units inside: GΩ, nF, mV, s, so currents come out in pA. Starts at steady state.
    ``ramp=False`` holds the command constant between samples (steps), ``ramp=True``
    interpolates it linearly.
    """
    ra, rm, cm = ra_MOhm / 1e3, rm_MOhm / 1e3, cm_pF / 1e3
    # Circuit: Cm dVm/dt = (Vc - Vm)/Ra - (Vm - E)/Rm ; I = (Vc - Vm)/Ra ; inputs (Vc, E).
    a_c = np.array([[-(1 / ra + 1 / rm) / cm]])
    b_c = np.array([[1 / (ra * cm), 1 / (rm * cm)]])
    c_c = np.array([[-1 / ra]])
    d_c = np.array([[1 / ra, 0.0]])
    if filter_kHz is None:
        a, b, c, d = a_c, b_c, c_c, d_c
    else:
        z, p, k = signal.bessel(
            4, 2 * np.pi * filter_kHz * 1e3, analog=True, output="zpk", norm="mag"
        )
        a_f, b_f, c_f, d_f = signal.zpk2ss(z, p, k)
        n_f = a_f.shape[0]
        a = np.block([[a_c, np.zeros((1, n_f))], [b_f @ c_c, a_f]])
        b = np.vstack([b_c, b_f @ d_c])
        c = np.hstack([d_f @ c_c, c_f])
        d = d_f @ d_c
    inputs = np.column_stack([command_mV, np.full_like(command_mV, e_rest_mV)])
    x0 = -np.linalg.solve(a, b @ inputs[0])
    _, current, _ = signal.lsim((a, b, c, d), inputs, time_s - time_s[0], X0=x0, interp=ramp)
    return np.asarray(current, dtype=np.float64)


def step_sweep(
    *,
    ra_MOhm: float,
    cm_pF: float,
    rm_MOhm: float,
    filter_kHz: float | None,
    sample_kHz: float,
    hold_mV: float = -70.0,
    step_mV: float = 10.0,
    baseline_ms: float = 5.0,
    step_ms: float = 20.0,
    after_ms: float = 5.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time_s, current_pA, command_mV): holding, a ``step_mV`` step, holding again."""
    dt = 1e-3 / sample_kHz
    n = round((baseline_ms + step_ms + after_ms) * 1e-3 / dt)
    time_s = 0.1 + dt * np.arange(n)
    command = np.full(n, hold_mV)
    onset = round(baseline_ms * 1e-3 / dt)
    command[onset : onset + round(step_ms * 1e-3 / dt)] += step_mV
    current = circuit_response(
        time_s, command, ra_MOhm=ra_MOhm, cm_pF=cm_pF, rm_MOhm=rm_MOhm, filter_kHz=filter_kHz
    )
    return time_s, current, command


def triangle_sweep(
    *,
    ra_MOhm: float,
    cm_pF: float,
    rm_MOhm: float,
    filter_kHz: float | None,
    sample_kHz: float,
    low_mV: float = -80.0,
    high_mV: float = -60.0,
    half_period_ms: float = 10.0,
    periods: int = 2,
    hold_ms: float = 5.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time_s, current_pA, command_mV): holding at ``low_mV``, ``periods`` triangles, holding."""
    dt = 1e-3 / sample_kHz
    n_hold = round(hold_ms * 1e-3 / dt)
    n_half = round(half_period_ms * 1e-3 / dt)
    up = np.linspace(low_mV, high_mV, n_half + 1)[1:]
    down = up[::-1][1:]
    tri = np.concatenate([np.full(n_hold, low_mV), *([up, down, [low_mV]] * periods)])
    command = np.concatenate([tri, np.full(n_hold, low_mV)])
    time_s = dt * np.arange(command.size)
    current = circuit_response(
        time_s,
        command,
        ra_MOhm=ra_MOhm,
        cm_pF=cm_pF,
        rm_MOhm=rm_MOhm,
        filter_kHz=filter_kHz,
        ramp=True,
    )
    return time_s, current, command


@pytest.fixture(scope="session")
def rc_step() -> Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """:func:`step_sweep`: (time_s, current_pA, command_mV) of a membrane-test step."""
    return step_sweep


@pytest.fixture(scope="session")
def rc_triangle() -> Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """:func:`triangle_sweep`: (time_s, current_pA, command_mV) of a triangle ramp."""
    return triangle_sweep

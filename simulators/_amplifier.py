"""Voltage-clamp sweeps: the pipette/cell circuit, amplifier noise, Bessel filter and digitiser.

Circuit (docs/reference/physiology.md §1.3, §7.1): the command drives the pipette (stray capacitance
Cp, fast-compensated by a fraction) and, through the access resistance Ra (series-resistance
compensated by a fraction), the membrane node: ``Cm dV/dt = (Vp - V)/Ra - I_m(V)`` with
``I_m = (V - E_leak)/Rm + V/R_seal + I_ion(V)`` (TRPM7, Na⁺/K⁺ pump, EAAT…). The membrane ODE is
solved on an oversampled grid by quasi-linearisation: around the previous trajectory the
non-linear current is linearised sample by sample and the resulting linear recurrence is solved
exactly (exponential integrator, zero-order-hold command as a DAC produces it), three or four
passes. In the bath or on a seal the circuit is a resistor to ground.

Noise (§7.2, estimate): one-sided current density
``S_i(f) = 4kT·Re{Y} + e_n²·|Y + jωCp|² + 4kT/Rf`` with ``Y`` the admittance seen by the
headstage, plus line pickup at 50 Hz; shaped from white Gaussian noise by FFT. Then the 4-pole
Bessel low-pass (−3 dB at the filter setting), the amplifier gain (mV/pA), clipping at the
digitiser range and 16-bit quantisation (§7.2).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy import signal

__all__ = ["AmplifierConfig", "Circuit", "synthesize_sweep"]

BOLTZMANN = 1.380649e-23


@dataclass(frozen=True)
class AmplifierConfig:
    """The ``world.amplifier`` section: headstage, compensation, filter and digitiser."""

    voltage_noise_nV_per_rtHz: float = 3.0  # §7.2 e_n 3 nV/√Hz
    feedback_GOhm: float = 0.5  # §7.2 feedback resistor 500 MΩ
    line_pA: float = 0.5  # §7.2 line pickup 0.1-5 pA (estimate within the range)
    line_hz: float = 50.0  # §7.2 50/60 Hz
    fast_cap_compensation: float = 1.0  # §7.1: pipette capacitance fast-cap compensated
    cm_compensation: float = 0.0  # §8.1 artefact left in by default (80 pA on a 20 pF cell)
    rs_compensation: float = 0.0  # §7.2: 70-80 % when used; off by default
    digitizer_bits: int = 16  # §7.2 16 bit
    digitizer_range_V: float = 10.0  # §7.2 ±10 V
    min_internal_rate_Hz: float = 200_000.0  # oversampling of the circuit (estimate)

    def __post_init__(self) -> None:
        for name in ("voltage_noise_nV_per_rtHz", "line_pA"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"amplifier {name} must be >= 0, got {getattr(self, name)!r}")
        if not self.feedback_GOhm > 0:
            raise ValueError(f"amplifier feedback_GOhm must be > 0, got {self.feedback_GOhm!r}")
        if not self.line_hz > 0:
            raise ValueError(f"amplifier line_hz must be > 0, got {self.line_hz!r}")
        for name in ("fast_cap_compensation", "cm_compensation"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"amplifier {name} must be in 0..1, got {getattr(self, name)!r}")
        if not 0 <= self.rs_compensation <= 0.95:
            raise ValueError(
                f"amplifier rs_compensation must be in 0..0.95, got {self.rs_compensation}"
            )
        if self.digitizer_bits not in (12, 14, 16, 18, 20, 24):
            raise ValueError(
                f"amplifier digitizer_bits must be 12..24, got {self.digitizer_bits!r}"
            )
        if not self.digitizer_range_V > 0:
            raise ValueError("amplifier digitizer_range_V must be > 0 V")
        if not 10_000 <= self.min_internal_rate_Hz <= 2_000_000:
            raise ValueError("amplifier min_internal_rate_Hz must be in 1e4..2e6 Hz")


@dataclass
class Circuit:
    """What the headstage sees (SI units).

    ``kind`` is ``"resistor"`` (pipette in the bath or sealed: ``r_ohm`` to ground) or
    ``"cell"`` (whole cell: ``ra_ohm`` into ``cm_f`` ∥ ``rm_ohm`` (reversal ``e_leak_v``) ∥
    ``r_seal_ohm`` ∥ ``ionic(v) -> current_A``).
    """

    kind: str
    cp_f: float
    temperature_C: float
    r_ohm: float = math.inf
    ra_ohm: float = 0.0
    cm_f: float = 0.0
    rm_ohm: float = math.inf
    e_leak_v: float = 0.0
    r_seal_ohm: float = math.inf
    ionic: Callable[[NDArray[np.float64]], NDArray[np.float64]] | None = None

    def admittance(self, f_hz: NDArray[np.float64]) -> NDArray[np.complex128]:
        if self.kind == "resistor":
            return np.full(f_hz.shape, 1.0 / self.r_ohm, dtype=np.complex128)
        jw = 2j * np.pi * f_hz
        membrane = 1.0 / self.rm_ohm + 1.0 / self.r_seal_ohm + jw * self.cm_f
        return 1.0 / (self.ra_ohm + 1.0 / membrane)


def noise_density(
    circuit: Circuit, f_hz: NDArray[np.float64], amp: AmplifierConfig
) -> NDArray[np.float64]:
    """One-sided current noise density (A²/Hz) at the headstage (§7.2)."""
    kt = BOLTZMANN * (circuit.temperature_C + 273.15)
    y = circuit.admittance(f_hz)
    e_n = amp.voltage_noise_nV_per_rtHz * 1e-9
    jwcp = 2j * np.pi * f_hz * circuit.cp_f
    return 4 * kt * np.real(y) + e_n**2 * np.abs(y + jwcp) ** 2 + 4 * kt / (amp.feedback_GOhm * 1e9)


@lru_cache(maxsize=32)
def _bessel_sos(cutoff_hz: float, rate_hz: float) -> NDArray[np.float64]:
    return signal.bessel(4, cutoff_hz, btype="low", norm="mag", output="sos", fs=rate_hz)


def _linear_recurrence(
    alpha: NDArray[np.float64], beta: NDArray[np.float64], v0: float
) -> NDArray[np.float64]:
    """``v[n+1] = alpha[n] v[n] + beta[n]``; returns v[1..N]. Chunked scan (vectorised)."""
    n = alpha.size
    worst = float(-np.log(np.maximum(alpha.min(), 1e-300)))
    chunk = int(min(512, max(1, 500.0 / max(worst, 1e-12))))
    chunks = -(-n // chunk)
    pad = chunks * chunk - n
    a = np.concatenate([alpha, np.ones(pad)]).reshape(chunks, chunk)
    b = np.concatenate([beta, np.zeros(pad)]).reshape(chunks, chunk)
    prod = np.cumprod(a, axis=1)
    acc = prod * np.cumsum(b / prod, axis=1)
    ends_a, ends_b = prod[:, -1], acc[:, -1]
    starts = np.empty(chunks)
    v = v0
    for c in range(chunks):
        starts[c] = v
        v = ends_a[c] * v + ends_b[c]
    return (prod * starts[:, None] + acc).ravel()[:n]


def _clamp_current(
    circuit: Circuit, vp: NDArray[np.float64], dt: float, ra_eff: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Membrane potential and Ra current (A) for command ``vp`` (V) held over each dt."""
    g_lin = 1.0 / circuit.rm_ohm + 1.0 / circuit.r_seal_ohm
    ionic = circuit.ionic

    def membrane(v: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        i = g_lin * v - circuit.e_leak_v / circuit.rm_ohm
        g = np.full(v.shape, g_lin)
        if ionic is not None:
            dv = 1e-5
            i0 = ionic(v)
            i = i + i0
            g = g + (ionic(v + dv) - i0) / dv
        return i, g

    # initial steady state at the first command level (scalar Newton)
    v0 = float(vp[0])
    for _ in range(50):
        i, g = membrane(np.array([v0]))
        f = (vp[0] - v0) / ra_eff - float(i[0])
        step = f / (1.0 / ra_eff + float(g[0]))
        v0 += step
        if abs(step) < 1e-12:
            break
    v = np.full(vp.shape, v0)
    cm = circuit.cm_f
    for _ in range(4):
        i0, g = membrane(v)
        rate = (1.0 / ra_eff + g) / cm
        drive = (vp / ra_eff - i0 + g * v) / cm
        alpha = np.exp(-rate * dt)
        beta = drive / rate * -np.expm1(-rate * dt)
        new = _linear_recurrence(alpha, beta, v0)
        # sample n of the result is the potential at the end of step n
        change = float(np.max(np.abs(new - v)))
        v = new
        if change < 1e-8:
            break
    return v, (vp - v) / ra_eff


def synthesize_sweep(
    circuit: Circuit,
    command_mV: NDArray[np.float64],
    *,
    sample_rate_Hz: float,
    filter_kHz: float,
    gain_mV_per_pA: float,
    amp: AmplifierConfig,
    rng: np.random.Generator,
    t_start_s: float,
    line_phase: float,
) -> NDArray[np.float64]:
    """The digitised current (pA) for ``command_mV`` sampled at ``sample_rate_Hz``."""
    fc = filter_kHz * 1000.0
    over = max(1, math.ceil(max(amp.min_internal_rate_Hz, 10.0 * fc) / sample_rate_Hz))
    rate = sample_rate_Hz * over
    dt = 1.0 / rate
    vp = np.repeat(np.asarray(command_mV, dtype=np.float64) * 1e-3, over)
    n = vp.size
    # -- signal --------------------------------------------------------------------------------
    if circuit.kind == "cell":
        ra_eff = circuit.ra_ohm * (1.0 - amp.rs_compensation)
        v_m, current = _clamp_current(circuit, vp, dt, ra_eff)
        if amp.cm_compensation > 0:
            dvdt = np.diff(v_m, prepend=v_m[0]) / dt
            current = current - amp.cm_compensation * circuit.cm_f * dvdt
    else:
        current = vp / circuit.r_ohm
    cp_residual = circuit.cp_f * (1.0 - amp.fast_cap_compensation)
    if cp_residual > 0:
        current = current + cp_residual * np.diff(vp, prepend=vp[0]) / dt
    # -- noise ---------------------------------------------------------------------------------
    n_fft = n if n % 2 == 0 else n + 1
    freqs = np.fft.rfftfreq(n_fft, dt)
    density = noise_density(circuit, np.maximum(freqs, freqs[1] if freqs.size > 1 else 1.0), amp)
    density[0] = 0.0
    white = rng.standard_normal(n_fft)
    spectrum = np.fft.rfft(white) * np.sqrt(density * rate / 2.0)
    current = current + np.fft.irfft(spectrum, n_fft)[:n]
    if amp.line_pA > 0:
        t = t_start_s + np.arange(n) * dt
        current = current + amp.line_pA * 1e-12 * np.sin(2 * np.pi * amp.line_hz * t + line_phase)
    # -- Bessel filter, sampling, amplifier gain, digitiser ------------------------------------
    if fc < 0.45 * rate:
        sos = _bessel_sos(fc, rate)
        zi = signal.sosfilt_zi(sos) * current[0]
        current, _ = signal.sosfilt(sos, current, zi=zi)
    sampled_pA = current[over - 1 :: over] * 1e12
    volts = sampled_pA * gain_mV_per_pA * 1e-3
    full = amp.digitizer_range_V
    lsb = 2 * full / 2**amp.digitizer_bits
    volts = np.clip(np.round(volts / lsb) * lsb, -full, full - lsb)
    return volts / (gain_mV_per_pA * 1e-3)

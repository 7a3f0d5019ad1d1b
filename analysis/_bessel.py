"""Exact responses of the amplifier's analog 4-pole Bessel low-pass to a step and to a decaying
exponential, by partial fractions (private helper for the membrane test).

Filter: 4-pole low-pass Bessel with -3 dB at ``fc`` (docs/reference/physiology.md §7.2), i.e.
``scipy.signal.bessel(4, 2*pi*fc, analog=True, norm="mag")``; unit gain at DC.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import signal

__all__ = ["BesselResponses"]


class BesselResponses:
    """Filter responses sampled at times ``t_s`` >= 0 after an input that starts at t = 0.

    ``H(s) = k / prod(s - p_j)``. Step input: ``y = 1 + sum_i d_i/p_i exp(p_i t)``.
    Input ``exp(-a t)``: ``y = H(-a) exp(-a t) + sum_i d_i/(p_i + a) exp(p_i t)``, with
    ``d_i = k / prod_{j != i}(p_i - p_j)``.
    """

    def __init__(self, t_s: NDArray[np.float64], cutoff_hz: float, order: int = 4) -> None:
        _, poles, gain = signal.bessel(
            order, 2 * np.pi * cutoff_hz, btype="low", analog=True, output="zpk", norm="mag"
        )
        self.poles = np.asarray(poles, dtype=np.complex128)
        self.gain = float(np.real(gain))
        diffs = self.poles[:, None] - self.poles[None, :]
        np.fill_diagonal(diffs, 1.0)
        self.residue_factors = self.gain / diffs.prod(axis=1)
        self.t_s = np.asarray(t_s, dtype=np.float64)
        # exp(p_i t) for every sample, shared by all responses: shape (n, order).
        self._modes = np.exp(np.outer(self.t_s, self.poles))
        self.group_delay_s = float(np.real(np.sum(-1.0 / self.poles)))

    def transfer(self, s: complex) -> complex:
        """``H(s)``."""
        return complex(self.gain / np.prod(s - self.poles))

    def step(self) -> NDArray[np.float64]:
        """Response to a unit step at t = 0."""
        return 1.0 + np.real(self._modes @ (self.residue_factors / self.poles))

    def exponential(self, tau_s: float) -> NDArray[np.float64]:
        """Response to ``exp(-t/tau_s)`` switched on at t = 0."""
        a = 1.0 / tau_s
        direct = np.real(self.transfer(-a)) * np.exp(-a * self.t_s)
        return direct + np.real(self._modes @ (self.residue_factors / (self.poles + a)))

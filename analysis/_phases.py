"""Changes of a per-cell signal between perfusion phases, and the treatment's specific part.

For an experiment baseline → control → washout → treatment → washout on the same cells, the
change a solution causes is its plateau (mean over the last ``window_s`` of its phase) minus
the plateau of the phase before it. A matched control (the treatment's K⁺, Na⁺, aspartate and
tonicity without its Mg²⁺) changes the signal by whatever those do; the treatment's specific
effect is the paired difference treatment − control per cell (mean ± SE across cells).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import finite_array, finite_number, positive_number

__all__ = ["PhaseChange", "SpecificChange", "phase_changes", "specific_change"]


@dataclass(frozen=True)
class PhaseChange:
    """The change of each cell's signal over one phase against the phase before it."""

    role: str
    solution: str
    start_s: float
    stop_s: float
    before: NDArray[np.float64]  # per cell: plateau of the previous phase
    plateau: NDArray[np.float64]  # per cell: plateau of this phase
    change: NDArray[np.float64]  # plateau − before, per cell
    change_se: NDArray[np.float64]  # per cell, from the scatter within both windows
    mean_change: float  # across cells
    mean_change_se: float  # SD across cells / √n (NaN for one cell)


@dataclass(frozen=True)
class SpecificChange:
    """Treatment − control, cell by cell (paired), with its mean and SE across cells."""

    per_cell: NDArray[np.float64]
    mean: float
    se: float
    n_cells: int


def _window_mean(t_s: NDArray, values: NDArray, stop_s: float, window_s: float, what: str):
    # half-open: a sample at the switch belongs to the next phase (the last one keeps its end)
    before_stop = t_s <= stop_s if stop_s >= t_s.max() else t_s < stop_s
    inside = (t_s > stop_s - window_s) & before_stop
    if inside.sum() < 2:
        raise ValueError(
            f"{what}: fewer than 2 samples in the last {window_s:g} s before t = {stop_s:g} s; "
            "lengthen the phase or the window"
        )
    chunk = values[inside]
    return chunk.mean(axis=0), chunk.std(axis=0, ddof=1) / math.sqrt(inside.sum())


def phase_changes(
    t_s: ArrayLike,
    signal: ArrayLike,
    phases: Sequence[tuple[str, str, float, float]],
    *,
    window_s: float = 120.0,
) -> list[PhaseChange]:
    """Change of ``signal`` (n_samples × n_cells) over each phase after the first.

    ``phases`` are ``(role, solution, start_s, stop_s)`` in order on the clock of ``t_s``
    (seconds). Each phase's plateau is the mean over its last ``window_s``; its change is that
    minus the previous phase's plateau.
    """
    t = finite_array("t_s", t_s, ndim=1, min_size=2)
    values = finite_array("signal", signal, ndim=(1, 2), min_size=2)
    if values.ndim == 1:
        values = values[:, None]
    if values.shape[0] != t.size:
        raise ValueError(
            f"t_s must have one time per row of signal: signal has {values.shape[0]} rows, "
            f"t_s {t.size} times"
        )
    window_s = positive_number("window_s", window_s)
    phases = _checked_phases(phases)
    changes = []
    previous = None
    for role, solution, start_s, stop_s in phases:
        plateau, plateau_se = _window_mean(t, values, stop_s, window_s, f"phase {role!r}")
        if previous is not None:
            before, before_se = previous
            change = plateau - before
            n = change.size
            changes.append(
                PhaseChange(
                    role=role,
                    solution=solution,
                    start_s=float(start_s),
                    stop_s=float(stop_s),
                    before=before,
                    plateau=plateau,
                    change=change,
                    change_se=np.hypot(plateau_se, before_se),
                    mean_change=float(change.mean()),
                    mean_change_se=float(change.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan,
                )
            )
        previous = (plateau, plateau_se)
    return changes


def _checked_phases(phases: Sequence[tuple[str, str, float, float]]) -> list:
    if isinstance(phases, str) or not isinstance(phases, Sequence):
        raise ValueError(
            f"phases must be a list of (role, solution, start_s, stop_s), got {phases!r}"
        )
    if len(phases) < 2:
        raise ValueError(f"phases must list at least 2 phases, got {len(phases)}")
    checked = []
    for i, phase in enumerate(phases):
        if not (isinstance(phase, Sequence) and not isinstance(phase, str) and len(phase) == 4):
            raise ValueError(
                f"phases[{i}] must be (role, solution, start_s, stop_s), got {phase!r}"
            )
        role, solution = str(phase[0]), str(phase[1])
        start_s = finite_number(f"phases[{i}] start_s", phase[2])
        stop_s = finite_number(f"phases[{i}] stop_s", phase[3])
        if not stop_s > start_s:
            raise ValueError(f"phases[{i}] ({role!r}): stop_s must be after start_s")
        checked.append((role, solution, start_s, stop_s))
    return checked


def specific_change(treatment: PhaseChange, control: PhaseChange) -> SpecificChange:
    """The treatment's change beyond the control's, paired per cell."""
    for name, value in (("treatment", treatment), ("control", control)):
        if not isinstance(value, PhaseChange):
            raise TypeError(f"{name} must be a PhaseChange (from phase_changes), got {value!r}")
    if treatment.change.shape != control.change.shape:
        raise ValueError("treatment and control must cover the same cells")
    per_cell = treatment.change - control.change
    n = per_cell.size
    se = float(per_cell.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return SpecificChange(per_cell=per_cell, mean=float(per_cell.mean()), se=se, n_cells=n)

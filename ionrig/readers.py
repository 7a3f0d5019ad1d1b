"""Runs → arrays, so that analysis never parses documents.

``read_timecourse(run)`` gives everything a 340/380 time course recorded, as numpy arrays with
units in their names. ``run`` is a catalog entry (``catalog[-1]``, ``catalog[uid]``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["Timecourse", "iter_frames", "read_timecourse"]


@dataclass(frozen=True)
class Timecourse:
    """One ratiometric time course (see docs/data-model.md for every field's source)."""

    uid: str
    exit_status: str | None
    #: per pair: rig-clock time (s) and online ratio per cell ROI
    pair_t_s: NDArray[np.float64]
    online_ratio: dict[str, NDArray[np.float64]]
    #: per frame (primary stream), split by excitation wavelength
    frame_t_s: dict[int, NDArray[np.float64]]
    roi_sums_adu: dict[int, NDArray[np.float64]]  # (n_frames, n_rois + 1), background last
    roi_names: list[str]  # cell ROIs; the background ROI follows them in roi_sums_adu
    roi_pixels: NDArray[np.float64]  # pixel count per ROI, same order, background last
    exposure_ms: float
    start: dict[str, Any] = field(repr=False)
    frames: dict[int, NDArray[np.uint16]] | None = field(default=None, repr=False)

    @property
    def n_pairs(self) -> int:
        return len(self.pair_t_s)


def _stop(run) -> dict[str, Any]:
    return dict(run.metadata.get("stop") or {})


def _frames_by_wavelength(run, values: NDArray) -> dict[int, NDArray]:
    wavelength = np.rint(run["primary"]["filter_wheel-wavelength_nm"].read()).astype(int)
    n = min(len(wavelength), len(values))
    return {int(wl): values[:n][wavelength[:n] == wl] for wl in np.unique(wavelength[:n])}


def read_timecourse(run, *, frames: bool = False) -> Timecourse:
    """Arrays of a ``ratiometric_timecourse`` run; ``frames=True`` also loads every frame.

    For runs too large for memory, leave ``frames=False`` and use :func:`iter_frames`.
    """
    start = dict(run.metadata["start"])
    if start.get("plan_name") != "ratiometric_timecourse":
        raise ValueError(
            f"run {start['uid'][:8]} is a {start.get('plan_name')!r} run, "
            "not a ratiometric_timecourse"
        )
    primary = run["primary"]
    order = list(start["roi_order"])
    names = order[:-1]
    ratio_stream = run.get("ratio")
    pair_t_s = ratio_stream["t_s"].read() if ratio_stream is not None else np.zeros(0)
    online = {
        n: np.asarray(ratio_stream[f"ratio_{n}"].read())
        if ratio_stream is not None
        else np.zeros(0)
        for n in names
    }
    sums = np.asarray(primary["camera-roi_sums_adu"].read(), dtype=np.float64)
    sums = sums.reshape(len(sums), -1)
    frame_t = np.asarray(primary["camera-t_s"].read(), dtype=np.float64).reshape(-1)
    loaded = None
    if frames:
        stack = np.asarray(primary["camera"].read())
        loaded = _frames_by_wavelength(run, stack.reshape(len(stack), *stack.shape[-2:]))
    return Timecourse(
        uid=start["uid"],
        exit_status=_stop(run).get("exit_status"),
        pair_t_s=np.asarray(pair_t_s, dtype=np.float64),
        online_ratio=online,
        frame_t_s=_frames_by_wavelength(run, frame_t),
        roi_sums_adu=_frames_by_wavelength(run, sums),
        roi_names=names,
        roi_pixels=np.array([start["roi_pixels"][n] for n in order], dtype=np.float64),
        exposure_ms=float(start["plan_args"]["exposure_ms"]),
        start=start,
        frames=loaded,
    )


def iter_frames(run, *, chunk_frames: int = 64) -> Iterator[tuple[int, NDArray[np.uint16]]]:
    """Yield ``(first_index, frames)`` chunks of the primary stream's frames (bounded memory)."""
    node = run["primary"]["camera"]
    n = node.shape[0]
    for first in range(0, n, chunk_frames):
        block = np.asarray(node[first : min(n, first + chunk_frames)])
        yield first, block.reshape(len(block), *block.shape[-2:])

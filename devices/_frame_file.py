"""HDF5 file of camera frames, written one frame at a time and readable while it is written."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from numpy.typing import NDArray

__all__ = ["FRAMES_DATASET", "ROI_SUMS_DATASET", "T_S_DATASET", "FrameFile"]

FRAMES_DATASET = "/entry/data/data"
T_S_DATASET = "/entry/t_s"
ROI_SUMS_DATASET = "/entry/roi_sums_adu"


class FrameFile:
    """An SWMR HDF5 file: frames (n, h, w) uint16, frame start times ``t_s`` (n,), ROI sums.

    Every frame is flushed as soon as it is written, so a reader (Tiled, ``ionrig.readers``) or a
    crash recovery sees every frame that was acquired.
    """

    def __init__(self, path: Path, *, height_px: int, width_px: int, n_rois: int) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = h5py.File(self.path, "w", libver="latest")
        self._frames = self._file.create_dataset(
            FRAMES_DATASET,
            shape=(0, height_px, width_px),
            maxshape=(None, height_px, width_px),
            dtype=np.uint16,
            chunks=(1, height_px, width_px),
        )
        self._t_s = self._file.create_dataset(
            T_S_DATASET, shape=(0,), maxshape=(None,), dtype=np.float64, chunks=(1024,)
        )
        self._roi_sums = (
            self._file.create_dataset(
                ROI_SUMS_DATASET,
                shape=(0, n_rois),
                maxshape=(None, n_rois),
                dtype=np.float64,
                chunks=(1024, n_rois),
            )
            if n_rois
            else None
        )
        self._file.swmr_mode = True
        self.frames_written = 0

    def append(self, frame: NDArray[np.uint16], t_s: float, roi_sums_adu: NDArray) -> None:
        n = self.frames_written
        self._frames.resize(n + 1, axis=0)
        self._frames[n] = frame
        self._t_s.resize(n + 1, axis=0)
        self._t_s[n] = t_s
        if self._roi_sums is not None:
            self._roi_sums.resize(n + 1, axis=0)
            self._roi_sums[n] = roi_sums_adu
        self._file.flush()
        self.frames_written = n + 1

    def close(self) -> None:
        if self._file.id.valid:
            self._file.close()

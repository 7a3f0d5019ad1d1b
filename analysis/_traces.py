"""Image stacks to per-ROI traces, streamed in chunks of frames (bounded memory).

Background handling follows docs/reference/physiology.md §1.1: a background ROI of P_B pixels is
scaled by P/P_B before it is subtracted from a ROI of P pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import positive_int

__all__ = ["RoiTraces", "roi_sums", "subtract_background"]


class FrameStack(Protocol):
    """Anything shaped (n_frames, height, width) that returns arrays for frame slices.

    numpy arrays, ``numpy.memmap`` and ``h5py.Dataset`` qualify.
    """

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __getitem__(self, key: Any) -> Any: ...


@dataclass(frozen=True)
class RoiTraces:
    """Per-frame sums over each ROI, shape (n_frames, n_rois), and the pixels per ROI."""

    sums_adu: NDArray[np.float64]
    n_pixels: NDArray[np.int64]

    @property
    def means_adu(self) -> NDArray[np.float64]:
        """Per-pixel mean of each ROI, shape (n_frames, n_rois)."""
        return self.sums_adu / self.n_pixels


def _mask_indices(masks: Sequence[ArrayLike], frame_shape: tuple[int, int]) -> list[NDArray]:
    if isinstance(masks, np.ndarray) and masks.ndim == 2:
        raise ValueError("masks must be a sequence of 2-D boolean masks, got one 2-D array")
    if masks is None or isinstance(masks, str | bytes) or not hasattr(masks, "__iter__"):
        raise ValueError(f"masks must be a sequence of 2-D boolean masks, got {masks!r:.80}")
    indices = []
    for i, mask in enumerate(masks):
        array = np.asarray(mask)
        if array.dtype != np.bool_ or array.shape != frame_shape:
            raise ValueError(
                f"masks[{i}] must be a boolean array of the frame shape {frame_shape}, "
                f"got dtype {array.dtype} and shape {array.shape}"
            )
        flat = np.flatnonzero(array)
        if flat.size == 0:
            raise ValueError(f"masks[{i}] is empty; every mask must select >= 1 pixel")
        indices.append(flat)
    if not indices:
        raise ValueError("masks must hold >= 1 mask, got none")
    return indices


def roi_sums(stack: FrameStack, masks: Sequence[ArrayLike], *, chunk_frames: int = 32) -> RoiTraces:
    """Sum every frame over every mask, reading at most ``chunk_frames`` frames at a time.

    ``stack`` has shape (n_frames, height, width) (numpy array, memmap or h5py dataset; only
    frame slices ``stack[i:j]`` are read). ``masks`` is a sequence of boolean (height, width)
    arrays, each selecting >= 1 pixel; a background region is just one more mask (see
    :func:`subtract_background`). Memory is bounded by one chunk plus the result. Sums are float64
    (exact for integer counts below 2**53).
    """
    shape = tuple(getattr(stack, "shape", ()))
    if len(shape) != 3:
        raise ValueError(f"stack must have shape (n_frames, height, width), got shape {shape}")
    n_frames, height, width = (int(n) for n in shape)
    if n_frames < 1:
        raise ValueError(f"stack must hold >= 1 frame, got {n_frames}")
    chunk = positive_int("chunk_frames", chunk_frames)
    indices = _mask_indices(masks, (height, width))

    sums = np.empty((n_frames, len(indices)), dtype=np.float64)
    for start in range(0, n_frames, chunk):
        stop = min(start + chunk, n_frames)
        block = np.asarray(stack[start:stop])
        if not (np.issubdtype(block.dtype, np.number) or block.dtype == np.bool_):
            raise ValueError(f"stack must hold numbers (counts per pixel), got dtype {block.dtype}")
        if block.shape != (stop - start, height, width):
            raise ValueError(
                f"stack[{start}:{stop}] returned shape {block.shape}, "
                f"expected {(stop - start, height, width)}"
            )
        flat = block.reshape(stop - start, height * width)
        for j, idx in enumerate(indices):
            sums[start:stop, j] = flat[:, idx].sum(axis=1, dtype=np.float64)
        if not np.isfinite(sums[start:stop]).all():
            raise ValueError(
                f"stack frames {start}..{stop - 1} hold NaN or inf inside a mask; "
                "allowed values are finite numbers"
            )
    n_pixels = np.array([idx.size for idx in indices], dtype=np.int64)
    return RoiTraces(sums_adu=sums, n_pixels=n_pixels)


def subtract_background(traces: RoiTraces, background_index: int) -> RoiTraces:
    """Subtract the background ROI, scaled to each ROI's pixel count (§1.1).

    Returns the other ROIs (in order, background column removed) with
    ``sums - n_pixels/n_background * background_sum``; ``means_adu`` of the result is then the
    background-corrected per-pixel mean.
    """
    if not isinstance(traces, RoiTraces):
        raise ValueError(f"traces must be RoiTraces (from roi_sums), got {traces!r:.80}")
    n_rois = traces.sums_adu.shape[1]
    if n_rois < 2:
        raise ValueError(f"traces must hold >= 2 ROIs (one of them the background), got {n_rois}")
    if isinstance(background_index, bool) or not isinstance(background_index, int | np.integer):
        raise ValueError(f"background_index must be an integer in [0, {n_rois - 1}]")
    if not 0 <= background_index < n_rois:
        raise ValueError(f"background_index must be in [0, {n_rois - 1}], got {background_index!r}")
    keep = [j for j in range(n_rois) if j != background_index]
    background = traces.sums_adu[:, background_index]
    n_bg = traces.n_pixels[background_index]
    n_keep = traces.n_pixels[keep]
    corrected = traces.sums_adu[:, keep] - background[:, None] * (n_keep / n_bg)[None, :]
    return RoiTraces(sums_adu=corrected, n_pixels=n_keep.copy())

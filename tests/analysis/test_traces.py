"""Image stacks to per-ROI traces: exact sums, chunked reads, bounded memory, background."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest

from ionrig.analysis import RoiTraces, ratiometric_estimate, roi_sums, subtract_background


class CountingStack:
    """Wraps a stack and records the frames each read asks for."""

    def __init__(self, stack) -> None:
        self._stack = stack
        self.shape = stack.shape
        self.reads: list[tuple[int, int]] = []

    def __getitem__(self, key):
        assert isinstance(key, slice), f"only frame slices may be read, got {key!r}"
        start, stop, step = key.indices(self.shape[0])
        assert step == 1
        self.reads.append((start, stop))
        return self._stack[key]


def _masks(height: int, width: int) -> list[np.ndarray]:
    yy, xx = np.mgrid[:height, :width]
    cell_a = (yy - 10) ** 2 + (xx - 12) ** 2 <= 16
    cell_b = (yy >= 20) & (yy < 26) & (xx >= 25) & (xx < 35)
    background = (yy < 4) & (xx >= width - 8)
    single = np.zeros((height, width), dtype=bool)
    single[height - 1, 0] = True
    return [cell_a, cell_b, background, single]


@pytest.fixture
def stack() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 4000, size=(37, 32, 40), dtype=np.uint16)


@pytest.mark.parametrize("chunk_frames", [1, 5, 37, 100])
def test_sums_are_exact_for_any_chunk_size(stack: np.ndarray, chunk_frames: int) -> None:
    masks = _masks(32, 40)
    traces = roi_sums(stack, masks, chunk_frames=chunk_frames)
    expected = np.stack([stack[:, m].sum(axis=1) for m in masks], axis=1)
    assert traces.sums_adu.shape == (37, 4)
    np.testing.assert_array_equal(traces.sums_adu, expected)
    assert traces.n_pixels.tolist() == [int(m.sum()) for m in masks]
    np.testing.assert_allclose(traces.means_adu[:, 1], stack[:, 20:26, 25:35].mean(axis=(1, 2)))


def test_h5py_dataset_is_read_in_chunks(tmp_path: Path, stack: np.ndarray) -> None:
    path = tmp_path / "frames.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("frames", data=stack, chunks=(1, 32, 40))
    with h5py.File(path, "r") as h5:
        counting = CountingStack(h5["frames"])
        traces = roi_sums(counting, _masks(32, 40), chunk_frames=6)
    assert max(stop - start for start, stop in counting.reads) <= 6
    covered = np.concatenate([np.arange(a, b) for a, b in counting.reads])
    np.testing.assert_array_equal(covered, np.arange(37))  # each frame read exactly once
    np.testing.assert_array_equal(traces.sums_adu, roi_sums(stack, _masks(32, 40)).sums_adu)


def test_memory_stays_bounded_for_a_stack_on_disk(tmp_path: Path) -> None:
    n_frames, size, chunk = 200, 256, 8
    path = tmp_path / "big.h5"
    frame = np.full((size, size), 100, dtype=np.uint16)
    with h5py.File(path, "w") as h5:
        ds = h5.create_dataset("frames", shape=(n_frames, size, size), dtype=np.uint16)
        for k in range(n_frames):
            ds[k] = frame + k
    yy, xx = np.mgrid[:size, :size]
    masks = [(yy - 128) ** 2 + (xx - 128) ** 2 < 60**2, yy < 20]
    stack_bytes = n_frames * size * size * 2
    with h5py.File(path, "r") as h5:
        tracemalloc.start()
        traces = roi_sums(h5["frames"], masks, chunk_frames=chunk)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    # One chunk as uint16 plus the gathered ROI pixels as uint16 and their float64 sums.
    chunk_bytes = chunk * size * size * 2
    assert peak < 6 * chunk_bytes < stack_bytes / 4
    np.testing.assert_array_equal(traces.means_adu[:, 0], 100 + np.arange(n_frames))


def test_background_subtraction_scales_by_pixel_count() -> None:
    sums = np.array([[300.0, 1000.0, 50.0], [330.0, 1100.0, 40.0]])
    traces = RoiTraces(sums_adu=sums, n_pixels=np.array([3, 100, 10]))
    corrected = subtract_background(traces, background_index=1)
    np.testing.assert_allclose(corrected.sums_adu, [[300 - 30, 50 - 100], [330 - 33, 40 - 110]])
    assert corrected.n_pixels.tolist() == [3, 10]
    np.testing.assert_allclose(corrected.means_adu[:, 0], [100 - 10, 110 - 11])


def test_images_to_ratio_end_to_end() -> None:
    """Interleaved 340/380 frames → ROI sums → the ratio the frames were made with."""
    rng = np.random.default_rng(5)
    masks = _masks(32, 40)[:3]  # two cells and the background
    true_ratio = np.array([0.8, 1.6])
    frames = np.empty((20, 32, 40))
    for k in range(10):
        f380 = np.full((32, 40), 50.0)  # background level everywhere
        f340 = np.full((32, 40), 20.0)
        for cell, r in zip(masks[:2], true_ratio, strict=True):
            f380[cell] += 1000.0
            f340[cell] += r * 1000.0
        frames[2 * k], frames[2 * k + 1] = f340, f380
    frames += rng.normal(0, 1e-9, frames.shape)  # not exact integers, still finite
    traces = roi_sums(frames, masks, chunk_frames=3)
    s340, s380 = traces.sums_adu[0::2], traces.sums_adu[1::2]
    for j in range(2):
        est = ratiometric_estimate(
            s340[:, j],
            s340[:, 2],
            s380[:, j],
            s380[:, 2],
            n_cell_px=int(traces.n_pixels[j]),
            n_bg_px=int(traces.n_pixels[2]),
            exposure340_ms=1.0,
            exposure380_ms=1.0,
            gain_adu_per_e=1.0,
            read_noise_e=1.0,
            r_min=0.1,
            r_max=3.0,
            kd=1.0,
        )
        np.testing.assert_allclose(est.ratio, true_ratio[j], rtol=1e-9)


@pytest.mark.parametrize(
    ("masks", "match"),
    [
        ([], r"masks must hold >= 1"),
        ([np.zeros((32, 40), dtype=bool)], r"masks\[0\] is empty.*>= 1 pixel"),
        ([np.ones((32, 41), dtype=bool)], r"masks\[0\] must be a boolean array.*\(32, 40\)"),
        ([np.ones((32, 40), dtype=int)], r"masks\[0\] must be a boolean array"),
    ],
)
def test_bad_masks_are_refused(stack: np.ndarray, masks, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        roi_sums(stack, masks)


def test_bad_stacks_and_arguments_are_refused(stack: np.ndarray) -> None:
    masks = _masks(32, 40)
    with pytest.raises(ValueError, match=r"stack must have shape \(n_frames, height, width\)"):
        roi_sums(stack[0], masks)
    with pytest.raises(ValueError, match=r"chunk_frames must be an integer >= 1"):
        roi_sums(stack, masks, chunk_frames=0)
    bad = stack.astype(float)
    bad[30, 10, 12] = np.nan
    with pytest.raises(ValueError, match=r"stack frames .*NaN.*finite"):
        roi_sums(bad, masks, chunk_frames=8)
    traces = roi_sums(stack, masks)
    with pytest.raises(ValueError, match=r"background_index must be in \[0, 3\]"):
        subtract_background(traces, background_index=4)


@pytest.mark.slow
def test_ratios_over_a_10000_frame_512x512_stack_on_disk(tmp_path: Path) -> None:
    """10 000 frames of 512² (5.2 GB as uint16), interleaved 340/380, read in bounded memory."""
    n_frames, size, chunk = 10_000, 512, 16
    yy, xx = np.mgrid[:size, :size]
    cell = (yy - 200) ** 2 + (xx - 300) ** 2 < 15**2
    background = (yy > 480) & (xx < 64)
    base = np.full((size, size), 100, dtype=np.uint16)
    path = tmp_path / "stack.h5"
    with h5py.File(path, "w") as h5:
        ds = h5.create_dataset(
            "frames",
            shape=(n_frames, size, size),
            dtype=np.uint16,
            chunks=(1, size, size),
            compression="gzip",
            compression_opts=1,
        )
        block = np.empty((100, size, size), dtype=np.uint16)
        for start in range(0, n_frames, 100):
            block[:] = base
            for k in range(100):
                frame = start + k
                # 340 frames (even) carry 1000 + frame//2 counts, 380 frames 1000.
                block[k][cell] += 1000 + (frame // 2 if frame % 2 == 0 else 0) % 1000
            ds[start : start + 100] = block
    with h5py.File(path, "r") as h5:
        counting = CountingStack(h5["frames"])
        tracemalloc.start()
        began = time.perf_counter()
        traces = roi_sums(counting, [cell, background], chunk_frames=chunk)
        elapsed = time.perf_counter() - began
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert max(b - a for a, b in counting.reads) <= chunk
    assert peak < 8 * chunk * size * size * 2  # a few chunks, not the 5.2 GB stack
    n = int(traces.n_pixels[0])
    s340, s380 = traces.sums_adu[0::2], traces.sums_adu[1::2]
    est = ratiometric_estimate(
        s340[:, 0],
        s340[:, 1],
        s380[:, 0],
        s380[:, 1],
        n_cell_px=n,
        n_bg_px=int(traces.n_pixels[1]),
        exposure340_ms=1.0,
        exposure380_ms=1.0,
        gain_adu_per_e=1.0,
        read_noise_e=1.0,
        r_min=0.1,
        r_max=10.0,
        kd=1.0,
    )
    expected = (1000 + np.arange(n_frames // 2) % 1000) / 1000
    np.testing.assert_allclose(est.ratio, expected, rtol=1e-12)
    print(f"10 000 x 512² frames: {elapsed:.1f} s, tracemalloc peak {peak / 1e6:.1f} MB")

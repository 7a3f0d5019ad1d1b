"""6. Analysis: ratio and ROI traces over a 10 000-frame 512×512 stack from disk; membrane test
over 1 000 sweeps.

The stack is recorded first (not timed) as a catalog run: the camera detector takes 10 000
frames from a driver replaying simulated 340/380 frames (five cells), through ionrig's document
pipeline, so the run has the layout of a fly-mode time course (frame ``i`` at 340 nm for even
``i``). The file is then written to disk and dropped from the page cache, and each analysis
reads it from the disk:

- through the catalog: ``ionrig.data.readers.iter_frames(run)`` (64-frame chunks from Tiled), ROI
  sums of each chunk with ``ionrig.analysis.roi_sums``, then the background-subtracted ratio of
  every pair and cell with ``ionrig.analysis.ratio``;
- straight from the HDF5 file: ``ionrig.analysis.roi_sums`` on the h5py dataset, then the ratio.

The membrane test fits ``ionrig.analysis.membrane_test`` (known 5-kHz Bessel filter) to each of
1 000 whole-cell sweeps (a -5 mV, 10-ms step at 50 kHz, synthesised by the simulator beforehand)
one by one, and once to their average. No targets are set for these figures (issue 10 asks
for them to be reported); rates are per real second.

    python benchmarks/bench_analysis.py [--quick]
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    evict_from_page_cache,
    main_for,
    measurement,
    open_benchmark_catalog,
    record_frames,
    render_frames,
)

BENCHMARK = "analysis"
SIZE_PX = 512
N_FRAMES = 10_000
N_SWEEPS = 1_000
SWEEP_RATE_HZ = 50_000.0
FILTER_KHZ = 5.0


def ratio_traces(sums: np.ndarray, n_pixels: np.ndarray) -> np.ndarray:
    """Per pair and cell: background-subtracted 340/380 ratio from ROI sums (frames alternate
    340, 380; the last ROI is the background)."""
    from ionrig import analysis

    means = sums / n_pixels
    n_pairs = len(means) // 2
    f340, f380 = means[0 : 2 * n_pairs : 2], means[1 : 2 * n_pairs : 2]
    return analysis.ratio(
        f340[:, :-1],
        f380[:, :-1],
        background340=np.broadcast_to(f340[:, -1:], f340[:, :-1].shape),
        background380=np.broadcast_to(f380[:, -1:], f380[:, :-1].shape),
    )


def whole_cell_sweeps(n_sweeps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(time_s, command_mV, sweeps_pA)`` of ``n_sweeps`` simulated whole-cell sweeps."""
    from ionrig.devices import step_protocol
    from ionrig.simulators import CameraSensor, PatchConfig, SteppedClock, World, default_cells

    clock = SteppedClock()
    world = World(
        cells=default_cells(128, 128, 5, 0),
        sensor=CameraSensor(),
        clock=clock,
        seed=0,
        patch=PatchConfig(
            seal_success_probability=1.0,
            break_in_probability=1.0,
            ra_drift_per_hour=0.0,
            seal_loss_per_hour=0.0,
        ),
    )
    world.patch.approach(0)
    world.patch.apply_pressure_kPa(-3.0)
    clock.advance_s(120.0)
    world.patch.apply_pressure_kPa(0.0)
    world.patch.break_in()
    command = step_protocol(
        holding_mV=0.0, step_mV=-5.0, step_ms=10.0, sample_rate_Hz=SWEEP_RATE_HZ
    )
    sweeps = np.stack(
        [
            world.patch.record_sweep(command, SWEEP_RATE_HZ, filter_kHz=FILTER_KHZ)
            for _ in range(n_sweeps)
        ]
    )
    return np.arange(command.size) / SWEEP_RATE_HZ, command, sweeps


@dataclass
class RecordedStack:
    """A recorded 340/380 stack: its catalog run, HDF5 files, ROI masks and what to report."""

    run: Any
    files: list[Path]
    masks: list[np.ndarray]
    n_frames: int
    size_px: int
    size_GB: float
    details: dict[str, Any]


def record_stack(RE, catalog, size_px: int, n_frames: int) -> RecordedStack:
    """Record ``n_frames`` replayed simulator frames as one catalog run (not timed)."""
    from bench_frames import make_camera

    raw_dir = catalog.location.raw_dir
    camera = make_camera(render_frames(size_px, 4), raw_dir)
    masks = list(camera.roi_masks.values())
    result = RE(record_frames(camera, n_frames))
    run = catalog[result.run_start_uids[0]]
    files = sorted(raw_dir.glob("*.h5"))
    size_GB = sum(path.stat().st_size for path in files) / 1e9
    details = {"frames": n_frames, "frame_shape": [size_px, size_px], "rois": len(masks)}
    details["file_GB"] = size_GB
    return RecordedStack(run, files, masks, n_frames, size_px, size_GB, details)


def time_catalog_traces(stack: RecordedStack, *, quick: bool) -> tuple[np.ndarray, dict]:
    """Ratio + ROI traces read from disk through the catalog (``iter_frames``): the ratios and
    the ``stack_catalog`` measurement (frames per real second)."""
    from ionrig import analysis
    from ionrig.data.readers import iter_frames

    n_frames, size, masks = stack.n_frames, stack.size_px, stack.masks
    evict_from_page_cache(stack.files)
    started = time.perf_counter()
    chunks = [analysis.roi_sums(block, masks).sums_adu for _, block in iter_frames(stack.run)]
    sums = np.concatenate(chunks)
    n_pixels = np.array([mask.sum() for mask in masks])
    ratios = ratio_traces(sums, n_pixels)
    catalog_s = time.perf_counter() - started
    if sums.shape != (n_frames, len(masks)) or not np.isfinite(ratios).any():
        raise RuntimeError(f"unexpected traces: sums {sums.shape}, ratios {ratios.shape}")
    return ratios, measurement(
        BENCHMARK,
        "stack_catalog",
        f"Ratio + ROI traces, {n_frames} frames {size}x{size} from disk via the catalog "
        "(iter_frames)",
        n_frames / catalog_s,
        "frames/s",
        quick=quick,
        details={**stack.details, "real_s": catalog_s, "MB_per_s": stack.size_GB * 1e3 / catalog_s},
    )


def time_h5py_traces(stack: RecordedStack, ratios: np.ndarray, *, quick: bool) -> dict:
    """Ratio + ROI traces read from disk straight from the HDF5 dataset (must equal
    ``ratios``): the ``stack_h5py`` measurement (frames per real second)."""
    import h5py

    from ionrig import analysis

    n_frames, size, files = stack.n_frames, stack.size_px, stack.files
    evict_from_page_cache(files)
    started = time.perf_counter()
    frames_file = max(files, key=lambda path: path.stat().st_size)
    with h5py.File(frames_file, "r") as file:
        traces = analysis.roi_sums(file["/entry/data/data"], stack.masks, chunk_frames=64)
    direct = ratio_traces(traces.sums_adu, traces.n_pixels)
    direct_s = time.perf_counter() - started
    if not np.allclose(direct, ratios, equal_nan=True):
        raise RuntimeError("the catalog and the HDF5 file gave different ratios")
    return measurement(
        BENCHMARK,
        "stack_h5py",
        f"Ratio + ROI traces, {n_frames} frames {size}x{size} from disk, h5py dataset",
        n_frames / direct_s,
        "frames/s",
        quick=quick,
        details={**stack.details, "real_s": direct_s, "MB_per_s": stack.size_GB * 1e3 / direct_s},
    )


def time_membrane_tests(n_sweeps: int, *, quick: bool) -> Iterator[dict]:
    """Membrane test fitted to each of ``n_sweeps`` simulated sweeps, then to their average:
    yields the ``membrane_each`` (ms per sweep) and ``membrane_average`` (ms) measurements."""
    from ionrig import analysis

    time_s, command, sweeps = whole_cell_sweeps(n_sweeps)
    started = time.perf_counter()
    fits = [
        analysis.membrane_test(time_s, sweep, command, filter_kHz=FILTER_KHZ) for sweep in sweeps
    ]
    each_s = time.perf_counter() - started
    started = time.perf_counter()
    averaged = analysis.membrane_test(time_s, sweeps, command, filter_kHz=FILTER_KHZ)
    average_s = time.perf_counter() - started
    sweep_details = {
        "sweeps": n_sweeps,
        "samples_per_sweep": int(command.size),
        "sample_rate_Hz": SWEEP_RATE_HZ,
        "median_cm_pF": float(np.median([fit.cm_pF for fit in fits])),
        "averaged_cm_pF": averaged.cm_pF,
        "averaged_ra_MOhm": averaged.ra_MOhm,
    }
    yield measurement(
        BENCHMARK,
        "membrane_each",
        f"Membrane test fitted to each of {n_sweeps} sweeps: ms per sweep",
        1000.0 * each_s / n_sweeps,
        "ms",
        quick=quick,
        details={**sweep_details, "real_s": each_s},
    )
    yield measurement(
        BENCHMARK,
        "membrane_average",
        f"Membrane test on the average of {n_sweeps} sweeps: total",
        1000.0 * average_s,
        "ms",
        quick=quick,
        details={**sweep_details, "real_s": average_s},
    )


def run(*, quick: bool, data_dir: Path, template: Path | None = None) -> Iterator[dict]:
    from ionrig.session import make_run_engine

    catalog = open_benchmark_catalog(data_dir, template)
    size = 64 if quick else SIZE_PX
    n_frames = 20 if quick else N_FRAMES
    n_sweeps = 5 if quick else N_SWEEPS
    try:
        stack = record_stack(make_run_engine(catalog), catalog, size, n_frames)
        ratios, catalog_measurement = time_catalog_traces(stack, quick=quick)
        yield catalog_measurement
        yield time_h5py_traces(stack, ratios, quick=quick)
        for path in stack.files:
            path.unlink()
        yield from time_membrane_tests(n_sweeps, quick=quick)
    finally:
        catalog.close()


if __name__ == "__main__":
    main_for(__doc__.splitlines()[0], run)

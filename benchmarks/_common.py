"""What the benchmarks share: the measurement record, command line, data directory, helpers.

Every benchmark module has ``run(quick=..., data_dir=...)``, a generator of measurements (plain
dicts, see :func:`measurement`), and ``main()``, which prints each as one JSON line as soon as it
is measured. ``--quick`` runs tiny sizes that only check the harness (its numbers mean nothing).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "CATALOG_DB",
    "RENDERED_NM",
    "ReplayAmplifier",
    "ReplayCamera",
    "evict_from_page_cache",
    "load_1min",
    "main_for",
    "make_safe",
    "measurement",
    "median",
    "open_benchmark_catalog",
    "record_frames",
    "render_frames",
    "rss_mb",
]

#: Where an ionrig data directory keeps its catalog database (copied from a template).
CATALOG_DB = Path("catalog") / "catalog.db"

OPERATORS = {
    ">=": lambda value, target: value >= target,
    "<=": lambda value, target: value <= target,
}


def measurement(
    benchmark: str,
    key: str,
    figure: str,
    value: float,
    unit: str,
    *,
    target: float | None = None,
    op: str | None = None,
    quick: bool = False,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One result: ``figure`` (what was measured, in words) = ``value`` ``unit``.

    With a target, ``op`` is ``">="`` or ``"<="``; ``met`` says whether ``value op target``
    holds and ``miss_by`` how far it is from the target (in ``unit``; 0 when met) and
    ``miss_by_percent`` the same relative to the target. Without one, all three are ``None``.
    """
    if (target is None) != (op is None):
        raise ValueError("target and op must be given together")
    if op is not None and op not in OPERATORS:
        raise ValueError(f"op must be one of {', '.join(OPERATORS)}; got {op!r}")
    value = float(value)
    met = miss_by = miss_percent = None
    if target is not None and op is not None:
        met = bool(OPERATORS[op](value, target))
        miss_by = 0.0 if met else abs(target - value)
        miss_percent = 0.0 if met else 100.0 * miss_by / abs(target) if target else None
    return {
        "benchmark": benchmark,
        "key": key,
        "figure": figure,
        "value": value,
        "unit": unit,
        "target": None if target is None else float(target),
        "op": op,
        "met": met,
        "miss_by": miss_by,
        "miss_by_percent": miss_percent,
        "quick": quick,
        "load_1min": load_1min(),
        "details": details or {},
    }


def load_1min() -> float:
    """The machine's 1-minute load average (other processes share its cores)."""
    return float(os.getloadavg()[0])


def rss_mb() -> float:
    """Resident memory of this process (MB, 10⁶ bytes), after a garbage collection."""
    import psutil

    gc.collect()
    return psutil.Process().memory_info().rss / 1e6


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def open_benchmark_catalog(data_dir: Path, template: Path | None = None):
    """Open (creating) the catalog of ``data_dir``; ``template`` is an initialised empty
    ``catalog.db`` to copy, which saves Tiled's database initialisation (seconds)."""
    from ionrig.data.catalog import open_catalog

    data_dir.mkdir(parents=True, exist_ok=True)
    if template is not None and template.is_file() and not (data_dir / CATALOG_DB).exists():
        (data_dir / CATALOG_DB).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, data_dir / CATALOG_DB)
    return open_catalog(data_dir)


def make_safe(session) -> None:
    """Leave a session's rig safe without closing its catalog (the benchmark shares it)."""
    from bluesky.run_engine import call_in_bluesky_event_loop

    call_in_bluesky_event_loop(session.rig.make_safe())


def evict_from_page_cache(paths: Iterable[Path]) -> None:
    """Write the files to disk and drop them from the page cache, so the next read comes from
    the disk (``posix_fadvise(DONTNEED)``; this process's files only, no privileges needed)."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


# -- replayed instruments: the ionrig path without the simulator's physics cost ----------------
class ReplayCamera:
    """A camera driver that hands out pre-rendered frames in turn, as fast as they are taken.

    It isolates what ionrig's camera detector costs (ROI sums, HDF5, documents) from what the
    simulator costs to render a frame (reported separately). ``readout_ms`` is 0. It is also
    the camera's excitation source (``Camera.set_excitation``): the wavelength (nm) each frame
    was rendered at, ``excitation_nm``, one per frame of ``frames``.
    """

    bit_depth = 16
    readout_ms = 0.0

    def __init__(self, frames: NDArray[np.uint16], excitation_nm: Iterable[float]) -> None:
        if frames.ndim != 3 or len(frames) < 1:
            raise ValueError(f"frames must have shape (n, height, width), got {frames.shape}")
        self._frames = np.ascontiguousarray(frames, dtype=np.uint16)
        self._excitation_nm = [float(nm) for nm in excitation_nm]
        if len(self._excitation_nm) != len(frames):
            raise ValueError(f"excitation_nm needs one wavelength per frame ({len(frames)})")
        self.height_px, self.width_px = (int(n) for n in frames.shape[1:])
        self.frames_taken = 0

    def snap(self, exposure_ms: float) -> NDArray[np.uint16]:
        frame = self._frames[self.frames_taken % len(self._frames)]
        self.frames_taken += 1
        return frame

    def frame_excitation_nm(self, frame_index: int) -> float:
        """The wavelength (nm) the next frame handed out was rendered at."""
        return self._excitation_nm[self.frames_taken % len(self._frames)]


class ReplayAmplifier:
    """An amplifier driver that returns one pre-synthesised sweep (pA) for every command."""

    safe_holding_mV = 0.0

    def __init__(self, sweep_pA: NDArray[np.float64]) -> None:
        self._sweep = np.asarray(sweep_pA, dtype=np.float64)
        self.holding_mV = 0.0

    def set_holding_mV(self, holding_mV: float) -> None:
        self.holding_mV = holding_mV

    def record_sweep(self, command_mV: NDArray, sample_rate_Hz: float) -> NDArray[np.float64]:
        if np.size(command_mV) != self._sweep.size:
            raise ValueError(f"command must have {self._sweep.size} samples")
        return self._sweep

    def read_current_pA(self) -> float:
        return 0.0

    def safe(self) -> None:
        self.holding_mV = self.safe_holding_mV


#: The excitations (nm) :func:`render_frames` alternates, in order.
RENDERED_NM = (340, 380)


def render_frames(size_px: int, n_per_wavelength: int, *, seed: int = 0) -> NDArray[np.uint16]:
    """Frames of the simulated world (five cells, 20-ms exposure), alternating
    :data:`RENDERED_NM` (340 and 380 nm), ``2 * n_per_wavelength`` of them; rendered once,
    replayed by :class:`ReplayCamera`."""
    from ionrig.simulators import CameraSensor, SteppedClock, World, default_cells

    world = World(
        cells=default_cells(size_px, size_px, 5, seed),
        sensor=CameraSensor(width_px=size_px, height_px=size_px),
        clock=SteppedClock(),
        seed=seed,
    )
    world.shutter_open = True
    frames = []
    for _ in range(n_per_wavelength):
        for wavelength_nm in RENDERED_NM:
            world.excitation_nm = wavelength_nm
            frames.append(world.render_frame(20.0))
    return np.stack(frames)


def record_frames(camera, n_frames: int, *, md: dict[str, Any] | None = None, timing=None):
    """Plan: one run taking ``n_frames`` back-to-back frames with ``camera`` (prepared for all
    of them, kicked off, collected while completing). ``timing`` (a dict) receives
    ``acquire_s``: real seconds from kickoff to the last frame written."""
    import bluesky.plan_stubs as bps
    import bluesky.preprocessors as bpp
    from ophyd_async.core import TriggerInfo

    @bpp.stage_decorator([camera])
    @bpp.run_decorator(md=md or {})
    def plan():
        yield from bps.prepare(
            camera, TriggerInfo(number_of_events=n_frames, livetime=0.001), wait=True
        )
        yield from bps.declare_stream(camera, name="primary")
        started = time.perf_counter()
        yield from bps.kickoff(camera, wait=True)
        yield from bps.collect_while_completing(flyers=[camera], dets=[camera], flush_period=0.5)
        if timing is not None:
            timing["acquire_s"] = time.perf_counter() - started

    return (yield from plan())


def main_for(
    description: str,
    run: Callable[..., Iterator[dict[str, Any]]],
    argv: list[str] | None = None,
) -> None:
    """Command line of a benchmark module: ``[--quick] [--data-dir DIR] [--catalog-template DB]``;
    prints one JSON line per measurement, flushed as it comes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness only")
    parser.add_argument(
        "--data-dir", type=Path, help="ionrig data directory to use (default: a temporary one)"
    )
    parser.add_argument(
        "--catalog-template", type=Path, help="an initialised empty catalog.db to copy"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ionrig-bench-") as scratch:
        data_dir = args.data_dir or Path(scratch)
        for result in run(quick=args.quick, data_dir=data_dir, template=args.catalog_template):
            print(json.dumps(result), flush=True)

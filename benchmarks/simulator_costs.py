"""What the simulated world costs: frames, sweeps and long idle stretches.

Prints one JSON line per measurement (median of repeated runs, wall-clock seconds):

    python benchmarks/simulator_costs.py [--repeats N]

Measured: a 512×512 and a 128×128 frame (five cells, 20-ms exposure at 380 nm), a 1-s sweep at
50 kHz (whole cell, 10 kHz filter), a TRPM7 ramp (700 samples at 10 kHz, 2.9 kHz filter), and
bringing a resting five-cell world through a 12-hour night. Uses the stepped clock, so no time
is spent sleeping.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import numpy as np

from ionrig.simulators import CameraSensor, PatchConfig, SteppedClock, World, default_cells


def _median_s(action: Callable[[], object], repeats: int) -> float:
    action()  # warm caches (geometry, filter design)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _world(size_px: int, seed: int = 0) -> tuple[World, SteppedClock]:
    clock = SteppedClock()
    sensor = CameraSensor(width_px=size_px, height_px=size_px)
    cells = default_cells(size_px, size_px, 5, seed)
    patch = PatchConfig(
        seal_success_probability=1.0,
        break_in_probability=1.0,
        ra_drift_per_hour=0.0,
        seal_loss_per_hour=0.0,
    )
    return World(cells=cells, sensor=sensor, clock=clock, seed=seed, patch=patch), clock


def _whole_cell(world: World, clock: SteppedClock) -> None:
    world.patch.approach(0)
    world.patch.apply_pressure_kPa(-3.0)
    clock.advance_s(120.0)
    world.patch.apply_pressure_kPa(0.0)
    world.patch.break_in()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    results = []

    for size in (512, 128):
        world, _ = _world(size)
        world.excitation_nm, world.shutter_open = 380, True
        cost = _median_s(lambda world=world: world.render_frame(20.0), args.repeats)
        results.append({"measurement": f"frame_{size}x{size}", "seconds": cost, "pixels": size**2})

    world, clock = _world(128)
    _whole_cell(world, clock)
    second = np.zeros(50_000)
    second[10_000:30_000] = -10.0
    cost = _median_s(
        lambda: world.patch.record_sweep(second, 50_000, filter_kHz=10.0), max(3, args.repeats // 4)
    )
    results.append({"measurement": "sweep_1s_50kHz", "seconds": cost, "samples": second.size})

    ramp = np.concatenate([np.zeros(100), np.linspace(-100, 100, 500), np.zeros(100)])
    cost = _median_s(lambda: world.patch.record_sweep(ramp, 10_000, filter_kHz=2.9), args.repeats)
    results.append({"measurement": "ramp_50ms_10kHz", "seconds": cost, "samples": ramp.size})

    def night() -> None:
        resting, resting_clock = _world(128)
        resting_clock.advance_s(12 * 3600)
        resting.sync()

    cost = _median_s(night, max(3, args.repeats // 4))
    results.append({"measurement": "idle_12h_5_cells", "seconds": cost, "simulated_s": 43_200})

    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    main()

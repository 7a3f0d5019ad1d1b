"""5. A night: 100 000 frames, and a 12-hour queue, for memory growth and per-event time.

Long run: ``ratiometric_timecourse`` in step mode for 50 000 pairs (100 000 frames of 64×64) on
the simulated rig at ``time_scale=100`` (its 130 ms of physical time per pair last 1.3 ms), in
the session (validation, journal, catalog). Per-event time is the real time between
consecutive ``primary`` events (one frame each), taken by a subscriber; the mean over the last
10 % of the frames is compared with the mean over the first 10 %. Resident memory (RSS) is
taken after a 20-pair warm-up run (after a garbage collection) and every 1000 frames during
the run; growth = peak − before.

Queue: a 12-hour night of queue items run as a plain loop of plans in one RunEngine (the same
plans the queue server would run, without its Redis and worker processes): wash with
probenecid HBSS, a 20-pair time course at one pair per minute, wash back to HBSS, another time
course, repeated until the rig clock has passed 12 h, at ``time_scale=500``. Reservoirs hold
5 L so the continuous perfusion lasts the night; ROIs are detected once and reused (the dye
bleaches over the night). Per-event time is the real time from each ``primary`` event's
``create`` message to its event document (what the RunEngine and the pipeline spend on one
event; the pacing sleeps in between are excluded), compared by the median of each tenth: with
120 events per tenth, the few events that carry a synchronous catalog flush (~1 in 40, a few
hundred ms each) would decide a tenth's mean by how many of them fall into it (means are in
the details). Growth = peak RSS after the first cycle − RSS after the first cycle.

Targets: RSS growth < 50 MB; |mean per-event time of the last 10 % ÷ first 10 % − 1| ≤ 10 %.
The queue runs first, so that its memory baseline is not what the long run leaves behind.

    python benchmarks/bench_night.py [--quick]
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _common import main_for, make_safe, measurement, open_benchmark_catalog, rss_mb

BENCHMARK = "night"
N_PAIRS = 50_000
LONG_TIME_SCALE = 100.0
QUEUE_TIME_SCALE = 500.0
NIGHT_S = 12 * 3600.0
QUEUE_PAIRS = 20
QUEUE_INTERVAL_S = 60.0
BIG_RESERVOIR_ML = 5000.0

#: Why a missed target is missed (tracemalloc of 1000-pair stretches of a long run in the
#: session on this machine; ``{…}``: this run's figures).
MISS_NOTES = {
    "long_rss": (
        "memory still grows with the events of one run. Found and fixed so far: bluesky's "
        "RunEngine kept every message of the run for rewinding (take_pair now checkpoints each "
        "pair), Imaging.pairs and the simulators' logs were unbounded (now bounded), and "
        "event_model's RunRouter gave the catalog writer a Filler that kept every frame's "
        "stream datum until the run's stop (now a pass-through; ~3.4 MB per 1000 pairs). What "
        "tracemalloc still sees growing: bluesky-tiled-plugins' consolidator keeps a "
        "seq_num → index entry per frame for the whole run (~0.7 MB per 1000 pairs), and the "
        "simulators' serial logs fill up to their bound: ~1.4 MB of Python objects per 1000 "
        "pairs in all, about two thirds of what RSS gained here. The rest is outside Python's "
        "heap and was not attributed: HDF5's metadata for the growing frame dataset, the "
        "embedded catalog's SQLite and DuckDB (the Tiled server runs in this process) and "
        "freed memory the allocator keeps. Closing it: the consolidator's map is library "
        "state (bluesky-tiled-plugins 2.0); a catalog server in its own process "
        "(`ionrig catalog serve`) takes the database's memory out of the rig's process; "
        "splitting a night into runs of a few thousand pairs bounds both, as the queue does."
    ),
    "long_per_event": (
        "the mean per-event time went from {per_event_first_10pc_ms:.1f} ms in the first "
        "tenth of the frames to {per_event_last_10pc_ms:.1f} ms in the last (medians "
        "{per_event_median_first_10pc_ms:.1f} and {per_event_median_last_10pc_ms:.1f} ms). Not "
        "attributed by a profile yet. What grows with a run's length and is touched per event "
        "or per flush: the consolidator's per-frame map above, the data-source update each "
        "catalog flush sends for the growing frame dataset, the HDF5 chunk index of that "
        "dataset, and Python's full garbage collections over a growing heap. Closing it: "
        "cProfile the first and the last 1000 events of a 50 000-pair run and compare."
    ),
}
MISS_NOTES["queue_per_event"] = (
    "Between runs the queue keeps nothing that grows per event (the RunEngine empties its "
    "rewind cache with every run, and the catalog writer's flushes took as long at the end of "
    "the night as at the start in a diagnostic run); a change here comes from the machine's "
    "load (see the load column) or from the catalog's growth across runs."
)


class EventClock:
    """Subscriber: real time of every event document of ``stream`` (and of its ``create``
    messages, through the RunEngine's message hook), and the resident memory every
    ``rss_every`` such events (MB; no garbage collection, so the peak is seen as it is)."""

    def __init__(self, stream: str = "primary", rss_every: int = 1000) -> None:
        import psutil

        self.stream = stream
        self.rss_every = rss_every
        self._process = psutil.Process()
        self._descriptors: set[str] = set()
        self.event_s: list[float] = []
        self.create_s: list[float] = []
        self.latency_s: list[float] = []
        self.rss_MB: list[float] = []

    def __call__(self, name: str, doc: dict) -> None:
        if name == "descriptor" and doc.get("name") == self.stream:
            self._descriptors.add(doc["uid"])
        elif name == "event" and doc["descriptor"] in self._descriptors:
            now = time.perf_counter()
            self.event_s.append(now)
            if self.create_s:
                self.latency_s.append(now - self.create_s[-1])
            if len(self.event_s) % self.rss_every == 0:
                self.rss_MB.append(self._process.memory_info().rss / 1e6)

    def on_message(self, msg) -> None:
        if msg.command == "create" and msg.kwargs.get("name") == self.stream:
            self.create_s.append(time.perf_counter())


def first_last_change(values: np.ndarray, statistic=np.mean) -> tuple[float, float, float]:
    """``statistic`` (mean, median) of the first and last 10 % of ``values`` and their
    relative change."""
    n = max(1, len(values) // 10)
    first, last = float(statistic(values[:n])), float(statistic(values[-n:]))
    return first, last, last / first - 1.0


def _long_run(quick: bool, catalog) -> Iterator[dict]:
    from ionrig.plans import ratiometric_timecourse
    from ionrig.session import start

    n_pairs = 25 if quick else N_PAIRS
    session = start(
        "sim",
        catalog=catalog,
        time_scale=LONG_TIME_SCALE,
        world={"sensor": {"width_px": 64, "height_px": 64}},
    )
    try:
        rig = session.rig
        session.RE(ratiometric_timecourse(rig, 20))
        first = session.catalog[-1].metadata["start"]
        rois = {"rois": first["rois"], "background_roi": first["background_roi"]}
        clock = EventClock()
        token = session.RE.subscribe(clock)
        before_mb = rss_mb()
        started = time.perf_counter()
        session.RE(ratiometric_timecourse(rig, n_pairs, **rois))
        wall_s = time.perf_counter() - started
        after_mb = rss_mb()
        session.RE.unsubscribe(token)
    finally:
        make_safe(session)
    intervals = np.diff(np.asarray(clock.event_s))
    first_ms, last_ms, change = first_last_change(1000.0 * intervals)
    peak_mb = max([after_mb, *clock.rss_MB])
    details = {
        "frames": 2 * n_pairs,
        "frame_shape": [64, 64],
        "time_scale": LONG_TIME_SCALE,
        "wall_s": wall_s,
        "rss_before_MB": before_mb,
        "rss_peak_MB": peak_mb,
        "rss_after_run_MB": after_mb,
        "rss_during_run_MB": clock.rss_MB[:: max(1, len(clock.rss_MB) // 20)],
        "per_event_first_10pc_ms": first_ms,
        "per_event_last_10pc_ms": last_ms,
        "per_event_median_first_10pc_ms": float(
            np.median(1000 * intervals[: len(intervals) // 10 or 1])
        ),
        "per_event_median_last_10pc_ms": float(
            np.median(1000 * intervals[-(len(intervals) // 10 or 1) :])
        ),
    }
    yield measurement(
        BENCHMARK,
        "long_rss",
        f"{2 * n_pairs} frames of 64x64 in one run: resident memory growth (peak)",
        peak_mb - before_mb,
        "MB",
        target=50.0,
        op="<=",
        quick=quick,
        details=details,
    )
    yield measurement(
        BENCHMARK,
        "long_per_event",
        f"{2 * n_pairs} frames: per-event time, last 10 % vs first 10 % (change)",
        100.0 * abs(change),
        "%",
        target=10.0,
        op="<=",
        quick=quick,
        details={**details, "signed_change_percent": 100.0 * change},
    )


@dataclass
class QueueNight:
    """What a timed queue night left: its event clock, the cycles run, real and simulated
    seconds, and resident memory (MB) after the first cycle and at its peak after it."""

    clock: EventClock
    cycles: int
    wall_s: float
    simulated_s: float
    after_first_mb: float
    end_mb: float


def start_queue_session(catalog, quick: bool):
    """A simulated session on a fast clock, with reservoirs big enough for the whole night."""
    from ionrig.session import start

    return start(
        "sim",
        catalog=catalog,
        time_scale=10_000.0 if quick else QUEUE_TIME_SCALE,
        world={
            "sensor": {"width_px": 64, "height_px": 64},
            "chamber": {"reservoir_mL": BIG_RESERVOIR_ML},
        },
        perfusion={"reservoir_mL": BIG_RESERVOIR_ML},
    )


def run_queue_night(session, night_s: float, n_pairs: int) -> QueueNight:
    """Wash and time-course cycles (two solutions each) until ``night_s`` rig-clock seconds
    have passed, with every event timed; the first cycle is the memory baseline."""
    from ionrig.plans import ratiometric_timecourse, wash

    rig = session.rig
    session.RE(ratiometric_timecourse(rig, 2))
    first = session.catalog[-1].metadata["start"]
    rois = {"rois": first["rois"], "background_roi": first["background_roi"]}
    clock = EventClock(rss_every=20)
    token = session.RE.subscribe(clock)
    session.RE.msg_hook = clock.on_message

    def cycle() -> None:
        for solution in ("hbss_probenecid", "hbss"):
            session.RE(wash(rig, solution=solution, bath_volumes=5.0))
            session.RE(ratiometric_timecourse(rig, n_pairs, interval_s=QUEUE_INTERVAL_S, **rois))

    start_s = rig.clock.now_s()
    started = time.perf_counter()
    cycle()
    after_first_mb = rss_mb()
    first_samples = len(clock.rss_MB)
    cycles = 1
    while rig.clock.now_s() - start_s < night_s:
        cycle()
        cycles += 1
    wall_s = time.perf_counter() - started
    end_mb = max([rss_mb(), *clock.rss_MB[first_samples:]])
    simulated_s = rig.clock.now_s() - start_s
    session.RE.unsubscribe(token)
    session.RE.msg_hook = None
    return QueueNight(clock, cycles, wall_s, simulated_s, after_first_mb, end_mb)


def queue_measurements(night: QueueNight, time_scale: float, *, quick: bool) -> Iterator[dict]:
    """The ``queue_rss`` and ``queue_per_event`` measurements of a queue night."""
    latency_ms = 1000.0 * np.asarray(night.clock.latency_s)
    first_ms, last_ms, change = first_last_change(latency_ms, np.median)
    first_mean_ms, last_mean_ms, _ = first_last_change(latency_ms)
    cycles, simulated_s = night.cycles, night.simulated_s
    details = {
        "cycles": cycles,
        "items": 4 * cycles,
        "events": len(latency_ms),
        "simulated_h": simulated_s / 3600.0,
        "time_scale": time_scale,
        "wall_s": night.wall_s,
        "rss_after_first_cycle_MB": night.after_first_mb,
        "rss_peak_after_first_cycle_MB": night.end_mb,
        "rss_during_MB": night.clock.rss_MB,
        "per_event_median_first_10pc_ms": first_ms,
        "per_event_median_last_10pc_ms": last_ms,
        "per_event_mean_first_10pc_ms": first_mean_ms,
        "per_event_mean_last_10pc_ms": last_mean_ms,
        "slowest_events_ms": sorted(latency_ms.tolist())[-5:],
    }
    yield measurement(
        BENCHMARK,
        "queue_rss",
        f"{simulated_s / 3600:.3g}-hour queue ({4 * cycles} items): resident memory growth",
        night.end_mb - night.after_first_mb,
        "MB",
        target=50.0,
        op="<=",
        quick=quick,
        details=details,
    )
    yield measurement(
        BENCHMARK,
        "queue_per_event",
        "Queue: per-event time (median), last 10 % vs first 10 % of events (change)",
        100.0 * abs(change),
        "%",
        target=10.0,
        op="<=",
        quick=quick,
        details={**details, "signed_change_percent": 100.0 * change},
    )


def _queue(quick: bool, catalog) -> Iterator[dict]:
    night_s = 1200.0 if quick else NIGHT_S
    n_pairs = 2 if quick else QUEUE_PAIRS
    session = start_queue_session(catalog, quick)
    try:
        night = run_queue_night(session, night_s, n_pairs)
    finally:
        make_safe(session)
    yield from queue_measurements(night, session.clock.time_scale, quick=quick)


def run(*, quick: bool, data_dir: Path, template: Path | None = None) -> Iterator[dict]:
    catalog = open_benchmark_catalog(data_dir, template)
    try:
        # the queue first: its memory baseline is then not what the long run leaves behind
        yield from _queue(quick, catalog)
        yield from _long_run(quick, catalog)
    finally:
        catalog.close()


if __name__ == "__main__":
    main_for(__doc__.splitlines()[0], run)

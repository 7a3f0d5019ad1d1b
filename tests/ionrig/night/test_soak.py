"""The soak (docs/reliability.md): a night of queue items on the simulated rig on the accelerated
clock, with random transient faults (seeded) in the filter wheel, the DAQ and the camera at a
realistic rate, watched by the queue's watchdogs; it completes with zero lost data and prints
its tally. The 12-hour night is marked ``soak`` (``pytest -m soak``); a 20-minute night with a
higher fault rate runs in the default suite."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pytest

from ionrig import plans
from ionrig.data.documents import audit_run
from ionrig.night.queue import Night, QueueSettings, queue_item
from ionrig.night.watchdogs import Watchdog, WatchdogConfig
from ionrig.session import start
from ionrig.simulators import CameraFault, Fault, FaultKind

TIMEOUT_S = 0.1  # real seconds: reply timeouts of the wheel and the DAQ
BLIP_REAL_S = 0.3  # a cable out and back: shorter than the retries' 0.7 s of backoff

#: Transient faults drawn at random: (instrument, kind). Garbage on the DAQ is left out: the
#: noise can land on a sweep's samples, where no driver can tell it from a signal (the fault
#: matrix injects it where it is caught: a telegraph reading).
SOAK_FAULTS = (
    ("filter_wheel", "no_reply"),
    ("filter_wheel", "garbage"),
    ("filter_wheel", "partial"),
    ("filter_wheel", "error_reply"),
    ("filter_wheel", "slow_reply"),
    ("filter_wheel", "disconnect"),
    ("daq", "no_reply"),
    ("daq", "partial"),
    ("daq", "error_reply"),
    ("daq", "slow_reply"),
    ("daq", "disconnect"),
    ("camera", "dropped"),
    ("camera", "garbage"),
    ("camera", "partial"),
    ("camera", "disconnect"),
    ("camera", "timeout"),
)


class LogTally(logging.Handler):
    """Counts the rig ports' retries (WARNING) and give-ups (ERROR) by port."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.retries: Counter[str] = Counter()
        self.gave_up: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        port = record.getMessage().split(":", 1)[0]
        (self.gave_up if record.levelno >= logging.ERROR else self.retries)[port] += 1


@dataclass
class NightTally:
    hours: float
    faults: Counter = field(default_factory=Counter)
    retries: Counter = field(default_factory=Counter)
    gave_up: Counter = field(default_factory=Counter)
    suspensions: int = 0
    runs: Counter = field(default_factory=Counter)
    events: Counter = field(default_factory=Counter)
    frames: int = 0
    sweeps: int = 0
    lost: int = 0
    failures: Counter = field(default_factory=Counter)
    rig_hours: float = 0.0
    real_s: float = 0.0

    def __str__(self) -> str:
        return "\n".join(
            [
                f"soak: {self.rig_hours:.2f} h of rig time in {self.real_s:.0f} s",
                f"  faults injected: {sum(self.faults.values())} "
                + ", ".join(f"{k} {n}" for k, n in sorted(self.faults.items())),
                f"  retries: {sum(self.retries.values())} "
                + ", ".join(f"{k} {n}" for k, n in sorted(self.retries.items())),
                f"  gave up: {sum(self.gave_up.values())}; suspensions: {self.suspensions}",
                f"  items: {dict(self.runs)}"
                + "".join(f"\n    {n} x {cause}" for cause, n in self.failures.items()),
                f"  data points: {sum(self.events.values())} events "
                + ", ".join(f"{k} {n}" for k, n in sorted(self.events.items()))
                + f"; {self.frames} frames, {self.sweeps} sweeps",
                f"  data lost: {self.lost}",
            ]
        )


def _schedule(rng, t0_s: float, hours: float, per_hour: float, min_gap_s: float):
    """Fault times (rig clock) of a Poisson process of ``per_hour``, at least ``min_gap_s``
    apart, each with its (instrument, kind)."""
    times, t = [], t0_s
    while True:
        t += max(min_gap_s, rng.exponential(3600.0 / per_hour))
        if t >= t0_s + hours * 3600.0:
            return times
        times.append((t, SOAK_FAULTS[rng.integers(len(SOAK_FAULTS))]))


def run_night(
    catalog,
    *,
    hours: float,
    per_hour: float,
    seed: int,
    time_scale: float,
    min_gap_s: float = 300.0,
) -> NightTally:
    """A night of queue items for ``hours`` of rig time with faults at ``per_hour``, at least
    ``min_gap_s`` of rig time apart. Items cycle: TRPM7 ramps (5 min, one every 10 s), a wash
    (5 bath volumes), a 340/380 time course (20 min, a pair every 30 s); at least one cycle.
    The time courses keep the first one's ROIs (one field of view all night: the dye fades
    over hours, and detection on a fresh preview would come to find no cells). Real seconds
    of software overhead count ``time_scale`` times in rig time."""
    import time

    real0 = time.monotonic()
    session = start(
        "sim",
        catalog=catalog,
        time_scale=time_scale,
        seed=seed,
        filter_wheel={"timeout_s": TIMEOUT_S},
        perfusion={"reservoir_mL": 5000.0},
        world={
            "chamber": {"reservoir_mL": 5000.0},
            "patch": {"ra_drift_per_hour": 0.0, "seal_loss_per_hour": 0.0},
        },
    )
    rig, clock = session.rig, session.clock
    rig.instruments["daq"].timeout_s = TIMEOUT_S
    watchdog = Watchdog(session.RE, rig, WatchdogConfig(disk_min_free_GB=None)).start()
    night = Night(session, watchdog, [], QueueSettings())
    tally = NightTally(hours)
    counter = LogTally()
    logging.getLogger("ionrig.devices").addHandler(counter)

    rng = np.random.default_rng(seed)
    t0 = clock.now_s()
    camera_faults = []
    for at_s, (instrument, kind) in _schedule(rng, t0, hours, per_hour, min_gap_s):
        if instrument == "camera":  # armed when due, on a frame of a time course
            camera_faults.append((at_s, kind))
            continue
        tally.faults[f"{instrument}/{kind}"] += 1  # armed now, for its rig time
        if kind == "disconnect":
            blip = BLIP_REAL_S * time_scale
            rig.instruments[instrument].inject(Fault(FaultKind.DISCONNECT, at_s, blip))
        else:
            delay = 10 * TIMEOUT_S * time_scale if kind == "slow_reply" else 0.0
            rig.instruments[instrument].inject(
                Fault(FaultKind(kind), at_s=at_s, count=1, delay_s=delay)
            )
    camera = rig.instruments["camera"]

    uids: list[str] = []
    field_of_view: dict = {}  # the first time course's ROIs, kept all night
    frame_streams: set[str] = set()

    def watch(name: str, doc: dict) -> None:
        if name == "start":
            uids.append(doc["uid"])
            if "rois" in doc and not field_of_view:
                field_of_view.update(rois=doc["rois"], background_roi=doc["background_roi"])
        elif name == "descriptor" and "camera" in doc["data_keys"]:
            frame_streams.add(doc["uid"])
        elif (  # a frame's event, once the field of view is fixed (no more previews)
            name == "event"
            and doc["descriptor"] in frame_streams
            and field_of_view
            and camera_faults
            and camera_faults[0][0] <= clock.now_s()
        ):
            _, kind = camera_faults.pop(0)
            tally.faults[f"camera/{kind}"] += 1
            camera.inject(CameraFault(camera.frames_taken, kind=kind, count=1, timeout_s=0.02))

    token = session.RE.subscribe(watch)
    solutions = ["hbss_probenecid", "hbss"]
    try:
        for index in range(10_000):
            if index >= 3 and clock.now_s() - t0 >= hours * 3600.0:
                break
            step = index % 3
            if step == 0:
                name, units = "trpm7_ramps", {"trpm7"}
                plan = plans.trpm7_ramps(rig, duration_s=300.0, period_s=10.0)
            elif step == 1:
                name, units = "wash", None
                plan = plans.wash(rig, solution=solutions[index // 3 % 2], bath_volumes=5.0)
            else:
                name, units = "ratiometric_timecourse", {"ratio"}
                plan = plans.ratiometric_timecourse(rig, 40, interval_s=30.0, **field_of_view)
            try:
                session.RE(queue_item(name, plan, units=units, night=night))
                tally.runs["completed"] += 1
            except Exception as error:  # a failed item: the night goes on
                tally.runs["failed"] += 1
                tally.failures[f"{name}: {type(error).__name__}: {error}"[:200]] += 1
    finally:
        session.RE.unsubscribe(token)
        logging.getLogger("ionrig.devices").removeHandler(counter)
        watchdog.stop()
        tally.rig_hours = (clock.now_s() - t0) / 3600.0
    tally.retries, tally.gave_up = counter.retries, counter.gave_up
    tally.suspensions = watchdog.suspensions
    for uid in uids:
        audit = audit_run(catalog.location.journal_dir / f"{uid}.jsonl")
        run = catalog[uid]
        stored = {s: len(run[s]["t_s"].read()) for s in run if s != "interruptions"}
        expected = {s: n for s, n in audit.events.items() if s != "interruptions"}
        tally.lost += sum(abs(n - stored.get(s, 0)) for s, n in expected.items())
        tally.lost += sum(abs(n) for n in audit.unreferenced.values())
        tally.lost += 0 if audit.complete else 1
        tally.events.update(audit.events)
        tally.frames += audit.referenced.get("camera", 0)
        tally.sweeps += audit.referenced.get("amplifier", 0)
    tally.real_s = time.monotonic() - real0
    session.close()
    return tally


def _check(tally: NightTally) -> None:
    print(f"\n{tally}")
    assert tally.rig_hours >= tally.hours
    assert tally.lost == 0  # zero lost data
    assert tally.runs["failed"] == 0 and sum(tally.gave_up.values()) == 0
    assert sum(tally.retries.values()) > 0  # faults were met and survived
    assert tally.frames > 0 and tally.sweeps > 0


@pytest.mark.slow
def test_a_twenty_minute_night_with_frequent_faults_loses_nothing(catalog):
    tally = run_night(
        catalog, hours=20 / 60, per_hour=24.0, seed=11, time_scale=200.0, min_gap_s=60.0
    )
    _check(tally)
    assert sum(tally.faults.values()) >= 4


@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_a_twelve_hour_night_with_random_transient_faults_loses_nothing(catalog):
    tally = run_night(catalog, hours=12.0, per_hour=4.0, seed=2024, time_scale=100.0)
    _check(tally)
    assert sum(tally.faults.values()) >= 24

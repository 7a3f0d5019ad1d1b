"""Watchdogs: each fault injected at a known rig-clock time suspends the run, which resumes when
the fault clears; the gap shows in ``t_s`` and no event or frame is lost. Seal loss fails the
cell cleanly."""

import threading

import numpy as np
import pytest

from ionrig.night.notify import LogFileNotifier, read_notices
from ionrig.night.watchdogs import (
    BridgedSignal,
    CellFailure,
    LowDiskSpace,
    Watchdog,
    WatchdogConfig,
    check_disk,
    ra_drift_failure,
)
from ionrig.plans import ratiometric_timecourse, trpm7_ramps
from ionrig.simulators import CameraFault

#: Only the watchdog under test (the others have their own tests).
QUIET = {
    "temperature_band_C": None,
    "reservoir_floor_mL": None,
    "camera_timeouts": False,
    "disk_min_free_GB": None,
    "poll_s": 0.005,
}


class FaultSchedule:
    """Runs actions when the rig clock passes given times (a thread polling every 0.5 ms)."""

    def __init__(self, clock, actions):
        self._clock = clock
        self._actions = sorted(actions, key=lambda a: a[0])
        self.done: list[tuple[float, float]] = []  # (scheduled, actual) clock times
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        for at_s, action in self._actions:
            while self._clock.now_s() < at_s:
                if self._stop.wait(0.0005):
                    return
            action()
            self.done.append((at_s, self._clock.now_s()))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)


@pytest.fixture
def session(catalog, request):
    """A simulated session at time_scale 50 (or the test's indirect parameter): the watchdog
    polls in real time (every 5 ms), so a slower clock keeps its latency in rig time small on
    a loaded machine."""
    from ionrig.session import start

    session = start("sim", catalog=catalog, time_scale=getattr(request, "param", 50))
    yield session
    if session.RE.state not in ("idle", "panicked"):
        session.RE.halt()


@pytest.fixture
def watched(session, tmp_path):
    """Start a watchdog on the session; yields a factory taking WatchdogConfig overrides."""
    started = []

    def make(**config):
        log = LogFileNotifier(tmp_path / "night.jsonl")
        watchdog = Watchdog(
            session.RE,
            session.rig,
            WatchdogConfig(**{**QUIET, **config.pop("config", {})}),
            notifiers=[log],
            **config,
        )
        started.append(watchdog.start())
        return watchdog

    yield make
    for watchdog in started:
        watchdog.stop()


def _timecourse_run(session, uid):
    run = session.catalog[uid]
    ratio_t = np.asarray(run["ratio"]["t_s"].read(), dtype=float)
    primary = run["primary"]
    frames = primary["camera"].read()
    seq = np.asarray(primary["seq_num"].read()) if "seq_num" in primary else None
    return run, ratio_t, frames, seq


def _interruptions(run):
    if "interruptions" not in run:
        return []
    return [str(v) for v in run["interruptions"]["interruption"].read()]


def test_bridged_signal_mirrors_an_ophyd_async_signal(session):
    from bluesky.run_engine import call_in_bluesky_event_loop

    bridge = BridgedSignal.of(session.rig.temperature.temperature_C)
    value = call_in_bluesky_event_loop(bridge.poll())
    assert value == pytest.approx(session.rig.world.bath_temperature_C, abs=0.05)
    seen = []
    bridge.subscribe(lambda value, **kw: seen.append(value), run=False)
    bridge.put(value)
    assert seen == [value]


# at x50 a loaded 2-core machine stretches a pair to ~10 s of rig time, longer than the
# bounds below leave for the pair in progress when the bath leaves its band
@pytest.mark.parametrize("session", [20], indirect=True)
def test_temperature_out_of_band_suspends_until_it_returns(session, watched, tmp_path):
    rig, clock = session.rig, session.clock
    watchdog = watched(config={"temperature_band_C": (20.0, 26.0)})
    chamber = rig.world.chamber
    t0 = clock.now_s()
    heater_on_s, heater_off_s = t0 + 20.0, t0 + 60.0
    with FaultSchedule(
        clock,
        [
            (heater_on_s, lambda: chamber.set_heater_C(40.0)),
            (heater_off_s, lambda: chamber.set_heater_C(None)),
        ],
    ):
        plan = ratiometric_timecourse(rig, 16, interval_s=5.0)
        result = session.RE(watchdog.guard(plan, units={"ratio"}))
    assert result.exit_status == "success"
    (uid,) = result.run_start_uids
    run, ratio_t, frames, _ = _timecourse_run(session, uid)
    assert ratio_t.size == 16 and frames.shape[0] == 32  # nothing lost
    history = watchdog.condition("temperature").history
    (suspended, s_at, s_value), (resumed, r_at, r_value) = history
    assert (suspended, resumed) == ("suspension", "resumption")
    # the bath (tau 30 s) passes 26 °C ~7.5 s after the heater goes to 40 °C (the suspension
    # waits for the end of the pair in progress), and falls back below 26 °C ~36 s after it
    # goes off (from ~35 °C)
    assert heater_on_s + 5 < s_at < heater_on_s + 25 and s_value >= 26.0
    assert heater_off_s + 20 < r_at < heater_off_s + 55 and 20.0 < r_value < 26.0
    frame_t = np.asarray(run["primary"]["t_s"].read(), dtype=float)
    assert np.all(np.diff(frame_t) > 0)
    straddling = (frame_t[::2] < s_at) & (frame_t[1::2] > r_at)
    assert not straddling.any()  # the two frames of a pair are on one side of the gap
    gaps = np.diff(ratio_t)
    assert gaps.max() > r_at - s_at - 5  # the gap is in the data
    before, after = ratio_t[np.argmax(gaps)], ratio_t[np.argmax(gaps) + 1]
    assert before < s_at and after > r_at
    assert any("outside" in text for text in _interruptions(run))
    notices = read_notices(tmp_path / "night.jsonl")
    assert [n.kind for n in notices] == ["suspension", "resumption"]
    assert "bath temperature" in notices[0].cause
    print(f"suspended at {s_at - t0:.1f} s, resumed at {r_at - t0:.1f} s (rig clock)")


class _Shot:
    """A triggerable that completes at once (stands for a camera exposure)."""

    name = "shot"
    parent = None

    def trigger(self):
        from ophyd_async.core import AsyncStatus

        async def done():
            return None

        return AsyncStatus(done())


def test_a_suspension_never_falls_between_an_exposure_and_its_unit_end(session, watched):
    """The bath leaves its band after a unit's first exposure and before its events: the
    suspension waits for the unit's end (the ``ratio`` event), so its frame and ratio are on
    one side of the gap."""
    import bluesky.plan_stubs as bps

    rig, clock = session.rig, session.clock
    watchdog = watched(config={"temperature_band_C": (20.0, 26.0)})
    chamber = rig.world.chamber
    shot = _Shot()

    def one_unit():
        yield from bps.open_run()
        yield from bps.trigger(shot, wait=True)
        chamber.set_heater_C(45.0)  # the bath passes 26 °C within ~6 s
        yield from bps.sleep(20.0)  # inside the unit: the suspension must wait
        for stream in ("primary", "ratio"):
            yield from bps.create(stream)
            yield from bps.read(rig.t_s)
            yield from bps.save()
        yield from bps.close_run()

    t0 = clock.now_s()
    heater_off = [(t0 + 22.0, lambda: chamber.set_heater_C(None))]  # back towards room
    with FaultSchedule(clock, heater_off):
        result = session.RE(watchdog.guard(one_unit(), units={"ratio"}))
    assert result.exit_status == "success"
    run = session.catalog[result.run_start_uids[0]]
    (ratio_t,) = np.asarray(run["ratio"]["t_s"].read(), dtype=float)
    (_, s_at, s_value), (_, r_at, _) = watchdog.condition("temperature").history
    assert s_value >= 26.0 and s_at >= t0 + 20.0
    assert s_at >= ratio_t < r_at  # the unit ended before the suspension


def test_reservoir_low_suspends_until_refilled(catalog, tmp_path):
    import bluesky.plan_stubs as bps

    from ionrig.session import start

    session = start(
        "sim",
        catalog=catalog,
        time_scale=50,
        perfusion={"reservoir_mL": 6.0},
        world={"chamber": {"reservoir_mL": 6.0}},
    )
    rig, clock = session.rig, session.clock
    session.RE(bps.mv(rig.perfusion, "hbss"))  # 2.5 mL exchanged, 3.5 mL left, flowing 2 mL/min
    watchdog = Watchdog(
        session.RE,
        rig,
        WatchdogConfig(**{**QUIET, "reservoir_floor_mL": 3.0, "reservoir_resume_mL": 5.0}),
        notifiers=[LogFileNotifier(tmp_path / "night.jsonl")],
    ).start()
    try:
        t0 = clock.now_s()
        refill_s = t0 + 60.0

        def refill():
            rig.operator("refill_reservoir", message="refill hbss", solution="hbss")

        with FaultSchedule(clock, [(refill_s, refill)]):
            plan = trpm7_ramps(rig, duration_s=90.0, period_s=2.0)
            result = session.RE(watchdog.guard(plan, units={"trpm7"}))
    finally:
        watchdog.stop()
    assert result.exit_status == "success"
    run = session.catalog[result.run_start_uids[0]]
    ramp_t = np.asarray(run["trpm7"]["t_s"].read(), dtype=float)
    assert ramp_t.size == 45 and run["primary"]["amplifier"].read().shape[0] == 45
    (_, s_at, s_value), (_, r_at, r_value) = watchdog.condition("reservoir").history
    # 0.5 mL above the floor drain in 15 s at 2 mL/min (then the ramp in progress ends)
    assert t0 + 14 < s_at < refill_s and s_value < 3.0
    assert refill_s <= r_at < refill_s + 5 and r_value == pytest.approx(6.0, abs=0.1)
    gaps = np.diff(ramp_t)
    assert gaps.max() > r_at - s_at - 3
    assert ramp_t[np.argmax(gaps)] < s_at + 0.5 and ramp_t[np.argmax(gaps) + 1] > r_at
    notices = read_notices(tmp_path / "night.jsonl")
    assert notices[0].kind == "suspension" and "refill it" in notices[0].cause
    assert any("reservoir low" in text for text in _interruptions(run))


def test_camera_frame_timeout_suspends_and_the_frame_is_taken_again(session, watched):
    rig, clock = session.rig, session.clock
    camera = rig.instruments["camera"]
    watchdog = watched(config={"camera_timeouts": True})
    t0 = clock.now_s()
    fault_s = t0 + 15.0

    def fault():  # the next 3 frames time out (each after 50 ms of real time)
        camera.inject(
            CameraFault(after_frames=camera.frames_taken, kind="timeout", count=3, timeout_s=0.05)
        )

    with FaultSchedule(clock, [(fault_s, fault)]):
        result = session.RE(
            watchdog.guard(ratiometric_timecourse(rig, 12, interval_s=4.0), units={"ratio"})
        )
    assert result.exit_status == "success"
    run, ratio_t, frames, _ = _timecourse_run(session, result.run_start_uids[0])
    assert ratio_t.size == 12
    # the pair the outage fell into is retaken whole (take_pair): its frame(s) taken before
    # the retake stay in primary without a ratio, so no ratio spans the outage
    assert frames.shape[0] - 24 in (1, 2)
    (_, s_at, _), (_, r_at, _) = watchdog.condition("camera").history
    assert fault_s <= s_at < fault_s + 10
    # three 50-ms timeouts: one fails the frame, two probes fail (5 s of rig time at x50)
    assert r_at - s_at > 4
    frame_t = np.asarray(run["primary"]["t_s"].read(), dtype=float)
    assert np.all(np.diff(frame_t) > 0)
    assert np.diff(frame_t).max() > r_at - s_at - 3  # the retaken frame comes after the gap
    assert camera.frames_taken >= 24
    assert any("camera frame timeout" in text for text in _interruptions(run))


def test_low_disk_suspends_until_space_is_freed(session, watched, tmp_path):
    rig, clock = session.rig, session.clock
    free = {"GB": 50.0}
    watchdog = watched(
        config={"disk_min_free_GB": 1.0, "disk_resume_free_GB": 2.0},
        data_dir=tmp_path,
        free_GB=lambda: free["GB"],
    )
    t0 = clock.now_s()
    full_s, freed_s = t0 + 15.0, t0 + 45.0
    with FaultSchedule(
        clock, [(full_s, lambda: free.update(GB=0.5)), (freed_s, lambda: free.update(GB=20.0))]
    ):
        result = session.RE(
            watchdog.guard(ratiometric_timecourse(rig, 12, interval_s=4.0), units={"ratio"})
        )
    assert result.exit_status == "success"
    _, ratio_t, frames, _ = _timecourse_run(session, result.run_start_uids[0])
    assert ratio_t.size == 12 and frames.shape[0] == 24
    (_, s_at, s_value), (_, r_at, r_value) = watchdog.condition("disk").history
    assert full_s <= s_at < freed_s and s_value == 0.5
    assert freed_s <= r_at < freed_s + 3 and r_value == 20.0
    gaps = np.diff(ratio_t)
    assert gaps.max() > r_at - s_at - 5
    assert ratio_t[np.argmax(gaps)] < s_at and ratio_t[np.argmax(gaps) + 1] > r_at
    with pytest.raises(LowDiskSpace, match="GB free"):
        check_disk(tmp_path, 1e9)
    assert check_disk(tmp_path, 0.0) > 0


def test_seal_loss_fails_the_cell_cleanly(catalog, docs, tmp_path):
    from ionrig.session import start

    session = start(
        "sim",
        catalog=catalog,
        time_scale=50,  # a real-time hiccup of 20 ms is 1 s of rig time
        world={
            "patch": {
                "ra_drift_per_hour": 0.0,
                "seal_loss_per_hour": 0.0,
                "seal_success_probability": 1.0,
                "break_in_probability": 1.0,
            }
        },
    )
    rig, clock, patch = session.rig, session.clock, session.rig.world.patch
    from ionrig.plans import break_in, form_seal

    session.RE(form_seal(rig, target_GOhm=2.0, timeout_s=120.0, suction_kPa=-3.0))
    session.RE(break_in(rig))
    assert patch.state == "whole_cell"
    watchdog = Watchdog(
        session.RE,
        rig,
        WatchdogConfig(**{**QUIET, "seal_check_every_s": 10.0}),
        notifiers=[LogFileNotifier(tmp_path / "night.jsonl")],
    ).start()
    session.RE.subscribe(docs)
    loss_s = clock.now_s() + 150.0
    patch.schedule_seal_loss(loss_s)  # the simulator's seal-loss event, at a known time
    try:
        with pytest.raises(CellFailure, match="seal lost"):
            session.RE(
                watchdog.guard(
                    trpm7_ramps(rig, duration_s=240.0, period_s=2.0),
                    units={"trpm7"},
                    seal_check=True,
                )
            )
    finally:
        watchdog.stop()
    assert patch.seal_lost
    (stop,) = docs.of("stop")
    assert stop["exit_status"] == "fail" and "seal lost" in stop["reason"]
    ramps = [e for e in docs.of("event") if "i_plus80_pA" in e["data"]]
    ramp_t = [e["data"]["t_s"] for e in ramps]
    assert ramp_t[0] < loss_s - 30 and max(ramp_t) < loss_s + 15 and len(ramps) < 100
    assert patch.pressure_kPa == 0.0 and patch.holding_mV == 0.0  # left safe
    run = session.catalog[stop["run_start"]]
    assert run["trpm7"]["t_s"].read().size == len(ramps)  # what was recorded is kept
    (notice,) = read_notices(tmp_path / "night.jsonl")
    assert notice.kind == "failure" and notice.details["condition"] == "seal"
    # found by the first seal test after the loss (one every 10 s of rig time, between ramps)
    assert loss_s <= notice.t_s < loss_s + 15


def test_ra_drift_beyond_the_threshold_fails_the_cell():
    config = WatchdogConfig(ra_max_increase_fraction=0.3, ra_max_MOhm=30.0)
    assert ra_drift_failure(10.0, 12.5, config) is None
    failure = ra_drift_failure(10.0, 13.5, config)
    assert isinstance(failure, CellFailure) and "from 10 to 13.5" in str(failure)
    assert ra_drift_failure(25.0, 31.0, config) is not None  # absolute limit
    with pytest.raises(ValueError, match="temperature_band_C"):
        WatchdogConfig(temperature_band_C=(30.0, 20.0))

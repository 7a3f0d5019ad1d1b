"""ratiometric_timecourse on the simulated rig: data contract, truth, refusals, failure."""

import numpy as np
import pytest

from ionrig.analysis import ion_concentration
from ionrig.data.readers import read_timecourse
from ionrig.plans import PlanParameterError, ratiometric_timecourse
from ionrig.session import start
from ionrig.simulators import CameraFault


def _run(session, docs=None, **kwargs):
    if docs is not None:
        session.RE.subscribe(docs)
    result = session.RE(ratiometric_timecourse(session.rig, **kwargs))
    return result, session.catalog[result.run_start_uids[0]]


def test_streams_keys_units_and_start_document(session, docs):
    result, run = _run(session, docs, n_pairs=3, exposure_ms=15)
    assert result.exit_status == "success"
    descriptors = {d["name"]: d for d in docs.of("descriptor")}
    assert set(descriptors) == {"primary", "ratio"}
    primary = descriptors["primary"]["data_keys"]
    assert {
        "camera",
        "camera-t_s",
        "camera-roi_sums_adu",
        "camera-excitation_nm",
        "t_s",
    } <= set(primary)
    assert primary["camera"]["external"] == "STREAM:"
    # the frame's excitation is recorded once, by the camera beside the frame (as in fly mode)
    assert primary["camera-excitation_nm"]["external"] == "STREAM:"
    assert primary["camera-excitation_nm"]["units"] == "nm"
    assert not any(key.startswith("filter_wheel") for key in primary)
    ratio_keys = descriptors["ratio"]["data_keys"]
    assert "t_s" in ratio_keys and "ratio_cell1" in ratio_keys
    for stream in descriptors.values():
        for key, datakey in stream["data_keys"].items():
            if datakey["dtype"] in ("number", "integer", "array"):
                assert datakey.get("units"), f"{key} has no units"
    start_doc = run.metadata["start"]
    assert start_doc["dye"] == "Mag-fura-2" and start_doc["excitation_nm"] == [340, 380]
    assert "excitation_sequence_nm" not in start_doc  # the frames carry their own
    assert start_doc["rig"] == "sim" and start_doc["solution"] == "hbss"
    assert start_doc["calibration"]["kd_mM"] == 1.9
    assert set(start_doc["rois"]) == {f"cell{i}" for i in range(1, 6)}
    assert start_doc["background_roi"]["shape"] == "rectangle"
    assert len(docs.of("event")) == 3 * 2 + 3  # a frame event per wavelength + a ratio event
    wavelengths = run["primary"]["camera-excitation_nm"].read()
    assert list(wavelengths) == [340.0, 380.0] * 3
    assert docs.of("stop")[0]["num_events"] == {"primary": 6, "ratio": 3}


def test_ratio_inverts_to_the_true_mg_of_every_cell(session):
    _, run = _run(session, n_pairs=4)
    data = read_timecourse(run, frames=True)
    assert data.frames[340].shape == (4, 128, 128)
    calibration = data.start["calibration"]
    world = session.rig.world
    for name in data.roi_names:
        spec = data.start["rois"][name]
        cell = min(
            world.cells, key=lambda c: (c.x_px - spec["x_px"]) ** 2 + (c.y_px - spec["y_px"]) ** 2
        )
        mg = ion_concentration(
            np.median(data.online_ratio[name]),
            r_min=calibration["r_min"],
            r_max=calibration["r_max"],
            kd=calibration["kd_mM"],
            beta=calibration["beta"],
        )
        assert mg == pytest.approx(cell.mg_free_mM, rel=0.05), name


def test_pairs_follow_interval_on_the_rig_clock(catalog):
    time_scale = 40
    session = start("sim", catalog=catalog, time_scale=time_scale)
    _, run = _run(session, n_pairs=4, interval_s=10.0)
    frame_t_s = run["primary"]["camera-t_s"].read()
    starts_340 = frame_t_s[::2]
    schedule = starts_340[0] + 10.0 * np.arange(4)
    # pairs start on the rig clock's schedule; a frame follows its pair's start by the shutter
    # and wheel moves, whose real duration jitters (× time_scale): allow 50 ms early of it
    # against the first frame, and 250 ms of software overhead late
    assert np.all(starts_340 >= schedule - 0.05 * time_scale)
    assert np.all(starts_340 < schedule + 0.25 * time_scale)
    assert np.diff(run["ratio"]["t_s"].read()).mean() == pytest.approx(10.0, abs=0.1 * time_scale)


def test_given_rois_are_used_and_recorded(session):
    rois = {"soma": {"shape": "circle", "x_px": 64, "y_px": 64, "radius_px": 5}}
    background = {"shape": "rectangle", "x_px": 0, "y_px": 118, "width_px": 20, "height_px": 10}
    _, run = _run(session, n_pairs=1, rois=rois, background_roi=background)
    start_doc = run.metadata["start"]
    assert list(start_doc["rois"]) == ["soma"]
    assert start_doc["background_roi"]["y_px"] == 118
    assert start_doc["roi_pixels"]["background"] == 200


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_pairs": 0}, r"n_pairs must be in 1\.\."),
        ({"n_pairs": 2.5}, r"n_pairs must be an integer"),
        ({"n_pairs": 2, "exposure_ms": -5}, r"exposure_ms must be in \(0, 10000\] ms"),
        ({"n_pairs": 2, "interval_s": float("nan")}, r"interval_s must be a number"),
        (
            {"n_pairs": 2, "rois": [{"shape": "star", "x_px": 1}]},
            r"rois\['cell1'\]: ROI shape must be one of circle, rectangle, polygon; got 'star'",
        ),
        (
            {
                "n_pairs": 2,
                "rois": {"a": {"shape": "circle", "x_px": 500, "y_px": 500, "radius_px": 3}},
            },
            r"rois\['a'\] covers no pixel",
        ),
        (
            {"n_pairs": 2, "background_roi": {"shape": "circle", "x_px": 3}},
            r"background_roi: missing 'y_px'",
        ),
        ({"n_pairs": 2, "mode": "scan"}, r"mode must be one of step, fly; got 'scan'"),
        ({"n_pairs": 2, "mode": "fly"}, r"mode='fly' needs a rig with a hardware excitation"),
    ],
)
def test_bad_parameters_are_refused_before_anything_moves(shared_session, docs, kwargs, message):
    shared_session.RE.subscribe(docs)
    bytes_before = shared_session.rig.instruments["filter_wheel"].n_received
    frames_before = shared_session.rig.instruments["camera"].frames_taken
    with pytest.raises(PlanParameterError, match=message):
        ratiometric_timecourse(shared_session.rig, **kwargs)
    assert docs.documents == []
    assert shared_session.rig.instruments["filter_wheel"].n_received == bytes_before
    assert shared_session.rig.instruments["camera"].frames_taken == frames_before


def test_camera_failure_closes_the_run_keeps_frames_and_closes_the_shutter(session, docs):
    camera = session.rig.instruments["camera"]
    camera.inject(CameraFault(after_frames=camera.frames_taken + 1 + 5))  # preview + 5 frames
    session.RE.subscribe(docs)
    with pytest.raises(Exception, match="simulated fault"):
        session.RE(ratiometric_timecourse(session.rig, 10))
    (stop,) = docs.of("stop")
    assert stop["exit_status"] == "fail"
    assert not session.rig.world.shutter_open
    run = session.catalog[stop["run_start"]]
    assert run.metadata["stop"]["exit_status"] == "fail"
    frames = run["primary"]["camera"].read()
    assert frames.shape[0] == 5
    assert len(run["ratio"]["t_s"].read()) == 2


def test_same_seed_same_frames_different_seed_different_noise(tmp_path):
    def frames(seed, where):
        session = start("sim", catalog=tmp_path / where, seed=seed, time_scale=100)
        result = session.RE(ratiometric_timecourse(session.rig, 2))
        data = session.catalog[result.run_start_uids[0]]["primary"]["camera"].read()
        session.close()
        return np.asarray(data)

    first, again, other = frames(5, "a"), frames(5, "b"), frames(6, "c")
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.fixture
def dg4_session(catalog):
    """The simulated rig with a Sutter DG-4 (ring buffer) instead of the Lambda 10-3."""
    return start(
        "sim",
        catalog=catalog,
        time_scale=100,
        filter_wheel={"driver": "dg4", "port": "ionrig-sim://dg4"},
    )


def test_fly_mode_pairs_invert_to_the_true_mg_and_match_the_step_contract(dg4_session, docs):
    session = dg4_session
    result, run = _run(session, docs, n_pairs=4, exposure_ms=10, mode="fly")
    assert result.exit_status == "success"
    assert docs.of("stop")[0]["num_events"] == {"primary": 8, "ratio": 4}
    start_doc = run.metadata["start"]
    assert start_doc["plan_args"]["mode"] == "fly"
    assert list(run["primary"]["camera-excitation_nm"].read()) == [340.0, 380.0] * 4
    data = read_timecourse(run)
    assert data.roi_sums_adu[340].shape[0] == data.roi_sums_adu[380].shape[0] == 4
    # frames are back to back: 340 then 380 per pair, each after the previous one
    t340, t380 = data.frame_t_s[340], data.frame_t_s[380]
    assert np.all(t380 > t340) and np.all(np.diff(t340) > 0)
    np.testing.assert_allclose(data.pair_t_s, (t340 + t380) / 2)
    calibration = start_doc["calibration"]
    world = session.rig.world
    for name in data.roi_names:
        spec = start_doc["rois"][name]
        cell = min(
            world.cells, key=lambda c: (c.x_px - spec["x_px"]) ** 2 + (c.y_px - spec["y_px"]) ** 2
        )
        mg = ion_concentration(
            np.median(data.online_ratio[name]),
            r_min=calibration["r_min"],
            r_max=calibration["r_max"],
            kd=calibration["kd_mM"],
            beta=calibration["beta"],
        )
        assert mg == pytest.approx(cell.mg_free_mM, rel=0.05), name
    assert not world.shutter_open
    assert session.rig.instruments["filter_wheel"].mode != "running"  # ring buffer ended


def test_fly_mode_is_faster_than_step_mode_on_the_rig_clock(dg4_session):
    """Same wheel, same exposure: step mode pays a serial move per frame, fly mode none."""
    session = dg4_session
    durations = {}
    for mode in ("step", "fly"):
        _, run = _run(session, n_pairs=6, exposure_ms=10, mode=mode)
        t = read_timecourse(run).frame_t_s
        durations[mode] = t[380][-1] - t[340][0]
    assert durations["fly"] < 0.8 * durations["step"], durations


def test_step_and_fly_record_each_frames_true_excitation_under_one_key(dg4_session):
    """Both modes on one DG-4 rig: every frame's ``camera-excitation_nm`` is the wavelength the
    simulated world was lit at during that frame's exposure (its ground truth), and
    ``read_frame``/``read_timecourse`` split the frames by it alike."""
    from ionrig.data.readers import iter_frames, read_frame

    session = dg4_session
    world = session.rig.world
    lit = []  # the world's excitation as each exposure ends (the DG-4 stepped at its start)
    session.rig.instruments["camera"].observers.insert(
        0, lambda what, index: lit.append(world.excitation_nm) if what == "exposure_end" else 0
    )
    for mode, n_pairs in (("step", 3), ("fly", 4)):
        lit.clear()
        _, run = _run(session, n_pairs=n_pairs, exposure_ms=10, mode=mode)
        recorded = list(run["primary"]["camera-excitation_nm"].read())
        # the run's frames are the last exposures (after the 380-nm preview for the ROIs)
        truth = lit[-2 * n_pairs :]
        assert len(lit) == 2 * n_pairs + 1, mode
        assert recorded == truth == [340.0, 380.0] * n_pairs, mode
        assert not any(key.startswith("filter_wheel") for key in run["primary"]), mode
        frames = np.concatenate([block for _, block in iter_frames(run)])
        np.testing.assert_array_equal(read_frame(run, wavelength_nm=380, index=-1), frames[-1])
        np.testing.assert_array_equal(read_frame(run, wavelength_nm=340, index=1), frames[2])
        data = read_timecourse(run)
        t_s = np.asarray(run["primary"]["camera-t_s"].read())
        np.testing.assert_array_equal(data.frame_t_s[340], t_s[0::2])
        np.testing.assert_array_equal(data.frame_t_s[380], t_s[1::2])


@pytest.mark.parametrize("frame", [1, 2])
def test_a_pause_inside_a_pair_retakes_the_pair_whole_without_duplicate_events(
    session, docs, frame
):
    """A pause landing in the 2nd pair, while its first or second frame is being read out
    (the wheel has just started for the next filter): the replay from the last checkpoint
    resends no event, a frame whose event was dropped is forgotten by the camera (taken
    again, never two frames behind one event), the interrupted pair's saved frames stay in
    ``primary`` without a ratio, and the pair is taken again whole after the pause."""
    import threading
    import time

    from bluesky.utils import RunEngineInterrupted

    RE, wheel = session.RE, session.rig.filter_wheel
    moves = {"n": 0, "run": False}

    def hook(msg):
        moves["run"] = moves["run"] or msg.command == "open_run"  # not the ROI preview's move
        moving_wheel = msg.obj is wheel or getattr(msg.obj, "target", None) is wheel
        if moves["run"] and msg.command == "set" and moving_wheel:
            moves["n"] += 1
            # sets: the first pair's first filter, then one move per readout
            if moves["n"] == 3 + frame:
                threading.Thread(target=RE.request_pause).start()
                time.sleep(0.3)  # the pause lands at this message: inside the pair

    world = session.rig.world
    lit = []  # (rig time, the world's excitation) as each exposure starts: the truth
    session.rig.instruments["camera"].observers.insert(
        0,
        lambda what, index: (
            lit.append((world.clock.now_s(), world.excitation_nm)) if what == "exposing" else None
        ),
    )
    RE.subscribe(docs)
    RE.msg_hook = hook
    try:
        with pytest.raises(RunEngineInterrupted):
            RE(ratiometric_timecourse(session.rig, 4))
        assert RE.state == "paused"
        result = RE.resume()
    finally:
        RE.msg_hook = None
    assert result.exit_status == "success"
    streams = {d["uid"]: d["name"] for d in docs.of("descriptor")}
    events = {"primary": [], "ratio": []}
    for event in docs.of("event"):
        events[streams[event["descriptor"]]].append(event)
    for stream, stream_events in events.items():
        seq = [e["seq_num"] for e in stream_events]
        assert seq == list(range(1, len(seq) + 1)), f"{stream}: {seq}"  # none sent twice
    (run,) = [session.catalog[-1]]
    wavelengths = list(run["primary"]["camera-excitation_nm"].read())
    # the interrupted pair's frames (one or both: the pause lands a message or two after it
    # was asked for) stay in primary without a ratio; the pair is taken again
    orphans = len(wavelengths) - 8
    assert orphans in (0, 1, 2)
    assert wavelengths[:2] + wavelengths[2 + orphans :] == [340.0, 380.0] * 4
    # every frame records the light it was taken in, the orphans too: bluesky's replay after
    # the pause triggers the camera again wherever the wheel went meanwhile
    truth = []
    for start_s in run["primary"]["camera-t_s"].read():
        when_s, nm = min(lit, key=lambda exposure: abs(exposure[0] - start_s))
        assert abs(when_s - start_s) < 0.5  # this frame's exposure (they are seconds apart)
        truth.append(nm)
    assert wavelengths == truth
    assert len(events["ratio"]) == 4
    frame_t = [e["data"]["t_s"] for e in events["primary"]]
    pause_s = max(np.diff(frame_t))
    assert pause_s > 20.0  # the pause (>= 0.3 s real at x100) is in the data
    used = [*frame_t[:2], *frame_t[2 + orphans :]]
    for k, ratio in enumerate(events["ratio"]):
        first_s, second_s = used[2 * k], used[2 * k + 1]
        assert second_s - first_s < pause_s / 2  # never a ratio from both sides of the pause
        # its time is the mean of the frames' starts (read before each trigger)
        assert first_s - pause_s / 2 < ratio["data"]["t_s"] < second_s
    # every frame in the camera's file is one primary event's: no frame taken before the
    # pause and dropped by the replay is left behind
    assert run["primary"]["camera"].read().shape[0] == len(events["primary"])
    camera_frames = [
        sum(
            d["indices"]["stop"] - d["indices"]["start"]
            for d in docs.of("stream_datum")
            if d["descriptor"] == primary_uid
        )
        for primary_uid in [u for u, n in streams.items() if n == "primary"]
    ]
    # frames, t_s, ROI sums and excitation
    assert camera_frames == [len(events["primary"]) * 4]


def test_step_mode_moves_the_wheel_during_the_readout_never_during_an_exposure(catalog):
    # time_scale 1: the simulated Lambda 10-3 and camera take their real times
    session = start("sim", catalog=catalog, time_scale=1)
    rig, world = session.rig, session.rig.world
    wheel = rig.instruments["filter_wheel"]
    exposures = []  # (what, excitation during the exposure, rig time)
    # first in line: the camera device's own observer lets the plan move the wheel at once
    rig.instruments["camera"].observers.insert(
        0, lambda what, index: exposures.append((what, world.excitation_nm, world.clock.now_s()))
    )
    try:
        moves_before = len(wheel.history)
        _, run = _run(session, n_pairs=4, exposure_ms=20)
        wavelengths = list(run["primary"]["camera-excitation_nm"].read())
    finally:
        session.close()
    # the run's 8 frames (after the 380-nm preview that found the ROIs)
    starts = [e for e in exposures if e[0] == "exposing"][-8:]
    ends = [e for e in exposures if e[0] == "exposure_end"][-8:]
    assert len(exposures) == 2 * 9
    # the light is that of the frame's filter from the start to the end of every exposure,
    # and each frame records the light it had
    assert wavelengths == [340.0, 380.0] * 4
    assert [s[1] for s in starts] == [e[1] for e in ends] == [340, 380] * 4
    assert wavelengths == [s[1] for s in starts]
    # each move after a frame began before that frame's readout (5 ms) was over
    readout_s = rig.config.world.sensor.readout_ms / 1000.0
    move_time_s = 0.040  # Lambda 10-3, speed 1, adjacent filters (docs/reference/instruments.md §1)
    move_starts = [done_s - move_time_s for done_s, _, _ in list(wheel.history)[moves_before:]]
    overlapped = [
        any(end_s <= m < end_s + readout_s for m in move_starts) for _, _, end_s in ends[:-1]
    ]
    assert sum(overlapped) >= 4, overlapped  # most: a loaded machine can delay a few

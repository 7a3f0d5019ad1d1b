import bluesky.plans as bp
import h5py
import numpy as np
import pytest
from bluesky.utils import FailedStatus
from ophyd_async.core import StaticPathProvider, UUIDFilenameProvider, init_devices

from ionrig.devices import Camera
from ionrig.simulators import CameraFault


@pytest.fixture
def camera(tmp_path, world, camera_driver):
    with init_devices():
        camera = Camera(
            camera_driver,
            StaticPathProvider(UUIDFilenameProvider(), tmp_path),
            now_s=world.clock.now_s,
            exposure_ms=10.0,
        )
    return camera


def test_frames_go_to_hdf5_by_reference(RE, docs, camera, world, tmp_path):
    world.excitation_nm, world.shutter_open = 380, True
    mask = np.zeros((48, 64), bool)
    mask[10:20, 10:20] = True
    camera.set_rois({"a": mask, "bg": ~mask})
    RE(bp.count([camera], num=3), docs)
    (descriptor,) = docs.of("descriptor")
    keys = descriptor["data_keys"]
    assert keys["camera"]["external"] == "STREAM:" and keys["camera"]["shape"] == [1, 48, 64]
    assert {k: v["units"] for k, v in keys.items()} == {
        "camera": "ADU",
        "camera-t_s": "s",
        "camera-roi_sums_adu": "ADU",
    }
    assert len(docs.of("stream_resource")) == 3
    assert all("camera" not in e["data"] for e in docs.of("event"))  # never inline
    (path,) = tmp_path.glob("*.h5")
    with h5py.File(path, "r") as f:
        frames = f["/entry/data/data"][()]
        sums = f["/entry/roi_sums_adu"][()]
        t_s = f["/entry/t_s"][()]
    assert frames.shape == (3, 48, 64) and frames.dtype == np.uint16
    np.testing.assert_allclose(sums[:, 0], frames[:, mask].sum(axis=1))
    np.testing.assert_allclose(sums[:, 1], frames[:, ~mask].sum(axis=1))
    assert np.all(np.diff(t_s) > 0)
    assert docs.of("descriptor")[0]["configuration"]["camera"]["data"]["camera-exposure_ms"] == 10.0


def test_frames_show_cells_brighter_than_background(RE, camera, world, camera_driver):
    world.excitation_nm, world.shutter_open = 380, True
    frame = camera_driver.snap(20.0)
    assert frame[16, 16] > frame[40, 5] + 50
    world.shutter_open = False
    dark = camera_driver.snap(20.0)
    assert abs(float(dark[16, 16]) - float(dark[40, 5])) < 30  # no excitation, no cells


def test_camera_fault_fails_the_run_and_keeps_earlier_frames(
    RE, docs, camera, camera_driver, tmp_path
):
    camera_driver.inject(CameraFault(after_frames=2))
    with pytest.raises(Exception, match="simulated fault"):
        RE(bp.count([camera], num=5), docs)
    assert docs.of("stop")[0]["exit_status"] == "fail"
    assert len(docs.of("event")) == 2
    (path,) = tmp_path.glob("*.h5")
    with h5py.File(path, "r") as f:
        assert f["/entry/data/data"].shape[0] == 2


def test_roi_masks_must_fit_the_sensor(camera):
    with pytest.raises(ValueError, match="mask has shape"):
        camera.set_rois({"a": np.ones((10, 10), bool)})
    with pytest.raises(ValueError, match="is empty"):
        camera.set_rois({"a": np.zeros((48, 64), bool)})


@pytest.mark.parametrize(
    ("kind", "error"), [("timeout", "CameraTimeout"), ("dropped", "FrameDropped")]
)
def test_frame_timeout_and_dropped_frame_are_typed_and_bounded(
    RE, docs, camera, camera_driver, kind, error
):
    import time

    from ionrig import simulators

    camera_driver.inject(CameraFault(after_frames=1, kind=kind, timeout_s=0.3))
    wall = time.monotonic()
    with pytest.raises(FailedStatus) as failure:
        RE(bp.count([camera], num=4), docs)
    assert isinstance(failure.value.__cause__, getattr(simulators, error))
    assert time.monotonic() - wall < 5  # within its timeout, nothing hangs
    assert docs.of("stop")[0]["exit_status"] == "fail"
    assert len(docs.of("event")) == 1


def test_a_transient_fault_clears_after_its_count(RE, camera, camera_driver):
    camera_driver.inject(CameraFault(after_frames=0, kind="dropped", count=1))
    from ionrig.simulators import FrameDropped

    with pytest.raises(FailedStatus) as failure:
        RE(bp.count([camera], num=1))
    assert isinstance(failure.value.__cause__, FrameDropped)
    result = RE(bp.count([camera], num=2))
    assert result.exit_status == "success"


def _fly(camera, n, pulses):
    import bluesky.plan_stubs as bps
    import bluesky.preprocessors as bpp
    from ophyd_async.core import DetectorTrigger, TriggerInfo

    @bpp.stage_decorator([camera])
    @bpp.run_decorator()
    def plan():
        yield from bps.prepare(
            camera,
            TriggerInfo(number_of_events=n, trigger=DetectorTrigger.EXTERNAL_EDGE, livetime=0.01),
            wait=True,
        )
        yield from bps.declare_stream(camera, name="primary")
        yield from bps.kickoff(camera, wait=True)
        pulses()
        yield from bps.collect_while_completing(flyers=[camera], dets=[camera], flush_period=0.05)

    return plan()


def test_external_trigger_takes_one_frame_per_edge(RE, docs, camera, camera_driver, world):
    world.excitation_nm, world.shutter_open = 380, True
    camera.trigger_timeout_s = 2.0

    def three_edges():
        for _ in range(3):
            camera_driver.fire()

    RE(_fly(camera, 3, three_edges), docs)
    assert camera_driver.frames_taken == 3
    frames_resource = docs.of("stream_resource")[0]["uid"]
    datums = [d for d in docs.of("stream_datum") if d["stream_resource"] == frames_resource]
    assert sum(d["indices"]["stop"] - d["indices"]["start"] for d in datums) == 3


def test_external_trigger_without_edges_times_out(RE, camera, camera_driver):
    import time

    from ionrig.simulators import CameraTimeout

    camera.trigger_timeout_s = 0.2
    wall = time.monotonic()
    with pytest.raises(FailedStatus) as failure:
        RE(_fly(camera, 2, lambda: None))
    assert isinstance(failure.value.__cause__, CameraTimeout)
    assert time.monotonic() - wall < 5  # the camera's 0.2 s, not the 10 s index timeout


@pytest.mark.parametrize(
    ("kind", "error", "message"),
    [
        ("garbage", "BadFrame", r"expected a 48x64 integer image, got shape \(768,\) of uint8"),
        ("partial", "BadFrame", r"got shape \(24, 64\)"),
        ("disconnect", "CameraDisconnected", "camera link lost"),
    ],
)
def test_garbage_partial_frames_and_a_lost_link_are_typed(
    RE, docs, camera, camera_driver, tmp_path, kind, error, message
):
    from ionrig import devices, simulators

    camera_driver.inject(CameraFault(after_frames=1, kind=kind))
    with pytest.raises(FailedStatus, match=message) as failure:
        RE(bp.count([camera], num=3), docs)
    cause = failure.value.__cause__
    assert isinstance(cause, getattr(devices, error, None) or getattr(simulators, error))
    assert len(docs.of("event")) == 1
    (path,) = tmp_path.glob("*.h5")
    with h5py.File(path, "r") as f:  # nothing of the bad frame was written
        assert f["/entry/data/data"].shape[0] == 1


def test_a_camera_on_a_retrying_port_retakes_a_bad_frame(RE, world, camera_driver, tmp_path):
    from ionrig.devices import BlockingPort, RetryPolicy, transient_frame_error

    policy = RetryPolicy(backoff_s=0.01, max_backoff_s=0.01, transient=transient_frame_error)
    with init_devices():
        camera = Camera(
            camera_driver,
            StaticPathProvider(UUIDFilenameProvider(), tmp_path),
            now_s=world.clock.now_s,
            port=BlockingPort("camera", retry=policy),
        )
    camera_driver.inject(CameraFault(after_frames=1, kind="partial", count=2))
    assert RE(bp.count([camera], num=3)).exit_status == "success"
    (path,) = tmp_path.glob("*.h5")
    with h5py.File(path, "r") as f:
        assert f["/entry/data/data"].shape == (3, 48, 64)


def _fly_internal(camera, n, *, during=None):
    """Plan: ``n`` frames prepared, kicked off, collected while completing; ``during()`` (a
    plan) runs after the kickoff."""
    import bluesky.plan_stubs as bps
    import bluesky.preprocessors as bpp
    from ophyd_async.core import TriggerInfo

    @bpp.stage_decorator([camera])
    @bpp.run_decorator()
    def plan():
        yield from bps.prepare(camera, TriggerInfo(number_of_events=n, livetime=0.01), wait=True)
        yield from bps.declare_stream(camera, name="primary")
        yield from bps.kickoff(camera, wait=True)
        if during is not None:
            yield from during()
        yield from bps.collect_while_completing(flyers=[camera], dets=[camera], flush_period=0.05)

    return plan()


def _frames_referenced(docs) -> int:
    frames_resource = next(
        d["uid"] for d in docs.of("stream_resource") if d["data_key"] == "camera"
    )
    datums = [d for d in docs.of("stream_datum") if d["stream_resource"] == frames_resource]
    return sum(d["indices"]["stop"] - d["indices"]["start"] for d in datums)


def test_roi_sums_are_the_float64_sums_of_their_pixels(RE, camera, world, tmp_path):
    world.excitation_nm, world.shutter_open = 380, True
    a = np.zeros((48, 64), bool)
    a[10:20, 10:25] = True
    b = np.zeros((48, 64), bool)
    b[15:40, 20:30] = True  # overlaps a
    camera.set_rois({"a": a, "b": b, "rest": ~(a | b)})
    RE(_fly_internal(camera, 5))
    (path,) = tmp_path.glob("*.h5")
    with h5py.File(path, "r") as f:
        frames, sums = f["/entry/data/data"][()], f["/entry/roi_sums_adu"][()]
    for i, mask in enumerate((a, b, ~(a | b))):
        expected = np.array([frame[mask].astype(np.float64).sum() for frame in frames])
        np.testing.assert_array_equal(sums[:, i], expected)


def test_a_fault_in_a_fly_acquisition_fails_it_and_flushes_and_counts_every_earlier_frame(
    RE, docs, camera, camera_driver, tmp_path
):
    import time

    from bluesky.run_engine import call_in_bluesky_event_loop

    camera_driver.inject(CameraFault(after_frames=7))
    wall = time.monotonic()
    with pytest.raises(FailedStatus, match="simulated fault"):
        RE(_fly_internal(camera, 50), docs)
    assert time.monotonic() - wall < 5  # at once, not after the index timeout
    assert docs.of("stop")[0]["exit_status"] == "fail"
    # flushed before the failure, then counted (what StreamDatum documents and recovery follow)
    assert call_in_bluesky_event_loop(camera.frames_written.get_value()) == 7
    (path,) = tmp_path.glob("*.h5")
    with h5py.File(path, "r") as f:
        assert f["/entry/data/data"].shape[0] == f["/entry/t_s"].shape[0] == 7


def test_a_stopped_fly_acquisition_takes_no_more_frames(RE, camera, camera_driver, tmp_path):
    import asyncio

    from bluesky.run_engine import call_in_bluesky_event_loop
    from ophyd_async.core import TriggerInfo

    async def kick_off_then_stop() -> tuple[int, int]:
        await camera.stage()
        await camera.prepare(TriggerInfo(number_of_events=100_000, livetime=0.01))
        await camera.kickoff()
        await asyncio.sleep(0.05)
        await camera.acquisition.ensure_stopped()  # as unstage and a failed plan do
        taken = camera_driver.frames_taken
        await asyncio.sleep(0.2)  # the file is still open: nothing else ends the thread
        later = camera_driver.frames_taken
        await camera.unstage()
        return taken, later

    taken, later = call_in_bluesky_event_loop(kick_off_then_stop())
    assert 0 < taken < 100_000
    assert later <= taken + 1  # at most the frame being taken at the stop
    (path,) = tmp_path.glob("*.h5")
    with h5py.File(path, "r") as f:  # closed at the stop: whole records only
        n = f["/entry/data/data"].shape[0]
        assert 0 < n <= later
        assert f["/entry/t_s"].shape[0] == n and np.all(np.isfinite(f["/entry/t_s"][()]))


def test_a_fly_acquisition_on_a_retrying_port_retakes_a_bad_frame(
    RE, docs, world, camera_driver, tmp_path, caplog
):
    import logging

    from ionrig.devices import BlockingPort, RetryPolicy, transient_frame_error

    policy = RetryPolicy(backoff_s=0.01, max_backoff_s=0.01, transient=transient_frame_error)
    port = BlockingPort("camera", retry=policy)
    with init_devices():
        camera = Camera(
            camera_driver,
            StaticPathProvider(UUIDFilenameProvider(), tmp_path),
            now_s=world.clock.now_s,
            port=port,
        )
    camera_driver.inject(CameraFault(after_frames=3, kind="partial", count=2))
    caplog.set_level(logging.WARNING, logger="ionrig.devices")
    assert RE(_fly_internal(camera, 10), docs).exit_status == "success"
    assert port.retries == 2 and port.gave_up == 0
    logged = [r.getMessage() for r in caplog.records if r.name == "ionrig.devices"]
    assert len(logged) == 2 and logged[0].startswith("camera: ") and "retry 1 of 3" in logged[0]
    assert _frames_referenced(docs) == 10
    (path,) = tmp_path.glob("*.h5")
    with h5py.File(path, "r") as f:
        assert f["/entry/data/data"].shape == (10, 48, 64)


class _GatedDriver:
    """A camera driver whose readout lasts until the test releases it; it announces the end
    of each exposure when ``announces`` (as the simulated camera does)."""

    width_px = height_px = 16
    bit_depth = 16
    readout_ms = 1.0

    def __init__(self, announces: bool) -> None:
        import threading

        self.readout_over = threading.Event()
        if announces:
            self.observers = []

    def snap(self, exposure_ms: float):
        for observer in getattr(self, "observers", []):
            observer("exposure_end", 0)
        if not self.readout_over.wait(5.0):
            raise TimeoutError("the test never released the readout")
        return np.zeros((16, 16), np.uint16)


@pytest.mark.parametrize("announces", [True, False])
def test_exposure_ended_comes_before_the_frame_when_the_driver_announces_it(
    RE, tmp_path, announces
):
    import bluesky.plan_stubs as bps
    from ophyd_async.core import TriggerInfo

    driver = _GatedDriver(announces)
    with init_devices():
        camera = Camera(driver, StaticPathProvider(UUIDFilenameProvider(), tmp_path), now_s=float)
    seen = {}

    def plan():
        yield from bps.stage(camera)
        yield from bps.prepare(camera, TriggerInfo(livetime=0.001), wait=True)
        status = yield from bps.trigger(camera, group="frame")
        if not announces:
            driver.readout_over.set()  # else exposure_ended would wait for the frame forever
        yield from bps.wait_for([camera.exposure_ended])
        seen["frame_done_at_exposure_end"] = status.done
        driver.readout_over.set()
        yield from bps.wait(group="frame")
        seen["frame_ok"] = status.success
        yield from bps.unstage(camera)

    RE(plan())
    assert seen["frame_ok"]
    # announced: the exposure is over while the frame is still being read out; otherwise
    # exposure_ended falls back to the frame itself
    assert seen["frame_done_at_exposure_end"] is (not announces)

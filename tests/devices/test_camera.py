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

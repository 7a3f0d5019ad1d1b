"""MicroManagerCamera through pymmcore-plus's UniMMCore, with the simulated camera as a pure-Python
Micro-Manager camera device: the real pymmcore-plus code path, no Micro-Manager installation.

Skipped without the ``micromanager`` extra (pymmcore-plus). Importing pymmcore-plus configures
logging: ``PYTEST_RUNNING`` (pymmcore-plus's own switch) keeps it from opening a log file in the
user's data folder, and the root logger's level, which it sets to DEBUG, is put back.
"""

import logging
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import bluesky.plans as bp
import h5py
import numpy as np
import pytest
from ophyd_async.core import StaticPathProvider, UUIDFilenameProvider, init_devices

os.environ.setdefault("PYTEST_RUNNING", "1")
_root_level = logging.getLogger().level
unicore = pytest.importorskip("pymmcore_plus.experimental.unicore")
logging.getLogger().setLevel(_root_level)

from ionrig.devices import Camera  # noqa: E402
from ionrig.devices.drivers import (  # noqa: E402
    InstrumentError,
    InstrumentReplyError,
    MicroManagerCamera,
    MicroManagerError,
    MicroManagerImageError,
    silence_missing_micromanager_error,
    simulated_core,
)
from ionrig.simulators import (  # noqa: E402
    CameraError,
    CameraFault,
    CameraSensor,
    Cell,
    ScaledClock,
    SimulatedCamera,
    World,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


def make_world(*, bit_depth: int = 16, seed: int = 3) -> World:
    """The suite's small world (tests/devices/conftest.py), lit at 380 nm: twins are identical."""
    world = World(
        cells=[Cell(16, 16, 6, mg_free_mM=0.5), Cell(44, 24, 6, mg_free_mM=1.2)],
        sensor=CameraSensor(width_px=64, height_px=48, bit_depth=bit_depth),
        clock=ScaledClock(1000),
        seed=seed,
    )
    world.excitation_nm, world.shutter_open = 380, True
    return world


def bare_core(device=None, label: str = "Cam"):
    """A UniMMCore with ``device`` (a unicore camera device) loaded as its current camera."""
    with silence_missing_micromanager_error():
        core = unicore.UniMMCore()
    if device is not None:
        core.loadPyDevice(label, device)
        core.initializeDevice(label)
        core.setCameraDevice(label)
    return core


class ExposureCamera(unicore.SimpleCameraDevice):
    """A test device whose every pixel is its exposure (ms), in ``dtype``."""

    def __init__(self, dtype=np.uint16, shape=(6, 8)) -> None:
        self._dtype = np.dtype(dtype)
        self._shape = shape
        self._exposure_ms = 1.0
        super().__init__()

    def get_exposure(self) -> float:
        return self._exposure_ms

    def set_exposure(self, exposure: float) -> None:
        self._exposure_ms = float(exposure)

    def sensor_shape(self):
        return self._shape

    def dtype(self):
        return self._dtype

    def snap(self, buffer):
        buffer[...] = self._exposure_ms
        return {}


class RecordingCamera(SimulatedCamera):
    """The simulated camera, recording the exposure of every snap."""

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.world = world
        self.exposures_ms: list[float] = []

    def snap(self, exposure_ms: float):
        self.exposures_ms.append(exposure_ms)
        return super().snap(exposure_ms)


@pytest.fixture
def sim_camera():
    return RecordingCamera(make_world())


@pytest.fixture
def mm_camera(sim_camera):
    return MicroManagerCamera(simulated_core(sim_camera))


def test_frames_are_exactly_the_simulated_cameras_frames(mm_camera):
    twin = SimulatedCamera(make_world())
    for exposure_ms in (10.0, 10.0, 25.0, 5.0, 25.0):
        frame = mm_camera.snap(exposure_ms)
        assert frame.dtype == np.uint16 and frame.shape == (48, 64)
        assert frame.flags.c_contiguous and frame.flags.owndata
        np.testing.assert_array_equal(frame, twin.snap(exposure_ms))
    assert frame[16, 16] > frame[40, 5] + 50  # the cells are in the frame, lit


def test_exposure_reaches_the_camera_and_is_set_only_when_changed(
    mm_camera, sim_camera, monkeypatch
):
    core = mm_camera.core
    set_calls = []
    set_exposure = core.setExposure
    monkeypatch.setattr(core, "setExposure", lambda *a: (set_calls.append(a), set_exposure(*a)))
    for exposure_ms in (12.5, 12.5, 40.0, 40.0):
        mm_camera.snap(exposure_ms)
    assert sim_camera.exposures_ms == [12.5, 12.5, 40.0, 40.0]
    assert set_calls == [("Camera", 12.5), ("Camera", 40.0)]
    assert core.getExposure() == 40.0
    core.setExposure(3.0)  # someone else changes it behind the driver's back
    mm_camera.snap(40.0)
    assert sim_camera.exposures_ms[-1] == 40.0 and core.getExposure() == 40.0


def test_sizes_bit_depth_and_readout_come_from_the_core(sim_camera):
    core = simulated_core(sim_camera, label="Hamamatsu")
    camera = MicroManagerCamera(core, camera_label="Hamamatsu")
    assert (camera.width_px, camera.height_px, camera.bit_depth) == (64, 48, 16)
    assert camera.readout_ms == 5.0  # the world's sensor, through the ReadoutTime property
    assert core.getProperty("Hamamatsu", "ReadoutTime") == 5.0
    assert MicroManagerCamera(core, readout_ms=12.0).readout_ms == 12.0
    assert camera.camera_label == "Hamamatsu" and "64×48" in repr(camera)


def test_identify_names_library_device_and_camera_name_without_changing_anything(
    sim_camera, monkeypatch
):
    core = simulated_core(sim_camera, label="Hamamatsu")
    camera = MicroManagerCamera(core, camera_label="Hamamatsu")
    calls = []
    for setter in ("setExposure", "setProperty", "setCameraDevice", "snapImage"):
        monkeypatch.setattr(core, setter, lambda *a, _name=setter: calls.append(_name))
    library = "ionrig.devices.drivers._micromanager"
    assert camera.identify() == f"{library}/ionrig-SimulatedCamera: RecordingCamera"
    assert calls == [] and sim_camera.exposures_ms == []  # read-only: nothing set, no frame
    monkeypatch.setattr(core, "hasProperty", lambda label, name: False)
    assert camera.identify() == f"{library}/ionrig-SimulatedCamera"  # no CameraName property
    monkeypatch.setattr(core, "getDeviceName", lambda label: 1 / 0)
    with pytest.raises(MicroManagerError, match=r"getDeviceName\('Hamamatsu'\)"):
        camera.identify()


def test_readout_defaults_when_the_camera_has_no_readout_property():
    camera = MicroManagerCamera(bare_core(ExposureCamera()))
    assert camera.readout_ms == 0.0  # DEFAULT_READOUT_MS
    assert (camera.width_px, camera.height_px) == (8, 6)


@pytest.mark.xfail(
    strict=True, reason="UniMMCore (0.18.1) reports getImageBitDepth from the dtype: 16"
)
def test_a_12_bit_simulated_sensor_reports_12_bits():
    camera = MicroManagerCamera(simulated_core(SimulatedCamera(make_world(bit_depth=12))))
    assert camera.bit_depth == 12


def test_a_camera_error_surfaces_as_an_instrument_error_naming_the_camera(mm_camera, sim_camera):
    sim_camera.inject(CameraFault(after_frames=1))
    mm_camera.snap(10.0)
    with pytest.raises(MicroManagerError) as caught:
        mm_camera.snap(10.0)
    error = caught.value
    assert isinstance(error, InstrumentError)
    assert error.instrument == "Micro-Manager camera 'Camera'" and error.command == "snapImage()"
    assert str(error).startswith("Micro-Manager camera 'Camera': CameraError:")
    assert "simulated fault" in str(error) and "no reply" not in str(error)
    assert isinstance(error.__cause__, CameraError)
    sim_camera.inject(None)
    assert mm_camera.snap(10.0).shape == (48, 64)  # the camera recovers with its source


@pytest.mark.parametrize("dtype", [np.float32, np.uint32, np.int32])
def test_pixel_types_that_are_not_8_or_16_bit_are_refused(dtype):
    with pytest.raises(MicroManagerImageError, match="pixel type not supported") as caught:
        MicroManagerCamera(bare_core(ExposureCamera(dtype)))
    assert isinstance(caught.value, InstrumentReplyError)
    assert "Micro-Manager camera 'Cam'" in str(caught.value)


def test_an_8_bit_camera_is_widened_to_uint16():
    camera = MicroManagerCamera(bare_core(ExposureCamera(np.uint8)))
    assert camera.bit_depth == 8
    frame = camera.snap(200.0)
    assert frame.dtype == np.uint16 and np.all(frame == 200)


def test_an_image_of_another_dtype_or_size_is_refused(mm_camera, monkeypatch):
    monkeypatch.setattr(mm_camera.core, "getImage", lambda: np.zeros((48, 64), np.float64))
    with pytest.raises(MicroManagerImageError, match="dtype float64 is not uint16"):
        mm_camera.snap(10.0)
    monkeypatch.setattr(mm_camera.core, "getImage", lambda: np.zeros((48, 64, 3), np.uint16))
    with pytest.raises(MicroManagerImageError, match=r"shape \(48, 64, 3\)"):
        mm_camera.snap(10.0)


def test_a_roi_set_through_the_core_needs_refresh(mm_camera):
    mm_camera.core.setROI(8, 4, 32, 24)
    with pytest.raises(MicroManagerImageError, match=r"call refresh\(\)"):
        mm_camera.snap(10.0)
    mm_camera.refresh()
    assert (mm_camera.width_px, mm_camera.height_px) == (32, 24)
    assert mm_camera.snap(10.0).shape == (24, 32)


def test_the_camera_must_exist_and_be_a_camera(sim_camera):
    core = simulated_core(sim_camera)
    with pytest.raises(MicroManagerError, match=r"no device 'Nope' is loaded \(loaded: Camera"):
        MicroManagerCamera(core, camera_label="Nope")
    with pytest.raises(MicroManagerError, match="'Core' is a CoreDevice, not a camera"):
        MicroManagerCamera(core, camera_label="Core")
    with pytest.raises(MicroManagerError, match="the core has no current camera"):
        MicroManagerCamera(bare_core())


def test_the_driver_reselects_its_camera_on_a_shared_core(sim_camera):
    core = simulated_core(sim_camera)
    core.loadPyDevice("Other", ExposureCamera())
    core.initializeDevice("Other")
    camera = MicroManagerCamera(core, camera_label="Camera")
    core.setCameraDevice("Other")  # another user of the core switches camera
    assert camera.snap(10.0).shape == (48, 64)
    assert core.getCameraDevice() == "Camera"


@pytest.mark.parametrize("exposure_ms", [-1.0, float("nan"), float("inf")])
def test_an_impossible_exposure_is_refused_before_any_core_call(mm_camera, exposure_ms):
    with pytest.raises(ValueError, match="exposure_ms must be a finite number >= 0"):
        mm_camera.snap(exposure_ms)
    with pytest.raises(ValueError, match="readout_ms"):
        MicroManagerCamera(mm_camera.core, readout_ms=exposure_ms)


def test_snaps_from_several_threads_never_mix_exposures():
    camera = MicroManagerCamera(bare_core(ExposureCamera()))
    mismatches: list[tuple[float, int]] = []

    def worker(exposures_ms: list[float]) -> None:
        for exposure_ms in exposures_ms:
            frame = camera.snap(exposure_ms)
            if not np.all(frame == exposure_ms):
                mismatches.append((exposure_ms, int(frame[0, 0])))

    threads = [
        threading.Thread(target=worker, args=([float(k + i % 3) for i in range(200)],))
        for k in (10, 20, 30)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mismatches == []


CONSTANT_CAMERA_MODULE = """
import numpy as np
from pymmcore_plus.experimental.unicore import SimpleCameraDevice


class ConstantCamera(SimpleCameraDevice):
    def __init__(self):
        self._exposure_ms = 1.0
        super().__init__()

    def get_exposure(self):
        return self._exposure_ms

    def set_exposure(self, exposure):
        self._exposure_ms = float(exposure)

    def sensor_shape(self):
        return (8, 12)

    def dtype(self):
        return np.uint16

    def snap(self, buffer):
        buffer[...] = 7
        return {}

    def get_readout_time(self):
        return 2.5
"""


def test_a_configuration_file_sets_up_the_core(tmp_path, monkeypatch):
    module = "ionrig_test_mm_constant_camera"
    (tmp_path / f"{module}.py").write_text(CONSTANT_CAMERA_MODULE)
    monkeypatch.syspath_prepend(tmp_path)
    config = tmp_path / "rig.cfg"
    config.write_text(
        textwrap.dedent(f"""\
            # a UniMMCore configuration: a Python camera device (no adapters needed)
            #py pyDevice,Andor,{module},ConstantCamera
            #py Property,Core,Initialize,1
            #py Property,Core,Camera,Andor
            #py Property,Andor,Exposure,30.0
        """)
    )
    try:
        camera = MicroManagerCamera(bare_core(), config_file=config)
        assert camera.camera_label == "Andor" and camera.core.getExposure() == 30.0
        assert (camera.width_px, camera.height_px, camera.readout_ms) == (12, 8, 2.5)
        assert np.all(camera.snap(15.0) == 7)
    finally:
        sys.modules.pop(module, None)


def test_only_the_missing_micromanager_message_is_silenced_and_only_in_the_block():
    logger = logging.getLogger("pymmcore-plus")
    seen: list[str] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        with silence_missing_micromanager_error():
            logger.error("Could not find a compatible Micro-Manager installation at x")
            logger.error("another error")
        logger.error("Could not find a compatible Micro-Manager installation at y")
    finally:
        logger.removeHandler(handler)
    assert seen == [
        "another error",
        "Could not find a compatible Micro-Manager installation at y",
    ]


def test_configuration_errors_name_the_call(tmp_path):
    missing = tmp_path / "missing.cfg"
    with pytest.raises(MicroManagerError, match="loadSystemConfiguration") as caught:
        MicroManagerCamera(bare_core(), config_file=missing)
    assert "missing.cfg" in str(caught.value)
    assert isinstance(caught.value.__cause__, FileNotFoundError)
    with (
        silence_missing_micromanager_error(),
        pytest.raises(MicroManagerError, match=r"missing\.cfg"),
    ):
        MicroManagerCamera(config_file=missing)  # core=None: a new CMMCorePlus
    # A C++ adapter (here the Micro-Manager demo camera) needs a Micro-Manager installation.
    config = tmp_path / "demo.cfg"
    config.write_text("Device,Camera,DemoCamera,DCam\nProperty,Core,Initialize,1\n")
    with pytest.raises(MicroManagerError, match="DemoCamera"):
        MicroManagerCamera(bare_core(), config_file=config)


def test_the_camera_device_records_frames_end_to_end(RE, docs, tmp_path, sim_camera):
    world = sim_camera.world
    with init_devices():
        camera = Camera(
            MicroManagerCamera(simulated_core(sim_camera)),
            StaticPathProvider(UUIDFilenameProvider(), tmp_path),
            now_s=world.clock.now_s,
            exposure_ms=10.0,
        )
    mask = np.zeros((48, 64), bool)
    mask[10:22, 10:22] = True
    camera.set_rois({"cell": mask})
    RE(bp.count([camera], num=3), docs)
    assert docs.of("stop")[0]["exit_status"] == "success"
    (descriptor,) = docs.of("descriptor")
    assert descriptor["data_keys"]["camera"]["shape"] == [1, 48, 64]
    assert descriptor["configuration"]["camera"]["data"]["camera-exposure_ms"] == 10.0
    (path,) = tmp_path.glob("*.h5")
    with h5py.File(path, "r") as f:
        frames = f["/entry/data/data"][()]
        sums = f["/entry/roi_sums_adu"][()]
    twin = SimulatedCamera(make_world())
    np.testing.assert_array_equal(frames, np.stack([twin.snap(10.0) for _ in range(3)]))
    np.testing.assert_allclose(sums[:, 0], frames[:, mask].sum(axis=1))
    assert sim_camera.exposures_ms == [10.0, 10.0, 10.0]


def test_the_drivers_import_without_pymmcore_plus():
    code = textwrap.dedent("""
        import sys
        import ionrig.devices.drivers as drivers
        assert "pymmcore_plus" not in sys.modules, "imported eagerly"
        sys.modules["pymmcore_plus"] = None  # as if the extra were not installed
        try:
            drivers.MicroManagerCamera()
        except ImportError as error:
            assert "ionrig[micromanager]" in str(error), error
        else:
            raise AssertionError("no ImportError")
        print("ok")
    """)
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"

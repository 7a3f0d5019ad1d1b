"""Any Micro-Manager camera as an ionrig camera driver, through pymmcore-plus (optional extra).

:class:`MicroManagerCamera` satisfies ``ionrig.devices.CameraDriver`` over a pymmcore-plus core
(``CMMCorePlus``, or its ``UniMMCore`` subclass that also runs pure-Python devices). A real rig
loads its Micro-Manager configuration file (Hamamatsu, Photometrics, Andor … adapters, which need
a Micro-Manager installation); :func:`simulated_core` puts any object with
``snap(exposure_ms)`` and ``width_px``/``height_px``/``readout_ms`` (the simulated camera) behind
a ``UniMMCore`` as a pure-Python camera device, so the pymmcore-plus path runs, and is tested,
without Micro-Manager.

pymmcore-plus is imported lazily (inside functions), so ``import ionrig.devices.drivers`` works
without it; constructing a camera without it raises an ``ImportError`` naming the extra.
"""

from __future__ import annotations

import functools
import importlib
import logging
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from ._errors import InstrumentError, InstrumentReplyError

if TYPE_CHECKING:
    from pymmcore_plus import CMMCorePlus
    from pymmcore_plus.experimental.unicore import UniMMCore

__all__ = [
    "DEFAULT_READOUT_MS",
    "READOUT_PROPERTY",
    "MicroManagerCamera",
    "MicroManagerError",
    "MicroManagerImageError",
    "SimulatedCameraLike",
    "silence_missing_micromanager_error",
    "simulated_camera_device",
    "simulated_core",
]

T = TypeVar("T")

#: Readout time assumed when neither ``readout_ms=`` nor the camera's ``ReadoutTime`` property
#: gives one. 0 ms means "unknown, not added": ``snap`` is software-timed and blocking, so the
#: readout only enters the detector's deadtime estimate, never the frame timing.
DEFAULT_READOUT_MS = 0.0
#: The Micro-Manager standard camera property (``MM::g_Keyword_ReadoutTime``), in milliseconds in
#: the DemoCamera-derived adapters. Adapters that report it in other units need ``readout_ms=``.
READOUT_PROPERTY = "ReadoutTime"
#: Image dtypes returned as uint16: uint16 as is, uint8 widened losslessly. Anything else
#: (32-bit, float, RGB) is refused.
_ACCEPTED_DTYPES = (np.dtype(np.uint16), np.dtype(np.uint8))
_EXTRA_HINT = "pip install 'ionrig[micromanager]' (pymmcore-plus)"


class MicroManagerError(InstrumentError):
    """A pymmcore-plus core call failed; ``command`` is the call, the cause is chained.

    There is no serial reply to report, so the message never says "no reply".
    """

    mentions_reply = False


class MicroManagerImageError(MicroManagerError, InstrumentReplyError):
    """The core delivered an image the driver cannot return as a 2-D uint16 frame of the
    reported size (wrong dtype, colour, or a size changed behind the driver's back)."""


def _import_pymmcore_plus(module: str = "pymmcore_plus") -> Any:
    """Import pymmcore-plus (or one of its modules) on first use, keeping the root log level.

    Importing pymmcore-plus sets the *root* logger to DEBUG (for its own log file); that would
    make every library's debug records reach every handler of the process. The root level is
    restored and pymmcore-plus's own logger keeps DEBUG, so its log file is unchanged.
    """
    root = logging.getLogger()
    root_level = root.level
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"Micro-Manager cameras need pymmcore-plus: {_EXTRA_HINT}") from error
    finally:
        if root.level != root_level:
            root.setLevel(root_level)
            own = logging.getLogger("pymmcore-plus")
            if own.level == logging.NOTSET:
                own.setLevel(logging.DEBUG)


class MicroManagerCamera:
    """A Micro-Manager camera (any adapter) as a blocking ionrig camera driver.

    ``core``: a pymmcore-plus ``CMMCorePlus`` (or ``UniMMCore``); ``None`` makes a new
    ``CMMCorePlus``, which finds the Micro-Manager installation's adapters itself.
    ``config_file``: a Micro-Manager configuration (``.cfg``) to load into the core first, e.g.
    the rig's Hamamatsu or Photometrics configuration saved by Micro-Manager's wizard.
    ``camera_label``: the camera device's label; ``None`` uses the core's current camera.
    ``readout_ms``: the readout time (ms), overriding the camera's ``ReadoutTime`` property;
    with neither, :data:`DEFAULT_READOUT_MS`.

    ``width_px``, ``height_px``, ``bit_depth`` (``getImageWidth``/``Height``/``BitDepth``) and
    ``readout_ms`` are read when the driver is made and by :meth:`refresh`, so reading them
    never waits for an exposure in progress; call :meth:`refresh` after changing ROI or binning
    through the core (a frame of another size is refused until then).

    Every method is blocking and thread-safe (one lock around each core transaction). Errors
    from the core are raised as :class:`MicroManagerError` (an ``InstrumentError``) naming the
    camera and the call, with the core's exception chained.
    """

    def __init__(
        self,
        core: CMMCorePlus | None = None,
        *,
        camera_label: str | None = None,
        config_file: str | Path | None = None,
        readout_ms: float | None = None,
    ) -> None:
        if readout_ms is not None and not (math.isfinite(readout_ms) and readout_ms >= 0):
            raise ValueError(f"readout_ms must be a finite number >= 0 ms, got {readout_ms!r}")
        self._lock = threading.RLock()
        self._label = camera_label or ""
        self._readout_override_ms = readout_ms
        if core is None:
            pymmcore_plus = _import_pymmcore_plus()
            core = self._call("CMMCorePlus()", pymmcore_plus.CMMCorePlus)
        self._core = core
        if config_file is not None:
            path = Path(config_file).expanduser()
            self._call(
                f"loadSystemConfiguration({str(path)!r})", core.loadSystemConfiguration, str(path)
            )
        self._label = self._resolve_label(camera_label)
        #: The exposure last asked of the core, and what the core reported after setting it.
        self._requested_exposure_ms: float | None = None
        self._reported_exposure_ms: float | None = None
        self.width_px = 0
        self.height_px = 0
        self.bit_depth = 0
        self.readout_ms = DEFAULT_READOUT_MS
        self.refresh()

    # -- identity ---------------------------------------------------------------------------
    @property
    def core(self) -> CMMCorePlus:
        """The pymmcore-plus core (shared: other code may use it between snaps)."""
        return self._core

    @property
    def camera_label(self) -> str:
        return self._label

    @property
    def name(self) -> str:
        """How errors name this camera: ``Micro-Manager camera 'Label'``."""
        return f"Micro-Manager camera {self._label!r}" if self._label else "Micro-Manager camera"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self._label!r}, {self.width_px}×{self.height_px} px, "
            f"{self.bit_depth} bit)"
        )

    def identify(self) -> str:
        """The camera's model as the core knows it (read-only queries, nothing is set):
        ``"<adapter library>/<device name>"``, plus the adapter's standard ``CameraName``
        property when it has one, e.g. ``"HamamatsuHam/HamamatsuHam_DCAM: C13440-20C"``."""
        core, label = self._core, self._label
        with self._lock:
            library = self._call(f"getDeviceLibrary({label!r})", core.getDeviceLibrary, label)
            device = self._call(f"getDeviceName({label!r})", core.getDeviceName, label)
            has_name = self._call(
                f"hasProperty({label!r}, 'CameraName')", core.hasProperty, label, "CameraName"
            )
            camera_name = (
                self._call(
                    f"getProperty({label!r}, 'CameraName')", core.getProperty, label, "CameraName"
                )
                if has_name
                else ""
            )
        model = f"{library}/{device}"
        return f"{model}: {camera_name}" if camera_name else model

    # -- core calls -------------------------------------------------------------------------
    def _call(self, command: str, fn: Callable[..., T], *args: Any) -> T:
        """Call the core; any exception becomes a :class:`MicroManagerError` naming the call."""
        try:
            return fn(*args)
        except Exception as error:
            raise MicroManagerError(
                f"{type(error).__name__}: {error}", instrument=self.name, command=command
            ) from error

    def _resolve_label(self, camera_label: str | None) -> str:
        core = self._core
        if not camera_label:
            label = self._call("getCameraDevice()", core.getCameraDevice)
            if not label:
                raise MicroManagerError(
                    "the core has no current camera: pass camera_label= or load a "
                    "configuration that sets Core-Camera",
                    instrument=self.name,
                    command="getCameraDevice()",
                )
            return str(label)
        loaded = self._call("getLoadedDevices()", core.getLoadedDevices)
        if camera_label not in loaded:
            raise MicroManagerError(
                f"no device {camera_label!r} is loaded (loaded: {', '.join(loaded)})",
                instrument=self.name,
                command="getLoadedDevices()",
            )
        device_type = self._call(
            f"getDeviceType({camera_label!r})", core.getDeviceType, camera_label
        )
        camera_type = _import_pymmcore_plus().DeviceType.Camera
        if int(device_type) != int(camera_type):
            raise MicroManagerError(
                f"device {camera_label!r} is a {_type_name(device_type)}, not a camera",
                instrument=self.name,
                command=f"getDeviceType({camera_label!r})",
            )
        return camera_label

    def _select_camera(self) -> None:
        """Make this camera the core's current one (another user of the core may have changed
        it); caller holds the lock."""
        core = self._core
        if self._call("getCameraDevice()", core.getCameraDevice) != self._label:
            self._call(f"setCameraDevice({self._label!r})", core.setCameraDevice, self._label)

    # -- CameraDriver -----------------------------------------------------------------------
    def refresh(self) -> None:
        """Read size, bit depth and readout time from the core again (after ROI/binning)."""
        core = self._core
        with self._lock:
            self._select_camera()
            n_components = self._call("getNumberOfComponents()", core.getNumberOfComponents)
            bytes_per_pixel = self._call("getBytesPerPixel()", core.getBytesPerPixel)
            if n_components != 1 or bytes_per_pixel not in (1, 2):
                raise MicroManagerImageError(
                    f"pixel type not supported: {bytes_per_pixel} byte(s) per pixel, "
                    f"{n_components} component(s); frames must be 8- or 16-bit monochrome "
                    "(returned as uint16)",
                    instrument=self.name,
                    command="getBytesPerPixel()",
                )
            width_px = int(self._call("getImageWidth()", core.getImageWidth))
            height_px = int(self._call("getImageHeight()", core.getImageHeight))
            bit_depth = int(self._call("getImageBitDepth()", core.getImageBitDepth))
            readout_ms = self._read_readout_ms()
            self.width_px, self.height_px = width_px, height_px
            self.bit_depth, self.readout_ms = bit_depth, readout_ms

    def _read_readout_ms(self) -> float:
        if self._readout_override_ms is not None:
            return float(self._readout_override_ms)
        core, label = self._core, self._label
        command = f"getProperty({label!r}, {READOUT_PROPERTY!r})"
        if not self._call(
            f"hasProperty({label!r}, {READOUT_PROPERTY!r})",
            core.hasProperty,
            label,
            READOUT_PROPERTY,
        ):
            return DEFAULT_READOUT_MS
        raw = self._call(command, core.getProperty, label, READOUT_PROPERTY)
        try:
            readout_ms = float(raw)
        except (TypeError, ValueError):
            readout_ms = math.nan
        if not (math.isfinite(readout_ms) and readout_ms >= 0):
            raise MicroManagerError(
                f"{READOUT_PROPERTY} is {raw!r}, not a number of ms >= 0 (pass readout_ms=)",
                instrument=self.name,
                command=command,
            )
        return readout_ms

    def snap(self, exposure_ms: float) -> NDArray[np.uint16]:
        """Expose for ``exposure_ms`` and return the frame (rows × cols, uint16, ADU).

        The exposure is set only when it differs from the last one set (or the core's exposure
        was changed by someone else); then ``snapImage`` and ``getImage``. Blocking.
        """
        exposure_ms = float(exposure_ms)
        if not (math.isfinite(exposure_ms) and exposure_ms >= 0):
            raise ValueError(f"exposure_ms must be a finite number >= 0 ms, got {exposure_ms!r}")
        core, label = self._core, self._label
        with self._lock:
            self._select_camera()
            current_ms = self._call(f"getExposure({label!r})", core.getExposure, label)
            if (
                exposure_ms != self._requested_exposure_ms
                or current_ms != self._reported_exposure_ms
            ):
                self._call(
                    f"setExposure({label!r}, {exposure_ms!r})", core.setExposure, label, exposure_ms
                )
                self._requested_exposure_ms = exposure_ms
                self._reported_exposure_ms = self._call(
                    f"getExposure({label!r})", core.getExposure, label
                )
            self._call("snapImage()", core.snapImage)
            image = self._call("getImage()", core.getImage)
            return self._as_frame(image)

    def _as_frame(self, image: Any) -> NDArray[np.uint16]:
        """A fresh 2-D uint16 array of the reported size, or :class:`MicroManagerImageError`."""
        image = np.asarray(image)
        if image.dtype not in _ACCEPTED_DTYPES:
            raise MicroManagerImageError(
                f"image dtype {image.dtype} is not uint16 (or uint8); refusing to convert",
                instrument=self.name,
                command="getImage()",
            )
        expected = (self.height_px, self.width_px)
        if image.shape != expected:
            raise MicroManagerImageError(
                f"image shape {image.shape} is not the reported {expected} (rows × cols); "
                "after changing ROI or binning, call refresh()",
                instrument=self.name,
                command="getImage()",
            )
        return np.array(image, dtype=np.uint16, order="C", copy=True)


def _type_name(device_type: object) -> str:
    return getattr(device_type, "name", None) or f"device of type {device_type!r}"


# -- the simulated camera behind UniMMCore ---------------------------------------------------
class SimulatedCameraLike(Protocol):
    """What :func:`simulated_core` needs of a camera (``ionrig.simulators.SimulatedCamera``)."""

    @property
    def width_px(self) -> int: ...

    @property
    def height_px(self) -> int: ...

    @property
    def readout_ms(self) -> float: ...

    def snap(self, exposure_ms: float) -> NDArray[np.uint16]: ...


@functools.cache
def _simulated_camera_device_class() -> type:
    """The pymmcore-plus Python camera device class (its base class comes from pymmcore-plus)."""
    unicore = _import_pymmcore_plus("pymmcore_plus.experimental.unicore")

    class SimulatedCameraDevice(unicore.SimpleCameraDevice):
        """A pure-Python Micro-Manager camera device wrapping an ionrig (simulated) camera.

        The exposure lives here (as in a real adapter) and is passed to ``camera.snap`` on every
        frame; the frame is copied into the core's buffer unchanged. ``ReadoutTime`` (ms) and
        ``CameraName`` are read-only properties; software ROI comes from ``SimpleCameraDevice``.
        """

        def __init__(self, camera: SimulatedCameraLike, exposure_ms: float = 10.0) -> None:
            self._camera = camera
            self._exposure_ms = float(exposure_ms)
            super().__init__()

        @classmethod
        def name(cls) -> str:
            return "ionrig-SimulatedCamera"

        def get_exposure(self) -> float:
            return self._exposure_ms

        def set_exposure(self, exposure: float) -> None:
            self._exposure_ms = float(exposure)

        def sensor_shape(self) -> tuple[int, int]:
            return (int(self._camera.height_px), int(self._camera.width_px))

        def dtype(self) -> np.dtype:
            return np.dtype(np.uint16)

        def snap(self, buffer: np.ndarray) -> dict[str, Any]:
            frame = self._camera.snap(self._exposure_ms)
            if np.shape(frame) != buffer.shape:
                raise ValueError(
                    f"{type(self._camera).__name__} returned a frame of shape "
                    f"{np.shape(frame)}, the device's buffer is {buffer.shape}"
                )
            buffer[...] = frame
            return {"Exposure-ms": self._exposure_ms}

        def get_readout_time(self) -> float:
            return float(self._camera.readout_ms)

        def get_camera_name(self) -> str:
            return type(self._camera).__name__

    return SimulatedCameraDevice


def simulated_camera_device(camera: SimulatedCameraLike, *, exposure_ms: float = 10.0) -> Any:
    """A pymmcore-plus pure-Python camera device (``SimpleCameraDevice``) wrapping ``camera``."""
    return _simulated_camera_device_class()(camera, exposure_ms)


class _DropRecords(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self._prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self._prefix)


@contextmanager
def silence_missing_micromanager_error() -> Iterator[None]:
    """While in this block, drop pymmcore-plus's "Could not find a compatible Micro-Manager
    installation" log record (logger ``pymmcore-plus``), which it logs as a core is created.

    For creating a ``UniMMCore`` that will hold only Python devices (as :func:`simulated_core`
    does): such a core needs no device adapters, so the message and its advice would be wrong.
    Other records pass, and the filter is removed on leaving the block.
    """
    logger = logging.getLogger("pymmcore-plus")
    drop = _DropRecords("Could not find a compatible Micro-Manager installation")
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def simulated_core(
    camera: SimulatedCameraLike, *, label: str = "Camera", exposure_ms: float = 10.0
) -> UniMMCore:
    """A new ``UniMMCore`` whose current camera ``label`` is ``camera`` as a Python device.

    ``MicroManagerCamera(simulated_core(SimulatedCamera(world)))`` runs the real pymmcore-plus
    code path (``setExposure``/``snapImage``/``getImage`` through ``UniMMCore``) with no
    Micro-Manager installation. Note: ``UniMMCore`` reports ``getImageBitDepth()`` from the
    buffer dtype, so 16 for any simulated sensor (uint16 frames), whatever its ``bit_depth``.
    """
    unicore = _import_pymmcore_plus("pymmcore_plus.experimental.unicore")
    device = simulated_camera_device(camera, exposure_ms=exposure_ms)
    with silence_missing_micromanager_error():
        core = unicore.UniMMCore()
    core.loadPyDevice(label, device)
    core.initializeDevice(label)
    core.setCameraDevice(label)
    return core

"""The camera: a recording detector that writes frames to HDF5 (see ``_recording``).

Frames go to the file and reach documents only by reference (StreamResource/StreamDatum). Per
ROI sums of every frame go to the file too and the latest are kept in ``last_roi_sums_adu`` for
plans computing live ratios.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from ophyd_async.core import (
    DetectorTriggerLogic,
    PathProvider,
    SignalDict,
    TriggerInfo,
    soft_signal_r_and_setter,
    soft_signal_rw,
)

from ._port import BlockingPort, transient_io_error
from ._recording import (
    RecordField,
    RecordFile,
    RecordingAcquireLogic,
    RecordingDataLogic,
    RecordingDetector,
)
from .drivers import InstrumentReplyError

__all__ = [
    "FRAMES_DATASET",
    "ROI_SUMS_DATASET",
    "T_S_DATASET",
    "BadFrame",
    "Camera",
    "CameraDriver",
    "ExternallyTriggeredCameraDriver",
    "transient_frame_error",
]

FRAMES_DATASET = "/entry/data/data"
T_S_DATASET = "/entry/t_s"
ROI_SUMS_DATASET = "/entry/roi_sums_adu"


class BadFrame(InstrumentReplyError):
    """The camera delivered something that is not a frame of its size and type (garbage on
    the link, a partial frame); nothing was written."""

    mentions_reply = False


def transient_frame_error(error: BaseException) -> bool:
    """Camera failures a retake can cure: a bad frame and the transient I/O errors of
    :func:`~ionrig.devices.transient_io_error` (a link that went away, an implausible image).
    Not frame timeouts: each retake would cost the camera's timeout again; the watchdogs
    suspend the plan on them instead (``ionrig.watchdogs``)."""
    if isinstance(error, TimeoutError):
        return False
    return isinstance(error, BadFrame) or transient_io_error(error)


class CameraDriver(Protocol):
    """What a camera driver offers (simulated camera, or a Micro-Manager camera)."""

    width_px: int
    height_px: int
    bit_depth: int
    readout_ms: float

    def snap(self, exposure_ms: float) -> NDArray[np.uint16]: ...


class ExternallyTriggeredCameraDriver(CameraDriver, Protocol):
    """A camera that can also wait for a TTL edge on its trigger input, then expose."""

    def snap_on_trigger(self, exposure_ms: float, *, timeout_s: float) -> NDArray[np.uint16]: ...


class _ExposureTriggerLogic(DetectorTriggerLogic):
    """Software-timed frames; ``livetime`` sets the exposure, the readout is the dead time."""

    def __init__(self, camera: Camera) -> None:
        self._camera = camera

    def config_sigs(self):
        return {self._camera.exposure_ms}

    def get_deadtime(self, config_values: SignalDict) -> float:
        return self._camera._driver.readout_ms / 1000.0

    async def prepare_internal(self, num: int, livetime: float, deadtime: float) -> None:
        await self._prepare(num, livetime, external=False)

    async def prepare_edge(self, num: int, livetime: float) -> None:
        """Frames on TTL edges at the camera's trigger input (a DAQ line, a sequencer)."""
        if not hasattr(self._camera._driver, "snap_on_trigger"):
            raise ValueError(
                f"{self._camera.name}: this camera driver has no external-trigger input; "
                "use internal triggering"
            )
        await self._prepare(num, livetime, external=True)

    async def _prepare(self, num: int, livetime: float, *, external: bool) -> None:
        if livetime < 0:
            raise ValueError(f"livetime must be >= 0 s, got {livetime!r}")
        if livetime > 0:
            await self._camera.exposure_ms.set(livetime * 1000.0)
        self._camera._recording.count = max(1, num)
        self._camera._exposure_now_ms = await self._camera.exposure_ms.get_value()
        self._camera._external_trigger = external

    async def default_trigger_info(self) -> TriggerInfo:
        return TriggerInfo()


class Camera(RecordingDetector):
    """A scientific camera: frames to HDF5, ROI sums for live ratios, a preview outside runs.

    ``exposure_ms`` (configuration) sets the exposure; ``prepare(TriggerInfo(livetime=s))``
    also sets it. ``TriggerInfo(trigger=DetectorTrigger.EXTERNAL_EDGE)`` takes each frame on a
    TTL edge at the camera's trigger input (drivers with ``snap_on_trigger``), waiting at most
    ``trigger_timeout_s`` real seconds per edge. ``set_rois`` fixes the ROI masks for the next
    prepare; ``preview_frame`` takes one frame without a run (focusing, ROI detection) and
    writes nothing.
    """

    def __init__(
        self,
        driver: CameraDriver,
        path_provider: PathProvider,
        *,
        now_s: Callable[[], float],
        port: BlockingPort | None = None,
        exposure_ms: float = 20.0,
        trigger_timeout_s: float = 10.0,
        name: str = "",
    ) -> None:
        self._driver = driver
        self._port = port or BlockingPort(name or "camera")
        self._now_s = now_s
        self._file: RecordFile | None = None
        self._exposure_now_ms = exposure_ms
        self._external_trigger = False
        self.trigger_timeout_s = trigger_timeout_s
        self._roi_names: list[str] = []
        self._roi_masks = np.zeros((0, driver.height_px, driver.width_px), bool)
        self._roi_pixels: list[NDArray[np.intp]] = []  # flat pixel indices per ROI
        self.exposure_ms = soft_signal_rw(float, exposure_ms, units="ms")
        self.roi_names, self._set_roi_names = soft_signal_r_and_setter(str, "[]")
        self.frames_written, self._set_frames_written = soft_signal_r_and_setter(int, 0)
        self.last_roi_sums_adu, self._set_roi_sums = soft_signal_r_and_setter(
            np.ndarray, np.zeros(0), units="ADU"
        )
        #: Rig-clock start of the latest frame's exposure; set just before ``last_roi_sums_adu``.
        self.last_frame_t_s, self._set_frame_t_s = soft_signal_r_and_setter(
            float, float("nan"), units="s"
        )
        self.preview_frame, _ = soft_signal_r_and_setter(
            np.ndarray, np.zeros((0, 0), np.uint16), units="ADU", getter=self._snap_preview
        )
        self._recording = RecordingAcquireLogic(self._port, self._acquire_one, self._on_frame)
        self.add_detector_logics(
            _ExposureTriggerLogic(self),
            self._recording,
            RecordingDataLogic(
                self._port, path_provider, self._fields, self._on_open, self.frames_written
            ),
        )
        self.add_config_signals(self.roi_names)
        super().__init__(name=name)

    @property
    def width_px(self) -> int:
        return self._driver.width_px

    @property
    def height_px(self) -> int:
        return self._driver.height_px

    # -- the record: frame, start time, ROI sums ----------------------------------------------
    def _fields(self) -> list[RecordField]:
        h, w = self._driver.height_px, self._driver.width_px
        fields = [
            RecordField("", FRAMES_DATASET, (h, w), "<u2", "ADU"),
            RecordField("-t_s", T_S_DATASET, (), "<f8", "s"),
        ]
        if self._roi_names:
            shape = (len(self._roi_names),)
            fields.append(RecordField("-roi_sums_adu", ROI_SUMS_DATASET, shape, "<f8", "ADU"))
        return fields

    def _on_open(self, file: RecordFile | None) -> None:
        self._file = file
        if file is not None:
            self._set_frames_written(0)

    def _acquire_one(self) -> tuple[NDArray[np.float64], float]:
        """Blocking, in the port's thread: snap, sum the ROIs, append to the file."""
        if self._file is None:
            raise RuntimeError(f"{self.name}: no file open; prepare() the camera first")
        if self._external_trigger:
            frame = self._driver.snap_on_trigger(
                self._exposure_now_ms, timeout_s=self.trigger_timeout_s
            )
            # the exposure started on the edge: back from the frame's arrival
            readout_ms = self._driver.readout_ms
            t_s = self._now_s() - (self._exposure_now_ms + readout_ms) / 1000.0
        else:
            t_s = self._now_s()
            frame = self._driver.snap(self._exposure_now_ms)
        frame = self._checked(frame)
        sums = self._roi_sums(frame)
        self._file.append([frame, t_s, sums] if self._roi_names else [frame, t_s])
        return sums, t_s

    def _checked(self, frame: NDArray[np.uint16]) -> NDArray[np.uint16]:
        """``frame`` if it is an image of the camera's size and an integer type, else
        :class:`BadFrame` naming what arrived."""
        shape = (self._driver.height_px, self._driver.width_px)
        array = np.asarray(frame)
        if array.shape != shape or array.dtype.kind not in "ui":
            raise BadFrame(
                f"expected a {shape[0]}x{shape[1]} integer image, got shape {array.shape} "
                f"of {array.dtype}",
                instrument=self.name or "camera",
                command="snap",
            )
        return array

    def _on_frame(self, record: tuple[NDArray[np.float64], float]) -> None:
        sums, t_s = record
        self._set_frame_t_s(t_s)
        self._set_roi_sums(sums)
        if self._file is not None:
            self._set_frames_written(self._file.records_written)

    def _roi_sums(self, frame: NDArray[np.uint16]) -> NDArray[np.float64]:
        if not self._roi_names:
            return np.zeros(0)
        # Sum only each ROI's pixels (exact in float64): a dense mask product would convert
        # every mask to float for every frame (11 ms per 512x512 frame with six ROIs).
        flat = frame.reshape(-1)
        return np.array([flat[pixels].sum(dtype=np.float64) for pixels in self._roi_pixels])

    # -- outside runs -------------------------------------------------------------------------
    async def _snap_preview(self) -> NDArray[np.uint16]:
        exposure_ms = await self.exposure_ms.get_value()
        return await self._port.call(self._snap_checked, exposure_ms)

    def _snap_checked(self, exposure_ms: float) -> NDArray[np.uint16]:
        return self._checked(self._driver.snap(exposure_ms))

    def set_rois(self, masks: Mapping[str, NDArray[np.bool_]]) -> None:
        """Fix the ROI masks (name → boolean image) used from the next ``prepare``/``stage``."""
        shape = (self.height_px, self.width_px)
        for roi_name, mask in masks.items():
            if np.shape(mask) != shape:
                raise ValueError(
                    f"ROI {roi_name!r} mask has shape {np.shape(mask)}, the camera's is {shape}"
                )
            if not np.any(mask):
                raise ValueError(f"ROI {roi_name!r} is empty (no pixel inside the image)")
        self._roi_names = list(masks)
        self._set_roi_names(json.dumps(self._roi_names))
        self._roi_masks = (
            np.stack([np.asarray(m, bool) for m in masks.values()])
            if masks
            else np.zeros((0, *shape), bool)
        )
        self._roi_pixels = [np.flatnonzero(mask) for mask in self._roi_masks]

    @property
    def roi_masks(self) -> dict[str, NDArray[np.bool_]]:
        return dict(zip(self._roi_names, self._roi_masks, strict=True))

"""The camera: a recording detector that writes frames to HDF5 (see ``_recording``).

Frames go to the file and reach documents only by reference (StreamResource/StreamDatum). Per
ROI sums of every frame go to the file too and the latest are kept in ``last_roi_sums_adu`` for
plans computing live ratios. A camera given an excitation source (every rig's camera: see
``_excitation``) also writes each frame's excitation wavelength beside it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from ophyd_async.core import (
    DEFAULT_TIMEOUT,
    AsyncStatus,
    DetectorTriggerLogic,
    DeviceMock,
    PathProvider,
    SignalDict,
    TriggerInfo,
    soft_signal_r_and_setter,
    soft_signal_rw,
)

from ._excitation import ExcitationSource
from ._ophyd_async_adapter import prepared_streamable_data_providers
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
    "EXCITATION_DATASET",
    "FRAMES_DATASET",
    "ROI_SUMS_DATASET",
    "T_S_DATASET",
    "AfterExposure",
    "BadFrame",
    "Camera",
    "CameraDriver",
    "ExternallyTriggeredCameraDriver",
    "transient_frame_error",
]

FRAMES_DATASET = "/entry/data/data"
T_S_DATASET = "/entry/t_s"
ROI_SUMS_DATASET = "/entry/roi_sums_adu"
EXCITATION_DATASET = "/entry/excitation_nm"


class BadFrame(InstrumentReplyError):
    """The camera delivered something that is not a frame of its size and type (garbage on
    the link, a partial frame); nothing was written."""

    mentions_reply = False


def transient_frame_error(error: BaseException) -> bool:
    """Camera failures a retake can cure: a bad frame and the transient I/O errors of
    :func:`~ionrig.devices.transient_io_error` (a link that went away, an implausible image).
    Not frame timeouts: each retake would cost the camera's timeout again; the watchdogs
    suspend the plan on them instead (``ionrig.night.watchdogs``)."""
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
        self._camera.acquisition.count = max(1, num)
        self._camera._exposure_now_ms = await self._camera.exposure_ms.get_value()
        self._camera._frames_since_prepare = 0
        self._camera._external_trigger = external
        driver = self._camera._driver
        if hasattr(driver, "start_sequence"):  # a burst runs on the camera's own clock
            sequence = num > 1 and not external
            await self._camera._port.call(
                driver.start_sequence if sequence else driver.stop_sequence
            )

    async def default_trigger_info(self) -> TriggerInfo:
        return TriggerInfo()


class Camera(RecordingDetector):
    """A scientific camera: frames to HDF5, ROI sums for live ratios, a preview outside runs.

    ``exposure_ms`` (configuration) sets the exposure; ``prepare(TriggerInfo(livetime=s))``
    also sets it. ``TriggerInfo(trigger=DetectorTrigger.EXTERNAL_EDGE)`` takes each frame on a
    TTL edge at the camera's trigger input (drivers with ``snap_on_trigger``), waiting at most
    ``trigger_timeout_s`` real seconds per edge. ``set_rois`` fixes the ROI masks for the next
    prepare; ``preview_frame`` takes one frame without a run (focusing, ROI detection) and
    writes nothing. With an ``excitation`` source (:meth:`set_excitation`; a rig sets its
    own), every frame's excitation wavelength is asked of it just before the frame is taken
    and written beside the frame (data key ``<name>-excitation_nm``, nm).
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
        self._frames_written = 0  # the value of frames_written
        self._exposure_now_ms = exposure_ms
        self._external_trigger = False
        self._excitation: ExcitationSource | None = None
        self._file_excitation: ExcitationSource | None = None  # the open file's
        self._frames_since_prepare = 0  # frames recorded since the latest prepare
        self.trigger_timeout_s = trigger_timeout_s
        self._roi_names: list[str] = []
        self._roi_masks = np.zeros((0, driver.height_px, driver.width_px), bool)
        # flat pixel indices of every ROI, one after the other; where each ROI's start
        self._roi_pixels = np.zeros(0, np.intp)
        self._roi_starts = np.zeros(0, np.intp)
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
        # the end of a triggered frame's exposure, for drivers that announce it (observers)
        self._exposure_over = asyncio.Event()
        self._trigger_status: AsyncStatus | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.acquisition = RecordingAcquireLogic(self._port, self._acquire_one, self._on_frame)
        self.add_detector_logics(
            _ExposureTriggerLogic(self),
            self.acquisition,
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

    def set_excitation(self, source: ExcitationSource | None) -> None:
        """Record each frame's excitation wavelength from ``source`` (``None``: record none),
        from the next ``prepare``/``stage`` on."""
        self._excitation = source

    async def connect(
        self,
        mock: bool | DeviceMock = False,
        timeout: float = DEFAULT_TIMEOUT,
        force_reconnect: bool = False,
    ) -> None:
        """Connect; with real (or simulated) hardware, listen to the driver's notifications
        (the end of each exposure), where it has any."""
        await super().connect(mock=mock, timeout=timeout, force_reconnect=force_reconnect)
        if mock:
            return
        observers = getattr(self._driver, "observers", None)
        if isinstance(observers, list) and self._on_driver_event not in observers:
            observers.append(self._on_driver_event)

    # -- triggered frames: when the light is no longer needed ----------------------------------
    def trigger(self) -> AsyncStatus:
        """Take one frame (as the detector's ``trigger``); :meth:`exposure_ended` tells when
        its exposure is over."""
        self._loop = asyncio.get_running_loop()
        self._exposure_over.clear()
        self._trigger_status = super().trigger()
        return self._trigger_status

    async def exposure_ended(self) -> None:
        """Return when the exposure of the frame being triggered is over: the excitation may
        change while the sensor reads out. With a driver that does not announce the end of
        its exposures: when the frame is in. Never raises (a failed frame fails its trigger)."""
        status = self._trigger_status
        if status is None:
            return

        exposure_over = asyncio.ensure_future(self._exposure_over.wait())
        try:  # the frame's own task is only watched here, never cancelled
            await asyncio.wait({exposure_over, status.task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            exposure_over.cancel()

    async def pause(self) -> None:
        """bluesky pauses (or suspends) and will replay the plan from its last checkpoint,
        which takes again a frame triggered whose event was not saved. Let that frame end,
        then forget it: the file and ``frames_written`` go back to the frames the run's
        StreamDatum documents reference. Only for triggered single frames: a burst (fly) is
        collected as it goes and never replayed."""
        status = self._trigger_status
        if status is None or self.acquisition.count != 1 or self._file is None:
            return
        if not status.done:
            await asyncio.wait({status.task}, timeout=self.trigger_timeout_s + 60.0)
        providers = prepared_streamable_data_providers(self)
        referenced = {getattr(p, "last_emitted", None) for p in providers}
        if len(referenced) != 1 or None in referenced:
            return
        (n_referenced,) = referenced
        file = self._file
        if file.records_written > n_referenced:
            await self._port.call(file.discard_after, n_referenced)
            self._frames_written = file.records_written
            self._set_frames_written(self._frames_written)

    def resume(self) -> None:
        """Nothing to do: the replay triggers the frame again."""

    def _on_driver_event(self, what: str, value: object) -> None:
        """A driver's notification, in the port's thread: ``("exposure_end", frame index)``."""
        loop = self._loop
        if what == "exposure_end" and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._exposure_over.set)

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
        if self._excitation is not None:
            fields.append(RecordField("-excitation_nm", EXCITATION_DATASET, (), "<f8", "nm"))
        return fields

    def _on_open(self, file: RecordFile | None) -> None:
        self._file = file
        # the source the file's fields were made for (``_fields`` ran just before)
        self._file_excitation = self._excitation if file is not None else None
        if file is not None:
            self._frames_written = 0
            self._set_frames_written(0)

    def _acquire_one(self) -> tuple[NDArray[np.float64], float]:
        """Blocking, in the port's thread: the frame's excitation, snap, sum the ROIs, append
        to the file."""
        if self._file is None:
            raise RuntimeError(f"{self.name}: no file open; prepare() the camera first")
        excitation = self._file_excitation
        # asked before the exposure: a filter change may start as soon as it is over
        excitation_nm = (
            excitation.frame_excitation_nm(self._frames_since_prepare)
            if excitation is not None
            else None
        )
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
            # drivers that know when the exposure began (a free-running sequence) say so
            t_s = getattr(self._driver, "last_exposure_start_s", t_s)
        frame = self._checked(frame)
        sums = self._roi_sums(frame)
        record = [frame, t_s, sums] if self._roi_names else [frame, t_s]
        self._file.append(record if excitation_nm is None else [*record, excitation_nm])
        self._frames_since_prepare += 1
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
        # only when it moves: each update wakes every watcher of the acquisition's progress
        if self._file is not None and self._file.records_written != self._frames_written:
            self._frames_written = self._file.records_written
            self._set_frames_written(self._frames_written)

    def _roi_sums(self, frame: NDArray[np.uint16]) -> NDArray[np.float64]:
        if not self._roi_names:
            return np.zeros(0)
        # Gather every ROI's pixels at once and add each ROI's run: a dense mask product
        # would convert every mask to float for every frame (11 ms per 512x512 frame with six
        # ROIs). Integer frames add up exactly in int64, and their sums (below 2^53 on any
        # sensor) are the float64 sums of the same pixels.
        values = frame.reshape(-1).take(self._roi_pixels)
        exact = values.dtype.kind in "ui" and values.dtype.itemsize <= 4
        sums = np.add.reduceat(values, self._roi_starts, dtype=np.int64 if exact else np.float64)
        return sums.astype(np.float64)

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
        pixels = [np.flatnonzero(mask) for mask in self._roi_masks]
        self._roi_pixels = np.concatenate(pixels) if pixels else np.zeros(0, np.intp)
        self._roi_starts = np.cumsum([0] + [p.size for p in pixels[:-1]], dtype=np.intp)

    @property
    def roi_masks(self) -> dict[str, NDArray[np.bool_]]:
        return dict(zip(self._roi_names, self._roi_masks, strict=True))


class AfterExposure:
    """A movable that sets ``target`` as soon as ``camera``'s current exposure is over (see
    :meth:`Camera.exposure_ended`): e.g. the filter wheel heading for the next filter while
    the sensor reads out. ``set`` is called after the camera's ``trigger``; its status is done
    when ``target`` is."""

    def __init__(self, camera: Camera, target: Any) -> None:
        self._camera = camera
        self.target = target
        self.parent = None

    @property
    def name(self) -> str:
        return f"{self.target.name}-after_exposure"

    def set(self, value: Any) -> AsyncStatus:
        async def move() -> None:
            await self._camera.exposure_ended()
            await self.target.set(value)

        return AsyncStatus(move())

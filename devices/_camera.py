"""The camera: an ophyd-async StandardDetector that writes frames to HDF5.

Composed like ophyd-async's ``sim`` blob detector: a trigger logic (exposure), an acquire logic
(frames in a worker thread) and a data logic (the HDF5 file and its StreamResources). Frames go
to the file and reach documents only by reference (StreamResource/StreamDatum). Per-ROI sums
of the latest frame are also kept in ``last_roi_sums_adu`` for live use by plans.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from ophyd_async.core import (
    DetectorAcquireLogic,
    DetectorDataLogic,
    DetectorTriggerLogic,
    PathProvider,
    SignalDict,
    StandardDetector,
    StreamableDataProvider,
    StreamResourceDataProvider,
    StreamResourceInfo,
    TriggerInfo,
    WatchableAsyncStatus,
    WatcherUpdate,
    soft_signal_r_and_setter,
    soft_signal_rw,
)

from ._frame_file import FRAMES_DATASET, ROI_SUMS_DATASET, T_S_DATASET, FrameFile
from ._port import BlockingPort

__all__ = ["Camera", "CameraDriver"]


class CameraDriver(Protocol):
    """What a camera driver offers (simulated camera, or a Micro-Manager camera)."""

    width_px: int
    height_px: int
    bit_depth: int
    readout_ms: float

    def snap(self, exposure_ms: float) -> NDArray[np.uint16]: ...


class _CameraState:
    """What the three logics share: driver, port, clock, ROIs, the open file."""

    def __init__(self, driver: CameraDriver, port: BlockingPort, now_s: Callable[[], float]):
        self.driver = driver
        self.port = port
        self.now_s = now_s
        self.roi_names: list[str] = []
        self.roi_masks: NDArray[np.bool_] = np.zeros((0, driver.height_px, driver.width_px), bool)
        self.file: FrameFile | None = None
        self.frames_to_acquire = 1

    def roi_sums(self, frame: NDArray[np.uint16]) -> NDArray[np.float64]:
        if not self.roi_names:
            return np.zeros(0)
        flat = frame.reshape(-1).astype(np.float64)
        return self.roi_masks.reshape(len(self.roi_names), -1) @ flat


class _CameraTriggerLogic(DetectorTriggerLogic):
    def __init__(self, state: _CameraState, exposure_ms) -> None:
        self._state = state
        self._exposure_ms = exposure_ms

    def config_sigs(self):
        return {self._exposure_ms}

    def get_deadtime(self, config_values: SignalDict) -> float:
        return self._state.driver.readout_ms / 1000.0

    async def prepare_internal(self, num: int, livetime: float, deadtime: float) -> None:
        if livetime < 0:
            raise ValueError(f"livetime must be >= 0 s, got {livetime!r}")
        if livetime > 0:
            await self._exposure_ms.set(livetime * 1000.0)
        self._state.frames_to_acquire = max(1, num)

    async def default_trigger_info(self) -> TriggerInfo:
        return TriggerInfo()


class _CameraAcquireLogic(DetectorAcquireLogic):
    def __init__(self, state: _CameraState, exposure_ms, frames_written_setter, roi_sums_setter):
        self._state = state
        self._exposure_ms = exposure_ms
        self._set_frames_written = frames_written_setter
        self._set_roi_sums = roi_sums_setter
        self._task: asyncio.Task | None = None
        #: Set when an acquisition fails, so a waiting trigger fails at once with its error.
        self.failed = asyncio.Event()
        self.error: BaseException | None = None

    def _acquire_one(self, exposure_ms: float) -> NDArray[np.float64]:
        """Blocking: snap, sum the ROIs, append to the file (runs in a worker thread)."""
        state = self._state
        t_s = state.now_s()
        frame = state.driver.snap(exposure_ms)
        sums = state.roi_sums(frame)
        if state.file is None:
            raise RuntimeError("camera file is not open: prepare() the camera first")
        state.file.append(frame, t_s, sums)
        return sums

    async def _acquire(self) -> None:
        try:
            exposure_ms = await self._exposure_ms.get_value()
            for _ in range(self._state.frames_to_acquire):
                sums = await self._state.port.call(self._acquire_one, exposure_ms)
                self._set_roi_sums(sums)
                if self._state.file is not None:
                    self._set_frames_written(self._state.file.frames_written)
        except Exception as error:  # kept, and raised by wait_for_idle and trigger
            self.error = error
            self.failed.set()

    async def start_acquiring(self) -> None:
        self.failed.clear()
        self.error = None
        self._task = asyncio.create_task(self._acquire())

    async def wait_for_idle(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            await task
        if self.error is not None:
            raise self.error

    async def ensure_stopped(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


class _FrameFileDataProvider(StreamResourceDataProvider):
    """StreamResources of the frame file, with units on every data key (frames in ADU)."""

    def __init__(self, *args, units: dict[str, str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._units = units

    async def make_datakeys(self, collections_per_event: int):
        datakeys = await super().make_datakeys(collections_per_event)
        for key, datakey in datakeys.items():
            datakey["units"] = self._units[key]
        return datakeys


class _CameraDataLogic(DetectorDataLogic):
    def __init__(self, state: _CameraState, path_provider: PathProvider, frames_written_setter):
        self._state = state
        self._path_provider = path_provider
        self._set_frames_written = frames_written_setter
        self._frames_written_signal = None

    def bind(self, frames_written_signal) -> None:
        self._frames_written_signal = frames_written_signal

    async def prepare_unbounded(self, datakey_name: str) -> StreamableDataProvider:
        state = self._state
        info = self._path_provider(datakey_name)
        path = Path(info.directory_path) / f"{info.filename}.h5"
        h, w = state.driver.height_px, state.driver.width_px
        state.file = await state.port.call(
            FrameFile, path, height_px=h, width_px=w, n_rois=len(state.roi_names)
        )
        self._set_frames_written(0)
        resources = [
            StreamResourceInfo(
                data_key=datakey_name,
                shape=(h, w),
                chunk_shape=(1, h, w),
                dtype_numpy=np.dtype(np.uint16).str,
                parameters={"dataset": FRAMES_DATASET},
            ),
            StreamResourceInfo(
                data_key=f"{datakey_name}-t_s",
                shape=(),
                chunk_shape=(1024,),
                dtype_numpy=np.dtype(np.float64).str,
                parameters={"dataset": T_S_DATASET},
            ),
        ]
        if state.roi_names:
            resources.append(
                StreamResourceInfo(
                    data_key=f"{datakey_name}-roi_sums_adu",
                    shape=(len(state.roi_names),),
                    chunk_shape=(1024, len(state.roi_names)),
                    dtype_numpy=np.dtype(np.float64).str,
                    parameters={"dataset": ROI_SUMS_DATASET},
                )
            )
        units = {
            datakey_name: "ADU",
            f"{datakey_name}-t_s": "s",
            f"{datakey_name}-roi_sums_adu": "ADU",
        }
        return _FrameFileDataProvider(
            units={r.data_key: units[r.data_key] for r in resources},
            uri=f"{info.directory_uri}{info.filename}.h5",
            resources=resources,
            mimetype="application/x-hdf5",
            collections_written_signal=self._frames_written_signal,
        )

    def get_hinted_fields(self, datakey_name: str) -> Sequence[str]:
        return [datakey_name]

    async def stop(self) -> None:
        if self._state.file is not None:
            file, self._state.file = self._state.file, None
            await self._state.port.call(file.close)


class Camera(StandardDetector):
    """A scientific camera: frames to HDF5, ROI sums for live ratios, a preview outside runs.

    ``exposure_ms`` (configuration) sets the exposure; ``prepare(TriggerInfo(livetime=s))``
    also sets it. ``set_rois`` fixes the ROI masks for the next prepare; ``preview_frame``
    takes one frame without a run (focusing, ROI detection) and writes nothing.
    """

    def __init__(
        self,
        driver: CameraDriver,
        path_provider: PathProvider,
        *,
        now_s: Callable[[], float],
        port: BlockingPort | None = None,
        exposure_ms: float = 20.0,
        name: str = "",
    ) -> None:
        self._state = _CameraState(driver, port or BlockingPort(name or "camera"), now_s)
        self.exposure_ms = soft_signal_rw(float, exposure_ms, units="ms")
        self.roi_names, self._set_roi_names = soft_signal_r_and_setter(str, "[]")
        self.frames_written, set_frames_written = soft_signal_r_and_setter(int, 0)
        self.last_roi_sums_adu, set_roi_sums = soft_signal_r_and_setter(
            np.ndarray, np.zeros(0), units="ADU"
        )
        self.preview_frame, _ = soft_signal_r_and_setter(
            np.ndarray, np.zeros((0, 0), np.uint16), units="ADU", getter=self._snap_preview
        )
        data_logic = _CameraDataLogic(self._state, path_provider, set_frames_written)
        data_logic.bind(self.frames_written)
        self._camera_acquire = _CameraAcquireLogic(
            self._state, self.exposure_ms, set_frames_written, set_roi_sums
        )
        self.add_detector_logics(
            _CameraTriggerLogic(self._state, self.exposure_ms), self._camera_acquire, data_logic
        )
        self.add_config_signals(self.roi_names)
        super().__init__(name=name)

    @property
    def width_px(self) -> int:
        return self._state.driver.width_px

    @property
    def height_px(self) -> int:
        return self._state.driver.height_px

    @WatchableAsyncStatus.wrap
    async def trigger(self) -> AsyncIterator[WatcherUpdate[int]]:
        """Take one frame (as ``StandardDetector.trigger``), failing at once if the camera fails.

        The standard trigger waits for ``frames_written`` to advance, with a timeout; a camera
        that has already failed would only be noticed when that timeout expires.
        """
        updates = StandardDetector.trigger.__wrapped__(self)
        failed = asyncio.ensure_future(self._camera_acquire.failed.wait())
        try:
            while True:
                next_update = asyncio.ensure_future(anext(updates))
                await asyncio.wait({next_update, failed}, return_when=asyncio.FIRST_COMPLETED)
                if not next_update.done():
                    next_update.cancel()
                    with suppress(asyncio.CancelledError, StopAsyncIteration):
                        await next_update
                    raise self._camera_acquire.error or RuntimeError("camera acquisition failed")
                try:
                    update = next_update.result()
                except StopAsyncIteration:
                    return
                yield update
        finally:
            failed.cancel()
            await updates.aclose()

    async def _snap_preview(self) -> NDArray[np.uint16]:
        exposure_ms = await self.exposure_ms.get_value()
        return await self._state.port.call(self._state.driver.snap, exposure_ms)

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
        self._state.roi_names = list(masks)
        self._set_roi_names(json.dumps(self._state.roi_names))
        self._state.roi_masks = (
            np.stack([np.asarray(m, bool) for m in masks.values()])
            if masks
            else np.zeros((0, *shape), bool)
        )

    @property
    def roi_masks(self) -> dict[str, NDArray[np.bool_]]:
        return dict(zip(self._state.roi_names, self._state.roi_masks, strict=True))

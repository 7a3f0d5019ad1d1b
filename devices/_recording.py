"""Detectors that record one item per collection (a frame, a sweep) into an appending HDF5 file.

The pieces every ionrig detector shares, after ophyd-async's sim blob detector:

- :class:`RecordField` / :class:`RecordFile`: what one record holds (datasets with shape, dtype,
  units) and the SWMR file they are appended to, flushed after every record so readers and crash
  recovery see everything acquired;
- :class:`RecordingAcquireLogic`: acquire ``count`` records, each by a blocking call in the
  instrument's worker thread; a failure is kept and raised at once by the trigger;
- :class:`RecordingDataLogic`: opens the file at prepare and describes it as StreamResources,
  with units on every data key;
- :class:`RecordingDetector`: a ``StandardDetector`` whose ``trigger`` and ``complete`` fail as
  soon as the acquisition does, not when the index timeout expires.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from ophyd_async.core import (
    DetectorAcquireLogic,
    DetectorDataLogic,
    PathProvider,
    SignalR,
    StandardDetector,
    StreamableDataProvider,
    StreamResourceDataProvider,
    StreamResourceInfo,
    WatchableAsyncStatus,
    WatcherUpdate,
)

from ._port import BlockingPort

__all__ = [
    "RecordField",
    "RecordFile",
    "RecordingAcquireLogic",
    "RecordingDataLogic",
    "RecordingDetector",
]


@dataclass(frozen=True)
class RecordField:
    """One dataset of a record: data key ``<detector><suffix>``, its HDF5 path, shape of one
    record, dtype and units."""

    suffix: str
    dataset: str
    shape: tuple[int, ...]
    dtype: str
    units: str

    @property
    def chunk_shape(self) -> tuple[int, ...]:
        # images and sweeps: one record per chunk; scalars and short vectors: 1024 per chunk
        return (
            (1, *self.shape)
            if len(self.shape) > 1 or np.prod(self.shape) > 1024
            else (1024, *self.shape)
        )


class RecordFile:
    """An SWMR HDF5 file with one growing dataset per field, flushed after every record."""

    def __init__(self, path: Path, fields: Sequence[RecordField]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fields = list(fields)
        self._file = h5py.File(self.path, "w", libver="latest")
        # Float rows read NaN until written: a record cut short by a crash is recognisable.
        self._datasets = [
            self._file.create_dataset(
                f.dataset,
                shape=(0, *f.shape),
                maxshape=(None, *f.shape),
                dtype=f.dtype,
                chunks=f.chunk_shape,
                fillvalue=np.nan if np.dtype(f.dtype).kind == "f" else None,
            )
            for f in self.fields
        ]
        self._file.swmr_mode = True
        self.records_written = 0

    def append(self, values: Sequence[Any]) -> None:
        """Append one record: one value per field, in field order."""
        if len(values) != len(self._datasets):
            raise ValueError(f"a record has {len(self._datasets)} fields, got {len(values)}")
        n = self.records_written
        for dataset, value in zip(self._datasets, values, strict=True):
            dataset.resize(n + 1, axis=0)
            dataset[n] = value
        self._file.flush()
        self.records_written = n + 1

    def close(self) -> None:
        if self._file.id.valid:
            self._file.close()


class RecordingAcquireLogic(DetectorAcquireLogic):
    """Acquire ``count`` records; each is ``acquire_one()`` (blocking, in the port's thread),
    then ``on_record(result)`` in the event loop."""

    def __init__(
        self,
        port: BlockingPort,
        acquire_one: Callable[[], Any],
        on_record: Callable[[Any], None],
    ) -> None:
        self._port = port
        self._acquire_one = acquire_one
        self._on_record = on_record
        self.count = 1
        self._task: asyncio.Task | None = None
        #: Set when an acquisition fails, so a waiting trigger fails at once with its error.
        self.failed = asyncio.Event()
        self.error: BaseException | None = None

    async def _acquire(self) -> None:
        try:
            for _ in range(self.count):
                self._on_record(await self._port.call(self._acquire_one))
        except Exception as error:  # kept, and raised by wait_for_idle and the trigger
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


class _UnitsDataProvider(StreamResourceDataProvider):
    def __init__(self, *args, units: dict[str, str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._units = units

    async def make_datakeys(self, collections_per_event: int):
        datakeys = await super().make_datakeys(collections_per_event)
        for key, datakey in datakeys.items():
            datakey["units"] = self._units[key]
        return datakeys


class RecordingDataLogic(DetectorDataLogic):
    """Open a :class:`RecordFile` with ``fields()`` at prepare; describe it as StreamResources.

    ``on_open(file)`` hands the open file (or ``None`` at stop) to whoever appends to it;
    ``records_written`` is the signal the acquisition advances after each record.
    """

    def __init__(
        self,
        port: BlockingPort,
        path_provider: PathProvider,
        fields: Callable[[], Sequence[RecordField]],
        on_open: Callable[[RecordFile | None], None],
        records_written: SignalR[int],
    ) -> None:
        self._port = port
        self._path_provider = path_provider
        self._fields = fields
        self._on_open = on_open
        self._records_written = records_written
        self._file: RecordFile | None = None

    async def prepare_unbounded(self, datakey_name: str) -> StreamableDataProvider:
        info = self._path_provider(datakey_name)
        fields = list(self._fields())
        self._file = await self._port.call(
            RecordFile, Path(info.directory_path) / f"{info.filename}.h5", fields
        )
        self._on_open(self._file)
        return _UnitsDataProvider(
            units={datakey_name + f.suffix: f.units for f in fields},
            uri=f"{info.directory_uri}{info.filename}.h5",
            resources=[
                StreamResourceInfo(
                    data_key=datakey_name + f.suffix,
                    shape=f.shape,
                    chunk_shape=f.chunk_shape,
                    dtype_numpy=np.dtype(f.dtype).str,
                    parameters={"dataset": f.dataset},
                )
                for f in fields
            ],
            mimetype="application/x-hdf5",
            collections_written_signal=self._records_written,
        )

    def get_hinted_fields(self, datakey_name: str) -> Sequence[str]:
        return [datakey_name]

    async def stop(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            self._on_open(None)
            await self._port.call(file.close)


class RecordingDetector(StandardDetector):
    """A StandardDetector with a :class:`RecordingAcquireLogic` in ``_recording``."""

    _recording: RecordingAcquireLogic

    async def _fail_fast(
        self, updates: AsyncIterator[WatcherUpdate[int]]
    ) -> AsyncIterator[WatcherUpdate[int]]:
        """Pass ``updates`` through, but raise the acquisition's error as soon as it fails."""
        failed = asyncio.ensure_future(self._recording.failed.wait())
        try:
            while True:
                next_update = asyncio.ensure_future(anext(updates))
                await asyncio.wait({next_update, failed}, return_when=asyncio.FIRST_COMPLETED)
                if not next_update.done():
                    next_update.cancel()
                    with suppress(asyncio.CancelledError, StopAsyncIteration):
                        await next_update
                    raise self._recording.error or RuntimeError(f"{self.name}: acquisition failed")
                try:
                    update = next_update.result()
                except StopAsyncIteration:
                    return
                yield update
        finally:
            failed.cancel()
            await updates.aclose()

    @WatchableAsyncStatus.wrap
    async def trigger(self) -> AsyncIterator[WatcherUpdate[int]]:
        """Acquire one record (as ``StandardDetector.trigger``), failing at once on an error."""
        self._recording.failed.clear()  # a failure of an earlier trigger is not this one's
        self._recording.error = None
        async for update in self._fail_fast(StandardDetector.trigger.__wrapped__(self)):
            yield update

    @WatchableAsyncStatus.wrap
    async def complete(self) -> AsyncIterator[WatcherUpdate[int]]:
        """Wait for a fly scan's records (as ``StandardDetector.complete``), failing at once."""
        if self._recording.failed.is_set():
            raise self._recording.error or RuntimeError(f"{self.name}: acquisition failed")
        async for update in self._fail_fast(StandardDetector.complete.__wrapped__(self)):
            yield update

"""Detectors that record one item per collection (a frame, a sweep) into an appending HDF5 file.

The pieces every ionrig detector shares, after ophyd-async's sim blob detector:

- :class:`RecordField` / :class:`RecordFile`: what one record holds (datasets with shape, dtype,
  units) and the SWMR file they are appended to; its datasets end at the last record flushed,
  so readers and crash recovery see whole records only;
- :class:`RecordingAcquireLogic`: acquire ``count`` records in the instrument's worker thread,
  flushing at the end and at most every 0.1 s during a long acquisition (areaDetector's
  NumFramesFlush), and report only flushed records; a failure is kept and raised at once by
  the trigger;
- :class:`RecordingDataLogic`: opens the file at prepare and describes it as StreamResources,
  with units on every data key;
- :class:`RecordingDetector`: a ``StandardDetector`` whose ``trigger`` and ``complete`` fail as
  soon as the acquisition does, not when the index timeout expires.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray
from ophyd_async.core import (
    DetectorAcquireLogic,
    DetectorDataLogic,
    DetectorTriggerLogic,
    PathProvider,
    SignalR,
    StandardDetector,
    StreamableDataProvider,
    StreamResourceDataProvider,
    StreamResourceInfo,
    WatchableAsyncStatus,
    WatcherUpdate,
)

from ._ophyd_async_adapter import standard_complete_updates, standard_trigger_updates
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


#: Records by which a one-record-per-chunk dataset grows at most, ahead of an acquisition.
_GROW_RECORDS = 128


class RecordFile:
    """An SWMR HDF5 file with one growing dataset per field.

    Each field's dataset always ends at the last record flushed, so an SWMR reader sees whole
    records only. Fields of one record per chunk (frames, sweeps) are written as they come,
    chunk by chunk (``write_direct_chunk``: no selection, no type conversion), into datasets
    grown ahead in blocks (:meth:`expect`) and trimmed back at each flush; the rows of the
    other fields (times, ROI sums) are kept in memory and written at the flush, one slice per
    field. ``flush_interval_s`` is the flush policy (after areaDetector's NumFramesFlush):
    0 (the default) flushes every record as it is appended; above 0, a record is flushed with
    the first append at least that many real seconds after the last flush, or by
    :meth:`flush`. ``records_written``: records flushed, i.e. visible to readers. Appends,
    flushes and the close exclude each other (an acquisition's thread may still be appending
    when a stop closes the file); an append to a closed file raises ``ValueError``.
    """

    def __init__(
        self, path: Path, fields: Sequence[RecordField], *, flush_interval_s: float = 0.0
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fields = list(fields)
        self.flush_interval_s = flush_interval_s
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
        self._chunked = [f.chunk_shape[0] == 1 for f in self.fields]
        self._rows: list[list[NDArray]] = [[] for _ in self.fields]  # buffered, not chunked
        self._extent = 0  # rows of the chunked datasets (>= records appended)
        self._expected_end = 0  # records this file expects by the end of the acquisition
        self.records_appended = 0
        self.records_written = 0
        self._flushed_at_s = time.monotonic()
        self._lock = threading.Lock()

    @property
    def dataset_rows(self) -> list[int]:
        """Rows each field's dataset has now, in field order: the records written, or more for
        a one-record-per-chunk dataset grown ahead of an acquisition (:meth:`expect`)."""
        return [dataset.shape[0] for dataset in self._datasets]

    def expect(self, n_records: int) -> None:
        """Announce ``n_records`` more records: chunked datasets grow ahead up to them."""
        self._expected_end = self.records_appended + max(0, n_records)

    def append(self, values: Sequence[Any]) -> None:
        """Append one record: one value per field, in field order. Every value is checked
        against its field before anything is written."""
        if len(values) != len(self.fields):
            raise ValueError(f"a record has {len(self.fields)} fields, got {len(values)}")
        rows = [
            self._row(f, value, chunked)
            for f, value, chunked in zip(self.fields, values, self._chunked, strict=True)
        ]
        with self._lock:
            if not self._file.id.valid:
                raise ValueError(f"{self.path}: the record file is closed")
            self._append(rows)

    def _append(self, rows: list[NDArray]) -> None:
        n = self.records_appended
        if n >= self._extent and any(self._chunked):
            extent = min(max(n + 1, self._expected_end), n + _GROW_RECORDS)
            for dataset, chunked in zip(self._datasets, self._chunked, strict=True):
                if chunked:
                    dataset.resize(extent, axis=0)
            self._extent = extent
        for dataset, row, chunked, buffered in zip(
            self._datasets, rows, self._chunked, self._rows, strict=True
        ):
            if not chunked:
                buffered.append(row)
            elif row.dtype == dataset.dtype and row.flags.c_contiguous:
                dataset.id.write_direct_chunk((n, *(0,) * row.ndim), row)
            else:  # let HDF5 convert it, as h5py would
                dataset[n] = row
        self.records_appended = n + 1
        if time.monotonic() - self._flushed_at_s >= self.flush_interval_s:
            self._flush()

    @staticmethod
    def _row(field: RecordField, value: Any, chunked: bool) -> NDArray:
        """``value`` as one row of ``field`` (broadcast as h5py would, or ValueError)."""
        row = np.asarray(value)
        if row.shape != field.shape:
            row = np.broadcast_to(row, field.shape)
        # buffered rows are copied: the caller may reuse its array for the next record
        return row if chunked else np.array(row, dtype=field.dtype)

    def flush(self) -> None:
        """Make every appended record visible: trim the chunked datasets to them, write the
        buffered rows, flush the file (nothing once closed)."""
        with self._lock:
            if self._file.id.valid:
                self._flush()

    def _flush(self) -> None:
        n = self.records_appended
        if n > self.records_written or self._extent > n:
            for dataset, chunked, buffered in zip(
                self._datasets, self._chunked, self._rows, strict=True
            ):
                if chunked:
                    if dataset.shape[0] != n:
                        dataset.resize(n, axis=0)
                elif buffered:
                    dataset.resize(n, axis=0)
                    dataset[n - len(buffered) : n] = np.stack(buffered)
                    buffered.clear()
            self._extent = n
            self._file.flush()
            self.records_written = n
        self._flushed_at_s = time.monotonic()

    def discard_after(self, n_records: int) -> int:
        """Cut the file back to its first ``n_records`` records (flushed), forgetting the
        rest; returns how many were discarded. For a record no document references and that
        will be taken again (bluesky replaying a plan after a pause)."""
        with self._lock:
            if not self._file.id.valid:
                return 0
            self._flush()
            n = max(0, min(n_records, self.records_written))
            discarded = self.records_written - n
            if discarded:
                for dataset in self._datasets:
                    dataset.resize(n, axis=0)
                self._file.flush()
                self.records_appended = self.records_written = self._extent = n
            return discarded

    def close(self) -> None:
        """Flush what was appended, then close (the datasets end at the last record)."""
        with self._lock:
            if self._file.id.valid:
                try:
                    self._flush()
                finally:
                    self._file.close()


class RecordingAcquireLogic(DetectorAcquireLogic):
    """Acquire ``count`` records; each is ``acquire_one()`` (blocking), then
    ``on_record(result)`` in the event loop.

    The whole acquisition runs in the port's worker thread (one port transaction): records
    are taken back to back, each retried under the port's :class:`RetryPolicy` as a
    ``BlockingPort.call`` of its own would be. The record file (:meth:`attach`) is flushed
    at most every ``flush_interval_s`` real seconds during a multi-record acquisition and at
    its end (a one-record acquisition, a per-frame trigger, flushes its record), and
    ``on_record`` is called, in batches scheduled with ``call_soon_threadsafe``, only for
    records already flushed: signals fed from it (records written, hence StreamDatum
    documents) never run ahead of what a reader can read. The first error ends the
    acquisition after flushing the records before it; ``ensure_stopped`` stops it before
    the next record.
    """

    def __init__(
        self,
        port: BlockingPort,
        acquire_one: Callable[[], Any],
        on_record: Callable[[Any], None],
        *,
        flush_interval_s: float = 0.1,
    ) -> None:
        self._port = port
        self._acquire_one = acquire_one
        self._on_record = on_record
        self.flush_interval_s = flush_interval_s
        self.count = 1
        self._record_file: Callable[[], RecordFile | None] = lambda: None
        self._task: asyncio.Task | None = None
        self._stop: threading.Event | None = None
        #: Set when an acquisition fails, so a waiting trigger fails at once with its error.
        self.failed = asyncio.Event()
        self.error: BaseException | None = None

    def attach(self, record_file: Callable[[], RecordFile | None]) -> None:
        """Take the open record file from ``record_file()`` (the data logic's)."""
        self._record_file = record_file

    async def _acquire(self) -> None:
        loop = asyncio.get_running_loop()
        stop = self._stop = threading.Event()
        flushed: deque[Any] = deque()
        scheduled = threading.Event()

        def drain() -> None:  # in the event loop
            scheduled.clear()  # before taking: a record put meanwhile schedules again
            while flushed and not stop.is_set():
                self._on_record(flushed.popleft())

        def report(results: list[Any]) -> None:  # in the worker thread
            flushed.extend(results)
            if not scheduled.is_set():
                scheduled.set()
                with suppress(RuntimeError):  # the loop closed: nobody waits any more
                    loop.call_soon_threadsafe(drain)

        error = await self._port.call(self._records, self.count, stop, report)
        drain()
        if error is not None and not stop.is_set():  # kept, raised by wait_for_idle, trigger
            self.error = error
            self.failed.set()

    def _records(
        self, count: int, stop: threading.Event, report: Callable[[list[Any]], None]
    ) -> BaseException | None:
        """In the worker thread: take ``count`` records, report them once flushed; return the
        error that ended the acquisition (never raise: the port must not retry it whole)."""
        record_file = self._record_file()
        first = record_file.records_written if record_file is not None else 0
        taken: list[Any] = []
        reported = 0

        def report_flushed() -> None:
            nonlocal reported
            visible = len(taken) if record_file is None else record_file.records_written - first
            if visible > reported:
                report(taken[reported:visible])
                reported = visible

        try:
            if record_file is not None and count > 1:
                record_file.expect(count)
                record_file.flush_interval_s = self.flush_interval_s
            for _ in range(count):
                if stop.is_set():
                    return None
                taken.append(self._retrying(stop))
                if record_file is not None and len(taken) == count:
                    record_file.flush()
                report_flushed()
        except Exception as error:
            return error
        finally:
            if record_file is not None and count > 1:
                record_file.flush_interval_s = 0.0
                record_file.flush()  # nothing once a stop closed it
                report_flushed()
        return None

    def _retrying(self, stop: threading.Event) -> Any:
        """``acquire_one()``, retried as ``BlockingPort.call`` retries (same policy, log lines
        and counts: ``BlockingPort.backoff_s``); a stop during a backoff raises the last
        error."""
        attempt = 1
        while True:
            try:
                return self._acquire_one()
            except Exception as error:
                delay_s = self._port.backoff_s(self._acquire_one, error, attempt)
                attempt += 1
                if stop.wait(delay_s):
                    raise

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
        if self._stop is not None:
            self._stop.set()  # the worker thread ends before its next record
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

    @property
    def record_file(self) -> RecordFile | None:
        """The file open since prepare (``None`` before, and after stop)."""
        return self._file

    def get_hinted_fields(self, datakey_name: str) -> Sequence[str]:
        return [datakey_name]

    async def stop(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            self._on_open(None)
            await self._port.call(file.close)


class RecordingDetector(StandardDetector):
    """A StandardDetector with a :class:`RecordingAcquireLogic` in ``acquisition``."""

    #: The acquisition (records per prepare, flush interval, the error that ended it); the
    #: subclass sets it before adding it with :meth:`add_detector_logics`.
    acquisition: RecordingAcquireLogic

    def add_detector_logics(
        self, *logics: DetectorTriggerLogic | DetectorAcquireLogic | DetectorDataLogic
    ) -> None:
        """As ``StandardDetector``'s; the recording acquisition also gets the data logic's
        record file, which it flushes."""
        super().add_detector_logics(*logics)
        data = [logic for logic in logics if isinstance(logic, RecordingDataLogic)]
        acquire = [logic for logic in logics if isinstance(logic, RecordingAcquireLogic)]
        if data and acquire:
            (data_logic,), (acquire_logic,) = data, acquire
            acquire_logic.attach(lambda: data_logic.record_file)

    async def _fail_fast(
        self, updates: AsyncIterator[WatcherUpdate[int]]
    ) -> AsyncIterator[WatcherUpdate[int]]:
        """Pass ``updates`` through, but raise the acquisition's error as soon as it fails."""
        failed = asyncio.ensure_future(self.acquisition.failed.wait())
        try:
            while True:
                next_update = asyncio.ensure_future(anext(updates))
                await asyncio.wait({next_update, failed}, return_when=asyncio.FIRST_COMPLETED)
                if not next_update.done():
                    next_update.cancel()
                    with suppress(asyncio.CancelledError, StopAsyncIteration):
                        await next_update
                    raise self.acquisition.error or RuntimeError(f"{self.name}: acquisition failed")
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
        self.acquisition.failed.clear()  # a failure of an earlier trigger is not this one's
        self.acquisition.error = None
        async for update in self._fail_fast(standard_trigger_updates(self)):
            yield update

    @WatchableAsyncStatus.wrap
    async def complete(self) -> AsyncIterator[WatcherUpdate[int]]:
        """Wait for a fly scan's records (as ``StandardDetector.complete``), failing at once."""
        if self.acquisition.failed.is_set():
            raise self.acquisition.error or RuntimeError(f"{self.name}: acquisition failed")
        async for update in self._fail_fast(standard_complete_updates(self)):
            yield update

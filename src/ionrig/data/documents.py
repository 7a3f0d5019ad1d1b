"""The document pipeline: validate → journal (JSON Lines, flushed per document) → catalog.

``make_pipeline`` returns the callbacks in the order the RunEngine must call them. The journal
is what makes a killed process lose nothing it emitted; the catalog writer batches for speed and
flushes on a timer; :func:`recover_runs` rebuilds interrupted runs from their journals.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import event_model
import numpy as np
from event_model import RunRouter

from ionrig.data.tiled_writer_adapter import FlushingRunWriter

__all__ = [
    "CatalogWriter",
    "InvalidDocument",
    "Journal",
    "NoFilling",
    "RecoveredRun",
    "RunAudit",
    "audit_run",
    "complete_records",
    "make_pipeline",
    "read_journal",
    "recover_runs",
    "validate_document",
]

logger = logging.getLogger(__name__)

Callback = Callable[[str, dict], Any]


class InvalidDocument(ValueError):
    """A document failed event-model's JSON schema."""


def validate_document(name: str, doc: dict) -> None:
    """Validate ``doc`` against event-model's schema for its type; raise InvalidDocument."""
    try:
        validator = event_model.schema_validators[event_model.DocumentNames(name)]
    except (KeyError, ValueError):
        raise InvalidDocument(f"unknown document type {name!r}") from None
    try:
        validator.validate(doc)
    except Exception as error:  # jsonschema.ValidationError
        raise InvalidDocument(f"invalid {name} document: {error}") from error


def _to_json(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to the journal")


class _RunJournal:
    """All documents of one run, appended to one file, flushed per document."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("a", encoding="utf-8")

    def __call__(self, name: str, doc: dict) -> None:
        self._file.write(json.dumps({"name": name, "doc": doc}, default=_to_json) + "\n")
        self._file.flush()
        if name == "stop":
            self._file.close()


class Journal:
    """Callback writing every run to ``<directory>/<start uid>.jsonl``, document by document.

    Documents are written exactly as emitted (no event → event_page repacking), so a journal
    replays into any callback as the RunEngine would have sent it.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._runs: dict[str, _RunJournal] = {}
        self._run_of_descriptor: dict[str, str] = {}

    def _run_uid(self, name: str, doc: dict) -> str | None:
        if name == "start":
            return doc["uid"]
        if name in ("descriptor", "stop", "stream_resource", "resource"):
            run_uid = doc.get("run_start")
        else:  # event, event_page, stream_datum, datum(_page)
            run_uid = self._run_of_descriptor.get(doc.get("descriptor", ""))
        if name == "descriptor" and run_uid is not None:
            self._run_of_descriptor[doc["uid"]] = run_uid
        return run_uid

    def __call__(self, name: str, doc: dict) -> None:
        run_uid = self._run_uid(name, doc)
        if run_uid is None:
            logger.warning("journal: %s document belongs to no open run; not journaled", name)
            return
        if name == "start":
            self._runs[run_uid] = _RunJournal(self.directory / f"{run_uid}.jsonl")
        journal = self._runs.get(run_uid)
        if journal is None:
            logger.warning("journal: %s document of unknown run %s", name, run_uid)
            return
        journal(name, doc)
        if name == "stop":
            del self._runs[run_uid]
            self._run_of_descriptor = {
                d: r for d, r in self._run_of_descriptor.items() if r != run_uid
            }


def read_journal(path: Path) -> Iterator[tuple[str, dict]]:
    """The (name, doc) pairs of a journal; a line cut short by a kill is skipped."""
    with Path(path).open(encoding="utf-8") as file:
        for line in file:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("journal %s ends with a partial line; ignored", path)
                continue
            yield record["name"], record["doc"]


class NoFilling:
    """For event_model's ``RunRouter(filler_class=...)``: documents pass through unchanged and
    nothing is kept. The default ``Filler`` keeps every datum and stream datum of a run until
    its stop (to load external data into events on request), which grew a long run's memory
    by ~3.4 MB per 1000 340/380 pairs (tracemalloc); ionrig's routers never fill (the catalog
    references the files, the live tables read scalars)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def _passthrough(self, doc: dict) -> dict:
        return doc

    descriptor = event_page = datum_page = resource = stream_resource = stream_datum = _passthrough


_CLOSE = object()  # a CatalogWriter's thread ends when it gets this
_DUE = object()  # ... and flushes its batched rows when this is what the timeout gives


class CatalogWriter:
    """Writes runs into a Tiled catalog from its own thread, in batches of ``batch_size`` rows
    or every ``flush_period_s`` seconds (whichever comes first), so live readers see recent
    events.

    The RunEngine's loop only hands each document over (a queue put): a request to the Tiled
    server (a flush takes ~0.1 s) never stalls the loop, and so never the rig's timing. A
    ``stop`` document waits until everything before it is written, so a run is complete in the
    catalog when the RunEngine returns; the thread lives while runs are open. A write that
    fails is logged and raised with the next document the RunEngine hands over (the run
    fails; its journal has every document).
    """

    def __init__(self, client, *, batch_size: int = 200, flush_period_s: float = 2.0) -> None:
        self.client = client.include_data_sources()
        self.batch_size = batch_size
        self.flush_period_s = flush_period_s
        self._writers: list[FlushingRunWriter] = []
        self._router = RunRouter([self._factory], filler_class=NoFilling)
        self._documents: queue.Queue[Any] = queue.Queue()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None  # runs while a run is open

    def _factory(self, name: str, start_doc: dict):
        writer = FlushingRunWriter(self.client, batch_size=self.batch_size)
        self._writers.append(writer)
        return [writer], []

    def flush(self) -> None:
        """Write every batched row now (from the writer's thread)."""
        for writer in self._writers:
            writer.flush()

    def _write(self, name: str, doc: dict) -> None:
        self._router(name, doc)
        if name == "stop":
            self._writers = [
                w
                for w in self._writers
                if w.root_node is not None and w.root_node.item["id"] != doc["run_start"]
            ]

    def _work(self) -> None:
        """The writer thread: documents in order; rows batched by a run writer are flushed
        at most ``flush_period_s`` after the first of them arrived."""
        flush_at_s: float | None = None  # when the batched rows are due
        while True:
            try:
                if flush_at_s is None:
                    item = self._documents.get()
                else:
                    item = self._documents.get(timeout=max(0.0, flush_at_s - time.monotonic()))
            except queue.Empty:
                item = _DUE
            try:
                if item is _CLOSE:
                    self.flush()
                    return
                if item is not _DUE:
                    name, doc = item
                    self._write(name, doc)
                    if flush_at_s is None and name in ("event", "event_page", "stream_datum"):
                        flush_at_s = time.monotonic() + self.flush_period_s
                if flush_at_s is not None and time.monotonic() >= flush_at_s:
                    self.flush()
                    flush_at_s = None
            except Exception as error:
                logger.exception("writing to the catalog failed; the journal has the data")
                self._error = error
            finally:
                if item is not _DUE:
                    self._documents.task_done()

    def _raise_pending_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def __call__(self, name: str, doc: dict) -> None:
        self._raise_pending_error()
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="catalog-writer", daemon=True)
            self._thread.start()
        self._documents.put((name, doc))
        if name == "stop":
            self._documents.join()  # the run is complete in the catalog on return
            if not self._writers:  # no run open: the thread ends until the next one
                self.close()
            self._raise_pending_error()

    def close(self) -> None:
        """Write what is queued, then end the writer's thread (a new run starts another)."""
        if self._thread is not None:
            self._documents.put(_CLOSE)
            self._thread.join()
            self._thread = None


def make_pipeline(catalog, journal_dir: Path) -> list[Callback]:
    """Callbacks in order: schema validation, journal, catalog writer (if a catalog is given)."""
    callbacks: list[Callback] = [validate_document, Journal(journal_dir)]
    if catalog is not None:
        callbacks.append(CatalogWriter(catalog.client))
    return callbacks


@dataclass(frozen=True)
class RecoveredRun:
    """A run closed by :func:`recover_runs`. ``records_recovered``: per data key, records
    (frames, sweeps) that were in its HDF5 files without a StreamDatum, referenced now."""

    uid: str
    n_documents: int
    n_events: int
    journal: Path
    records_recovered: dict[str, int] = field(default_factory=dict)


def _journal_has_stop(path: Path) -> bool:
    return any(name == "stop" for name, _ in read_journal(path))


def _hdf5_path(uri: str) -> Path:
    return Path(unquote(urlparse(uri).path))


def complete_records(resources: list[dict]) -> int:
    """Records written completely to the HDF5 file of ``resources`` (one file): the shortest
    of their datasets, less trailing rows whose float values still read NaN (their write never
    happened); 0 when the file cannot be read."""
    import h5py
    import numpy as np

    path = _hdf5_path(resources[0]["uri"])
    try:
        with h5py.File(path, "r", libver="latest", swmr=True) as file:
            datasets = [file[r["parameters"]["dataset"]] for r in resources]
            n = min(len(d) for d in datasets)
            for dataset in datasets:
                if n and dataset.dtype.kind == "f":
                    rows = np.asarray(dataset[:n]).reshape(n, -1)
                    written = np.flatnonzero(~np.all(np.isnan(rows), axis=1))
                    n = int(written[-1]) + 1 if written.size else 0
            return n
    except (OSError, KeyError) as error:
        logger.warning("cannot read the records in %s: %s", path, error)
        return 0


@dataclass(frozen=True)
class RunAudit:
    """What a journaled run holds, checked against its detector files (:func:`audit_run`).

    ``events``: events per stream. ``referenced``: records (frames, sweeps) per data key that
    StreamDatum documents point at; ``in_files``: records completely written to that data
    key's HDF5 file. ``exit_status`` and ``reason`` come from the stop document (``None``
    while the run has none).
    """

    uid: str
    n_documents: int
    exit_status: str | None
    reason: str | None
    events: dict[str, int]
    referenced: dict[str, int]
    in_files: dict[str, int]

    @property
    def unreferenced(self) -> dict[str, int]:
        """Records in the files beyond what the documents reference, per data key."""
        return {k: n - self.referenced.get(k, 0) for k, n in self.in_files.items()}

    @property
    def complete(self) -> bool:
        """Closed, and every record in its files is referenced and every reference is in
        its file (nothing recorded is lost, nothing referenced is missing)."""
        return self.exit_status is not None and self.referenced == self.in_files


def _stream_resources(documents: list[tuple[str, dict]]) -> dict[str, list[dict]]:
    """HDF5 stream resources of a run, grouped by file path."""
    by_file: dict[str, list[dict]] = {}
    for name, doc in documents:
        if name == "stream_resource" and doc.get("mimetype") == "application/x-hdf5":
            by_file.setdefault(str(_hdf5_path(doc["uri"])), []).append(doc)
    return by_file


def audit_run(journal: Path) -> RunAudit:
    """Check one journaled run: every document valid (:class:`InvalidDocument` otherwise), in
    order (a start first, at most one stop, last), every event and StreamDatum pointing at a
    declared descriptor and resource; count its events, and its records against its files."""
    documents = list(read_journal(journal))
    if not documents or documents[0][0] != "start":
        raise InvalidDocument(f"journal {journal} does not begin with a start document")
    stops = [i for i, (name, _) in enumerate(documents) if name == "stop"]
    if stops and stops != [len(documents) - 1]:
        raise InvalidDocument(f"journal {journal}: the stop document is not the last, or twice")
    streams: dict[str, str] = {}
    resources: dict[str, dict] = {}
    events: Counter[str] = Counter()
    referenced: Counter[str] = Counter()
    for name, doc in documents:
        validate_document(name, doc)
        if name == "descriptor":
            streams[doc["uid"]] = doc["name"]
        elif name == "stream_resource":
            resources[doc["uid"]] = doc
        elif name in ("event", "event_page", "stream_datum"):
            if doc["descriptor"] not in streams:
                raise InvalidDocument(f"{name} {doc['uid']} refers to an undeclared descriptor")
            if name == "event":
                events[streams[doc["descriptor"]]] += 1
            elif name == "event_page":
                events[streams[doc["descriptor"]]] += len(doc["seq_num"])
            else:
                resource = resources.get(doc["stream_resource"])
                if resource is None:
                    raise InvalidDocument(f"stream_datum {doc['uid']} refers to no resource")
                key = resource["data_key"]
                referenced[key] = max(referenced[key], doc["indices"]["stop"])
    in_files: dict[str, int] = {}
    for group in _stream_resources(documents).values():
        n = complete_records(group)
        for resource in group:
            in_files[resource["data_key"]] = n
    stop = documents[-1][1] if stops else None
    return RunAudit(
        uid=documents[0][1]["uid"],
        n_documents=len(documents),
        exit_status=None if stop is None else stop["exit_status"],
        reason=None if stop is None else stop.get("reason", ""),
        events=dict(events),
        referenced={k: referenced.get(k, 0) for k in in_files} | dict(referenced),
        in_files=in_files,
    )


def _unreferenced_stream_data(documents: list[tuple[str, dict]]) -> list[dict]:
    """StreamDatum documents for the records a killed process flushed to its HDF5 files but
    never announced: per resource, indices from the last referenced record to the last
    complete one (seq_nums continue those of the last StreamDatum: no event carries them)."""
    last: dict[str, dict] = {}
    blocks: Counter[str] = Counter()
    for name, doc in documents:
        if name == "stream_datum":
            last[doc["stream_resource"]] = doc
            blocks[doc["stream_resource"]] += 1
    extra: list[dict] = []
    for group in _stream_resources(documents).values():
        n = complete_records(group)
        for resource in group:
            previous = last.get(resource["uid"])
            if previous is None:  # never referenced: its descriptor is unknown
                continue
            start = previous["indices"]["stop"]
            if n <= start:
                continue
            seq = previous["seq_nums"]["stop"]
            datum = {
                "uid": f"{resource['uid']}/{blocks[resource['uid']]}",
                "stream_resource": resource["uid"],
                "descriptor": previous["descriptor"],
                "indices": {"start": start, "stop": n},
                "seq_nums": {"start": seq, "stop": seq + n - start},
            }
            validate_document("stream_datum", datum)
            extra.append(datum)
    return extra


def recover_runs(catalog, journal_dir: Path | None = None) -> list[RecoveredRun]:
    """Rebuild every journaled run that never stopped, closing it ``exit_status="abort"``.

    The catalog copy of such a run (partial: its last batch never flushed) is replaced by the
    journal's complete copy. Records (frames, sweeps) that reached the run's HDF5 files after
    its last StreamDatum get one (:func:`_unreferenced_stream_data`), so the run holds every
    record flushed before the process ended. These StreamDatum and a stop document with reason
    "process ended" are appended to the journal and written, so a second recovery finds
    nothing to do.
    """
    journal_dir = Path(journal_dir or catalog.location.journal_dir)
    recovered: list[RecoveredRun] = []
    for path in sorted(journal_dir.glob("*.jsonl")):
        if _journal_has_stop(path):
            continue
        documents = list(read_journal(path))
        if not documents or documents[0][0] != "start":
            logger.warning("journal %s has no start document; skipped", path)
            continue
        start = documents[0][1]
        if start["uid"] in catalog:
            catalog.delete(start["uid"])
        num_events: dict[str, int] = {}
        stream_of: dict[str, str] = {}
        last_time = start["time"]
        for name, doc in documents:
            if name == "descriptor":
                stream_of[doc["uid"]] = doc["name"]
                num_events.setdefault(doc["name"], 0)
            elif name == "event":
                num_events[stream_of[doc["descriptor"]]] += 1
            elif name == "event_page":
                num_events[stream_of[doc["descriptor"]]] += len(doc["seq_num"])
            last_time = max(last_time, doc.get("time", last_time) or last_time)
        extra = _unreferenced_stream_data(documents)
        stop = {
            "uid": str(uuid.uuid4()),
            "run_start": start["uid"],
            "time": last_time,
            "exit_status": "abort",
            "reason": "process ended",
            "num_events": num_events,
        }
        validate_document("stop", stop)
        writer = CatalogWriter(catalog.client)
        closing = [*(("stream_datum", datum) for datum in extra), ("stop", stop)]
        for name, doc in [*documents, *closing]:
            writer(name, doc)
        journal = _RunJournal(path)
        for name, doc in closing:
            journal(name, doc)
        keys = {doc["uid"]: doc["data_key"] for name, doc in documents if name == "stream_resource"}
        recovered.append(
            RecoveredRun(
                start["uid"],
                len(documents) + len(closing),
                sum(num_events.values()),
                path,
                records_recovered={
                    keys[d["stream_resource"]]: d["indices"]["stop"] - d["indices"]["start"]
                    for d in extra
                },
            )
        )
    return recovered

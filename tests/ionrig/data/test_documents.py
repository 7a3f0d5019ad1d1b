"""Validation, journal, time-bounded catalog writes and recovery of interrupted runs."""

import gc
import os
import signal
import subprocess
import sys
import textwrap
import time

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import jsonschema
import pytest
from ophyd_async.core import init_devices, soft_signal_rw

from ionrig.data.catalog import open_catalog
from ionrig.data.documents import (
    CatalogWriter,
    InvalidDocument,
    make_pipeline,
    read_journal,
    recover_runs,
    validate_document,
)
from ionrig.session import make_run_engine


def test_validator_refuses_an_invalid_document():
    with pytest.raises(InvalidDocument, match="start"):
        validate_document("start", {"uid": 5, "time": "noon"})
    with pytest.raises(InvalidDocument, match="unknown document type"):
        validate_document("not-a-document", {})


class BrokenReadable:
    """A device whose description is not valid event-model (dtype 'complex' does not exist)."""

    name = "broken"
    parent = None

    def describe(self):
        return {"broken": {"source": "test", "dtype": "complex", "shape": []}}

    def read(self):
        return {"broken": {"value": 1.0, "timestamp": time.time()}}


def test_invalid_document_fails_the_run_loudly(catalog):
    RE = make_run_engine(catalog)
    with pytest.raises(jsonschema.ValidationError, match="complex"):
        RE(bp.count([BrokenReadable()], num=1))
    # the run was opened and closed as failed; its journal has no invalid descriptor
    (journal,) = catalog.location.journal_dir.glob("*.jsonl")
    documents = list(read_journal(journal))
    assert [name for name, _ in documents] == ["start", "stop"]
    assert documents[-1][1]["exit_status"] == "fail"


def test_pipeline_validates_before_journal_and_catalog(catalog):
    pipeline = make_pipeline(catalog, catalog.location.journal_dir)
    assert pipeline[0] is validate_document
    event_without_seq_num = {
        "uid": "e1",
        "time": 1.0,
        "descriptor": "d1",
        "data": {},
        "timestamps": {},
    }
    with pytest.raises(InvalidDocument, match="seq_num"):
        pipeline[0]("event", event_without_seq_num)


def test_journal_is_flushed_per_document_during_the_run(catalog):
    RE = make_run_engine(catalog)
    with init_devices():
        knob = soft_signal_rw(float, 2.0, units="mV")
    seen_mid_run = []

    def plan():
        uid = yield from bps.open_run()
        yield from bps.declare_stream(knob, name="primary")
        for _ in range(3):
            yield from bps.trigger_and_read([knob])
        path = catalog.location.journal_dir / f"{uid}.jsonl"
        seen_mid_run.extend(name for name, _ in read_journal(path))
        yield from bps.close_run()

    RE(plan())
    assert seen_mid_run.count("event") == 3
    assert seen_mid_run[0] == "start" and "stop" not in seen_mid_run


def test_catalog_writer_flushes_on_time_not_only_on_batch(catalog):
    RE = make_run_engine(None, location=catalog.location)
    RE.subscribe(CatalogWriter(catalog.client, batch_size=10_000, flush_period_s=0.2))
    with init_devices():
        knob = soft_signal_rw(float, 3.0, units="mV")
    rows_mid_run = []

    def plan():
        uid = yield from bps.open_run()
        yield from bps.declare_stream(knob, name="primary")
        for _ in range(5):
            yield from bps.trigger_and_read([knob])
        yield from bps.sleep(0.6)  # the timed flush fires while the plan waits
        rows_mid_run.append(len(catalog[uid]["primary"]["knob"].read()))
        yield from bps.close_run()

    RE(plan())
    assert rows_mid_run == [5]


def test_a_long_run_keeps_no_stream_datum_documents_in_memory(session):
    """Every frame gives a stream datum; event_model's default Filler (in a RunRouter) kept
    them all until the run's stop, so memory grew with the run's length."""
    from ionrig.plans import ratiometric_timecourse

    stream_datum_keys = {"stream_resource", "uid", "seq_nums", "indices", "descriptor"}
    alive: list[int] = []

    def stream_datums() -> set[int]:
        gc.collect()
        return {
            id(o) for o in gc.get_objects() if isinstance(o, dict) and o.keys() == stream_datum_keys
        }

    # only this run's: documents an earlier test in the same process still holds do not count
    earlier = stream_datums()

    def count(name, doc):
        if name == "event" and doc["seq_num"] == 40 and "ratio_cell1" in doc["data"]:
            alive.append(len(stream_datums() - earlier))

    session.RE.subscribe(count)
    session.RE(ratiometric_timecourse(session.rig, 40))
    # 80 frames so far, each with its stream datum: a handful may be in flight
    assert len(alive) == 1 and alive[0] < 10


KILLED_PLAN = textwrap.dedent(
    """
    import sys
    import bluesky.plans as bp
    from ophyd_async.core import init_devices, soft_signal_rw
    from ionrig.session import start

    session = start("sim", time_scale=1)
    with init_devices():
        knob = soft_signal_rw(float, 7.0, units="mV")

    def announce(name, doc):
        if name == "event":
            print("event", doc["seq_num"], flush=True)

    session.RE.subscribe(announce)
    session.RE(bp.count([knob, session.rig.t_s], num=100000, delay=0.01))
    """
)


def test_sigkill_mid_run_then_recover_keeps_every_emitted_event(data_dir):
    env = {**os.environ, "IONRIG_DATA": str(data_dir)}
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_PLAN], stdout=subprocess.PIPE, env=env, text=True
    )
    announced = 0
    deadline = time.monotonic() + 90
    while announced < 40 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if line.startswith("event"):
            announced = int(line.split()[1])
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    assert announced >= 40, "the child never got going"

    cli = subprocess.run(
        [sys.executable, "-m", "ionrig.cli", "--data", str(data_dir), "catalog", "recover"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    assert "recovered" in cli.stdout

    catalog = open_catalog(data_dir)
    run = catalog[-1]
    stop = run.metadata["stop"]
    assert stop["exit_status"] == "abort"
    assert stop["reason"] == "process ended"
    knob = run["primary"]["knob"].read()
    assert len(knob) >= announced  # every event announced before the kill is there
    assert stop["num_events"]["primary"] == len(knob)
    assert set(knob) == {7.0}
    # a second recovery finds nothing more to do
    assert recover_runs(catalog) == []
    catalog.close()


def test_catalog_writer_thread_lives_while_a_run_is_open(catalog):
    import threading

    RE = make_run_engine(None, location=catalog.location)
    writer = CatalogWriter(catalog.client)
    RE.subscribe(writer)
    with init_devices():
        knob = soft_signal_rw(float, 1.5, units="mV")
    alive_mid_run = []

    def plan():
        yield from bps.open_run()
        yield from bps.declare_stream(knob, name="primary")
        yield from bps.trigger_and_read([knob])
        alive_mid_run.append(any(t.name == "catalog-writer" for t in threading.enumerate()))
        return (yield from bps.close_run())

    for _ in range(2):
        uid = RE(plan()).run_start_uids[0]
        # the run is whole in the catalog when the RunEngine returns, and no thread is left
        assert list(catalog[uid]["primary"]["knob"].read()) == [1.5]
        assert not any(t.name == "catalog-writer" for t in threading.enumerate())
    assert alive_mid_run == [True, True]
    assert not any(t.name == "catalog-writer" for t in threading.enumerate())

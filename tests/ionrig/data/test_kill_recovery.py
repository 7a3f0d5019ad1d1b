"""The kill test (docs/reliability.md): SIGKILL of the process running a 340/380 time course in
the middle of its acquisition, then ``ionrig catalog recover`` in another process; the run then
holds every event emitted before the kill and every frame flushed to HDF5. While the child runs,
this process reads its HDF5 file (SWMR) and sees every flushed frame whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from ionrig.data.catalog import open_catalog
from ionrig.data.documents import audit_run, complete_records, read_journal, recover_runs
from ionrig.devices._recording import RecordField, RecordFile

TIMECOURSE = textwrap.dedent(
    """
    from ionrig.plans import ratiometric_timecourse
    from ionrig.session import start

    session = start("sim", time_scale=100)
    session.RE(ratiometric_timecourse(session.rig, 100_000))
    """
)
FRAMES = "/entry/data/data"
T_S = "/entry/t_s"
KILL_AFTER_FRAMES = 20


def _camera_file(raw: Path, deadline: float) -> Path:
    while time.monotonic() < deadline:
        for path in raw.glob("*.h5"):
            try:
                with h5py.File(path, "r", libver="latest", swmr=True) as file:
                    if FRAMES in file:
                        return path
            except OSError:  # not yet in SWMR mode
                pass
        time.sleep(0.05)
    raise AssertionError("the child never opened its camera file")


def _read_while_written(path: Path, frames_wanted: int, deadline: float) -> list[int]:
    """Frame counts seen while the child writes; every row read must be whole (its t_s set
    and rising, its frame not the fill value)."""
    seen: list[int] = []
    with h5py.File(path, "r", libver="latest", swmr=True) as file:
        frames, t_s = file[FRAMES], file[T_S]
        while time.monotonic() < deadline:
            frames.refresh()
            t_s.refresh()
            n = min(len(frames), len(t_s))
            if n:
                times = np.asarray(t_s[:n])
                assert np.all(np.isfinite(times)) and np.all(np.diff(times) > 0)
                assert np.asarray(frames[n - 1]).max() > 0  # a rendered frame, not the fill
            if not seen or n > seen[-1]:
                seen.append(n)
            if n >= frames_wanted:
                return seen
            time.sleep(0.01)
    raise AssertionError(f"only {seen[-1] if seen else 0} frames within the time allowed")


@pytest.mark.slow
def test_sigkill_mid_acquisition_then_recover_keeps_every_event_and_frame(data_dir):
    env = {**os.environ, "IONRIG_DATA": str(data_dir)}
    child = subprocess.Popen(
        [sys.executable, "-c", TIMECOURSE],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        path = _camera_file(data_dir / "raw", deadline)
        seen = _read_while_written(path, KILL_AFTER_FRAMES, deadline)
    finally:
        child.send_signal(signal.SIGKILL)
        _, stderr = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL, stderr
    assert len(seen) > 3 and seen == sorted(seen)  # the file grew while it was read

    (journal,) = (data_dir / "journal").glob("*.jsonl")
    before = audit_run(journal)
    assert before.exit_status is None  # killed: no stop document
    flushed = before.in_files["camera"]
    assert flushed >= KILL_AFTER_FRAMES
    # frames flushed after the last announced one (0 or 1: the frame in flight at the kill)
    assert 0 <= flushed - before.referenced["camera"] <= 1

    cli = subprocess.run(
        [sys.executable, "-m", "ionrig.cli", "--data", str(data_dir), "catalog", "recover"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.startswith("recovered "), cli.stdout
    print(f"\nkilled after {flushed} flushed frames; {cli.stdout.strip()}")

    after = audit_run(journal)
    assert after.complete and after.exit_status == "abort" and after.reason == "process ended"
    assert after.referenced["camera"] == flushed  # every flushed frame is in the run now
    emitted = [doc for name, doc in read_journal(journal) if name == "event"]
    assert sum(before.events.values()) == len(emitted) == sum(after.events.values())

    catalog = open_catalog(data_dir)
    try:
        run = catalog[after.uid]
        assert run.metadata["stop"]["reason"] == "process ended"
        assert run.metadata["stop"]["num_events"] == before.events
        for stream, n in before.events.items():
            assert len(run[stream]["t_s"].read()) == n  # every event emitted before the kill
        frames = np.asarray(run["primary"]["camera"].read())
        assert frames.shape[0] == flushed  # every frame flushed to HDF5
        with h5py.File(path, "r", libver="latest", swmr=True) as file:
            written = np.asarray(file[FRAMES][:flushed])
        np.testing.assert_array_equal(frames.reshape(written.shape), written)
        assert recover_runs(catalog) == []  # a second recovery finds nothing to do
    finally:
        catalog.close()


def test_a_record_cut_short_by_a_kill_is_not_counted(tmp_path):
    """Rows resized but never written read NaN in their float fields: recovery counts only
    records written whole."""
    fields = [
        RecordField("", FRAMES, (4, 4), "<u2", "ADU"),
        RecordField("-t_s", T_S, (), "<f8", "s"),
    ]
    record_file = RecordFile(tmp_path / "cut.h5", fields)
    for i in range(3):
        record_file.append([np.full((4, 4), i + 1, np.uint16), float(i)])
    record_file.close()
    with h5py.File(tmp_path / "cut.h5", "r+") as file:  # what a kill between resize and write
        for field in fields:  # leaves: one more row in every dataset, never written
            file[field.dataset].resize(4, axis=0)
    uri = f"file://localhost{tmp_path / 'cut.h5'}"
    resources = [
        {"uri": uri, "parameters": {"dataset": FRAMES}},
        {"uri": uri, "parameters": {"dataset": T_S}},
    ]
    assert complete_records(resources) == 3


def test_frames_flushed_after_the_last_event_are_recovered_from_the_file(session):
    """A kill between a frame's flush and its StreamDatum (the window the kill test may or may
    not hit): the journal is cut there; recovery finds the frame in the file and adds it."""
    from ionrig.plans import ratiometric_timecourse

    result = session.RE(ratiometric_timecourse(session.rig, 2))
    (uid,) = result.run_start_uids
    journal = session.catalog.location.journal_dir / f"{uid}.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    documents = list(read_journal(journal))
    camera = next(
        d["uid"] for n, d in documents if n == "stream_resource" and d["data_key"] == "camera"
    )
    end = max(
        i
        for i, (n, d) in enumerate(documents)
        if n == "stream_datum" and d["stream_resource"] == camera
    )
    while documents[end - 1][0] == "stream_datum":  # the last frame's other data keys
        end -= 1
    journal.write_text("".join(lines[:end]))  # the 4th frame, flushed, never announced

    cut = audit_run(journal)
    assert cut.exit_status is None and cut.events["primary"] == 3
    assert cut.referenced["camera"] == 3 and cut.in_files["camera"] == 4
    (recovered,) = recover_runs(session.catalog)
    assert recovered.records_recovered == {
        "camera": 1,
        "camera-t_s": 1,
        "camera-roi_sums_adu": 1,
        "camera-excitation_nm": 1,
    }
    after = audit_run(journal)
    assert after.complete and after.referenced["camera"] == 4
    run = session.catalog[uid]
    assert np.asarray(run["primary"]["camera"].read()).shape[0] == 4
    assert len(run["primary"]["t_s"].read()) == 3  # its event was never emitted

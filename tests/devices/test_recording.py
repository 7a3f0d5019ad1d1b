"""Record files: another process reads the camera's HDF5 file (SWMR) while the camera writes
it, and every row it sees is whole; datasets grow in blocks and end at the last flushed record;
the flush policy never lets the records-written signal run ahead of a reader."""

import subprocess
import sys
import textwrap

import bluesky.plans as bp
import h5py
import numpy as np
import pytest
from ophyd_async.core import StaticFilenameProvider, StaticPathProvider, init_devices

from ionrig.devices import Camera, RecordField, RecordFile
from ionrig.simulators import CameraSensor, Cell, ScaledClock, SimulatedCamera, World

N_FRAMES = 40

READER = textwrap.dedent(
    """
    import sys, time
    import h5py
    import numpy as np

    path, wanted = sys.argv[1], int(sys.argv[2])
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    file = None
    while file is None and time.monotonic() < deadline:
        try:
            file = h5py.File(path, "r", libver="latest", swmr=True)
        except (FileNotFoundError, OSError):
            time.sleep(0.002)
    frames, t_s = file["/entry/data/data"], file["/entry/t_s"]
    last = -1
    while time.monotonic() < deadline:
        frames.refresh()
        t_s.refresh()
        n = min(len(frames), len(t_s))
        if n != last:
            times = np.asarray(t_s[:n])
            whole = bool(np.all(np.isfinite(times)) and np.all(np.diff(times) > 0))
            whole = whole and (n == 0 or int(np.asarray(frames[n - 1]).max()) > 0)
            print(n, int(whole), flush=True)
            last = n
        if n >= wanted:
            break
        time.sleep(0.002)
    file.close()
    """
)


def test_another_process_reads_the_camera_file_while_the_camera_writes_it(RE, tmp_path):
    world = World(
        cells=[Cell(16, 16, 6, mg_free_mM=0.5)],
        sensor=CameraSensor(width_px=64, height_px=48),
        clock=ScaledClock(1.0),  # real time: 20 ms exposure + 5 ms readout per frame
        seed=3,
    )
    world.excitation_nm, world.shutter_open = 380, True
    with init_devices():
        camera = Camera(
            SimulatedCamera(world),
            StaticPathProvider(StaticFilenameProvider("swmr"), tmp_path),
            now_s=world.clock.now_s,
            exposure_ms=20.0,
        )
    path = tmp_path / "swmr.h5"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(path), str(N_FRAMES)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "ready"
        result = RE(bp.count([camera], num=N_FRAMES))
        out, err = reader.communicate(timeout=60)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.communicate()
    assert result.exit_status == "success"
    assert reader.returncode == 0, err
    seen = [tuple(int(v) for v in line.split()) for line in out.splitlines()]
    counts = [n for n, _ in seen]
    assert all(whole for _, whole in seen)  # never a half-written row
    assert counts == sorted(counts) and counts[-1] == N_FRAMES
    assert len([n for n in counts if 0 < n < N_FRAMES]) >= 3  # it grew while being read
    with h5py.File(path, "r") as file:
        assert file["/entry/data/data"].shape == (N_FRAMES, 48, 64)
        assert np.all(np.diff(file["/entry/t_s"][()]) > 0)


FIELDS = [
    RecordField("", "/entry/data/data", (4, 4), "<u2", "ADU"),
    RecordField("-t_s", "/entry/t_s", (), "<f8", "s"),
    RecordField("-sums", "/entry/sums", (2,), "<f8", "ADU"),
]


def _record(i: int) -> list:
    return [np.full((4, 4), i + 1, np.uint16), float(i), [i, 2.0 * i]]


def test_a_record_file_flushes_every_record_by_default(tmp_path):
    record_file = RecordFile(tmp_path / "each.h5", FIELDS)
    for i in range(3):
        record_file.append(_record(i))
        assert record_file.records_written == i + 1
        assert record_file.dataset_rows == [i + 1] * 3
    record_file.close()


def test_a_record_file_grows_in_blocks_and_ends_at_the_last_flushed_record(tmp_path):
    record_file = RecordFile(tmp_path / "blocks.h5", FIELDS, flush_interval_s=3600.0)
    record_file.expect(50)
    for i in range(3):
        record_file.append(_record(i))
    assert record_file.records_written == 0  # nothing flushed: nothing announced
    assert record_file.dataset_rows == [50, 0, 0]  # frames grown ahead; times and sums buffered
    record_file.flush()
    assert record_file.records_written == 3
    assert record_file.dataset_rows == [3, 3, 3]  # trimmed at the flush
    for i in range(3, 5):
        record_file.append(_record(i))
    assert record_file.dataset_rows[0] > 5
    record_file.close()  # flushes the rest, trims to it
    with h5py.File(tmp_path / "blocks.h5", "r") as file:
        assert file["/entry/data/data"].shape == (5, 4, 4)
        np.testing.assert_array_equal(file["/entry/data/data"][:, 0, 0], [1, 2, 3, 4, 5])
        np.testing.assert_array_equal(file["/entry/t_s"][()], [0.0, 1.0, 2.0, 3.0, 4.0])
        np.testing.assert_array_equal(file["/entry/sums"][()], [[i, 2.0 * i] for i in range(5)])


def test_a_record_file_flushes_once_its_interval_has_passed(tmp_path):
    import time

    record_file = RecordFile(tmp_path / "interval.h5", FIELDS, flush_interval_s=0.05)
    record_file.append(_record(0))
    record_file.append(_record(1))
    assert record_file.records_written == 0
    time.sleep(0.06)
    record_file.append(_record(2))  # the first append after the interval flushes all
    assert record_file.records_written == 3
    record_file.close()


def test_a_bad_record_writes_nothing(tmp_path):
    record_file = RecordFile(tmp_path / "bad.h5", FIELDS)
    record_file.append(_record(0))
    with pytest.raises(ValueError):
        record_file.append([np.zeros((3, 4), np.uint16), 1.0, [1.0, 2.0]])
    with pytest.raises(ValueError):
        record_file.append([np.zeros((4, 4), np.uint16), 1.0, [1.0, 2.0, 3.0]])
    record_file.append(_record(1))
    record_file.close()
    with h5py.File(tmp_path / "bad.h5", "r") as file:
        assert file["/entry/data/data"].shape == (2, 4, 4)
        np.testing.assert_array_equal(file["/entry/t_s"][()], [0.0, 1.0])


QUERIED_READER = textwrap.dedent(
    """
    import sys
    import h5py
    import numpy as np

    file = None
    for line in sys.stdin:
        if file is None:
            file = h5py.File(line.strip(), "r", libver="latest", swmr=True)
            frames, t_s = file["/entry/data/data"], file["/entry/t_s"]
        frames.refresh()
        t_s.refresh()
        n = min(len(frames), len(t_s))
        whole = bool(np.all(np.isfinite(t_s[:n])))
        whole = whole and (n == 0 or int(np.asarray(frames[n - 1]).max()) > 0)
        print(n, int(whole), flush=True)
    """
)


class _SlowCamera:
    """A simulated camera that takes at least ``period_s`` real seconds per frame."""

    def __init__(self, driver, period_s: float) -> None:
        self._driver, self._period_s = driver, period_s
        self.width_px, self.height_px = driver.width_px, driver.height_px
        self.bit_depth, self.readout_ms = driver.bit_depth, driver.readout_ms

    def snap(self, exposure_ms: float):
        import time

        time.sleep(self._period_s)
        return self._driver.snap(exposure_ms)


def test_frames_written_never_runs_ahead_of_a_reader_in_another_process(RE, tmp_path):
    """In a fly acquisition the file is flushed in batches; every value of frames_written
    (which StreamDatum documents follow) is readable, whole, by an SWMR reader then."""
    import bluesky.plan_stubs as bps
    import bluesky.preprocessors as bpp
    from ophyd_async.core import TriggerInfo

    world = World(
        cells=[Cell(16, 16, 6, mg_free_mM=0.5)],
        sensor=CameraSensor(width_px=64, height_px=48),
        clock=ScaledClock(1000.0),
        seed=3,
    )
    world.excitation_nm, world.shutter_open = 380, True
    with init_devices():
        camera = Camera(
            _SlowCamera(SimulatedCamera(world), 0.002),
            StaticPathProvider(StaticFilenameProvider("batches"), tmp_path),
            now_s=world.clock.now_s,
            exposure_ms=10.0,
        )
    camera.acquisition.flush_interval_s = 0.05
    n_frames = 150
    path = tmp_path / "batches.h5"
    reader = subprocess.Popen(
        [sys.executable, "-c", QUERIED_READER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    checks: list[tuple[int, int, int]] = []

    def on_written(reading: dict) -> None:  # in the event loop, as the documents are made
        value = int(next(iter(reading.values()))["value"])
        if value > 0:
            reader.stdin.write(f"{path}\n")
            reader.stdin.flush()
            seen, whole = (int(v) for v in reader.stdout.readline().split())
            checks.append((value, seen, whole))

    @bpp.stage_decorator([camera])
    @bpp.run_decorator()
    def plan():
        yield from bps.prepare(camera, TriggerInfo(number_of_events=n_frames), wait=True)
        yield from bps.declare_stream(camera, name="primary")
        camera.frames_written.subscribe_reading(on_written)
        try:
            yield from bps.kickoff(camera, wait=True)
            yield from bps.collect_while_completing(
                flyers=[camera], dets=[camera], flush_period=0.1
            )
        finally:
            camera.frames_written.clear_sub(on_written)

    try:
        assert RE(plan()).exit_status == "success"
    finally:
        _, err = reader.communicate(timeout=30)  # closes its input: it ends
    assert reader.returncode == 0, err
    assert all(seen >= value and whole for value, seen, whole in checks), checks
    values = [value for value, _, _ in checks]
    assert values == sorted(values) and values[-1] == n_frames
    assert 2 <= len(values) < n_frames / 5  # flushed in batches, and during the acquisition


def test_a_closed_record_file_takes_no_record(tmp_path):
    record_file = RecordFile(tmp_path / "closed.h5", FIELDS, flush_interval_s=3600.0)
    record_file.append(_record(0))
    record_file.close()  # flushes the record appended
    record_file.flush()  # nothing to do once closed
    with pytest.raises(ValueError, match="closed"):
        record_file.append(_record(1))
    with h5py.File(tmp_path / "closed.h5", "r") as file:
        assert file["/entry/data/data"].shape == (1, 4, 4)
        np.testing.assert_array_equal(file["/entry/t_s"][()], [0.0])

"""Record files are flushed per record: another process reads the camera's HDF5 file (SWMR)
while the camera writes it, and every row it sees is whole."""

import subprocess
import sys
import textwrap

import bluesky.plans as bp
import h5py
import numpy as np
from ophyd_async.core import StaticFilenameProvider, StaticPathProvider, init_devices

from ionrig.devices import Camera
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
        [sys.executable, "-P", "-c", READER, str(path), str(N_FRAMES)],
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

"""The simulated camera's timing: single frames, free-running sequences, exposure notifications."""

import pytest

from ionrig.simulators import CameraSensor, Cell, SimulatedCamera, SteppedClock, World


@pytest.fixture
def clock():
    return SteppedClock()


@pytest.fixture
def camera(clock):
    world = World(
        cells=[Cell(16, 16, 6, mg_free_mM=0.5)],
        sensor=CameraSensor(width_px=32, height_px=32, readout_ms=5.0),
        clock=clock,
        seed=1,
    )
    world.excitation_nm, world.shutter_open = 340, True
    return SimulatedCamera(world)


def _snap_at(camera, clock, delay_s):
    clock.advance_s(delay_s)
    camera.snap(20.0)
    return camera.last_exposure_start_s, clock.now_s()


def test_single_frames_start_when_asked_and_last_exposure_plus_readout(camera, clock):
    start_s, end_s = _snap_at(camera, clock, 1.0)
    assert start_s == pytest.approx(1.0) and end_s == pytest.approx(1.025)
    start_s, end_s = _snap_at(camera, clock, 0.003)  # asked 3 ms after the readout ended
    assert start_s == pytest.approx(1.028) and end_s == pytest.approx(1.053)


def test_a_sequence_runs_on_the_cameras_own_clock(camera, clock):
    camera.start_sequence()
    first_s, _ = _snap_at(camera, clock, 1.0)
    # asked 3 ms late: the frame began as the previous readout ended, and ends 25 ms after that
    second_s, end_s = _snap_at(camera, clock, 0.003)
    assert second_s == pytest.approx(first_s + 0.025) and end_s == pytest.approx(first_s + 0.050)
    # asked more than a frame late: the sequence starts again from now
    third_s, _ = _snap_at(camera, clock, 0.030)
    assert third_s == pytest.approx(end_s + 0.030)
    camera.stop_sequence()
    fourth_s, _ = _snap_at(camera, clock, 0.003)
    assert fourth_s == pytest.approx(third_s + 0.025 + 0.003)


def test_observers_hear_the_start_and_end_of_each_exposure_before_the_readout(camera, clock):
    heard = []
    camera.observers.append(lambda what, index: heard.append((what, index, clock.now_s())))
    clock.advance_s(2.0)
    camera.snap(20.0)
    assert heard == [
        ("exposing", 0, pytest.approx(2.0)),
        ("exposure_end", 0, pytest.approx(2.020)),
    ]
    assert clock.now_s() == pytest.approx(2.025)

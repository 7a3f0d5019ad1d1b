import pytest

from ionrig.simulators import (
    CameraSensor,
    Cell,
    ScaledClock,
    SimulatedCamera,
    SimulatedFilterWheel,
    World,
)


@pytest.fixture
def world():
    """A small world: two cells, 64×48 sensor, clock at ×1000."""
    return World(
        cells=[Cell(16, 16, 6, mg_free_mM=0.5), Cell(44, 24, 6, mg_free_mM=1.2)],
        sensor=CameraSensor(width_px=64, height_px=48),
        clock=ScaledClock(1000),
        seed=3,
    )


@pytest.fixture
def wheel_driver(world):
    return SimulatedFilterWheel(world, {1: 340, 2: 380})


@pytest.fixture
def camera_driver(world):
    return SimulatedCamera(world)

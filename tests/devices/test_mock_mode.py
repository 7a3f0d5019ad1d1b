"""Every device connects in ophyd-async mock mode without touching its driver."""

import pytest
from ophyd_async.core import StaticPathProvider, UUIDFilenameProvider, init_devices

from ionrig.devices import (
    Camera,
    ExcitationSequencer,
    FilterSlot,
    FilterWheel,
    GravityFlow,
    PatchAmplifier,
    Perfusion,
    PressureController,
    SolutionLine,
    TemperatureController,
)
from ionrig.simulators import ScaledClock


class Untouchable:
    """A driver that fails the test if anything but its plain sizes is used."""

    width_px = height_px = 16
    bit_depth = 16
    readout_ms = 1.0
    safe_holding_mV = 0.0
    limits_kPa = (-10.0, 10.0)
    has_shutter = True
    n_positions = 10

    def __getattr__(self, name):
        raise AssertionError(f"mock mode touched the driver: {name}")


FILTERS = {"340": FilterSlot(1, 340.0), "380": FilterSlot(2, 380.0)}


def _builders(tmp_path):
    paths = StaticPathProvider(UUIDFilenameProvider(), tmp_path)
    clock = ScaledClock(1)
    return {
        "filter_wheel": lambda d: FilterWheel(d, FILTERS),
        "camera": lambda d: Camera(d, paths, now_s=clock.now_s),
        "sequencer": lambda d: ExcitationSequencer(d, FILTERS),
        "perfusion": lambda d: Perfusion(
            d, GravityFlow(clock, 2.0), {"hbss": SolutionLine(valve="v1")}, clock=clock
        ),
        "amplifier": lambda d: PatchAmplifier(d, paths, now_s=clock.now_s),
        "pressure": lambda d: PressureController(d),
        "temperature": lambda d: TemperatureController(d),
    }


@pytest.mark.parametrize(
    "role",
    ["filter_wheel", "camera", "sequencer", "perfusion", "amplifier", "pressure", "temperature"],
)
async def test_connects_in_mock_mode_without_touching_hardware(tmp_path, role):
    async with init_devices(mock=True):
        device = _builders(tmp_path)[role](Untouchable())
    assert device.name == "device"
    configuration = await device.describe_configuration()
    assert all(key.startswith("device") for key in configuration)

import bluesky.plan_stubs as bps
import pytest
from bluesky.utils import FailedStatus
from ophyd_async.core import init_devices

from ionrig.devices import FilterSlot, FilterWheel, ShutterState

FILTERS = {"340": FilterSlot(1, 340.0), "380": FilterSlot(2, 380.0)}


class RecordingDriver:
    """A wheel driver that records calls (for mock-mode logic tests)."""

    has_shutter = True
    n_positions = 10

    def __init__(self):
        self.calls = []
        self.position = 2

    def move(self, position):
        self.calls.append(("move", position))
        self.position = position

    def open_shutter(self):
        self.calls.append(("open",))

    def close_shutter(self):
        self.calls.append(("close",))


async def test_set_by_name_or_wavelength_moves_the_driver():
    driver = RecordingDriver()
    async with init_devices(mock=True):
        wheel = FilterWheel(driver, FILTERS)
    await wheel.set("340")
    await wheel.set(380)
    await wheel.set("340nm")
    assert driver.calls == [("move", 1), ("move", 2), ("move", 1)]
    reading = await wheel.read()
    assert reading["wheel-filter"]["value"] == "340"
    assert reading["wheel-wavelength_nm"]["value"] == 340.0
    assert (await wheel.describe())["wheel-wavelength_nm"]["units"] == "nm"


async def test_unknown_filter_is_refused_with_the_choices():
    driver = RecordingDriver()
    async with init_devices(mock=True):
        wheel = FilterWheel(driver, FILTERS)
    with pytest.raises(ValueError, match=r"filter must be one of 340 \(340 nm\), 380 \(380 nm\)"):
        await wheel.set("510")
    assert driver.calls == []


async def test_connect_closes_the_shutter_and_reads_the_position():
    driver = RecordingDriver()
    async with init_devices():
        wheel = FilterWheel(driver, FILTERS)
    assert driver.calls == [("close",)]
    assert await wheel.filter.get_value() == "380"  # the driver sat at position 2
    assert await wheel.shutter.state.get_value() == ShutterState.CLOSED


async def test_shutter_refuses_unknown_states():
    driver = RecordingDriver()
    async with init_devices(mock=True):
        wheel = FilterWheel(driver, FILTERS)
    with pytest.raises(ValueError, match="shutter state must be one of open, closed"):
        await wheel.shutter.set("ajar")


def test_simulated_wheel_sets_excitation_in_a_plan(RE, world, wheel_driver):
    with init_devices():
        wheel = FilterWheel(wheel_driver, FILTERS)
    RE(bps.mv(wheel, "380"))
    assert world.excitation_nm == 380
    RE(bps.mv(wheel.shutter, "open"))
    assert world.shutter_open
    RE(bps.mv(wheel, "340", wheel.shutter, "closed"))
    assert (world.excitation_nm, world.shutter_open) == (340, False)


def test_through_the_sutter_driver_on_the_simulated_lambda(RE, world):
    """End to end: device → SutterLambda10_3 driver → bytes → simulated Lambda 10-3 → world."""
    from ionrig.devices.drivers import SutterLambda10_3
    from ionrig.simulators import (
        ScaledClock,
        SimulatedLambda10_3,
        bind_excitation,
        register_simulated_instrument,
        unregister_simulated_instrument,
    )

    lam = SimulatedLambda10_3(ScaledClock(1000))
    bind_excitation(world, lam, {1: 340, 2: 380})
    register_simulated_instrument("wheel-under-test", lam)
    try:
        driver = SutterLambda10_3("ionrig-sim://wheel-under-test", speed=1)
        with init_devices():
            wheel = FilterWheel(driver, FILTERS)
        RE(bps.mv(wheel, "380", wheel.shutter, "open"))
        assert (world.excitation_nm, world.shutter_open) == (380, True)
        RE(bps.mv(wheel, "340"))
        assert world.excitation_nm == 340
        sent = b"".join(message for _, message in lam.received)
        # go on-line, shutter A closed at connect, then moves: wheel A, speed 1 (§1.1: 16·s + p)
        assert sent.startswith(b"\xee") and b"\xac" in sent
        assert bytes([0x12]) in sent and bytes([0x11]) in sent and b"\xaa" in sent
    finally:
        unregister_simulated_instrument("wheel-under-test")


def test_a_wheel_that_stops_answering_fails_the_plan_with_a_typed_error(RE, docs, world):
    import bluesky.plans as bp

    from ionrig.devices.drivers import InstrumentTimeout, SutterLambda10_3
    from ionrig.simulators import (
        Fault,
        FaultKind,
        ScaledClock,
        SimulatedLambda10_3,
        bind_excitation,
        register_simulated_instrument,
        unregister_simulated_instrument,
    )

    lam = SimulatedLambda10_3(ScaledClock(1000))
    bind_excitation(world, lam, {1: 340, 2: 380})
    register_simulated_instrument("wheel-fault", lam)
    try:
        driver = SutterLambda10_3("ionrig-sim://wheel-fault", speed=1, timeout_s=0.2)
        with init_devices():
            wheel = FilterWheel(driver, FILTERS)
        lam.inject(Fault(FaultKind.NO_REPLY, at_s=0.0))
        with pytest.raises(FailedStatus) as failure:
            RE(bp.list_scan([], wheel, ["340", "380"]), docs)
        assert isinstance(failure.value.__cause__, InstrumentTimeout)
        assert "no reply within 0.2 s" in str(failure.value.__cause__)
        assert docs.of("stop")[0]["exit_status"] == "fail"
    finally:
        unregister_simulated_instrument("wheel-fault")


async def test_the_reached_filter_is_the_confirmed_one_and_unknown_while_moving():
    """What a camera records for a frame: the filter the driver confirmed reaching; NaN while
    a move is under way and after one failed."""
    import asyncio
    import math
    import threading

    class SlowDriver(RecordingDriver):
        def __init__(self):
            super().__init__()
            self.release = threading.Event()
            self.fail = False

        def move(self, position):
            self.release.wait(5.0)
            if self.fail:
                raise OSError("the wheel jammed")
            super().move(position)

    driver = SlowDriver()
    async with init_devices():
        wheel = FilterWheel(driver, FILTERS)
    assert wheel.reached_wavelength_nm == 380.0  # the position read at connect
    status = wheel.set("340")
    await asyncio.sleep(0.05)
    assert math.isnan(wheel.reached_wavelength_nm)  # under way
    driver.release.set()
    await status
    assert wheel.reached_wavelength_nm == 340.0
    driver.fail = True
    with pytest.raises(OSError, match="jammed"):
        await wheel.set("380")
    assert math.isnan(wheel.reached_wavelength_nm)  # where it is is not known

"""Simulated FW102C and NE-500 through the real drivers (docs/reference/instruments.md §1.3,
§2.1)."""

from __future__ import annotations

import pytest

from ionrig.devices.drivers import (
    CommandNotApplicableError,
    InstrumentAlarm,
    InvalidArgumentError,
    NewEraPump,
    PumpAlarm,
    PumpStatus,
    ThorlabsFW102C,
    UnknownCommandError,
)
from ionrig.simulators import (
    ScaledClock,
    SimulatedFW102C,
    SimulatedNE500,
    register_simulated_instrument,
)

TIMEOUT_S = 0.2


@pytest.fixture
def fw102c(clock):
    sim = SimulatedFW102C(clock)
    register_simulated_instrument("fw102c", sim)
    driver = ThorlabsFW102C("ionrig-sim://fw102c", timeout_s=TIMEOUT_S)
    yield sim, driver
    driver.close()


@pytest.fixture
def ne500():
    # Real-time clock: the tests move time with advance_s, so wall-time jitter adds almost
    # nothing to the pumped volumes.
    sim = SimulatedNE500(ScaledClock(1.0))
    register_simulated_instrument("ne500", sim)
    driver = NewEraPump("ionrig-sim://ne500", timeout_s=TIMEOUT_S)
    yield sim, driver
    driver.close()


# -- FW102C ----------------------------------------------------------------------------------------
def test_fw102c_move_returns_after_the_move(fw102c, clock):
    sim, wheel = fw102c
    assert wheel.n_positions == 6 and wheel.position == 1
    start = clock.now_s()
    wheel.move(3)  # two positions at the fast speed
    assert clock.now_s() - start >= 2 * 0.4
    assert wheel.position == 3 and sim.position == 3


def test_fw102c_settings_round_trip(fw102c):
    sim, wheel = fw102c
    wheel.speed = "slow"
    wheel.trigger_mode = "output"
    wheel.sensors_always_on = True
    assert (wheel.speed, wheel.trigger_mode, wheel.sensors_always_on) == ("slow", "output", True)
    assert sim.settings["speed"] == 0 and sim.settings["trig"] == 1
    wheel.save()
    assert sim.saved == sim.settings
    assert wheel.id.startswith("THORLABS FW102C")


def test_fw102c_errors_then_the_next_command_works(fw102c):
    _, fixture_wheel = fw102c
    fixture_wheel.close()  # one driver on the port at a time
    # a driver told it drives an FW212C (12 positions), on the 6-position simulator
    wheel = ThorlabsFW102C("ionrig-sim://fw102c", timeout_s=TIMEOUT_S, n_positions=12)
    try:
        with pytest.raises(InvalidArgumentError) as info:
            wheel.move(9)
        assert info.value.value == "9"
        wheel.write("bogus?")
        with pytest.raises(UnknownCommandError):
            wheel.read()
        assert wheel.position == 1  # the prompt left after the error line was purged
    finally:
        wheel.close()


def test_fw212c_has_12_positions(clock):
    register_simulated_instrument("fw212c", SimulatedFW102C(clock, n_positions=12))
    wheel = ThorlabsFW102C("ionrig-sim://fw212c", timeout_s=TIMEOUT_S)
    wheel.move(12)
    assert wheel.positions == range(1, 13) and wheel.position == 12


def test_fw102c_trigger_input_advances_one_position(fw102c):
    sim, wheel = fw102c
    wheel.move(6)
    sim.trigger()
    assert wheel.position == 1  # wraps around
    wheel.trigger_mode = "output"
    sim.trigger()
    assert wheel.position == 1


# -- NE-500 ----------------------------------------------------------------------------------------
def test_power_on_alarm_is_reported_once(ne500):
    _, pump = ne500
    assert pump.status is PumpStatus.STOPPED
    assert pump.last_alarm is PumpAlarm.RESET


def test_pump_dispenses_the_target_at_the_rate_then_stops(ne500):
    sim, pump = ne500
    clock = sim.clock
    pump.diameter_mm = 4.699
    pump.direction = "infuse"
    pump.rate_uL_per_min = 600.0  # 10 µL per clock second
    pump.volume_target_uL = 50.0
    pump.clear_dispensed("infuse")
    pump.run()
    assert pump.is_running
    clock.advance_s(2.0)  # 20 µL so far
    assert pump.dispensed.infused_uL == pytest.approx(20.0, abs=0.5)
    clock.advance_s(10.0)  # would be 120 µL: the pump stops at the target
    assert pump.status is PumpStatus.STOPPED
    assert pump.dispensed.infused_uL == pytest.approx(50.0)
    assert pump.dispensed.withdrawn_uL == 0.0


def test_stop_pauses_and_run_resumes_the_remaining_volume(ne500):
    sim, pump = ne500
    clock = sim.clock
    pump.diameter_mm = 4.699
    pump.rate_uL_per_min = 600.0
    pump.volume_target_uL = 50.0
    pump.run()
    clock.advance_s(3.0)
    pump.stop()
    assert pump.status is PumpStatus.PAUSED
    paused_at = pump.dispensed.infused_uL
    clock.advance_s(10.0)
    assert pump.dispensed.infused_uL == pytest.approx(paused_at)
    pump.run()
    clock.advance_s(10.0)
    assert pump.dispensed.infused_uL == pytest.approx(50.0)


def test_withdraw_counts_separately(ne500):
    sim, pump = ne500
    clock = sim.clock
    pump.diameter_mm = 4.699
    pump.direction = "withdraw"
    pump.rate_uL_per_min = 60.0
    pump.volume_target_uL = 5.0
    pump.run()
    clock.advance_s(60.0)
    assert pump.dispensed == (0.0, pytest.approx(5.0))


def test_pump_refuses_what_the_protocol_refuses(ne500):
    _, pump = ne500
    pump.diameter_mm = 4.699
    with pytest.raises(InvalidArgumentError) as info:
        pump.rate_uL_per_min = 5e6  # far beyond the plunger speed for a 4.7 mm syringe
    assert info.value.code == "?OOR" and info.value.value == "5000MM"
    pump.volume_target_uL = 10.0
    pump.rate_uL_per_min = 1.0
    pump.run()
    with pytest.raises(CommandNotApplicableError):
        pump.diameter_mm = 10.0  # not while running
    pump.stop()


def test_run_without_target_is_refused_and_the_pump_never_starts(ne500):
    sim, pump = ne500
    with pytest.raises(Exception, match="volume target"):
        pump.run()
    assert sim.status == "S"
    assert not any(m.endswith(b"RUN") for _, m in sim.received)


def test_motor_stall_raises_an_alarm(ne500):
    sim, pump = ne500
    pump.volume_target_uL = 100.0
    pump.run()
    sim.stall()
    with pytest.raises(InstrumentAlarm) as info:
        pump.status
    assert info.value.alarm == "S"
    assert pump.status is PumpStatus.STOPPED  # the alarm was cleared by reporting it


def test_volume_units_follow_the_syringe(ne500):
    sim, pump = ne500
    pump.diameter_mm = 26.59  # > 14 mm: the pump counts in mL
    pump.volume_target_uL = 2500.0
    assert sim.volume_target_uL == pytest.approx(2500.0)
    assert pump.volume_target_uL == pytest.approx(2500.0)
    assert pump.id == "NE500V3.928"

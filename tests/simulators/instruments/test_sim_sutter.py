"""Simulated Lambda 10-3 and DG-4 through the real drivers (docs/reference/instruments.md §1.1,
§1.2)."""

from __future__ import annotations

import time

import pytest

from ionrig.devices.drivers import InstrumentTimeout, SutterLambda10_3, SutterLambdaDG4
from ionrig.simulators import (
    ScaledClock,
    SimulatedLambda10_3,
    SimulatedLambdaDG4,
    register_simulated_instrument,
)

TIMEOUT_S = 0.2


@pytest.fixture
def lambda103(clock):
    sim = SimulatedLambda10_3(clock)
    register_simulated_instrument("lambda10-3", sim)
    driver = SutterLambda10_3("ionrig-sim://lambda10-3", timeout_s=TIMEOUT_S)
    yield sim, driver
    driver.close()


@pytest.fixture
def dg4(clock):
    sim = SimulatedLambdaDG4(clock)
    register_simulated_instrument("dg4", sim)
    driver = SutterLambdaDG4("ionrig-sim://dg4", timeout_s=TIMEOUT_S)
    yield sim, driver
    driver.close()


# -- Lambda 10-3 -----------------------------------------------------------------------------------
def test_adjacent_move_at_speed_1_takes_40_ms_of_clock_time(lambda103, clock):
    sim, wheel = lambda103
    wheel.go_online()
    start = clock.now_s()
    wheel.move(1, speed=1)
    elapsed = clock.now_s() - start
    # §1.1 timing table: speed 1, one position: 0.040 s; the driver returned after the CR.
    assert elapsed >= 0.040
    sent_at = sim.received[-1][0]
    assert sim.history[-1] == (pytest.approx(sent_at + 0.040), "A", 1)


def test_long_slow_move_waits_for_the_table_time(lambda103, clock):
    sim, wheel = lambda103
    wheel.go_online()
    start = clock.now_s()
    wheel.move(5, speed=7)  # 5 positions at speed 7: 1.100 s (§1.1)
    assert clock.now_s() - start >= 1.100
    assert sim.wheel_position["A"] == 5 and sim.wheel_speed["A"] == 7


def test_move_goes_the_shorter_way_round(lambda103):
    sim, wheel = lambda103
    wheel.move(9, speed=0)  # 0 -> 9 is one position backwards: 0.031 s, not 0.115 s
    assert sim.history[-1][0] - sim.received[-1][0] == pytest.approx(0.031)


def test_accelerated_clock_makes_moves_fast_in_wall_time():
    sim = SimulatedLambda10_3(ScaledClock(10000))
    register_simulated_instrument("fast-wheel", sim)
    wheel = SutterLambda10_3("ionrig-sim://fast-wheel", timeout_s=TIMEOUT_S)
    wheel.go_online()
    start = time.monotonic()
    wheel.move(5, speed=7)  # 1.1 s of clock time
    assert time.monotonic() - start < 0.1
    assert wheel.position == 5


def test_status_shutters_and_modes_round_trip(lambda103):
    sim, wheel = lambda103
    wheel.move(3, speed=2)
    wheel.open_shutter()
    assert sim.shutter_open == {"A": True, "B": False}
    wheel.set_shutter_mode("nd", 13)
    status = wheel.status
    assert status.wheel_positions["A"] == 3 and status.wheel_speeds["A"] == 2
    assert status.shutter_open["A"] and status.shutter_modes["A"] == "nd"
    assert status.nd_microsteps["A"] == 13
    wheel.close_shutter()
    assert sim.shutter_open["A"] is False


@pytest.mark.parametrize("wheel_name", ["B", "C"])
def test_wheels_b_and_c(clock, wheel_name):
    sim = SimulatedLambda10_3(clock)
    register_simulated_instrument("lambda10-3", sim)
    wheel = SutterLambda10_3("ionrig-sim://lambda10-3", wheel=wheel_name, timeout_s=TIMEOUT_S)
    wheel.move(4)
    assert sim.wheel_position == {"A": 0, "B": 0, "C": 0} | {wheel_name: 4}
    assert wheel.position == 4


def test_identity(lambda103):
    assert lambda103[1].id == "10-3WA-25WB-NCWC-NC"


@pytest.mark.parametrize("quirk", ["nibble_echo", "stray_byte"])
def test_driver_copes_with_the_echo_quirks(clock, quirk):
    sim = SimulatedLambda10_3(clock, **{quirk: True})
    register_simulated_instrument("lambda10-3", sim)
    wheel = SutterLambda10_3("ionrig-sim://lambda10-3", timeout_s=TIMEOUT_S)
    wheel.move(7, speed=1)
    assert wheel.position == 7


def test_a_second_driver_finds_the_controller_already_online(lambda103):
    sim, wheel = lambda103
    wheel.move(2)
    again = SutterLambda10_3("ionrig-sim://lambda10-3", timeout_s=TIMEOUT_S)
    again.move(6)  # EE gets no reply now (§1.1); the driver confirms with a status query
    assert sim.wheel_position["A"] == 6
    assert [m for _, m in list(sim.received)[-3:]] == [b"\xee", b"\xcc", b"\x36"]


def test_offline_controller_ignores_commands(clock):
    sim = SimulatedLambda10_3(clock)
    sim.write(b"\x32")
    assert sim.read(10) == b"" and sim.wheel_position["A"] == 0
    sim.write(b"\xee")
    assert sim.read(10) == b"\xee\r"


def test_identical_command_gets_no_reply_in_the_simulator(clock):
    sim = SimulatedLambda10_3(clock)
    sim.write(b"\xee\x31")
    clock.advance_s(1)
    assert sim.read(10) == b"\xee\r\x31\r"
    sim.write(b"\x31")
    clock.advance_s(1)
    assert sim.read(10) == b""


def test_silent_controller_times_out_within_the_timeout(clock):
    register_simulated_instrument("lambda10-3", SimulatedLambda10_3(clock))
    wheel = SutterLambda10_3("ionrig-sim://lambda10-3", timeout_s=TIMEOUT_S)
    wheel.online = True  # skip EE: the controller stays in local mode and ignores us
    start = time.monotonic()
    with pytest.raises(InstrumentTimeout):
        wheel.move(1)
    assert time.monotonic() - start < 3 * TIMEOUT_S


# -- DG-4 ------------------------------------------------------------------------------------------
def test_dg4_moves_and_shutter(dg4, clock):
    sim, driver = dg4
    driver.move(1)
    assert sim.position == 1 and driver.position == 1
    driver.close_shutter()
    assert sim.position == 0
    driver.open_shutter()
    assert sim.position == 1
    assert sim.history[-1][0] - sim.received[-1][0] == pytest.approx(0.0012)


def test_dg4_repeats_work_through_0xab(dg4):
    sim, driver = dg4
    driver.move(2)
    driver.move(2)
    assert [m for _, m in list(sim.received)[-3:]] == [b"\x02", b"\xab", b"\x02"]
    assert [p for _, p in sim.history] == [2, 2]


def test_dg4_ring_buffer_alternates_on_camera_triggers(dg4):
    sim, driver = dg4
    driver.load_ring_buffer([1, 2])  # 340 / 380 nm filters
    driver.start_ring_buffer()
    assert sim.mode == "running" and sim.ring_buffer == [1, 2]
    for _ in range(6):
        sim.trigger()
    driver.stop_ring_buffer()
    assert [p for _, p in sim.history] == [1, 2, 1, 2, 1, 2]
    assert sim.mode == "normal"
    driver.move(3)  # normal selection works again after the run
    assert sim.position == 3


def test_dg4_move_on_trigger_happens_at_the_pulse(dg4):
    sim, driver = dg4
    driver.move(1)
    driver.move(4, on_trigger=True)
    assert sim.position == 1
    sim.trigger()
    assert sim.position == 4


def test_dg4_identity(dg4):
    assert dg4[1].id == "DG4/5V1.12SS-ON"


def test_logs_are_bounded_and_every_message_is_counted(lambda103):
    from collections import deque

    sim, wheel = lambda103
    # a night sends millions of commands: the logs keep the latest, the count all of them
    assert sim.received.maxlen == sim.history.maxlen == 10_000
    sim.received, sim.history = deque(maxlen=2), deque(maxlen=2)
    before = sim.n_received
    wheel.go_online()
    for position in (1, 2, 3):
        wheel.move(position, speed=1)
    assert len(sim.received) == 2 and len(sim.history) == 2
    assert sim.n_received >= before + 4  # online + three moves
    assert [p for _, _, p in sim.history] == [2, 3]

"""Every fault kind on every simulated instrument gives a typed driver exception in time, and the
driver works again afterwards (no hang, no stuck state)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from ionrig.devices.drivers import (
    InstrumentCommandError,
    InstrumentDisconnected,
    InstrumentError,
    InstrumentReplyError,
    InstrumentTimeout,
    NewEraPump,
    SutterLambda10_3,
    SutterLambdaDG4,
    ThorlabsFW102C,
)
from ionrig.simulators import (
    Fault,
    FaultKind,
    SimulatedFW102C,
    SimulatedLambda10_3,
    SimulatedLambdaDG4,
    SimulatedNE500,
    SimulatedSerialInstrument,
    register_simulated_instrument,
)

TIME_SCALE = 100.0
TIMEOUT_S = 0.2


@dataclass
class Rig:
    sim: SimulatedSerialInstrument
    driver: object
    op: Callable[[], object]  # the command a fault hits
    recover: Callable[[], None]  # a different command, checked against the simulator


def register(name: str, sim: SimulatedSerialInstrument):
    register_simulated_instrument(name, sim)
    return sim


def _alternate(move: Callable[[int], None]) -> Callable[[], None]:
    """Moves to 4, 3, 4, 3 …: each call is a real move (a repeat would be skipped, §1.1)."""
    targets = iter([4, 3] * 10)
    return lambda: move(next(targets))


def _rig(kind: str, clock) -> Rig:
    sim: SimulatedSerialInstrument
    if kind == "lambda10-3":
        sim = register(kind, SimulatedLambda10_3(clock))
        driver = SutterLambda10_3(f"ionrig-sim://{kind}", timeout_s=TIMEOUT_S)

        def recover():
            driver.move(6)
            assert sim.wheel_position["A"] == 6 and driver.position == 6

        rig = Rig(sim, driver, _alternate(driver.move), recover)
    elif kind == "dg4":
        sim = register(kind, SimulatedLambdaDG4(clock))
        driver = SutterLambdaDG4(f"ionrig-sim://{kind}", timeout_s=TIMEOUT_S)

        def recover():
            driver.move(6)
            assert sim.position == 6

        rig = Rig(sim, driver, _alternate(driver.move), recover)
    elif kind == "fw102c":
        sim = register(kind, SimulatedFW102C(clock))
        driver = ThorlabsFW102C(f"ionrig-sim://{kind}", timeout_s=TIMEOUT_S, n_positions=6)

        def recover():
            driver.move(5)
            assert driver.position == 5 and sim.position == 5

        rig = Rig(sim, driver, lambda: driver.position, recover)
    else:
        sim = register(kind, SimulatedNE500(clock))
        driver = NewEraPump(f"ionrig-sim://{kind}", timeout_s=TIMEOUT_S)

        def recover():
            driver.diameter_mm = 10.0
            assert driver.diameter_mm == 10.0 and sim.diameter_mm == 10.0

        rig = Rig(sim, driver, lambda: driver.rate_uL_per_min, recover)
    return rig


INSTRUMENTS = ["lambda10-3", "dg4", "fw102c", "ne500"]
EXPECTED = {
    FaultKind.NO_REPLY: InstrumentTimeout,
    FaultKind.GARBAGE: InstrumentReplyError,
    FaultKind.PARTIAL: InstrumentReplyError,
    FaultKind.ERROR_REPLY: InstrumentCommandError,
    FaultKind.SLOW_REPLY: InstrumentTimeout,
    FaultKind.DISCONNECT: InstrumentDisconnected,
}
DISCONNECT_S = 0.3 * TIME_SCALE  # clock seconds


def _fault(kind: FaultKind, now_s: float) -> Fault:
    if kind is FaultKind.DISCONNECT:
        return Fault(kind, at_s=now_s, duration_s=DISCONNECT_S)
    if kind is FaultKind.SLOW_REPLY:
        return Fault(kind, at_s=now_s, delay_s=5 * TIMEOUT_S * TIME_SCALE)  # 1 s real
    return Fault(kind, at_s=now_s)


def test_every_fault_kind_has_an_expected_exception():
    assert set(EXPECTED) == set(FaultKind)


@pytest.mark.parametrize("kind", list(FaultKind), ids=lambda k: k.value)
@pytest.mark.parametrize("instrument", INSTRUMENTS)
def test_fault_gives_a_typed_exception_in_time_then_recovers(instrument, kind, clock):
    rig = _rig(instrument, clock)
    rig.op()  # healthy first (on-line, power-on alarm cleared)
    rig.sim.inject(_fault(kind, clock.now_s()))
    start = time.monotonic()
    with pytest.raises(EXPECTED[kind]) as info:
        rig.op()
    elapsed = time.monotonic() - start
    assert elapsed < 1.0, f"{kind} took {elapsed:.2f} s"
    error = info.value
    assert isinstance(error, InstrumentError) and error.instrument in str(error)
    if kind is FaultKind.DISCONNECT:
        with pytest.raises(InstrumentDisconnected):
            rig.op()  # still unplugged
        clock.advance_s(DISCONNECT_S)  # plugged back in
    rig.recover()


@pytest.mark.parametrize("instrument", INSTRUMENTS)
def test_fault_waits_for_its_clock_time_and_count(instrument, clock):
    rig = _rig(instrument, clock)
    rig.op()
    rig.sim.inject(Fault(FaultKind.NO_REPLY, at_s=clock.now_s() + 1000.0, count=2))
    rig.op()  # before at_s: healthy
    clock.advance_s(1000.0)
    for _ in range(2):
        with pytest.raises(InstrumentTimeout):
            rig.op()
    rig.recover()  # the count is used up
    assert rig.sim.faults == ()


def test_fault_with_a_duration_hits_every_command_in_the_window(clock):
    rig = _rig("ne500", clock)
    rig.op()
    rig.sim.inject(Fault("garbage", at_s=clock.now_s(), duration_s=1000.0))
    for _ in range(3):
        with pytest.raises(InstrumentReplyError):
            rig.op()
    clock.advance_s(1000.0)
    rig.recover()


def test_disconnect_drops_queued_output_and_refuses_the_port(clock):
    sim = SimulatedLambda10_3(clock)
    sim.write(b"\xee")
    sim.inject(Fault(FaultKind.DISCONNECT, at_s=clock.now_s(), duration_s=10.0))
    assert not sim.connected
    with pytest.raises(ConnectionError):
        sim.read(10)
    clock.advance_s(10.0)
    assert sim.connected and sim.read(10) == b""


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "disconnect"}, "duration_s"),
        ({"kind": "disconnect", "duration_s": 1.0, "count": 1}, "duration_s"),
        ({"kind": "slow_reply"}, "delay_s"),
        ({"kind": "no_reply", "count": 0}, "count"),
        ({"kind": "no_reply", "at_s": -1.0}, "at_s"),
        ({"kind": "no_reply", "duration_s": 0.0}, "duration_s"),
        ({"kind": "teleport"}, "teleport"),
    ],
)
def test_invalid_faults_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Fault(**kwargs)


def test_a_fault_without_count_or_duration_hits_one_command():
    fault = Fault("partial", at_s=5.0)
    assert fault.kind is FaultKind.PARTIAL and fault.count == 1 and fault.ends_s() == float("inf")

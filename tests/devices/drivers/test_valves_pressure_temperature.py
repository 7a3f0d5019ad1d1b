"""TTL valves, analog pressure regulator and temperature monitor on the simulated DAQ (§2.4)."""

from __future__ import annotations

import pytest

from ionrig.devices.drivers import (
    WARNER_TC_MONITOR_C_PER_V,
    Daq,
    DaqDeviceLost,
    DaqReadingError,
    InstrumentSafetyError,
    PressureRegulator,
    TemperatureMonitor,
    TtlValveController,
)
from ionrig.simulators import Fault, FaultKind, ScaledClock, SimulatedDaq

LINES = {"control": "Dev1/port0/line0", "Mg0": "Dev1/port0/line1", "Mg3": "Dev1/port0/line2"}


@pytest.fixture
def clock():
    return ScaledClock(1000)


@pytest.fixture
def sim(clock):
    return SimulatedDaq(clock=clock, ai_resolution_bits=None, timeout_s=0.05)


class ValveLink:
    """A ValveLink8.2-like plant: a high line opens its valve (§2.4). Records overlaps."""

    def __init__(self, sim: SimulatedDaq, lines: dict[str, str]) -> None:
        self.open: set[str] = set()
        self.max_open_at_once = 0
        for name, line in lines.items():
            sim.on_do(line, lambda t, high, name=name: self._event(name, high))

    def _event(self, name: str, high: bool) -> None:
        (self.open.add if high else self.open.discard)(name)
        self.max_open_at_once = max(self.max_open_at_once, len(self.open))


# -- valves ----------------------------------------------------------------------------------------
def test_open_only_is_break_before_make(sim):
    plant = ValveLink(sim, LINES)
    valves = TtlValveController(sim, LINES)
    with pytest.raises(LookupError, match="unknown until"):
        valves.open_valves
    valves.open_only("control")
    valves.open_only("Mg3")
    assert valves.open_valves == ("Mg3",) and plant.open == {"Mg3"}
    assert plant.max_open_at_once == 1  # never two solutions at once
    last = [(e.channel, e.value) for e in list(sim.history)[-3:]]
    assert last == [
        ("Dev1/port0/line0", False),  # close the others first …
        ("Dev1/port0/line1", False),
        ("Dev1/port0/line2", True),  # … then open the new one
    ]


def test_a_valve_opened_from_the_front_panel_is_closed_too(sim):
    plant = ValveLink(sim, LINES)
    valves = TtlValveController(sim, LINES)
    sim.write_do(LINES["Mg0"], True)  # someone else (front panel, another program)
    valves.open_only("control")
    assert plant.open == {"control"}


def test_close_all(sim):
    plant = ValveLink(sim, LINES)
    valves = TtlValveController(sim, LINES)
    valves.open_only("Mg0")
    valves.close_all()
    assert valves.open_valves == () and plant.open == set()
    assert valves.valves == ("control", "Mg0", "Mg3")


def test_active_low_controllers(sim):
    valves = TtlValveController(sim, LINES, active_high=False)
    valves.open_only("Mg0")
    assert [sim.do_state(line) for line in LINES.values()] == [True, False, True]


def test_valve_configuration_and_names_are_checked(sim):
    with pytest.raises(ValueError, match="not a DO line"):
        TtlValveController(sim, {"a": "Dev1/ao0"})
    with pytest.raises(ValueError, match="share a DO line"):
        TtlValveController(sim, {"a": "Dev1/port0/line0", "b": "Dev1/port0/line0"})
    with pytest.raises(ValueError, match="not on"):
        TtlValveController(sim, {"a": "Dev2/port0/line0"})
    with pytest.raises(ValueError, match="at least one"):
        TtlValveController(sim, {})
    valves = TtlValveController(sim, LINES)
    with pytest.raises(ValueError, match=r"unknown valve 'Mg9'; valves are \['control'"):
        valves.open_only("Mg9")
    assert len(sim.history) == 0


def test_device_lost_while_switching_leaves_the_state_unknown(sim, clock):
    valves = TtlValveController(sim, LINES)
    valves.open_only("control")
    sim.inject(Fault(FaultKind.DISCONNECT, at_s=clock.now_s(), duration_s=1000.0))
    with pytest.raises(DaqDeviceLost):
        valves.open_only("Mg0")
    assert not valves.state_known
    with pytest.raises(LookupError):
        valves.open_valves


# -- pressure --------------------------------------------------------------------------------------
class Regulator:
    """A regulator that reaches its set-point at once; monitor at the same kPa/V."""

    def __init__(self, sim: SimulatedDaq, kPa_per_V: float) -> None:
        self.pressure_kPa = 0.0
        sim.on_ao("Dev1/ao1", lambda t, v: setattr(self, "pressure_kPa", v * kPa_per_V))
        sim.connect_ai("Dev1/ai5", lambda t: self.pressure_kPa / kPa_per_V)


def test_pressure_setpoint_scaling_and_monitor(sim):
    plant = Regulator(sim, kPa_per_V=10.0)
    reg = PressureRegulator(
        sim, "Dev1/ao1", kPa_per_V=10.0, limits_kPa=(-10.0, 20.0), ai_monitor="Dev1/ai5"
    )
    reg.set_pressure_kPa(5.0)
    assert sim.ao_V("Dev1/ao1") == pytest.approx(0.5)
    assert plant.pressure_kPa == pytest.approx(5.0)
    assert reg.pressure_kPa == pytest.approx(5.0)
    reg.set_pressure_kPa(-4.0)  # suction
    assert reg.pressure_kPa == pytest.approx(-4.0) and reg.setpoint_kPa == -4.0
    reg.safe()
    assert sim.ao_V("Dev1/ao1") == 0.0


def test_pressure_without_monitor_reports_the_setpoint(sim):
    reg = PressureRegulator(sim, "Dev1/ao1", kPa_per_V=7.0, limits_kPa=(0.0, 35.0))
    with pytest.raises(LookupError):
        reg.pressure_kPa
    reg.set_pressure_kPa(14.0)
    assert reg.pressure_kPa == 14.0 and sim.ao_V("Dev1/ao1") == pytest.approx(2.0)


def test_out_of_range_pressure_is_refused_before_any_output(sim):
    reg = PressureRegulator(sim, "Dev1/ao1", kPa_per_V=10.0, limits_kPa=(-10.0, 20.0))
    for value in (25.0, -10.5, float("nan")):
        with pytest.raises(InstrumentSafetyError, match="pressure limits -10 to 20 kPa"):
            reg.set_pressure_kPa(value)
    assert len(sim.history) == 0 and reg.setpoint_kPa is None


def test_pressure_configuration_is_checked(sim):
    with pytest.raises(ValueError, match="outside its range"):
        PressureRegulator(sim, "Dev1/ao1", kPa_per_V=1.0, limits_kPa=(0.0, 50.0))  # 50 V
    with pytest.raises(ValueError, match="kPa_per_V"):
        PressureRegulator(sim, "Dev1/ao1", kPa_per_V=0.0, limits_kPa=(0.0, 5.0))
    with pytest.raises(ValueError, match="analog output"):
        PressureRegulator(sim, "Dev1/ai1", kPa_per_V=1.0, limits_kPa=(0.0, 5.0))
    with pytest.raises(ValueError, match="safe_kPa"):
        PressureRegulator(sim, "Dev1/ao1", kPa_per_V=1.0, limits_kPa=(1.0, 5.0))


# -- temperature -----------------------------------------------------------------------------------
def test_temperature_from_the_monitor_voltage(sim):
    sim.connect_ai("Dev1/ai6", lambda t: 2.5)  # 100 mV/°C → 25 °C
    monitor = TemperatureMonitor(Daq(sim), "Dev1/ai6", C_per_V=WARNER_TC_MONITOR_C_PER_V)
    assert monitor.temperature_C == pytest.approx(25.0)
    offset = TemperatureMonitor(sim, "Dev1/ai6", C_per_V=10.0, offset_C=-1.5)
    assert offset.temperature_C == pytest.approx(23.5)


def test_implausible_temperature_names_channel_and_voltage(sim):
    sim.connect_ai("Dev1/ai6", lambda t: 9.9)  # 99 °C at 10 °C/V … then a broken scale
    monitor = TemperatureMonitor(sim, "Dev1/ai6", C_per_V=100.0)
    with pytest.raises(DaqReadingError, match=r"Dev1/ai6 reads 9.900 V = 990.0 °C"):
        monitor.temperature_C
    unchecked = TemperatureMonitor(sim, "Dev1/ai6", C_per_V=100.0, valid_range_C=None)
    assert unchecked.temperature_C == pytest.approx(990.0)
    with pytest.raises(ValueError, match="analog input"):
        TemperatureMonitor(sim, "Dev1/ao0", C_per_V=10.0)

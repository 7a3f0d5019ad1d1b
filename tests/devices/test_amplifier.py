"""PatchAmplifier, PressureController, TemperatureController through their real drivers on the
simulated DAQ (simple plant models: a resistor, a static monitor voltage)."""

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import h5py
import numpy as np
import pytest
from ophyd_async.core import StaticPathProvider, UUIDFilenameProvider, init_devices

from ionrig.devices import PatchAmplifier, PressureController, TemperatureController
from ionrig.devices.drivers import (
    Axopatch200B,
    AxopatchChannels,
    PressureRegulator,
    TemperatureMonitor,
)
from ionrig.simulators import ScaledClock, SimulatedDaq

CHANNELS = AxopatchChannels(
    command_ao="Dev1/ao0",
    scaled_output_ai="Dev1/ai0",
    gain_telegraph_ai="Dev1/ai1",
    mode_telegraph_ai="Dev1/ai2",
    filter_telegraph_ai="Dev1/ai3",
)
SEAL_GOHM = 2.0
GAIN_MV_PER_PA = 1.0  # gain telegraph 2.5 V: αβ = 1 (docs/reference/instruments.md §3.1)


@pytest.fixture
def clock():
    return ScaledClock(1000)


@pytest.fixture
def daq(clock):
    daq = SimulatedDaq(clock=clock, ai_resolution_bits=None)
    daq.connect_ai(CHANNELS.mode_telegraph_ai, lambda t: 6.0)  # V-Clamp
    daq.connect_ai(CHANNELS.gain_telegraph_ai, lambda t: 2.5)
    daq.connect_ai(CHANNELS.filter_telegraph_ai, lambda t: 8.0)  # 10 kHz
    # a 2 GΩ seal: I (pA) = V (mV) / R (GΩ); command 20 mV/V; scaled output αβ mV/pA
    daq.connect_sweep(
        CHANNELS.scaled_output_ai,
        lambda wave_V, rate, t0: (wave_V * 20.0 / SEAL_GOHM) * GAIN_MV_PER_PA / 1000.0,
    )
    return daq


@pytest.fixture
def amplifier(tmp_path, daq, clock):
    driver = Axopatch200B(daq, CHANNELS, safe_holding_mV=-70.0)
    with init_devices():
        amplifier = PatchAmplifier(
            driver,
            StaticPathProvider(UUIDFilenameProvider(), tmp_path),
            now_s=clock.now_s,
            telegraphs=lambda: {"mode": str(driver.mode), "lowpass_kHz": driver.lowpass_kHz},
        )
    return amplifier


def test_sweeps_go_to_hdf5_in_pA(RE, docs, amplifier, tmp_path):
    command = np.concatenate([np.full(200, -70.0), np.full(400, -60.0), np.full(200, -70.0)])
    amplifier.set_protocol(command, 20_000)
    RE(bp.count([amplifier], num=3), docs)
    (descriptor,) = docs.of("descriptor")
    keys = descriptor["data_keys"]
    assert keys["amplifier"]["units"] == "pA" and keys["amplifier"]["external"] == "STREAM:"
    config = descriptor["configuration"]["amplifier"]["data"]
    assert config["amplifier-sample_rate_Hz"] == 20_000
    assert '"lowpass_kHz": 10.0' in config["amplifier-telegraphs"]
    (path,) = tmp_path.glob("*.h5")
    with h5py.File(path, "r") as f:
        sweeps = f["/entry/im"][()]
        t_s = f["/entry/t_s"][()]
    assert sweeps.shape == (3, 800) and sweeps.dtype == np.float32
    np.testing.assert_allclose(sweeps[0], command / SEAL_GOHM, rtol=1e-5)  # Ohm's law
    assert np.all(np.diff(t_s) >= 800 / 20_000)  # each sweep lasts 40 ms of clock time


def test_seal_test_reads_the_seal_resistance(RE, amplifier):
    resistance = RE(bps.rd(amplifier.resistance_MOhm)).plan_result
    assert resistance == pytest.approx(SEAL_GOHM * 1000, rel=1e-3)


def test_holding_and_safe_state(RE, amplifier, daq):
    RE(bps.mv(amplifier.holding_mV, -40.0))
    assert daq.ao_V("Dev1/ao0") == pytest.approx(-40.0 / 20.0)
    RE(bps.wait_for([amplifier.make_safe]))
    assert daq.ao_V("Dev1/ao0") == pytest.approx(-70.0 / 20.0)
    assert RE(bps.rd(amplifier.holding_mV)).plan_result == -70.0


def test_commands_beyond_the_limits_are_refused_before_any_output(RE, amplifier, daq):
    writes_before = len(daq.history)
    with pytest.raises(Exception, match="command limits"):
        RE(bps.mv(amplifier.holding_mV, -400.0))
    assert len(daq.history) == writes_before


def test_pressure_and_temperature_through_their_drivers(RE, daq):
    regulator = PressureRegulator(daq, "Dev1/ao1", kPa_per_V=5.0, limits_kPa=(-20.0, 10.0))
    daq.connect_ai("Dev1/ai5", lambda t: 3.5)  # 35 °C at 10 °C/V
    monitor = TemperatureMonitor(daq, "Dev1/ai5", C_per_V=10.0)
    with init_devices():
        pressure = PressureController(regulator)
        temperature = TemperatureController(monitor)
    RE(bps.mv(pressure, -3.0))
    assert daq.ao_V("Dev1/ao1") == pytest.approx(-0.6)
    assert RE(bps.rd(pressure.pressure_kPa)).plan_result == pytest.approx(-3.0)
    assert RE(bps.rd(temperature.temperature_C)).plan_result == pytest.approx(35.0)
    with pytest.raises(Exception, match=r"pressure_kPa must be in -20\.\.10 kPa"):
        RE(bps.mv(pressure, -50.0))
    RE(bps.wait_for([pressure.make_safe]))
    assert daq.ao_V("Dev1/ao1") == pytest.approx(0.0)

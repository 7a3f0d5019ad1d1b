"""Axopatch 200B through the simulated DAQ: telegraph tables, scaling, limits, sweeps (§3.1)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pytest

from ionrig.devices.drivers import (
    AXOPATCH_200B_FILTER_TELEGRAPH,
    AXOPATCH_200B_GAIN_TELEGRAPH,
    AXOPATCH_200B_MODE_TELEGRAPH,
    AmplifierModeError,
    Axopatch200B,
    AxopatchChannels,
    AxopatchMode,
    Daq,
    DaqDeviceLost,
    DaqReadingError,
    InstrumentReplyError,
    InstrumentSafetyError,
)
from ionrig.simulators import Fault, FaultKind, ScaledClock, SimulatedDaq

CHANNELS = AxopatchChannels(
    command_ao="Dev1/ao0",
    scaled_output_ai="Dev1/ai0",
    gain_telegraph_ai="Dev1/ai1",
    mode_telegraph_ai="Dev1/ai2",
    filter_telegraph_ai="Dev1/ai3",
    cm_telegraph_ai="Dev1/ai4",
)
GAIN_V = {gain: volts for volts, gain in AXOPATCH_200B_GAIN_TELEGRAPH.items()}


@dataclass
class FrontPanel:
    """Telegraph voltages as the amplifier would put them out (§3.1 tables)."""

    mode_V: float = 6.0  # V-Clamp
    gain_V: float = 2.5  # αβ = 1
    filter_V: float = 8.0  # 10 kHz
    cm_V: float = -10.0  # whole-cell cap off


class ResistorCell:
    """A resistor across the headstage: I = V/R; scaled output = I × αβ mV/pA (§3.1)."""

    def __init__(self, panel: FrontPanel, resistance_GOhm: float, mV_per_V: float = 20.0):
        self.panel, self.resistance_GOhm, self.mV_per_V = panel, resistance_GOhm, mV_per_V

    def current_pA(self, command_mV):
        return np.asarray(command_mV) / self.resistance_GOhm  # mV / GΩ = pA

    def scaled_output_V(self, current_pA):
        gain = AXOPATCH_200B_GAIN_TELEGRAPH[self.panel.gain_V]
        return np.asarray(current_pA) * gain / 1000.0

    def sweep(self, wave_V, rate_Hz, t0_s):
        return self.scaled_output_V(self.current_pA(wave_V * self.mV_per_V))


@pytest.fixture
def clock():
    return ScaledClock(1000)


@pytest.fixture
def panel():
    return FrontPanel()


@pytest.fixture
def sim(clock, panel):
    sim = SimulatedDaq(clock=clock, ai_resolution_bits=None, timeout_s=0.05)
    sim.connect_ai(CHANNELS.mode_telegraph_ai, lambda t: panel.mode_V)
    sim.connect_ai(CHANNELS.gain_telegraph_ai, lambda t: panel.gain_V)
    sim.connect_ai(CHANNELS.filter_telegraph_ai, lambda t: panel.filter_V)
    sim.connect_ai(CHANNELS.cm_telegraph_ai, lambda t: panel.cm_V)
    return sim


@pytest.fixture
def amp(sim):
    return Axopatch200B(sim, CHANNELS)


# -- telegraphs ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("volts", "mode"), sorted(AXOPATCH_200B_MODE_TELEGRAPH.items()))
@pytest.mark.parametrize("offset_V", [0.0, 0.15, -0.15])
def test_every_mode_telegraph_entry_decodes(amp, panel, volts, mode, offset_V):
    panel.mode_V = volts + offset_V
    assert amp.mode is mode


@pytest.mark.parametrize(("volts", "alpha_beta"), sorted(AXOPATCH_200B_GAIN_TELEGRAPH.items()))
@pytest.mark.parametrize("offset_V", [0.0, 0.15, -0.15])
def test_every_gain_telegraph_entry_decodes(sim, panel, volts, alpha_beta, offset_V):
    beta = 0.1 if alpha_beta < 0.5 else 1.0  # αβ < 0.5 needs β = 0.1 (§3.1)
    amp = Axopatch200B(sim, CHANNELS, beta=beta)
    panel.gain_V = volts + offset_V
    assert amp.gain_alpha_beta == alpha_beta
    assert amp.gain_mV_per_pA == alpha_beta
    assert amp.current_clamp_gain_mV_per_mV == pytest.approx(alpha_beta / beta)


@pytest.mark.parametrize(("volts", "kHz"), sorted(AXOPATCH_200B_FILTER_TELEGRAPH.items()))
def test_every_filter_telegraph_entry_decodes(amp, panel, volts, kHz):
    panel.filter_V = volts + 0.1
    assert amp.lowpass_kHz == kHz


@pytest.mark.parametrize(
    ("attribute", "field", "volts"),
    [
        ("mode", "mode_V", 5.0),
        ("mode", "mode_V", 0.0),
        ("mode", "mode_V", 8.0),
        ("gain_alpha_beta", "gain_V", 2.75),
        ("gain_alpha_beta", "gain_V", 0.0),
        ("gain_alpha_beta", "gain_V", 7.5),
        ("lowpass_kHz", "filter_V", 3.0),
        ("lowpass_kHz", "filter_V", 0.0),
        ("whole_cell_capacitance_pF", "cm_V", -5.0),
    ],
)
def test_out_of_table_voltages_are_refused_naming_channel_and_voltage(
    amp, panel, attribute, field, volts
):
    setattr(panel, field, volts)
    with pytest.raises(DaqReadingError) as info:
        getattr(amp, attribute)
    assert isinstance(info.value, InstrumentReplyError)
    channel = {
        "mode_V": "Dev1/ai2",
        "gain_V": "Dev1/ai1",
        "filter_V": "Dev1/ai3",
        "cm_V": "Dev1/ai4",
    }[field]
    assert channel in str(info.value) and f"{volts:.3f} V" in str(info.value)


def test_gain_telegraph_is_checked_against_beta(sim, panel):
    patch = Axopatch200B(sim, CHANNELS, beta=1.0)
    panel.gain_V = 1.0  # αβ = 0.1: only with β = 0.1
    with pytest.raises(DaqReadingError, match="β = 1"):
        patch.gain_alpha_beta
    whole_cell = Axopatch200B(sim, CHANNELS, beta=0.1)
    assert whole_cell.gain_alpha_beta == 0.1
    panel.gain_V = 6.5  # αβ = 500: only with β = 1
    with pytest.raises(DaqReadingError, match=r"β = 0\.1"):
        whole_cell.gain_alpha_beta


def test_capacitance_telegraph(sim, panel):
    amp = Axopatch200B(sim, CHANNELS, beta=1.0)
    assert amp.whole_cell_capacitance_pF is None  # -10 V: compensation off
    panel.cm_V = 3.3
    assert amp.whole_cell_capacitance_pF == pytest.approx(33.0)
    amp_wc = Axopatch200B(sim, CHANNELS, beta=0.1)
    assert amp_wc.whole_cell_capacitance_pF == pytest.approx(330.0)


def test_unwired_optional_telegraphs_read_none(sim):
    channels = AxopatchChannels("Dev1/ao0", "Dev1/ai0", "Dev1/ai1", "Dev1/ai2")
    amp = Axopatch200B(sim, channels)
    snapshot = amp.telegraphs()
    assert snapshot.mode is AxopatchMode.V_CLAMP and snapshot.gain_alpha_beta == 1.0
    assert snapshot.lowpass_kHz is None and snapshot.whole_cell_capacitance_pF is None


def test_telegraphs_are_read_each_time(amp, panel):
    assert amp.mode is AxopatchMode.V_CLAMP
    panel.mode_V = 2.0  # the operator turns the knob
    assert amp.mode is AxopatchMode.I_CLAMP_NORMAL


# -- command scaling and limits --------------------------------------------------------------------
@pytest.mark.parametrize(("sensitivity", "volts"), [(20.0, 0.5), (100.0, 0.1)])
def test_a_10_mV_holding_command_is_the_right_ao_voltage(sim, sensitivity, volts):
    amp = Axopatch200B(sim, CHANNELS, command_sensitivity_mV_per_V=sensitivity)
    amp.set_holding_mV(10.0)
    assert sim.ao_V("Dev1/ao0") == pytest.approx(volts)
    assert amp.holding_mV == 10.0


def test_configuration_is_checked(sim):
    with pytest.raises(ValueError, match=r"20 .* or 100"):
        Axopatch200B(sim, CHANNELS, command_sensitivity_mV_per_V=50.0)
    with pytest.raises(ValueError, match="beta"):
        Axopatch200B(sim, CHANNELS, beta=0.5)
    with pytest.raises(ValueError, match="exceed"):
        Axopatch200B(sim, CHANNELS, command_limits_mV=(-300.0, 300.0))  # ±10 V × 20 mV/V
    with pytest.raises(ValueError, match="analog input"):
        Axopatch200B(sim, AxopatchChannels("Dev1/ao0", "Dev1/ao1", "Dev1/ai1", "Dev1/ai2"))
    with pytest.raises(ValueError, match="not on this DAQ"):
        Axopatch200B(sim, AxopatchChannels("Dev2/ao0", "Dev1/ai0", "Dev1/ai1", "Dev1/ai2"))


def test_limits_are_refused_before_any_output(amp, sim):
    for holding_mV in (200.0, -151.0):
        with pytest.raises(InstrumentSafetyError, match="command limits"):
            amp.set_holding_mV(holding_mV)
    with pytest.raises(InstrumentSafetyError, match="command limits"):
        amp.record_sweep(np.r_[np.zeros(10), 160.0], 10_000.0)
    for rate in (5_000.0, 200_000.0):
        with pytest.raises(ValueError, match="10000-100000 Hz"):
            amp.record_sweep(np.zeros(100), rate)
    assert len(sim.history) == 0 and sim.n_sweeps == 0


@pytest.mark.parametrize("mode_V", [3.0, 2.0, 1.0])  # I=0, I-Clamp Normal, I-Clamp Fast
def test_voltage_commands_are_refused_outside_voltage_clamp(amp, sim, panel, mode_V):
    panel.mode_V = mode_V
    with pytest.raises(AmplifierModeError, match="needs V-Clamp or Track"):
        amp.set_holding_mV(-70.0)
    with pytest.raises(AmplifierModeError):
        amp.record_sweep(np.zeros(100), 10_000.0)
    with pytest.raises(AmplifierModeError):
        amp.read_current_pA()
    assert len(sim.history) == 0


def test_track_mode_allows_commands(amp, sim, panel):
    panel.mode_V = 4.0
    amp.set_holding_mV(-20.0)
    assert sim.ao_V("Dev1/ao0") == pytest.approx(-1.0)


# -- sweeps: command -> AO volts, scaled output -> pA through every gain --------------------------
@pytest.mark.parametrize("alpha_beta", sorted(AXOPATCH_200B_GAIN_TELEGRAPH.values()))
def test_resistor_current_is_right_through_every_gain(sim, panel, alpha_beta):
    beta = 0.1 if alpha_beta < 0.5 else 1.0
    amp = Axopatch200B(sim, CHANNELS, beta=beta)
    panel.gain_V = GAIN_V[alpha_beta]
    cell = ResistorCell(panel, resistance_GOhm=1.0)
    sim.connect_sweep(CHANNELS.scaled_output_ai, cell.sweep)
    command_mV = np.r_[np.zeros(50), np.full(100, 10.0), np.zeros(50)]  # a 10-mV step
    current_pA = amp.record_sweep(command_mV, 20_000.0)
    np.testing.assert_allclose(sim.last_sweep.waveform_V, command_mV / 20.0)  # 0.5 V step
    np.testing.assert_allclose(current_pA, command_mV / 1.0, atol=1e-9)  # 10 pA across 1 GΩ
    info = amp.last_sweep
    assert info.gain_mV_per_pA == alpha_beta and info.sample_rate_Hz == 20_000.0
    assert info.n_samples == 200 and info.mode is AxopatchMode.V_CLAMP and not info.saturated
    assert amp.holding_mV == 0.0


def test_static_current_reading(amp, sim, panel):
    panel.gain_V = GAIN_V[10.0]
    sim.connect_ai(CHANNELS.scaled_output_ai, lambda t: 0.25)  # 250 mV at 10 mV/pA
    assert amp.read_current_pA() == pytest.approx(25.0)


def test_quantised_adc_keeps_the_current_within_one_lsb(clock, panel):
    sim = SimulatedDaq(clock=clock)  # 16-bit ADC
    for name, field in (("mode_telegraph_ai", "mode_V"), ("gain_telegraph_ai", "gain_V")):
        sim.connect_ai(getattr(CHANNELS, name), lambda t, f=field: getattr(panel, f))
    panel.gain_V = GAIN_V[1.0]
    cell = ResistorCell(panel, resistance_GOhm=0.5)
    sim.connect_sweep(CHANNELS.scaled_output_ai, cell.sweep)
    amp = Axopatch200B(sim, CHANNELS)
    current_pA = amp.record_sweep(np.full(100, -80.0), 10_000.0)
    lsb_pA = 20.0 / (2**16 - 1) * 1000.0 / 1.0
    np.testing.assert_allclose(current_pA, -160.0, atol=lsb_pA)


def test_saturation_is_flagged(amp, sim, panel):
    panel.gain_V = GAIN_V[500.0]
    sim.connect_sweep(CHANNELS.scaled_output_ai, ResistorCell(panel, 0.01).sweep)  # 10 MΩ
    amp.record_sweep(np.full(100, 10.0), 10_000.0)  # 1 nA × 500 mV/pA: far beyond 10 V
    assert amp.last_sweep.saturated


def test_a_gain_change_during_the_sweep_discards_it(amp, sim, panel):
    def knob_turned(wave, rate, t0):
        panel.gain_V = GAIN_V[5.0]
        return np.zeros_like(wave)

    sim.connect_sweep(CHANNELS.scaled_output_ai, knob_turned)
    with pytest.raises(DaqReadingError, match="gain changed during the sweep"):
        amp.record_sweep(np.zeros(100), 10_000.0)


def test_a_one_second_sweep_lasts_about_a_millisecond_at_time_scale_1000(amp, sim, clock):
    t_clock = clock.now_s()
    start = time.monotonic()
    current = amp.record_sweep(np.zeros(10_000), 10_000.0)
    assert current.shape == (10_000,)
    assert clock.now_s() - t_clock >= 1.0
    assert time.monotonic() - start < 0.25  # ~1 ms plus telegraph reads and slack


def test_device_lost_during_a_sweep_is_typed_and_bounded(panel):
    clock = ScaledClock(1.0)
    sim = SimulatedDaq(clock=clock)
    sim.connect_ai(CHANNELS.mode_telegraph_ai, lambda t: panel.mode_V)
    sim.connect_ai(CHANNELS.gain_telegraph_ai, lambda t: panel.gain_V)
    amp = Axopatch200B(Daq(sim), CHANNELS)
    sim.inject(Fault(FaultKind.DISCONNECT, at_s=clock.now_s() + 0.05, duration_s=30.0))
    start = time.monotonic()
    with pytest.raises(DaqDeviceLost):
        amp.record_sweep(np.zeros(100_000), 10_000.0)  # 10 s
    assert time.monotonic() - start < 0.5


# -- safe ------------------------------------------------------------------------------------------
def test_safe_goes_to_the_safe_holding_in_voltage_clamp(sim, panel):
    amp = Axopatch200B(sim, CHANNELS, safe_holding_mV=-60.0)
    amp.set_holding_mV(40.0)
    amp.safe()
    assert sim.ao_V("Dev1/ao0") == pytest.approx(-3.0)
    assert amp.holding_mV == -60.0


@pytest.mark.parametrize("mode_V", [2.0, 7.5])  # I-Clamp; an unreadable telegraph
def test_safe_commands_zero_volts_when_not_in_voltage_clamp(sim, panel, mode_V):
    amp = Axopatch200B(sim, CHANNELS, safe_holding_mV=-60.0)
    amp.set_holding_mV(40.0)
    panel.mode_V = mode_V
    amp.safe()
    assert sim.ao_V("Dev1/ao0") == 0.0  # no injected current in any mode
    assert amp.holding_mV is None

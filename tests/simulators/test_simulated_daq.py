"""The simulated DAQ on its own: plant models, clock timing, ADC behaviour, faults (builtin
errors only: the typed mapping is tested with the drivers' Daq)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from ionrig.simulators import Fault, FaultKind, ScaledClock, SimulatedDaq

AO, AI, AI2 = "Dev1/ao0", "Dev1/ai0", "Dev1/ai1"
LINE = "Dev1/port0/line3"


@pytest.fixture
def clock():
    return ScaledClock(1000)


@pytest.fixture
def daq(clock):
    return SimulatedDaq(clock=clock, ai_resolution_bits=None, timeout_s=0.05)


def rc_response(tau_s: float, gain: float = 1.0):
    """A first-order RC low-pass from the swept output to an input (exact per-sample step)."""

    def model(wave: np.ndarray, rate_Hz: float, t0_s: float) -> np.ndarray:
        alpha = 1.0 - np.exp(-1.0 / (rate_Hz * tau_s))
        out = np.empty_like(wave)
        v = 0.0
        for k, target in enumerate(wave):
            v += alpha * (target - v)
            out[k] = gain * v
        return out

    return model


def test_static_input_model_and_unconnected_inputs(daq, clock):
    daq.connect_ai(AI, lambda t: 2.5)
    assert daq.read_ai(AI) == 2.5
    assert daq.read_ai(AI2) == 0.0  # unconnected: grounded
    daq.connect_ai(AI2, lambda t: 0.001 * t)  # a ramp in clock time
    t = clock.now_s()
    assert daq.read_ai(AI2) == pytest.approx(0.001 * t, abs=0.001)


def test_sample_reads_follow_the_model_over_clock_time(daq, clock):
    daq.connect_ai(AI, lambda t: np.sin(2 * np.pi * 5 * t))
    t_before = clock.now_s()
    samples = daq.read_ai_samples(AI, 1000, 1000.0)  # 1 s of clock time
    assert clock.now_s() - t_before >= 1.0
    assert samples.shape == (1000,)
    assert samples.max() == pytest.approx(1.0, abs=0.01)
    assert abs(samples.mean()) < 0.02


def test_inputs_saturate_and_quantise_like_a_16_bit_adc(clock):
    daq = SimulatedDaq(clock=clock)  # 16 bits by default
    daq.connect_ai(AI, lambda t: 12.0)
    assert daq.read_ai(AI) == 10.0
    assert daq.read_ai(AI, range_V=(-5.0, 5.0)) == 5.0
    daq.connect_ai(AI, lambda t: 1.23456789)
    lsb = 20.0 / (2**16 - 1)
    value = daq.read_ai(AI)
    assert abs(value - 1.23456789) <= lsb / 2
    assert ((value + 10.0) / lsb) == pytest.approx(round((value + 10.0) / lsb))


def test_outputs_hold_their_value_and_notify_the_plant(daq):
    seen = []
    daq.on_ao(AO, lambda t, v: seen.append(("ao", v)))
    daq.on_do(LINE, lambda t, v: seen.append(("do", v)))
    assert daq.ao_V(AO) == 0.0 and daq.do_state(LINE) is False
    daq.write_ao(AO, 1.5)
    daq.write_do(LINE, True)
    assert daq.ao_V(AO) == 1.5 and daq.do_state(LINE) is True
    assert seen == [("ao", 1.5), ("do", True)]
    assert [(e.kind, e.channel, e.value) for e in daq.history] == [
        ("ao", AO, 1.5),
        ("do", LINE, True),
    ]


def test_digital_inputs_read_back_outputs_or_their_model(daq):
    daq.write_do(LINE, True)
    assert daq.read_di(LINE) is True
    daq.connect_di("Dev1/port0/line4", lambda t: True)
    assert daq.read_di("Dev1/port0/line4") is True
    assert daq.read_di("Dev1/port0/line5") is False


def test_sweep_plays_through_an_rc_circuit(daq):
    tau_s, rate = 1e-3, 20_000.0
    daq.connect_sweep(AI, rc_response(tau_s))
    daq.connect_ai(AI2, lambda t: 0.25)  # a static input recorded in the same sweep
    wave = np.r_[np.zeros(100), np.ones(400)]
    data = daq.run_sweep(AO, wave, [AI, AI2], rate)
    t = np.arange(400) / rate
    expected = 1.0 - np.exp(-(t + 1 / rate) / tau_s)
    np.testing.assert_allclose(data[AI][100:], expected, rtol=1e-9)
    np.testing.assert_array_equal(data[AI2], 0.25)
    assert daq.ao_V(AO) == 1.0  # holds the last sample
    assert daq.history[-1].kind == "sweep"
    assert daq.last_sweep.ao_channel == AO and daq.n_sweeps == 1
    np.testing.assert_array_equal(daq.last_sweep.waveform_V, wave)


def test_sweep_model_bound_to_another_output_is_not_used(daq):
    daq.connect_sweep(AI, lambda w, r, t0: w * 2, ao_channel="Dev1/ao1")
    daq.connect_ai(AI, lambda t: -1.0)
    data = daq.run_sweep(AO, np.ones(10), [AI], 10_000.0)
    np.testing.assert_array_equal(data[AI], -1.0)


def test_a_one_second_sweep_takes_a_millisecond_at_time_scale_1000(daq, clock):
    t_clock = clock.now_s()
    start = time.monotonic()
    daq.run_sweep(AO, np.zeros(10_000), [AI], 10_000.0)
    wall = time.monotonic() - start
    assert clock.now_s() - t_clock >= 1.0
    assert wall < 0.25  # ~1 ms plus scheduling slack on a busy machine


def test_bad_models_and_channels_are_reported(daq):
    daq.connect_sweep(AI, lambda w, r, t0: np.zeros(3))
    with pytest.raises(ValueError, match="expected 10 samples"):
        daq.run_sweep(AO, np.zeros(10), [AI], 10_000.0)
    with pytest.raises(ValueError, match="not on device Dev1"):
        daq.read_ai("Dev2/ai0")
    with pytest.raises(ValueError, match="not a valid analog output"):
        daq.write_ao("Dev1/ai0", 1.0)


def test_second_hardware_timed_task_is_refused_while_a_sweep_runs():
    clock = ScaledClock(1.0)
    daq = SimulatedDaq(clock=clock)
    errors: list[BaseException] = []
    started = threading.Event()

    def response(wave, rate, t0):
        started.set()
        return np.zeros_like(wave)

    daq.connect_sweep(AI, response)
    thread = threading.Thread(
        target=lambda: daq.run_sweep(AO, np.zeros(3000), [AI], 10_000.0)  # 0.3 s
    )
    thread.start()
    try:
        assert started.wait(5.0)
        for call in (
            lambda: daq.run_sweep(AO, np.zeros(10), [AI], 10_000.0),
            lambda: daq.read_ai(AI2),
            lambda: daq.write_ao("Dev1/ao1", 1.0),
        ):
            try:
                call()
            except OSError as exc:
                errors.append(exc)
        daq.write_do(LINE, True)  # digital lines are not part of the timing engine
    finally:
        thread.join(timeout=5)
    assert [e.errno for e in errors] == [-50103] * 3  # type: ignore[attr-defined]


# -- faults ----------------------------------------------------------------------------------------
def test_device_lost_window_fails_every_call_then_recovers(daq, clock):
    now = clock.now_s()
    daq.inject(Fault(FaultKind.DISCONNECT, at_s=now, duration_s=50.0))  # 50 ms real
    for call in (
        lambda: daq.read_ai(AI),
        lambda: daq.write_ao(AO, 1.0),
        lambda: daq.write_do(LINE, True),
        lambda: daq.read_di(LINE),
        lambda: daq.read_ai_samples(AI, 10, 1000.0),
        lambda: daq.run_sweep(AO, np.zeros(10), [AI], 10_000.0),
    ):
        with pytest.raises(ConnectionError):
            call()
    assert not daq.connected
    assert len(daq.history) == 0
    time.sleep(0.06)
    assert daq.connected
    daq.write_ao(AO, 1.0)
    assert daq.ao_V(AO) == 1.0


def test_device_lost_during_a_long_sweep_aborts_it_quickly():
    clock = ScaledClock(1.0)
    daq = SimulatedDaq(clock=clock)
    daq.inject(Fault(FaultKind.DISCONNECT, at_s=clock.now_s() + 0.05, duration_s=10.0))
    start = time.monotonic()
    with pytest.raises(ConnectionError, match="lost during"):
        daq.run_sweep(AO, np.zeros(100_000), [AI], 10_000.0)  # a 10-s sweep
    assert time.monotonic() - start < 0.5
    assert daq.ao_V(AO) == 0.0 and daq.n_sweeps == 0


def test_no_reply_times_out_without_executing(daq):
    daq.inject(Fault(FaultKind.NO_REPLY))
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        daq.write_ao(AO, 2.0)
    assert 0.04 < time.monotonic() - start < 1.0
    assert daq.ao_V(AO) == 0.0
    daq.write_ao(AO, 2.0)  # the next call works
    assert daq.ao_V(AO) == 2.0


def test_partial_sweep_times_out(daq):
    daq.inject(Fault(FaultKind.PARTIAL))
    with pytest.raises(TimeoutError, match="only part"):
        daq.run_sweep(AO, np.zeros(100), [AI], 10_000.0)
    assert daq.n_sweeps == 0


def test_garbage_replaces_input_data_with_noise(clock):
    daq = SimulatedDaq(clock=clock, seed=1)
    daq.connect_ai(AI, lambda t: 1.0)
    daq.inject(Fault(FaultKind.GARBAGE))
    noisy = daq.read_ai_samples(AI, 100, 10_000.0)
    assert noisy.std() > 1.0
    assert daq.read_ai(AI) == pytest.approx(1.0, abs=1e-3)


def test_error_reply_raises_an_oserror_with_a_daqmx_style_code(daq):
    daq.inject(Fault(FaultKind.ERROR_REPLY))
    with pytest.raises(OSError) as info:
        daq.write_do(LINE, True)
    assert info.value.errno == -50150
    assert daq.do_state(LINE) is False


def test_slow_reply_delays_by_clock_time(daq, clock):
    daq.inject(Fault(FaultKind.SLOW_REPLY, delay_s=2.0))  # 2 clock s = 2 ms real
    t = clock.now_s()
    daq.read_ai(AI)
    assert clock.now_s() - t >= 2.0


def test_a_reply_later_than_the_timeout_gives_up_after_the_timeout_but_the_write_is_done(daq):
    daq.inject(Fault(FaultKind.SLOW_REPLY, delay_s=1000.0))  # 1 s real at x1000; timeout 0.05 s
    start = time.monotonic()
    with pytest.raises(TimeoutError, match=r"no completion within 0\.05 s"):
        daq.write_do(LINE, True)
    assert 0.04 < time.monotonic() - start < 0.5
    assert daq.do_state(LINE) is True  # executed; only the reply came too late


def test_a_partial_fault_on_a_static_call_times_out_like_no_reply(daq):
    daq.inject(Fault(FaultKind.PARTIAL))
    with pytest.raises(TimeoutError, match="no response within"):
        daq.write_do(LINE, True)
    assert daq.do_state(LINE) is False
    daq.write_do(LINE, True)  # the next call works
    assert daq.do_state(LINE) is True

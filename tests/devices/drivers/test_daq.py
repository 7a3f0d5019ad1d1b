"""The drivers' Daq front over the simulated DAQ: checks before output, typed errors, one lock."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from ionrig.devices.drivers import (
    Daq,
    DaqCommandError,
    DaqDeviceLost,
    DaqRangeError,
    DaqTimeout,
    InstrumentDisconnected,
    InstrumentSafetyError,
    InstrumentTimeout,
    as_daq,
)
from ionrig.simulators import Fault, FaultKind, ScaledClock, SimulatedDaq

AO, AI, AI2 = "Dev1/ao0", "Dev1/ai0", "Dev1/ai1"
LINE = "Dev1/port0/line0"


@pytest.fixture
def clock():
    return ScaledClock(1000)


@pytest.fixture
def sim(clock):
    return SimulatedDaq(clock=clock, ai_resolution_bits=None, timeout_s=0.05)


@pytest.fixture
def daq(sim):
    return Daq(sim)


# -- channel names and ranges, refused before any output -------------------------------------------
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: d.write_ao("Dev1/ai0", 1.0), "not an ao channel"),
        (lambda d: d.read_ai("Dev1/ao0"), "not an ai channel"),
        (lambda d: d.write_do("Dev1/ao0", True), "not an line channel"),
        (lambda d: d.write_ao("Dev2/ao0", 1.0), "not on this DAQ"),
        (lambda d: d.read_ai("ai0"), "not a DAQ channel name"),
        (lambda d: d.write_do("Dev1/port0/line0", 1), "must be a bool"),
    ],
)
def test_channel_names_are_checked(daq, sim, call, message):
    with pytest.raises(ValueError, match=message):
        call(daq)
    assert len(sim.history) == 0


def test_out_of_range_output_names_channel_and_range_and_writes_nothing(daq, sim):
    with pytest.raises(
        DaqRangeError, match=r"Dev1/ao0: 10.5 V is outside the channel range -10 to 10 V"
    ) as info:
        daq.write_ao(AO, 10.5)
    assert isinstance(info.value, InstrumentSafetyError) and isinstance(info.value, ValueError)
    with pytest.raises(DaqRangeError):
        daq.write_ao(AO, float("nan"))
    assert len(sim.history) == 0


def test_per_channel_ranges(sim):
    daq = Daq(sim, channel_ranges_V={"Dev1/ao1": (0.0, 5.0), AI: (-1.0, 1.0)})
    assert daq.range_V("Dev1/ao1") == (0.0, 5.0)
    assert daq.range_V(AO) == (-10.0, 10.0)
    with pytest.raises(DaqRangeError, match="0 to 5 V"):
        daq.write_ao("Dev1/ao1", -0.5)
    sim.connect_ai(AI, lambda t: 3.0)
    assert daq.read_ai(AI) == 1.0  # configured range: the input saturates
    with pytest.raises(ValueError, match="min_V < max_V"):
        Daq(SimulatedDaq(), channel_ranges_V={AO: (5.0, 1.0)})


@pytest.mark.parametrize(
    ("waveform", "error", "message"),
    [
        (np.r_[np.zeros(5), 11.0, np.zeros(5)], DaqRangeError, r"waveform_V\[5\] = 11 V"),
        (np.r_[0.0, np.nan], ValueError, r"waveform_V\[1\] is nan"),
        (np.zeros((2, 5)), ValueError, "1-D"),
        (np.zeros(1), ValueError, ">= 2 samples"),
    ],
)
def test_bad_waveforms_are_refused_before_any_output(daq, sim, waveform, error, message):
    with pytest.raises(error, match=message):
        daq.run_sweep(AO, waveform, [AI], 10_000.0)
    assert len(sim.history) == 0 and sim.n_sweeps == 0


def test_sweep_arguments_are_checked(daq, sim):
    wave = np.zeros(10)
    with pytest.raises(TypeError, match="sequence of names"):
        daq.run_sweep(AO, wave, AI, 10_000.0)
    with pytest.raises(ValueError, match="duplicates"):
        daq.run_sweep(AO, wave, [AI, AI], 10_000.0)
    with pytest.raises(ValueError, match="at least one"):
        daq.run_sweep(AO, wave, [], 10_000.0)
    for rate in (0.0, -1.0, float("inf"), 2e6):
        with pytest.raises(ValueError, match="sample_rate_Hz"):
            daq.run_sweep(AO, wave, [AI], rate)
    with pytest.raises(ValueError, match="n_samples"):
        daq.read_ai_samples(AI, 0, 1000.0)
    assert sim.n_sweeps == 0


# -- I/O through the simulated plant ---------------------------------------------------------------
def test_loopback_round_trip_and_digital_lines(daq, sim):
    sim.connect_ai(AI, lambda t: sim.ao_V(AO))  # AO wired to AI
    daq.write_ao(AO, -3.25)
    assert daq.read_ai(AI) == -3.25
    assert daq.read_ai_mean(AI) == -3.25
    daq.write_do(LINE, True)
    assert daq.read_di(LINE) is True


def test_sweep_through_a_resistor_divider(daq, sim):
    sim.connect_sweep(AI, lambda wave, rate, t0: 0.5 * wave)
    wave = np.linspace(-2, 2, 100)
    data = daq.run_sweep(AO, wave, [AI, AI2], 20_000.0)
    assert set(data) == {AI, AI2}
    np.testing.assert_allclose(data[AI], 0.5 * wave)
    np.testing.assert_array_equal(data[AI2], 0.0)
    assert sim.ao_V(AO) == 2.0


# -- error mapping ---------------------------------------------------------------------------------
def test_device_lost_maps_to_daq_device_lost_quickly(daq, sim, clock):
    sim.inject(Fault(FaultKind.DISCONNECT, at_s=clock.now_s(), duration_s=100.0))  # 0.1 s real
    start = time.monotonic()
    with pytest.raises(DaqDeviceLost, match="DAQ device lost") as info:
        daq.read_ai(AI)
    assert time.monotonic() - start < 0.1
    assert isinstance(info.value, InstrumentDisconnected) and isinstance(
        info.value, ConnectionError
    )
    assert "no reply" not in str(info.value)
    time.sleep(0.11)
    daq.write_ao(AO, 1.0)  # back again


def test_device_lost_mid_sweep_raises_within_a_bounded_time():
    clock = ScaledClock(1.0)
    sim = SimulatedDaq(clock=clock)
    daq = Daq(sim)
    sim.inject(Fault(FaultKind.DISCONNECT, at_s=clock.now_s() + 0.05, duration_s=30.0))
    start = time.monotonic()
    with pytest.raises(DaqDeviceLost):
        daq.run_sweep(AO, np.zeros(200_000), [AI], 10_000.0)  # 20 s
    assert time.monotonic() - start < 0.5


def test_timeouts_and_driver_errors_are_typed(daq, sim):
    sim.inject(Fault(FaultKind.NO_REPLY))
    with pytest.raises(DaqTimeout) as info:
        daq.write_ao(AO, 1.0)
    assert isinstance(info.value, InstrumentTimeout) and isinstance(info.value, TimeoutError)
    sim.inject(Fault(FaultKind.ERROR_REPLY))
    with pytest.raises(DaqCommandError) as error:
        daq.read_ai(AI)
    assert error.value.code == "-50150"
    assert daq.read_ai(AI) == 0.0  # works again


def test_closed_daq_refuses_calls(sim):
    daq = Daq(sim)
    daq.close()
    with pytest.raises(DaqDeviceLost, match="closed"):
        daq.write_ao(AO, 0.0)
    Daq(sim)  # the backend may be wrapped again once its Daq is closed


# -- one lock per DAQ ------------------------------------------------------------------------------
def test_one_daq_per_backend(sim):
    first = as_daq(sim)
    assert as_daq(sim) is first and as_daq(first) is first
    with pytest.raises(ValueError, match="one lock per DAQ"):
        Daq(sim)
    with pytest.raises(TypeError):
        as_daq(object())


def test_a_sweep_holds_the_lock_so_other_calls_wait_for_it():
    clock = ScaledClock(1.0)
    sim = SimulatedDaq(clock=clock)
    daq = Daq(sim)
    started = threading.Event()

    def response(wave, rate, t0):
        started.set()  # the sweep has begun (and holds the lock)
        return np.zeros_like(wave)

    sim.connect_sweep(AI, response)
    thread = threading.Thread(target=lambda: daq.run_sweep(AO, np.ones(2000), [AI], 10_000.0))
    thread.start()  # 0.2 s sweep
    assert started.wait(5.0)
    daq.write_do(LINE, True)  # from another thread while the sweep runs: must wait
    thread.join(timeout=5)
    kinds = [event.kind for event in sim.history]
    assert kinds == ["sweep", "do"]


def test_transaction_makes_several_calls_atomic_and_lock_waits_are_bounded(sim):
    daq = Daq(sim, lock_timeout_s=0.05)
    with daq.transaction():
        holder_done = threading.Event()
        failures: list[BaseException] = []

        def other():
            try:
                daq.write_ao(AO, 1.0)
            except DaqTimeout as exc:
                failures.append(exc)
            holder_done.set()

        threading.Thread(target=other).start()
        assert holder_done.wait(2.0)
        daq.write_ao(AO, 2.0)  # re-entrant for the holder
    assert len(failures) == 1 and "DAQ busy" in str(failures[0])
    assert sim.ao_V(AO) == 2.0

"""The ionrig-sim:// URL scheme, the registry behind it, and serving an instrument over TCP."""

from __future__ import annotations

import gc
import socket
import sys
import time
import warnings

import pytest
import serial

from ionrig.devices.drivers import (
    InstrumentDisconnected,
    NewEraPump,
    SutterLambda10_3,
    ThorlabsFW102C,
)
from ionrig.simulators import (
    Fault,
    FaultKind,
    ScaledClock,
    SimulatedFW102C,
    SimulatedLambda10_3,
    SimulatedNE500,
    SimulatedSerial,
    get_simulated_instrument,
    register_simulated_instrument,
    registered_simulated_instruments,
    serve_tcp,
    unregister_simulated_instrument,
)

TIMEOUT_S = 0.2


def test_pyserial_resolves_the_hyphenated_scheme_to_the_simulator():
    assert "ionrig.simulators._serial_url" in serial.protocol_handler_packages
    assert "ionrig.simulators._serial_url.protocol_ionrig-sim" in sys.modules
    port = serial.serial_for_url("ionrig-sim://fw102c", timeout=0.1)
    assert isinstance(port, SimulatedSerial) and port.is_open
    port.write(b"pos?\r")
    assert port.read_until(b"> ") == b"pos?\r1\r> "
    port.close()


def test_the_url_reaches_the_registered_instance(clock):
    sim = SimulatedLambda10_3(clock)
    register_simulated_instrument("Left-Wheel", sim)
    wheel = SutterLambda10_3("ionrig-sim://left-wheel", timeout_s=TIMEOUT_S)  # names ignore case
    wheel.move(8)
    assert sim.wheel_position["A"] == 8
    assert registered_simulated_instruments() == {"left-wheel": sim}
    unregister_simulated_instrument("left-wheel")
    with pytest.raises(InstrumentDisconnected, match="left-wheel"):
        SutterLambda10_3("ionrig-sim://left-wheel")


def test_a_kind_name_creates_one_default_instance_that_keeps_its_state():
    assert registered_simulated_instruments() == {}
    pump = NewEraPump("ionrig-sim://ne500", timeout_s=TIMEOUT_S)
    pump.diameter_mm = 12.45
    pump.close()
    sim = get_simulated_instrument("ne500")
    assert isinstance(sim, SimulatedNE500) and isinstance(sim.clock, ScaledClock)
    assert sim.clock.time_scale == 1.0
    again = NewEraPump("ionrig-sim://ne500", timeout_s=TIMEOUT_S)
    assert again.diameter_mm == pytest.approx(12.45)
    again.close()


def test_unknown_names_and_wrong_objects_are_refused():
    with pytest.raises(KeyError, match="no-such"):
        get_simulated_instrument("no-such")
    with pytest.raises(ValueError):
        get_simulated_instrument("a/b")
    with pytest.raises(TypeError):
        register_simulated_instrument("x", object())  # type: ignore[arg-type]


def test_simulated_port_read_honours_its_timeout(clock):
    register_simulated_instrument("ne500", SimulatedNE500(clock))
    port = serial.serial_for_url("ionrig-sim://ne500", timeout=0.05)
    start = time.monotonic()
    assert port.read(5) == b""
    assert 0.04 <= time.monotonic() - start < 0.5
    port.close()
    with pytest.raises(serial.PortNotOpenError):
        port.read(1)


# -- TCP -------------------------------------------------------------------------------------------
def test_serve_tcp_with_the_real_driver_through_a_socket_url(clock):
    sim = SimulatedFW102C(clock)
    with serve_tcp(sim, 0) as server:
        assert server.url.startswith("socket://127.0.0.1:") and server.port > 0
        wheel = ThorlabsFW102C(server.url, timeout_s=0.5)
        wheel.move(4)
        assert wheel.position == 4 and sim.position == 4
        assert wheel.id.startswith("THORLABS")
        wheel.close()
    assert not server.running


def test_serve_tcp_binary_protocol_and_timing(clock):
    sim = SimulatedLambda10_3(clock)
    with serve_tcp(sim, 0) as server:
        wheel = SutterLambda10_3(server.url, timeout_s=0.5)
        start = clock.now_s()
        wheel.move(5, speed=7)
        assert clock.now_s() - start >= 1.1  # the CR came after the table move time
        assert wheel.position == 5
        wheel.close()


def test_serve_tcp_is_bounded_to_one_client(clock):
    with serve_tcp(SimulatedFW102C(clock), 0) as server:
        first = ThorlabsFW102C(server.url, timeout_s=0.5)
        assert first.position == 1
        second = socket.create_connection(("127.0.0.1", server.port), timeout=1)
        assert second.recv(10) == b""  # closed by the server at once
        second.close()
        assert server.n_clients == 1
        first.close()


def test_serve_tcp_drops_the_client_on_disconnect_and_serves_it_again(clock):
    sim = SimulatedNE500(clock, power_on_alarm=False)
    with serve_tcp(sim, 0) as server:
        pump = NewEraPump(server.url, timeout_s=0.3)
        assert pump.status.value == "S"
        sim.inject(Fault(FaultKind.DISCONNECT, at_s=clock.now_s(), duration_s=20.0))
        with pytest.raises(InstrumentDisconnected):
            pump.status
        clock.advance_s(20.0)
        assert pump.diameter_mm == pytest.approx(26.59)  # the driver reconnected
        pump.close()


def test_serve_tcp_listens_on_loopback_only(clock):
    with pytest.raises(ValueError, match="loopback"):
        serve_tcp(SimulatedFW102C(clock), 0, host="0.0.0.0")


def test_closing_after_the_server_went_away_closes_the_socket(clock):
    server = serve_tcp(SimulatedFW102C(clock), 0)
    wheel = ThorlabsFW102C(server.url, timeout_s=0.5)
    assert wheel.position == 1
    server.stop()
    with pytest.raises(InstrumentDisconnected):
        wheel.position  # written to the closed peer, which resets the connection
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        wheel.close()
        del wheel
        gc.collect()
    # On a reset connection shutdown() fails and pyserial alone skips close(): the socket
    # would be left to the garbage collector, which warns "unclosed <socket.socket …>".
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []

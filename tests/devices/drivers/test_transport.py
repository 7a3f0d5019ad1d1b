"""Port opening, typed errors and the filter-wheel protocol shared by all drivers."""

from __future__ import annotations

from types import SimpleNamespace
from typing import ClassVar

import pytest
import pyvisa.constants
import pyvisa.errors
import serial
from pymeasure.adapters import Adapter, SerialAdapter, VISAAdapter

from ionrig.devices.drivers import (
    READ_POLL_S,
    FilterWheel,
    InstrumentCommandError,
    InstrumentDisconnected,
    InstrumentError,
    InstrumentTimeout,
    NewEraPump,
    SutterLambda10_3,
    ThorlabsFW102C,
    is_visa_resource,
    open_adapter,
)


@pytest.mark.parametrize(
    ("port", "visa"),
    [
        ("ASRL/dev/ttyUSB0::INSTR", True),
        ("ASRL3::INSTR", True),
        ("asrl1::instr", True),
        ("/dev/ttyUSB0", False),
        ("COM3", False),
        ("socket://127.0.0.1:5555", False),
        ("ionrig-sim://lambda10-3", False),
        ("loop://", False),
    ],
)
def test_visa_resource_names_are_told_from_pyserial_ports(port, visa):
    assert is_visa_resource(port) is visa


def test_url_strings_open_through_serial_for_url_and_serial_adapter():
    adapter = open_adapter("loop://", instrument="x", baud_rate=115200)
    assert isinstance(adapter, SerialAdapter)
    assert adapter.connection.is_open
    assert adapter.connection.baudrate == 115200
    assert adapter.connection.timeout == READ_POLL_S
    adapter.connection.close()


def test_port_objects_and_adapters_are_used_as_they_are():
    port = serial.serial_for_url("loop://", timeout=5)
    adapter = open_adapter(port, instrument="x", baud_rate=9600)
    assert adapter.connection is port and port.timeout == READ_POLL_S
    assert open_adapter(adapter, instrument="x", baud_rate=9600) is adapter
    port.close()
    with pytest.raises(TypeError):
        open_adapter(3, instrument="x", baud_rate=9600)  # type: ignore[arg-type]


class _FakeResourceManager:
    """A VISA backend standing in for NI-VISA/pyvisa-py: records what pymeasure opens, or
    fails ``open_resource`` with ``error``."""

    opened: ClassVar[list[tuple[str, str, dict]]] = []
    error: ClassVar[Exception | None] = None

    def __init__(self, visa_library: str = "") -> None:
        self.visa_library = visa_library

    def resource_info(self, resource: str) -> SimpleNamespace:
        return SimpleNamespace(interface_type=pyvisa.constants.InterfaceType.asrl)

    def open_resource(self, resource: str, **kwargs) -> SimpleNamespace:
        if self.error is not None:
            raise self.error
        self.opened.append((self.visa_library, resource, kwargs))
        return SimpleNamespace(close=lambda: None)

    def close(self) -> None:
        pass


@pytest.fixture
def fake_visa(monkeypatch) -> type[_FakeResourceManager]:
    """pyvisa's ``ResourceManager`` (what pymeasure's ``VISAAdapter`` opens resources with)
    replaced by :class:`_FakeResourceManager`."""
    monkeypatch.setattr(_FakeResourceManager, "opened", [])
    monkeypatch.setattr(_FakeResourceManager, "error", None)
    monkeypatch.setattr(pyvisa, "ResourceManager", _FakeResourceManager)
    return _FakeResourceManager


def test_visa_resource_names_open_a_visa_adapter_with_serial_settings(fake_visa):
    pump = NewEraPump("ASRL/dev/ttyUSB0::INSTR", baud_rate=9600, visa_library="@backend")
    assert isinstance(pump.adapter, VISAAdapter)
    ((library, resource, kwargs),) = fake_visa.opened
    assert (library, resource) == ("@backend", "ASRL/dev/ttyUSB0::INSTR")
    assert kwargs["baud_rate"] == 9600
    assert kwargs["data_bits"] == 8
    assert kwargs["parity"] == pyvisa.constants.Parity.none
    assert kwargs["stop_bits"] == pyvisa.constants.StopBits.one
    assert kwargs["timeout"] == round(READ_POLL_S * 1000)  # ms


def test_a_visa_resource_that_cannot_be_opened_is_a_disconnected_error(fake_visa):
    fake_visa.error = pyvisa.errors.VisaIOError(
        pyvisa.constants.StatusCode.error_resource_not_found
    )
    with pytest.raises(InstrumentDisconnected, match="VISA"):
        ThorlabsFW102C("ASRL3::INSTR")


def test_a_missing_visa_backend_is_a_disconnected_error():
    with pytest.raises(InstrumentDisconnected, match="VISA resource 'ASRL3::INSTR'"):
        ThorlabsFW102C("ASRL3::INSTR", visa_library="@ionrig_no_such_backend")


@pytest.mark.parametrize("port", ["/dev/ionrig-no-such-tty", "nosuchscheme://x"])
def test_unopenable_ports_are_disconnected_errors(port):
    with pytest.raises(InstrumentDisconnected) as info:
        SutterLambda10_3(port)
    assert port in str(info.value) and isinstance(info.value, ConnectionError)


def test_unregistered_sim_scheme_says_how_to_register_it(monkeypatch):
    monkeypatch.setattr(serial, "protocol_handler_packages", ["serial.urlhandler"])
    with pytest.raises(InstrumentDisconnected, match=r"ionrig\.simulators"):
        SutterLambda10_3("ionrig-sim://lambda10-3")


class _VisaLikeAdapter(Adapter):
    """Writes succeed; reads raise the given VISA error."""

    def __init__(self, code):
        super().__init__()
        self.code = code

    def _write_bytes(self, content, **kwargs):
        pass

    def _read_bytes(self, count, break_on_termchar=False, **kwargs):
        raise pyvisa.errors.VisaIOError(self.code)

    def flush_read_buffer(self):
        pass


def test_visa_timeouts_are_instrument_timeouts():
    wheel = ThorlabsFW102C(
        _VisaLikeAdapter(pyvisa.constants.StatusCode.error_timeout), timeout_s=0.05
    )
    with pytest.raises(InstrumentTimeout):
        wheel.position


def test_other_visa_errors_are_disconnections():
    wheel = ThorlabsFW102C(_VisaLikeAdapter(pyvisa.constants.StatusCode.error_connection_lost))
    with pytest.raises(InstrumentDisconnected):
        wheel.position


class _UnpluggedPort(serial.SerialBase):
    """Fails every write until ``plugged`` is set; counts reopenings."""

    def __init__(self):
        super().__init__()
        self.is_open, self.plugged, self.opened = True, False, 0

    def open(self):
        if not self.plugged:
            raise serial.SerialException("no such device")
        self.opened += 1
        self.is_open = True

    def close(self):
        self.is_open = False

    def _reconfigure_port(self, force_update=False):
        pass

    def reset_input_buffer(self):
        pass

    def write(self, data):
        if not self.plugged:
            raise serial.SerialException("write failed: [Errno 5] Input/output error")
        return len(data)

    def read(self, size=1):
        return b""


def test_a_vanished_port_is_disconnected_and_reopened_once_it_is_back():
    port = _UnpluggedPort()
    pump = NewEraPump(port, timeout_s=0.05)
    with pytest.raises(InstrumentDisconnected, match="Input/output"):
        pump.status
    with pytest.raises(InstrumentDisconnected, match="no such device"):
        pump.status  # still unplugged: the reopen fails
    port.plugged = True
    with pytest.raises(InstrumentTimeout):
        pump.status  # reopened and written; this port never answers
    assert port.opened == 1


def test_errors_name_instrument_command_and_reply():
    error = InstrumentCommandError(
        "pump rejected RAT",
        code="?OOR",
        instrument="NE-500 at COM3",
        command="RAT9999UM",
        reply=b"\x0200S?OOR\x03",
        value="9999UM",
    )
    text = str(error)
    for part in ("NE-500 at COM3", "RAT9999UM", "9999UM", "?OOR", r"\x0200S?OOR\x03"):
        assert part in text
    assert isinstance(error, InstrumentError)
    timeout = InstrumentTimeout("no reply", instrument="x", command="pos?")
    assert isinstance(timeout, TimeoutError) and "no reply" in str(timeout)


def test_filter_wheel_check_needs_every_member_and_does_no_io():
    class NotAWheel:
        has_shutter = False

        def move(self, position: int) -> None: ...

    assert not isinstance(NotAWheel(), FilterWheel)
    assert not isinstance(object(), FilterWheel)

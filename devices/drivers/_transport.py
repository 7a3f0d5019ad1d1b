"""Opening a port and moving bytes for ionrig's serial drivers (plain, blocking Python).

Every driver accepts one ``port`` argument and this module turns it into a pymeasure adapter:

- a pymeasure ``Adapter`` (e.g. the ``ProtocolAdapter`` of ``pymeasure.test.expected_protocol``)
  is used as it is;
- a ``serial.SerialBase`` instance (an in-process simulator, a ``loop://`` port …) is wrapped in
  a ``SerialAdapter``;
- a VISA resource name (``ASRL/dev/ttyUSB0::INSTR``, ``ASRL3::INSTR``) opens a ``VISAAdapter``
  through pyvisa (a VISA backend such as pyvisa-py or NI-VISA must be installed);
- any other string is a pyserial port or URL (``/dev/ttyUSB0``, ``COM3``, ``socket://host:port``,
  ``ionrig-sim://lambda10-3``) opened with ``serial.serial_for_url`` and handed to
  ``SerialAdapter`` as a port object (its own constructor does not understand URLs).

Reads go one byte at a time against a deadline, so a silent, slow or babbling instrument always
ends in a typed :mod:`~ionrig.devices.drivers._errors` exception within the driver's timeout
and never hangs. Drivers are not thread-safe: the device layer serialises calls with one lock
per port (docs/reference/bluesky-api.md §4.5).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from typing import TypeAlias

import pyvisa
import pyvisa.constants
import pyvisa.errors
import serial
from pymeasure.adapters import Adapter, SerialAdapter, VISAAdapter
from pymeasure.instruments import Instrument

from ._errors import (
    InstrumentDisconnected,
    InstrumentError,
    InstrumentReplyError,
    InstrumentTimeout,
)
from ._pyserial_adapter import url_socket_of

__all__ = ["READ_POLL_S", "Port", "SerialInstrument", "is_visa_resource", "open_adapter"]

Port: TypeAlias = str | serial.SerialBase | Adapter

#: How long one low-level read waits before the driver re-checks its own deadline (real
#: seconds): :func:`open_adapter` gives every serial port it opens or wraps this read timeout
#: (a VISA resource gets it in milliseconds), so a read never blocks past a driver's
#: ``timeout_s`` by more than this.
READ_POLL_S = 0.02

_VISA_RESOURCE = re.compile(r"^(ASRL|GPIB|USB|TCPIP|VXI|PXI)[^:]*::", re.IGNORECASE)


def is_visa_resource(port: str) -> bool:
    """True for VISA resource names (``ASRL/dev/ttyUSB0::INSTR``), false for pyserial ports/URLs."""
    return bool(_VISA_RESOURCE.match(port)) or port.upper().endswith("::INSTR")


def open_adapter(
    port: Port,
    *,
    instrument: str,
    baud_rate: int,
    stop_bits: int = 1,
    visa_library: str = "",
) -> Adapter:
    """Return a pymeasure adapter for ``port`` (see the module docstring), 8 data bits, no parity.

    Raises :class:`InstrumentDisconnected` when the port cannot be opened.
    """
    if isinstance(port, Adapter):
        return port
    if isinstance(port, serial.SerialBase):
        port.timeout = READ_POLL_S
        return SerialAdapter(port)
    if not isinstance(port, str):
        raise TypeError(f"port must be a str, a serial.SerialBase or an Adapter, got {port!r}")
    if is_visa_resource(port):
        try:
            return VISAAdapter(
                port,
                visa_library=visa_library,
                asrl={
                    "baud_rate": baud_rate,
                    "data_bits": 8,
                    "parity": pyvisa.constants.Parity.none,
                    "stop_bits": (
                        pyvisa.constants.StopBits.two
                        if stop_bits == 2
                        else pyvisa.constants.StopBits.one
                    ),
                },
                timeout=int(READ_POLL_S * 1000) or 1,
                write_termination="",
                read_termination=None,
            )
        except (pyvisa.errors.Error, OSError, ValueError) as exc:
            raise InstrumentDisconnected(
                f"cannot open VISA resource {port!r}: {exc}", instrument=instrument
            ) from exc
    try:
        connection = serial.serial_for_url(
            port,
            baudrate=baud_rate,
            bytesize=serial.EIGHTBITS,
            parity=serial.PARITY_NONE,
            stopbits=serial.STOPBITS_TWO if stop_bits == 2 else serial.STOPBITS_ONE,
            timeout=READ_POLL_S,
            write_timeout=1.0,
        )
    except ValueError as exc:
        hint = (
            " (simulated instruments register their URL scheme when ionrig.simulators is imported)"
            if port.lower().startswith("ionrig-sim://")
            else ""
        )
        raise InstrumentDisconnected(
            f"cannot open port {port!r}: {exc}{hint}", instrument=instrument
        ) from exc
    except (serial.SerialException, OSError) as exc:
        raise InstrumentDisconnected(
            f"cannot open port {port!r}: {exc}", instrument=instrument
        ) from exc
    return SerialAdapter(connection)


def _close_connection(connection: object) -> None:
    """Close a pyserial (or VISA) connection without leaking its socket.

    pyserial's ``socket://`` ``close()`` skips ``socket.close()`` when ``shutdown()`` fails
    because the peer is gone, leaving the socket to the garbage collector; close it here too
    (closing twice is harmless).
    """
    leaked = url_socket_of(connection)
    connection.close()  # type: ignore[attr-defined]
    if leaked is not None and hasattr(leaked, "close"):
        leaked.close()


def _port_label(port: Port) -> str:
    if isinstance(port, str):
        return port
    if isinstance(port, serial.SerialBase) and port.port is not None:
        return str(port.port)
    return type(port).__name__


class SerialInstrument(Instrument):
    """Base of ionrig's serial drivers: port opening, deadline-bounded byte I/O, typed errors.

    Subclasses set ``model`` and build their protocol from the byte I/O steps
    (``purge_input`` / ``send_raw`` / ``read_until`` / ``read_exact``) and ``typed_error``. A
    transport failure marks the port for reopening; the next transaction closes and reopens it
    once (a USB-serial adapter that was unplugged and plugged back in works again without a new
    driver).
    """

    model = "instrument"

    def __init__(
        self,
        port: Port,
        *,
        baud_rate: int,
        timeout_s: float,
        stop_bits: int = 1,
        visa_library: str = "",
    ) -> None:
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
        self.timeout_s = float(timeout_s)
        self.port_label = _port_label(port)
        self._needs_reopen = False
        adapter = open_adapter(
            port,
            instrument=f"{self.model} at {self.port_label}",
            baud_rate=baud_rate,
            stop_bits=stop_bits,
            visa_library=visa_library,
        )
        super().__init__(adapter, f"{self.model} at {self.port_label}", includeSCPI=False)

    # -- errors ---------------------------------------------------------------------------------
    @property
    def instrument_label(self) -> str:
        """Model and port, as named in every exception."""
        return f"{self.model} at {self.port_label}"

    def typed_error(
        self, cls: type[InstrumentError], detail: str, **kwargs: object
    ) -> InstrumentError:
        """An exception of ``cls`` naming this instrument (for the driver to raise)."""
        return cls(detail, instrument=self.instrument_label, **kwargs)  # type: ignore[arg-type]

    def _io(self, action: Callable[[], bytes | None], command: str | bytes | None) -> bytes:
        """Run one adapter call, mapping serial/VISA failures to typed exceptions."""
        try:
            result = action()
        except InstrumentError:
            raise
        except serial.SerialTimeoutException as exc:
            raise self.typed_error(
                InstrumentTimeout, f"write timed out: {exc}", command=command
            ) from exc
        except pyvisa.errors.VisaIOError as exc:
            if exc.error_code == pyvisa.constants.StatusCode.error_timeout:
                return b""
            self._needs_reopen = True
            raise self.typed_error(
                InstrumentDisconnected, f"VISA I/O error: {exc}", command=command
            ) from exc
        except (serial.SerialException, OSError) as exc:
            self._needs_reopen = True
            raise self.typed_error(
                InstrumentDisconnected, f"port error: {exc}", command=command
            ) from exc
        return result if result is not None else b""

    def _reopen_if_needed(self, command: str | bytes | None) -> None:
        if not self._needs_reopen:
            return
        connection = getattr(self.adapter, "connection", None)
        if connection is None or not hasattr(connection, "open"):
            return

        def reopen() -> None:
            _close_connection(connection)
            connection.open()

        self._io(reopen, command)  # type: ignore[arg-type]
        self._needs_reopen = False

    # -- byte I/O -------------------------------------------------------------------------------
    def purge_input(self, command: str | bytes | None = None) -> None:
        """Drop stale input before a command (10-B manual advice, docs/reference/instruments.md
        §1.1)."""
        self._reopen_if_needed(command)
        self._io(lambda: self.adapter.flush_read_buffer(), command)  # type: ignore[func-returns-value]

    def send_raw(self, data: bytes, command: str | bytes | None = None) -> None:
        """Write ``data`` as it is (``command``, default ``data``, names it in errors)."""
        self._io(lambda: self.write_bytes(data), command if command is not None else data)  # type: ignore[func-returns-value]

    def read_until(
        self,
        done: Callable[[bytes], bool],
        *,
        timeout_s: float,
        command: str | bytes | None,
        max_bytes: int = 256,
    ) -> bytes:
        """Read byte by byte until ``done(buffer)`` is true; never longer than ``timeout_s``.

        Raises :class:`InstrumentTimeout` when nothing arrived, :class:`InstrumentReplyError`
        when the reply stopped part-way or grew past ``max_bytes`` (garbage).
        """
        deadline = time.monotonic() + timeout_s
        buffer = bytearray()
        while True:
            chunk = self._io(lambda: self.read_bytes(1), command)
            if chunk:
                buffer += chunk
                if done(bytes(buffer)):
                    return bytes(buffer)
                if len(buffer) > max_bytes:
                    raise self.typed_error(
                        InstrumentReplyError,
                        f"reply longer than {max_bytes} bytes without a valid end (garbage)",
                        command=command,
                        reply=bytes(buffer),
                    )
                continue
            if time.monotonic() >= deadline:
                if buffer:
                    raise self.typed_error(
                        InstrumentReplyError,
                        f"partial reply: no valid end within {timeout_s:g} s",
                        command=command,
                        reply=bytes(buffer),
                    )
                raise self.typed_error(
                    InstrumentTimeout, f"no reply within {timeout_s:g} s", command=command
                )

    def read_exact(
        self, count: int, *, timeout_s: float, command: str | bytes | None, so_far: bytes = b""
    ) -> bytes:
        """Read exactly ``count`` more bytes (``so_far`` is only used in error messages)."""
        try:
            return self.read_until(
                lambda buf: len(buf) >= count, timeout_s=timeout_s, command=command
            )
        except InstrumentTimeout as exc:
            if not so_far:
                raise
            raise self.typed_error(
                InstrumentReplyError,
                f"partial reply: no valid end within {timeout_s:g} s",
                command=command,
                reply=so_far,
            ) from exc
        except InstrumentReplyError as exc:
            raise self.typed_error(
                InstrumentReplyError, exc.detail, command=command, reply=so_far + (exc.reply or b"")
            ) from exc

    def close(self) -> None:
        """Close the port."""
        connection = getattr(self.adapter, "connection", None)
        with contextlib.suppress(serial.SerialException, OSError, pyvisa.errors.Error):
            if isinstance(connection, serial.SerialBase):
                _close_connection(connection)
            else:
                self.adapter.close()

    def __enter__(self) -> SerialInstrument:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

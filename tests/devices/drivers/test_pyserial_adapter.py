"""The pyserial internal ionrig's drivers rely on (``ionrig.devices.drivers._pyserial_adapter``).

The version check fails on any other pyserial version: re-check the adapter against it, then
move ``PYSERIAL_CHECKED_VERSION``.
"""

from __future__ import annotations

import socket

import serial
from serial.urlhandler import protocol_socket

from ionrig.devices.drivers._pyserial_adapter import PYSERIAL_CHECKED_VERSION, url_socket_of


def test_the_installed_pyserial_is_the_checked_version():
    assert serial.__version__ == PYSERIAL_CHECKED_VERSION == "3.5", (
        f"pyserial {serial.__version__}: re-check ionrig.devices.drivers._pyserial_adapter"
    )


def test_a_socket_url_connection_keeps_its_socket_in_a_private_attribute():
    with socket.create_server(("127.0.0.1", 0)) as server:
        host, port = server.getsockname()
        connection = serial.serial_for_url(f"socket://{host}:{port}", timeout=1)
        try:
            assert isinstance(connection, protocol_socket.Serial)
            assert isinstance(vars(connection)["_socket"], socket.socket)
        finally:
            connection.close()


def test_url_socket_of_gives_the_socket_of_a_socket_url_and_none_otherwise():
    with socket.create_server(("127.0.0.1", 0)) as server:
        host, port = server.getsockname()
        connection = serial.serial_for_url(f"socket://{host}:{port}", timeout=1)
        try:
            peer, _ = server.accept()
            leaked = url_socket_of(connection)
            assert isinstance(leaked, socket.socket)
            assert leaked.getpeername() == peer.getsockname()
            peer.close()
        finally:
            connection.close()
    loop = serial.serial_for_url("loop://", timeout=1)
    assert url_socket_of(loop) is None
    loop.close()

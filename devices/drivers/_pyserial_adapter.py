"""The one place ionrig's drivers rely on pyserial internals (checked with pyserial 3.5).

Each function names the private attribute it reads and why; ``tests/devices/drivers/
test_pyserial_adapter.py`` checks the installed pyserial still has it.
"""

from __future__ import annotations

__all__ = ["PYSERIAL_CHECKED_VERSION", "url_socket_of"]

#: The pyserial version these internals were checked against.
PYSERIAL_CHECKED_VERSION = "3.5"


def url_socket_of(connection: object) -> object | None:
    """The socket of a pyserial ``socket://`` connection (``None`` for any other port).

    Relies on ``serial.urlhandler.protocol_socket.Serial._socket`` (private, pyserial 3.5):
    that ``close()`` skips ``socket.close()`` when ``shutdown()`` fails because the peer is
    gone, so the caller closes the socket itself rather than leave it to the garbage collector.
    """
    return getattr(connection, "_socket", None)

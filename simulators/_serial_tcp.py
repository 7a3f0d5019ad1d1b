"""Serve a simulated serial instrument on a loopback TCP socket (for ``ionrig simulate --tcp``).

``serve_tcp(instrument, port)`` starts a background server; any pyserial client reaches the
instrument through ``socket://127.0.0.1:PORT`` with the same bytes as a serial line. The server
is bounded (``max_clients`` connections at once, like a serial port: 1 by default; extra clients
are closed at once), loopback-only, and stoppable (:meth:`TcpServer.stop`, or use it as a context
manager). While the instrument is disconnected (a ``DISCONNECT`` fault) the client connection is
dropped and new connections are refused by closing them.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import threading

from ._serial_instrument import SimulatedSerialInstrument

__all__ = ["TcpServer", "serve_tcp"]

_POLL_S = 0.02  # longest wait between checks of the stop flag and of due replies (real s)


class TcpServer:
    """A running TCP server for one simulated instrument (see :func:`serve_tcp`)."""

    def __init__(
        self, instrument: SimulatedSerialInstrument, port: int, host: str, max_clients: int
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"serve_tcp only listens on loopback addresses, got {host!r}")
        if max_clients < 1:
            raise ValueError(f"max_clients must be >= 1, got {max_clients!r}")
        self.instrument = instrument
        self.max_clients = max_clients
        self._stop = threading.Event()
        self._clients: dict[threading.Thread, socket.socket] = {}
        self._lock = threading.Lock()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._server = socket.socket(family, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._server.bind((host, port))
            self._server.listen(max_clients)
        except OSError:
            self._server.close()
            raise
        self._server.settimeout(_POLL_S)
        self.host = host
        self.port: int = self._server.getsockname()[1]
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"serve_tcp:{self.port}", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """pyserial URL of this server, e.g. ``socket://127.0.0.1:5555``."""
        return f"socket://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def n_clients(self) -> int:
        with self._lock:
            return len(self._clients)

    def _accept_loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    conn, _ = self._server.accept()
                except TimeoutError:
                    continue
                except OSError:
                    break
                with self._lock:
                    full = len(self._clients) >= self.max_clients
                if full or not self.instrument.connected:
                    conn.close()
                    continue
                thread = threading.Thread(
                    target=self._serve_client,
                    args=(conn,),
                    daemon=True,
                    name=f"serve_tcp:{self.port}:client",
                )
                with self._lock:
                    self._clients[thread] = conn
                thread.start()
        finally:
            self._server.close()

    def _serve_client(self, conn: socket.socket) -> None:
        instrument = self.instrument
        try:
            while not self._stop.is_set():
                if not instrument.connected:
                    break
                due = instrument.seconds_until_readable()
                wait = _POLL_S if due is None else min(due, _POLL_S)
                readable, _, _ = select.select([conn], [], [], wait)
                if readable:
                    data = conn.recv(4096)
                    if not data:
                        break
                    instrument.write(data)
                out = instrument.read(4096)
                if out:
                    conn.sendall(out)
        except (OSError, ConnectionError):
            pass
        finally:
            conn.close()
            with self._lock:
                self._clients.pop(threading.current_thread(), None)

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop accepting, drop the clients and join the threads (at most ``timeout_s`` each)."""
        self._stop.set()
        self._thread.join(timeout_s)
        with self._lock:
            clients = list(self._clients)
        for thread in clients:
            thread.join(timeout_s)

    def __enter__(self) -> TcpServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_tcp(
    instrument: SimulatedSerialInstrument,
    port: int,
    host: str = "127.0.0.1",
    *,
    max_clients: int = 1,
) -> TcpServer:
    """Serve ``instrument`` on ``host:port`` (loopback only; port 0 picks a free port).

    Returns the running :class:`TcpServer`; call ``stop()`` or use it in a ``with`` block.
    """
    return TcpServer(instrument, port, host, max_clients)

"""Live documents to other processes over 0MQ, with bluesky's own ``bluesky.callbacks.zmq``.

Three parts, each its own process (a second terminal can watch a running night)::

    RunEngine ─Publisher─▶ proxy (in 5577 → out 5578) ─▶ RemoteDispatcher(s): ionrig live print

- :func:`publish_documents` subscribes a bluesky ``Publisher`` to a RunEngine (it connects to
  the proxy's input port); :func:`stop_publishing` unsubscribes it and closes its socket.
- :func:`run_proxy` runs bluesky's ``Proxy`` (``ionrig live proxy``), bound to loopback only:
  documents travel pickled and a receiver unpickles whatever the proxy forwards, so the proxy
  must not accept publishers from the network. Reach it from another machine through an SSH
  tunnel.
- :func:`print_documents` runs a ``RemoteDispatcher`` with a :class:`LivePrinter`
  (``ionrig live print``): one line per event with the run's plan name, stream and scalar values,
  and one line per start, descriptor and stop.

0MQ PUB/SUB drops what is published before a subscriber's connection is up (the "slow
joiner"): start the proxy and the printer before the run you want to watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from event_model import DocumentRouter

__all__ = [
    "DEFAULT_IN_PORT",
    "DEFAULT_OUT_PORT",
    "LivePrinter",
    "print_documents",
    "publish_documents",
    "run_proxy",
    "stop_publishing",
]

DEFAULT_IN_PORT = 5577  # publishers → proxy
DEFAULT_OUT_PORT = 5578  # proxy → receivers
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")

#: RunEngine → {token: Publisher}, so that stop_publishing can close what it unsubscribes.
_publishers: weakref.WeakKeyDictionary[Any, dict[int, Any]] = weakref.WeakKeyDictionary()


def _check_address(address: str, what: str) -> str:
    host, sep, port = str(address).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{what} must be 'host:port' (port 1-65535), got {address!r}")
    return f"{host}:{int(port)}"


def _check_port(port: int, what: str) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"{what} must be a TCP port in 1..65535, got {port!r}")
    return port


def publish_documents(RE, address: str = f"localhost:{DEFAULT_IN_PORT}") -> int:
    """Publish every document of ``RE`` to the 0MQ proxy whose input is ``address``
    (``host:port``); returns the subscription token (give it to :func:`stop_publishing`)."""
    from bluesky.callbacks.zmq import Publisher

    publisher = Publisher(_check_address(address, "address"))
    token = RE.subscribe(publisher)
    _publishers.setdefault(RE, {})[token] = publisher
    return token


def stop_publishing(RE, token: int) -> None:
    """Unsubscribe the publisher ``token`` of :func:`publish_documents` and close its socket."""
    publisher = _publishers.get(RE, {}).pop(token, None)
    if publisher is None:
        raise ValueError(f"token {token!r} is not a publisher of this RunEngine")
    RE.unsubscribe(token)
    publisher.close()


def run_proxy(
    in_port: int = DEFAULT_IN_PORT,
    out_port: int = DEFAULT_OUT_PORT,
    *,
    host: str = "127.0.0.1",
    stop: threading.Event | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Forward documents from publishers on ``host:in_port`` to receivers on ``host:out_port``
    (bluesky's ``Proxy``) until ``stop`` is set or, in the main thread, SIGINT/SIGTERM arrives.
    ``host`` must be a loopback address; ``on_ready()`` is called once both ports are bound.

    bluesky's proxy blocks in libzmq, where a signal does not reliably reach Python, so it runs
    in a daemon thread and this function waits for the stop; its thread ends with the process.
    """
    import zmq
    from bluesky.callbacks.zmq import Proxy

    in_port = _check_port(in_port, "in_port")
    out_port = _check_port(out_port, "out_port")
    if in_port == out_port:
        raise ValueError(f"in_port and out_port must differ, both are {in_port}")
    if host not in LOOPBACK_HOSTS:
        raise ValueError(
            f"host must be a loopback address ({', '.join(LOOPBACK_HOSTS)}), got {host!r}: "
            "documents travel pickled, so the proxy accepts local publishers only; watch from "
            "another machine through an SSH tunnel (ssh -L 5578:localhost:5578 rig-pc)"
        )
    try:
        proxy = Proxy(f"127.0.0.1:{in_port}", f"127.0.0.1:{out_port}")
    except zmq.ZMQError as error:
        raise RuntimeError(
            f"cannot bind ports {in_port} and {out_port} on {host}: {error}"
        ) from None
    stop = stop or threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    failure: list[BaseException] = []

    def forward() -> None:
        try:
            proxy.start()
        except BaseException as error:  # reported by the waiting thread
            failure.append(error)

    thread = threading.Thread(target=forward, name="ionrig 0MQ proxy", daemon=True)
    thread.start()
    if on_ready is not None:
        on_ready()
    try:
        while not stop.wait(0.2):
            if not thread.is_alive():
                reason = failure[0] if failure else "no error"
                raise RuntimeError(f"the 0MQ proxy stopped: {reason}")
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _format_value(value: Any) -> str | None:
    """A scalar as text; ``None`` for arrays, lists and mappings (not printed)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        return value if len(value) <= 40 else value[:37] + "..."
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "ndim", 1) == 0:
        return _format_value(item())
    return None


class LivePrinter(DocumentRouter):
    """A document callback printing one line per start, descriptor, event and stop::

        4f1c2a9e start ratiometric_timecourse (rig sim) uid 4f1c2a9e-...
        4f1c2a9e ratiometric_timecourse stream ratio: t_s, ratio_cell1, ...
        4f1c2a9e ratiometric_timecourse ratio #1: t_s=12.5 ratio_cell1=1.21 ...
        4f1c2a9e stop ratiometric_timecourse success (primary 2, ratio 1 events)

    Event lines carry the scalar values only (frames and sweeps travel by reference).
    """

    def __init__(self, file: TextIO | None = None) -> None:
        super().__init__()
        self._file = file
        self._plans: dict[str, str] = {}  # run uid → plan name
        self._streams: dict[str, tuple[str, str]] = {}  # descriptor uid → (run uid, stream)

    def _print(self, line: str) -> None:
        print(line, file=self._file or sys.stdout, flush=True)

    def start(self, doc: Mapping[str, Any]) -> None:
        uid = doc["uid"]
        plan = str(doc.get("plan_name", "?"))
        self._plans[uid] = plan
        self._print(f"{uid[:8]} start {plan} (rig {doc.get('rig', '?')}) uid {uid}")

    def descriptor(self, doc: Mapping[str, Any]) -> None:
        run = doc["run_start"]
        stream = str(doc.get("name", "?"))
        self._streams[doc["uid"]] = (run, stream)
        keys = ", ".join(doc.get("data_keys", {}))
        self._print(f"{run[:8]} {self._plans.get(run, '?')} stream {stream}: {keys}")

    def event(self, doc: Mapping[str, Any]) -> None:
        run, stream = self._streams.get(doc["descriptor"], ("?" * 8, "?"))
        values = []
        for key, value in doc.get("data", {}).items():
            text = _format_value(value)
            if text is not None:
                values.append(f"{key}={text}")
        self._print(
            f"{run[:8]} {self._plans.get(run, '?')} {stream} #{doc.get('seq_num', '?')}: "
            + " ".join(values)
        )

    def stop(self, doc: Mapping[str, Any]) -> None:
        run = doc["run_start"]
        plan = self._plans.pop(run, "?")
        for descriptor in [d for d, (r, _) in self._streams.items() if r == run]:
            del self._streams[descriptor]
        counts = ", ".join(f"{k} {v}" for k, v in (doc.get("num_events") or {}).items())
        reason = f": {doc['reason']}" if doc.get("reason") else ""
        self._print(
            f"{run[:8]} stop {plan} {doc.get('exit_status', '?')}{reason} ({counts} events)"
        )


def print_documents(
    address: str = f"localhost:{DEFAULT_OUT_PORT}", *, file: TextIO | None = None
) -> None:
    """Receive documents from the proxy output ``address`` and print them with a
    :class:`LivePrinter` until SIGINT/SIGTERM (blocking)."""
    from bluesky.callbacks.zmq import RemoteDispatcher

    dispatcher = RemoteDispatcher(_check_address(address, "address"))
    dispatcher.subscribe(LivePrinter(file))
    loop = dispatcher.loop

    def cancel() -> None:  # in the dispatcher's loop: its receiving task ends cleanly
        for task in asyncio.all_tasks(loop):
            task.cancel()

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, cancel)
    print(f"listening on {address} (Ctrl-C stops)", file=file or sys.stdout, flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        dispatcher.start()

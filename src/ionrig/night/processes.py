"""The queue server's background processes: a Redis server (``redis-server``, else an
in-memory ``fakeredis`` one), ``ionrig catalog serve``, and the RE Manager; started on loopback
in their own session (a Ctrl-C at the terminal does not end the night), watched and stopped by
process id.

``python -m ionrig.night.processes fakeredis --port N`` is the fakeredis server.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ionrig.data.catalog import DataLocation, running_server
from ionrig.night.queue_settings import REDIS_ENV, QueueError

__all__ = [
    "alive",
    "free_port",
    "spawn",
    "start_catalog_server",
    "start_redis",
    "stop_pid",
    "wait_for",
]


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: The background processes this process started, kept so that they are reaped (not zombies,
#: and no "still running" warning when a Popen object is collected).
_children: dict[int, subprocess.Popen] = {}


def alive(pid: int | None) -> bool:
    """True while process ``pid`` runs (a zombie child of this process counts as ended)."""
    if pid is None:
        return False
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a zombie child of this process counts as ended
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return waited == 0


def _redis_ping(addr: str, timeout_s: float = 1.0) -> bool:
    import redis

    host, _, port = addr.partition(":")
    try:
        client = redis.Redis(host=host, port=int(port or 6379), socket_timeout=timeout_s)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``check`` every 0.1 s until it is true; :class:`QueueError` naming ``what`` after
    ``timeout_s`` real seconds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise QueueError(f"{what} did not come up within {timeout_s:g} s")


def spawn(args: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None) -> int:
    """Start ``args`` in the background in a session of its own, output appended to
    ``log_path``; returns its pid."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,  # a Ctrl-C at the terminal does not end the night
        )
    _children[process.pid] = process
    return process.pid


def start_redis(redis: str | None, qdir: Path, timeout_s: float) -> tuple[str, str, int | None]:
    """The queue's Redis server: ``redis`` or ``$IONRIG_REDIS`` if named, else a
    ``redis-server`` or fakeredis one started here. Returns (address, kind, pid of a server
    started here)."""
    addr = redis or os.environ.get(REDIS_ENV)
    if addr:
        if not _redis_ping(addr):
            raise QueueError(f"no Redis server answers at {addr} (from --redis or ${REDIS_ENV})")
        return addr, "external", None
    port = free_port()
    addr = f"127.0.0.1:{port}"
    server = shutil.which("redis-server")
    if server:
        redis_dir = qdir / "redis"
        redis_dir.mkdir(exist_ok=True)
        pid = spawn(
            [
                server,
                "--bind", "127.0.0.1",
                "--port", str(port),
                "--dir", str(redis_dir),
                "--appendonly", "yes",
                "--save", "",
                "--protected-mode", "yes",
            ],
            qdir / "redis.log",
        )  # fmt: skip
        kind = "redis-server"
    else:
        pid = spawn(
            [
                *(sys.executable, "-P", "-m", "ionrig.night.processes"),
                *("fakeredis", "--port", str(port)),
            ],
            qdir / "redis.log",
        )
        kind = "fakeredis"
    wait_for(lambda: _redis_ping(addr), timeout_s, f"the {kind} server on {addr}")
    return addr, kind, pid


def start_catalog_server(data_dir: Path, qdir: Path, timeout_s: float) -> int | None:
    """Start ``ionrig catalog serve`` for ``data_dir`` and wait until it answers; ``None`` when
    one already serves it."""
    location = DataLocation.at(data_dir)
    if running_server(location) is not None:
        return None
    port = free_port()
    pid = spawn(
        [
            sys.executable, "-P", "-m", "ionrig.cli", "--data", str(location.root),
            "catalog", "serve", "--port", str(port),
        ],
        qdir / "catalog.log",
    )  # fmt: skip

    def up() -> bool:
        if not alive(pid):
            raise QueueError(f"ionrig catalog serve ended; see {qdir / 'catalog.log'}")
        if running_server(location) is None:
            return False
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    wait_for(up, timeout_s, "the catalog server")
    return pid


def stop_pid(pid: int | None, sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> None:
    """Send ``sig`` to ``pid`` (if alive); SIGKILL if it still runs after ``timeout_s`` s."""
    if not alive(pid):
        return
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive(pid):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


# -- fakeredis, when no Redis server is installed ------------------------------------------------
def _serve_fakeredis(port: int) -> None:
    import threading

    from fakeredis import TcpFakeServer

    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(f"fakeredis (in memory) on 127.0.0.1:{port}", flush=True)
    stop.wait()
    server.shutdown()
    server.server_close()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ionrig.night.processes fakeredis --port N``: a fakeredis TCP server on
    loopback."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m ionrig.night.processes")
    sub = parser.add_subparsers(dest="command", required=True)
    fake = sub.add_parser("fakeredis", help="an in-memory Redis (fakeredis) on loopback")
    fake.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    _serve_fakeredis(args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())

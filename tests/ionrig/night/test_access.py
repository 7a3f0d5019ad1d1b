"""Access (docs/reliability.md): the servers ionrig starts (the catalog's Tiled server, the
queue's Redis, RE Manager and catalog server, the live-document proxy) listen on loopback only,
unless an API key and an explicit address are given. Checked on the listening sockets of the
processes (psutil), not on their configuration."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import psutil
import pytest

from ionrig.cli import main
from ionrig.data.catalog import serve_catalog

LOOPBACK = {"127.0.0.1", "::1"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every listening TCP socket of ``pid`` and its descendants."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return set()
    found = set()
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            for conn in process.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    found.add((conn.laddr.ip, conn.laddr.port))
    return found


def _wait_listening(process: subprocess.Popen, port: int, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server ended: {process.communicate()[1]}")
        sockets = _listening(process.pid)
        if any(p == port for _, p in sockets):
            return sockets
        time.sleep(0.1)
    raise AssertionError(f"nothing listened on port {port} within {timeout_s:g} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def _status(url: str, api_key: str | None = None) -> int:
    request = urllib.request.Request(url)
    if api_key is not None:
        request.add_header("Authorization", f"Apikey {api_key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _ionrig(data_dir, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ionrig.cli", "--data", str(data_dir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_catalog_server_listens_on_loopback_and_wants_its_key(data_dir):
    port = _free_port()
    server = _ionrig(data_dir, "catalog", "serve", "--port", str(port))
    try:
        sockets = _wait_listening(server, port)
        assert sockets and {ip for ip, _ in sockets} <= LOOPBACK, sockets
        serve_file = data_dir / "catalog" / "serve.json"
        assert serve_file.stat().st_mode & 0o077 == 0  # the key is for this user only
        key = json.loads(serve_file.read_text())["api_key"]
        url = f"http://127.0.0.1:{port}/api/v1/metadata/"
        assert _status(url) == 401  # even on loopback, other local users need the key
        assert _status(url, "not-the-key") == 401
        assert _status(url, key) == 200
    finally:
        _stop(server)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "rig-pc.lab.example"])
def test_the_catalog_server_refuses_another_address_without_an_api_key(tmp_path, host):
    with pytest.raises(ValueError, match="give an api_key too"):
        serve_catalog(tmp_path, host=host, port=_free_port())
    assert not (tmp_path / "catalog" / "serve.json").exists()


@pytest.mark.parametrize("key", ["k-with-dashes", "ключ123", "key with spaces"])
def test_a_key_tiled_would_refuse_at_startup_is_refused_at_once(tmp_path, key):
    with pytest.raises(ValueError, match="letters and digits only"):
        serve_catalog(tmp_path, host="0.0.0.0", port=_free_port(), api_key=key)


def test_the_command_line_refuses_too_and_nothing_listens(tmp_path, capsys):
    port = _free_port()
    argv = ["--data", str(tmp_path), "catalog", "serve", "--host", "0.0.0.0", "--port", str(port)]
    assert main(argv) == 2
    assert "give an api_key too" in capsys.readouterr().err
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_an_explicit_address_with_an_api_key_is_served_to_key_holders_only(data_dir):
    port = _free_port()
    key = secrets.token_hex(32)
    server = _ionrig(
        data_dir, "catalog", "serve", "--host", "0.0.0.0", "--port", str(port), "--api-key", key
    )
    try:
        sockets = _wait_listening(server, port)
        assert ("0.0.0.0", port) in sockets  # what was asked for, explicitly
        url = f"http://127.0.0.1:{port}/api/v1/metadata/"
        assert _status(url) == 401 and _status(url, key) == 200
    finally:
        _stop(server)


def test_the_live_document_proxy_listens_on_loopback_only(tmp_path, capsys):
    in_port, out_port = _free_port(), _free_port()
    proxy = _ionrig(
        tmp_path, "live", "proxy", "--in-port", str(in_port), "--out-port", str(out_port)
    )
    try:
        sockets = _wait_listening(proxy, out_port)
        assert {p for _, p in sockets} >= {in_port, out_port}
        assert {ip for ip, _ in sockets} <= LOOPBACK, sockets
    finally:
        _stop(proxy)

    assert main(["live", "proxy", "--host", "0.0.0.0", "--in-port", str(_free_port())]) == 2
    assert "must be a loopback address" in capsys.readouterr().err


@pytest.mark.slow
def test_the_queue_servers_listen_on_loopback_only(tmp_path, monkeypatch):
    """Redis (started by ionrig: the one of $IONRIG_REDIS is not ionrig's), the catalog server
    and the RE Manager with its worker, environment open."""
    from ionrig.night.queue_server import read_manager_info, start_queue, stop_queue
    from ionrig.night.queue_settings import QueueSettings
    from ionrig.night.watchdogs import WatchdogConfig

    monkeypatch.delenv("IONRIG_REDIS", raising=False)
    settings = QueueSettings(
        rig="sim", watchdogs=WatchdogConfig(disk_min_free_GB=0.01, disk_resume_free_GB=0.02)
    )
    info = start_queue(settings, data_dir=tmp_path, timeout_s=90)
    try:
        sockets = {
            name: _listening(pid)
            for name, pid in (
                ("manager", info.manager_pid),
                ("redis", info.redis_pid),
                ("catalog", info.catalog_pid),
            )
        }
        for name, found in sockets.items():
            assert found, f"{name} listens nowhere"
            assert {ip for ip, _ in found} <= LOOPBACK, (name, found)
        # the manager's control socket (its info socket is bound only to publish the console)
        assert int(info.control_addr.rsplit(":", 1)[1]) in {p for _, p in sockets["manager"]}
        assert int(info.redis_addr.rsplit(":", 1)[1]) in {p for _, p in sockets["redis"]}
    finally:
        try:
            stop_queue(tmp_path, timeout_s=60)
        except Exception:
            recorded = read_manager_info(tmp_path) or info
            for pid in (recorded.manager_pid, recorded.catalog_pid, recorded.redis_pid):
                if pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)
            raise

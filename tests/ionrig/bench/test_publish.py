"""Live documents over 0MQ: the printer's lines, and a run watched from another process through
bluesky's proxy (``ionrig live proxy`` / ``ionrig live print``)."""

import io
import queue
import signal
import socket
import subprocess
import sys
import threading
import time

import bluesky.plans as bp
import event_model
import pytest

from ionrig.bench.publish import (
    LivePrinter,
    publish_documents,
    run_proxy,
    stop_publishing,
)
from ionrig.plans import ratiometric_timecourse


def test_printer_writes_one_line_per_start_descriptor_event_and_stop():
    out = io.StringIO()
    printer = LivePrinter(out)
    run = event_model.compose_run(metadata={"plan_name": "trpm7_ramps", "rig": "sim"})
    printer("start", run.start_doc)
    keys = {
        "t_s": {"dtype": "number", "shape": [], "source": "clock", "units": "s"},
        "i_plus80_pA": {"dtype": "number", "shape": [], "source": "soft", "units": "pA"},
        "trace": {"dtype": "array", "shape": [3], "source": "soft", "units": "pA"},
        "mode": {"dtype": "string", "shape": [], "source": "soft"},
    }
    stream = run.compose_descriptor(name="trpm7", data_keys=keys)
    printer("descriptor", stream.descriptor_doc)
    data = {"t_s": 12.5, "i_plus80_pA": 31.25, "trace": [1.0, 2.0, 3.0], "mode": "V-Clamp"}
    printer("event", stream.compose_event(data=data, timestamps=dict.fromkeys(data, 0.0)))
    page = stream.compose_event_page(
        data={k: [v] for k, v in data.items()}, timestamps={k: [0.0] for k in data}, seq_num=[2]
    )
    printer("event_page", page)  # pages are printed event by event
    printer("stop", run.compose_stop())
    uid = run.start_doc["uid"]
    lines = out.getvalue().splitlines()
    assert lines == [
        f"{uid[:8]} start trpm7_ramps (rig sim) uid {uid}",
        f"{uid[:8]} trpm7_ramps stream trpm7: t_s, i_plus80_pA, trace, mode",
        f"{uid[:8]} trpm7_ramps trpm7 #1: t_s=12.5 i_plus80_pA=31.25 mode=V-Clamp",
        f"{uid[:8]} trpm7_ramps trpm7 #2: t_s=12.5 i_plus80_pA=31.25 mode=V-Clamp",
        f"{uid[:8]} stop trpm7_ramps success (trpm7 2 events)",
    ]


def test_bad_addresses_and_tokens_are_refused(RE):
    with pytest.raises(ValueError, match="loopback"):
        run_proxy(5577, 5578, host="0.0.0.0")
    with pytest.raises(ValueError, match="in_port and out_port must differ"):
        run_proxy(5577, 5577)
    with pytest.raises(ValueError, match=r"in_port must be a TCP port in 1\.\.65535"):
        run_proxy(0, 5578)
    with pytest.raises(ValueError, match="address must be 'host:port'"):
        publish_documents(RE, "localhost")
    token = publish_documents(RE, "127.0.0.1:5599")  # connecting needs no proxy yet
    stop_publishing(RE, token)
    with pytest.raises(ValueError, match="not a publisher of this RunEngine"):
        stop_publishing(RE, token)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Lines:
    """The lines of a subprocess's stdout, read by a thread, awaited with a timeout."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout_s: float) -> str | None:
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            self.seen.append(line)
            if text in line:
                return line
        return None


def _cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ionrig.cli", "live", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_run_is_watched_from_another_process_through_the_proxy(session):
    in_port, out_port = _free_port(), _free_port()
    processes = []
    token = None
    try:
        proxy = _cli("proxy", "--in-port", str(in_port), "--out-port", str(out_port))
        processes.append(proxy)
        assert _Lines(proxy).wait_for("forwarding documents", 60), proxy.stderr
        printer = _cli("print", "--address", f"127.0.0.1:{out_port}")
        processes.append(printer)
        lines = _Lines(printer)
        assert lines.wait_for("listening on", 60)
        token = publish_documents(session.RE, f"127.0.0.1:{in_port}")
        # 0MQ drops what is published before both hops are connected: ping until one arrives
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            (ping,) = session.RE(bp.count([session.rig.t_s])).run_start_uids
            if lines.wait_for(f"{ping[:8]} stop count", 2.0):
                break
        else:
            pytest.fail("no document reached the printer within 60 s")

        (uid,) = session.RE(ratiometric_timecourse(session.rig, 2)).run_start_uids
        assert lines.wait_for(f"{uid[:8]} stop ratiometric_timecourse", 30), lines.seen
    finally:
        if token is not None:
            stop_publishing(session.RE, token)
        for process in processes:
            process.send_signal(signal.SIGTERM)
        codes = []
        for process in processes:
            try:
                codes.append(process.wait(timeout=20))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append(process.wait())
            process.stdout.close()
            process.stderr.close()
    assert codes == [0, 0]  # both stop cleanly on SIGTERM

    run_lines = [line for line in lines.seen if line.startswith(uid[:8])]
    assert run_lines[0] == f"{uid[:8]} start ratiometric_timecourse (rig sim) uid {uid}"
    descriptors = [line for line in run_lines if " stream " in line]
    assert [line.split(" stream ")[1].split(":")[0] for line in descriptors] == ["primary", "ratio"]
    events = [line for line in run_lines if " #" in line]
    assert sum(" primary #" in line for line in events) == 4  # 2 pairs × 340, 380
    ratio_events = [line for line in events if " ratio #" in line]
    assert len(ratio_events) == 2 and all("ratio_cell1=" in line for line in ratio_events)
    assert all("t_s=" in line for line in events)
    assert run_lines[-1] == (
        f"{uid[:8]} stop ratiometric_timecourse success (primary 4, ratio 2 events)"
    )

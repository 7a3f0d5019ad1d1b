"""The fault matrix (docs/reliability.md): each simulated instrument's faults, injected while a
plan runs on the accelerated clock, through the real drivers and the rig's retrying ports.

Transient faults (one bad reply, a cable out for a moment) are retried with backoff and logged;
the run completes with all its data. Persistent faults (more bad replies than the retries, a
cable that stays out) fail the run cleanly: the stop document gives the reason, every frame and
sweep acquired before reads back, and the rig is made safe. A camera frame timeout suspends a
watched run until frames come again. Plans run as ``ionrig.night.queue.queue_item`` runs them at
night; each run is checked from its journal and HDF5 files (``ionrig.data.documents.audit_run``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest
from bluesky.run_engine import call_in_bluesky_event_loop

from ionrig import plans
from ionrig.data.catalog import DataLocation
from ionrig.data.documents import RunAudit, audit_run
from ionrig.night.queue import Night, QueueSettings, queue_item
from ionrig.night.watchdogs import Watchdog, WatchdogConfig
from ionrig.rig.build import RETRY, load_rig
from ionrig.session import Session, make_run_engine, use_clock
from ionrig.simulators import CameraFault, Fault, FaultKind

TIME_SCALE = 100.0
TIMEOUT_S = 0.1  # real seconds: the serial drivers' and the simulated DAQ's reply timeout
LATE_S = 100.0  # clock seconds (1 s real): a reply slower than the timeout
#: clock seconds (0.5 s real): out from the injection until after the second retry, whenever
#: the plan's next command comes in that time (retries 0.1, 0.3 and 0.7 s after it)
BLIP_S = 50.0
GONE_S = 1e6  # clock seconds: a cable that stays out
PERSISTENT = RETRY.attempts  # bad replies in a row: one per attempt, outlasting the retries

SERIAL_KINDS = ("no_reply", "garbage", "partial", "disconnect", "error_reply", "slow_reply")
WATCHED = WatchdogConfig(
    temperature_band_C=None,
    reservoir_floor_mL=None,
    camera_timeouts=True,
    disk_min_free_GB=None,
    poll_s=0.005,
)


class InjectAfter:
    """Document callback: runs ``action`` once the ``after``-th event of ``stream`` is out."""

    def __init__(self, stream: str, after: int, action) -> None:
        self.stream, self.after, self.action = stream, after, action
        self.streams: dict[str, str] = {}
        self.count = 0
        self.fired = False
        self.run_uid: str | None = None

    def __call__(self, name: str, doc: dict) -> None:
        if name == "start" and self.run_uid is None:
            self.run_uid = doc["uid"]
        elif name == "descriptor":
            self.streams[doc["uid"]] = doc["name"]
        elif name == "event" and self.streams.get(doc["descriptor"]) == self.stream:
            self.count += 1
            if self.count == self.after and not self.fired:
                self.fired = True
                self.action()


@dataclass
class Bench:
    """A simulated rig and a journaling RunEngine (no catalog: fast), with the queue's night."""

    RE: Any
    rig: Any
    location: DataLocation
    watchdog: Watchdog
    night: Night

    def run(self, name: str, plan, *, inject, stream: str, after: int, units=None, watched=True):
        """Run ``plan`` (as a queue item when ``watched``), arming a fault with ``inject()``
        after the ``after``-th event of ``stream``. Returns (audit of the run, error)."""
        trigger = InjectAfter(stream, after, inject)
        token = self.RE.subscribe(trigger)
        error = None
        try:
            body = queue_item(name, plan, units=units, night=self.night) if watched else plan
            self.RE(body)
        except Exception as exc:
            error = exc
        finally:
            self.RE.unsubscribe(token)
        assert trigger.fired, f"the plan never reached event {after} of {stream!r}: {error!r}"
        return audit_run(self.location.journal_dir / f"{trigger.run_uid}.jsonl"), error

    def clear_faults(self) -> None:
        for instrument in self.rig.instruments.values():
            if hasattr(instrument, "clear_faults"):
                instrument.clear_faults()
            elif hasattr(instrument, "inject"):
                instrument.inject(None)

    def make_safe(self) -> None:
        call_in_bluesky_event_loop(self.rig.make_safe())

    def next_solution(self) -> str:
        current = call_in_bluesky_event_loop(self.rig.perfusion.solution.get_value())
        return "hbss" if current != "hbss" else "hbss_probenecid"


def _bench(tmp_path_factory, name: str, **overrides) -> Bench:
    location = DataLocation.at(tmp_path_factory.mktemp(name))
    RE = make_run_engine(None, location=location)
    perfusion = {"reservoir_mL": 5000.0, **overrides.pop("perfusion", {})}
    rig = load_rig(
        "sim",
        raw_dir=location.raw_dir,
        time_scale=TIME_SCALE,
        world={"chamber": {"reservoir_mL": 5000.0}},
        perfusion=perfusion,
        **overrides,
    )
    use_clock(RE, rig.clock)
    rig.instruments["daq"].timeout_s = TIMEOUT_S
    watchdog = Watchdog(RE, rig, WATCHED).start()
    night = Night(Session(RE, rig, None, rig.clock), watchdog, [], QueueSettings())
    return Bench(RE, rig, location, watchdog, night)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """The simulated rig: Lambda 10-3 wheel, camera, valves and Axopatch on the DAQ."""
    bench = _bench(
        tmp_path_factory,
        "matrix",
        filter_wheel={"port": "ionrig-sim://matrix-lambda10-3", "timeout_s": TIMEOUT_S},
    )
    yield bench
    bench.watchdog.stop()


@pytest.fixture(scope="module")
def pump_bench(tmp_path_factory):
    """The simulated rig perfused by a New Era NE-500 syringe pump."""
    bench = _bench(
        tmp_path_factory,
        "matrix-pump",
        filter_wheel={"port": "ionrig-sim://matrix-pump-lambda10-3", "timeout_s": TIMEOUT_S},
        perfusion={
            "flow": "ne500",
            "pump_port": "ionrig-sim://matrix-ne500",
            "pump_timeout_s": TIMEOUT_S,  # the driver's reply timeout
        },
    )
    yield bench
    bench.watchdog.stop()


@pytest.fixture
def retries(caplog):
    """Retry (WARNING) and give-up (ERROR) log lines of the rig's ports, by port name."""
    caplog.set_level(logging.WARNING, logger="ionrig.devices")

    def lines(port: str, level: int = logging.WARNING) -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.name == "ionrig.devices"
            and r.levelno == level
            and r.getMessage().startswith(f"{port}:")
        ]

    return lines


def _serial_fault(kind: str, now_s: float, *, persistent: bool) -> Fault:
    if kind == "disconnect":
        return Fault(FaultKind.DISCONNECT, at_s=now_s, duration_s=GONE_S if persistent else BLIP_S)
    return Fault(
        FaultKind(kind),
        at_s=now_s,
        count=PERSISTENT if persistent else 1,
        delay_s=LATE_S if kind == "slow_reply" else 0.0,
    )


@dataclass(frozen=True)
class Row:
    """One instrument of the matrix: where its faults go, which plan meets them, the port
    that retries, what the complete run holds, and what names the instrument in errors."""

    instrument: str
    bench: str
    port: str
    stream: str
    after: int
    expected: dict
    needle: str

    def plan(self, bench: Bench):
        rig = bench.rig
        if self.stream == "perfusion":
            return "wash", plans.wash(rig, solution=bench.next_solution(), bath_volumes=1.0), None
        if self.port == "amplifier":
            return "trpm7_ramps", plans.trpm7_ramps(rig, duration_s=8.0, period_s=2.0), {"trpm7"}
        return "ratiometric_timecourse", plans.ratiometric_timecourse(rig, 3), {"ratio"}


ROWS = {
    "filter_wheel": Row(
        "filter_wheel",
        "bench",
        "filter_wheel",
        "primary",
        2,
        {"primary": 6, "ratio": 3},
        "Sutter Lambda 10-3",
    ),
    "pump": Row(
        "pump", "pump_bench", "perfusion", "perfusion", 1, {"perfusion": 2}, "New Era NE-500"
    ),
    "valves/DAQ": Row(
        "daq", "bench", "perfusion", "perfusion", 1, {"perfusion": 2}, "simulated DAQ Dev1"
    ),
    "amplifier/DAQ": Row(
        "daq",
        "bench",
        "amplifier",
        "primary",
        2,
        {"primary": 4, "trpm7": 4},
        "simulated DAQ Dev1",
    ),
}
#: Cells where the fault has nothing to act on: TTL outputs send no reply to garble.
NO_EFFECT = {("valves/DAQ", "garbage")}
#: Seed of the simulated DAQ's noise for garbage cells: the garbled mode telegraph matches no
#: mode (the same draw on every run; another seed may decode as V-clamp and pass unnoticed).
GARBAGE_SEED = 1


def _arm(bench: Bench, row: Row, kind: str, *, persistent: bool):
    instrument = bench.rig.instruments[row.instrument]

    def inject() -> None:
        if kind == "garbage" and row.instrument == "daq":
            instrument.reseed(GARBAGE_SEED)
        instrument.inject(_serial_fault(kind, bench.rig.clock.now_s(), persistent=persistent))

    return inject


def _assert_complete(audit: RunAudit, expected: dict) -> None:
    assert audit.complete, audit  # every record in the files is referenced, and vice versa
    for stream, n in expected.items():
        assert audit.events.get(stream) == n, audit


def _assert_safe(bench: Bench, *, perfusion: bool = True) -> None:
    """Shutter closed, holding and pressure commands at 0 V (0 mV, 0 kPa), and with
    ``perfusion`` every valve closed and no flow."""
    rig, daq = bench.rig, bench.rig.instruments["daq"]
    assert not rig.world.shutter_open
    assert daq.ao_V("Dev1/ao0") == 0.0 and daq.ao_V("Dev1/ao1") == 0.0
    if perfusion:
        lines = [f"Dev1/port0/line{i}" for i in range(len(rig.perfusion.solutions))]
        assert not any(daq.do_state(line) for line in lines)
        assert not rig.world.chamber.flowing


@pytest.mark.parametrize("kind", SERIAL_KINDS)
@pytest.mark.parametrize("row_name", list(ROWS))
def test_a_transient_fault_is_retried_and_the_run_completes(request, retries, row_name, kind):
    row = ROWS[row_name]
    bench: Bench = request.getfixturevalue(row.bench)
    name, plan, units = row.plan(bench)
    try:
        audit, error = bench.run(
            name,
            plan,
            inject=_arm(bench, row, kind, persistent=False),
            stream=row.stream,
            after=row.after,
            units=units,
        )
        assert error is None, error
        assert audit.exit_status == "success"
        _assert_complete(audit, row.expected)
        if (row_name, kind) in NO_EFFECT:
            assert retries(row.port) == []
        else:
            logged = retries(row.port)
            assert logged and row.needle in logged[0], logged
            assert "retry 1 of" in logged[0]
        assert not bench.rig.instruments[row.instrument].faults or kind == "disconnect"
        _assert_safe(bench, perfusion=False)
    finally:
        bench.clear_faults()
        bench.make_safe()


#: Persistent cells run by default: no reply (the timeout path) and a cable that stays out
#: (nothing reaches the instrument, not even the cleanup). Giving up does not depend on the
#: kind of fault (each kind's first failure is a transient cell), so the other kinds are slow.
PERSISTENT_CELLS = [
    pytest.param(row, kind, marks=[] if kind in ("no_reply", "disconnect") else pytest.mark.slow)
    for row in ROWS
    for kind in SERIAL_KINDS
    if (row, kind) not in NO_EFFECT
]


@pytest.mark.parametrize(("row_name", "kind"), PERSISTENT_CELLS)
def test_a_persistent_fault_fails_the_run_cleanly(request, retries, row_name, kind):
    row = ROWS[row_name]
    bench: Bench = request.getfixturevalue(row.bench)
    name, plan, units = row.plan(bench)
    try:
        audit, error = bench.run(
            name,
            plan,
            inject=_arm(bench, row, kind, persistent=True),
            stream=row.stream,
            after=row.after,
            units=units,
        )
        assert error is not None
        assert audit.exit_status == "fail" and row.needle in audit.reason, audit.reason
        assert audit.complete, audit  # what was acquired before the fault reads back
        assert audit.events[row.stream] >= row.after
        assert len(retries(row.port)) >= PERSISTENT - 1
        assert retries(row.port, logging.ERROR)  # giving up is logged
        if kind == "disconnect":  # nothing reaches the instrument until it is back
            bench.clear_faults()
            bench.make_safe()
        _assert_safe(bench)
    finally:
        bench.clear_faults()
        bench.make_safe()


# -- the camera ---------------------------------------------------------------------------------
def _camera_fault(bench: Bench, kind: str, count: int | None, timeout_s: float = 0.02):
    camera = bench.rig.instruments["camera"]

    def inject() -> None:
        camera.inject(
            CameraFault(
                after_frames=camera.frames_taken, kind=kind, count=count, timeout_s=timeout_s
            )
        )

    return inject


def _timecourse(bench: Bench, inject, *, watched: bool = True):
    plan = plans.ratiometric_timecourse(bench.rig, 3)
    return bench.run(
        "ratiometric_timecourse",
        plan,
        inject=inject,
        stream="primary",
        after=2,
        units={"ratio"},
        watched=watched,
    )


@pytest.mark.parametrize(
    ("kind", "count"), [("garbage", 1), ("partial", 1), ("disconnect", 2), ("dropped", 1)]
)
def test_a_transient_camera_fault_is_retaken(bench, retries, kind, count):
    try:
        audit, error = _timecourse(bench, _camera_fault(bench, kind, count))
        assert error is None, error
        assert audit.exit_status == "success"
        _assert_complete(audit, {"primary": 6, "ratio": 3})
        assert len(retries("camera")) == count
        assert bench.rig.instruments["camera"].fault is None  # used up
        _assert_safe(bench, perfusion=False)
    finally:
        bench.clear_faults()


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("dropped", "frame lost in transfer"),
        ("disconnect", "camera link lost"),
        pytest.param("garbage", "expected a 128x128 integer image", marks=pytest.mark.slow),
        pytest.param("partial", "got shape (64, 128)", marks=pytest.mark.slow),
    ],
)
def test_a_persistent_camera_fault_fails_the_run_cleanly(bench, retries, kind, reason):
    try:
        audit, error = _timecourse(bench, _camera_fault(bench, kind, None))
        assert error is not None
        assert audit.exit_status == "fail" and reason in audit.reason, audit.reason
        _assert_complete(audit, {"primary": 2, "ratio": 1})
        assert len(retries("camera")) == PERSISTENT - 1
        assert retries("camera", logging.ERROR)
        _assert_safe(bench)
    finally:
        bench.clear_faults()
        bench.make_safe()


def test_a_camera_error_report_fails_the_run_without_retrying(bench, retries):
    try:
        audit, error = _timecourse(bench, _camera_fault(bench, "error", 1))
        assert error is not None
        assert audit.exit_status == "fail" and "camera stopped delivering" in audit.reason
        _assert_complete(audit, {"primary": 2, "ratio": 1})
        assert retries("camera") == []  # the camera says it is broken: a person looks at it
        _assert_safe(bench)
    finally:
        bench.clear_faults()
        bench.make_safe()


def test_a_camera_frame_timeout_suspends_the_watched_run_and_the_frame_is_retaken(bench):
    condition = bench.watchdog.condition("camera")
    before = len(condition.history)
    try:
        audit, error = _timecourse(bench, _camera_fault(bench, "timeout", 1))
        assert error is None, error
        assert audit.exit_status == "success"
        # the pair the timeout fell into is retaken whole; a frame of it saved before the
        # timeout stays in primary without a ratio
        orphans = audit.events.get("primary", 0) - 6
        assert orphans in (0, 1), audit
        _assert_complete(audit, {"primary": 6 + orphans, "ratio": 3})
        kinds = [entry[0] for entry in condition.history[before:]]
        assert kinds == ["suspension", "resumption"]
        assert audit.events.get("interruptions", 0) >= 1  # the suspension is in the run
    finally:
        bench.clear_faults()


def test_a_persistent_frame_timeout_holds_the_suspension_until_frames_come(bench):
    """No frame, and no frame again (a camera that hangs, or answers later than its timeout):
    the run stays suspended with the shutter closed while the camera is probed, and goes on
    when it delivers again (here: 0.5 s of real time later)."""
    camera = bench.rig.instruments["camera"]
    condition = bench.watchdog.condition("camera")
    before = len(condition.history)
    seen: dict[str, Any] = {}

    def camera_back() -> None:
        deadline = time.monotonic() + 30
        while not condition.tripped and time.monotonic() < deadline:
            time.sleep(0.005)
        tripped_at = time.monotonic()
        time.sleep(0.5)
        seen["shutter_open"] = bench.rig.world.shutter_open
        seen["suspended_s"] = time.monotonic() - tripped_at
        camera.inject(None)

    helper = threading.Thread(target=camera_back, daemon=True)

    def inject() -> None:
        _camera_fault(bench, "timeout", None)()
        helper.start()

    try:
        audit, error = _timecourse(bench, inject)
        helper.join(timeout=30)
        assert error is None, error
        assert audit.exit_status == "success"
        orphans = audit.events.get("primary", 0) - 6  # as in the test above
        assert orphans in (0, 1), audit
        _assert_complete(audit, {"primary": 6 + orphans, "ratio": 3})
        assert seen["shutter_open"] is False  # no light on the cells while suspended
        (_, tripped_s, _), (_, cleared_s, _) = condition.history[before:]
        assert cleared_s - tripped_s >= 0.4 * TIME_SCALE  # held (rig seconds) until it came back
    finally:
        bench.clear_faults()


def test_an_unwatched_frame_timeout_fails_the_run_cleanly(bench, retries):
    """Outside the queue (no watchdog), a frame timeout fails the run at once: no retry."""
    try:
        audit, error = _timecourse(bench, _camera_fault(bench, "timeout", 1), watched=False)
        assert error is not None
        assert audit.exit_status == "fail" and "no frame within" in audit.reason
        _assert_complete(audit, {"primary": 2, "ratio": 1})
        assert retries("camera") == []
        assert not bench.rig.world.shutter_open  # the plan closes it on its way out
    finally:
        bench.clear_faults()
        bench.make_safe()


def test_cells_are_independent_the_rig_is_left_fault_free(bench, pump_bench):
    for each in (bench, pump_bench):
        for instrument in each.rig.instruments.values():
            assert not getattr(instrument, "faults", ())
        assert all(not c.tripped for c in each.watchdog.conditions)


def test_a_failed_run_reads_back_through_the_catalog(session, retries):
    """The same clean failure at an interactive RunEngine (the session's rig retries too), read
    back through the catalog: the frames before the fault and the reason."""
    wheel = session.rig.instruments["filter_wheel"]

    def inject() -> None:
        wheel.inject(Fault(FaultKind.ERROR_REPLY, at_s=session.clock.now_s(), count=PERSISTENT))

    trigger = InjectAfter("primary", 2, inject)
    session.RE.subscribe(trigger)
    with pytest.raises(Exception, match="ECHO_MISMATCH"):
        session.RE(plans.ratiometric_timecourse(session.rig, 3))
    run = session.catalog[trigger.run_uid]
    stop = run.metadata["stop"]
    assert stop["exit_status"] == "fail" and "ECHO_MISMATCH" in stop["reason"]
    # the frames taken before the fault surfaced: the third was exposing (at 340 nm) while
    # the wheel, started for 380 nm at the end of its exposure, failed
    assert run["primary"]["camera"].read().shape[0] == 3
    assert list(run["primary"]["camera-excitation_nm"].read()) == [340.0, 380.0, 340.0]
    assert len(run["ratio"]["t_s"].read()) == 1
    assert len(retries("filter_wheel")) == PERSISTENT - 1
    assert not session.rig.world.shutter_open  # the plan closed it on its way out

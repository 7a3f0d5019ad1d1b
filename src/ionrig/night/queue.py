"""Unattended nights on bluesky-queueserver: the manager, its Redis, the queue's plans.

``ionrig queue start`` starts, in the background and on loopback only:

1. a Redis server for the queue: the one named by ``--redis``/``$IONRIG_REDIS``, else a
   ``redis-server`` of its own (persisting to ``<data>/queue/redis/``), else a ``fakeredis``
   TCP server (in memory: the queue is lost when it stops; said when it starts);
2. ``ionrig catalog serve`` for the data directory (one process owns the catalog; the RE
   worker, ``ionrig queue summary`` and anyone else reach it over HTTP);
3. the RE Manager (``start-re-manager``), whose worker imports
   :mod:`ionrig.night.queue_startup.profile`: the session (RunEngine, rig, catalog) built from the
   rig file, the watchdogs, the notifiers, and the queue's plans defined here;

then opens the environment, sets queue mode ``ignore_failures`` (a failed cell never stops the
night) and turns autostart on (items run as they are added). ``<data>/queue/manager.json``
records what was started; ``ionrig queue stop`` stops it.

Every queue plan runs inside :func:`queue_item`: guarded by the watchdogs, announced to the
notifiers, and on failure (an exception, an abort) the rig is made safe before the item fails.
"""

import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky_queueserver import parameter_annotation_decorator

from ionrig import plans
from ionrig.data.catalog import DataLocation, _running_server
from ionrig.night.notify import (
    EmailNotifier,
    LogFileNotifier,
    Notice,
    WebhookNotifier,
    notify_all,
)
from ionrig.night.watchdogs import (
    LowDiskSpace,
    Watchdog,
    WatchdogConfig,
    check_disk,
    ra_drift_failure,
)
from ionrig.rig.config import ConfigError, build

__all__ = [
    "ManagerInfo",
    "Night",
    "NotifySettings",
    "QueueError",
    "QueueSettings",
    "add_item",
    "close_night",
    "is_running",
    "make_safe",
    "open_night",
    "queue_cli",
    "queue_history",
    "queue_item",
    "queue_status",
    "ratiometric_timecourse",
    "record_cell",
    "regenerate_plan_list",
    "start_queue",
    "stop_queue",
    "trpm7_ramps",
    "wash",
]

logger = logging.getLogger(__name__)

STARTUP_MODULE = "ionrig.night.queue_startup.profile"
PLANS_FILE = "existing_plans_and_devices.yaml"
PERMISSIONS_FILE = "user_group_permissions.yaml"
SETTINGS_ENV = "IONRIG_QUEUE_SETTINGS"
REDIS_ENV = "IONRIG_REDIS"
#: Plans the queue offers (the permissions file allows exactly these).
QUEUE_PLANS = ("make_safe", "ratiometric_timecourse", "record_cell", "trpm7_ramps", "wash")


class QueueError(RuntimeError):
    """The queue server could not be started, reached or told something."""


# -- settings ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class NotifySettings:
    """Who hears about suspensions and failures (the night log always does).

    ``email_to``: addresses (none: no e-mail) through ``smtp_host``:``smtp_port``; the SMTP
    password is read from the environment variable named by ``smtp_password_env``, never from
    the file. ``webhook_url``: a URL that receives each notice as JSON (none: no webhook).
    """

    email_to: list[str] = field(default_factory=list)
    email_from: str = "ionrig@localhost"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password_env: str | None = None
    webhook_url: str | None = None
    kinds: list[str] = field(default_factory=lambda: ["suspension", "failure"])


@dataclass(frozen=True)
class QueueSettings:
    """A night's settings: the rig file (name or path) with top-level ``overrides``, the
    watchdogs' thresholds and the notifications. Read from YAML by :meth:`from_file`."""

    rig: str = "sim"
    overrides: dict[str, Any] = field(default_factory=dict)
    watchdogs: WatchdogConfig = field(default_factory=WatchdogConfig)
    notify: NotifySettings = field(default_factory=NotifySettings)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "QueueSettings":
        import yaml

        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"queue settings file {str(path)!r} does not exist")
        return build(cls, yaml.safe_load(path.read_text()) or {}, "queue settings")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "QueueSettings":
        return build(cls, dict(data), "queue settings")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        band = data["watchdogs"]["temperature_band_C"]
        data["watchdogs"]["temperature_band_C"] = list(band) if band is not None else None
        return data


def queue_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``<data>/queue``: settings, night log, manager state and log, Redis files."""
    path = DataLocation.at(data_dir).root / "queue"
    path.mkdir(parents=True, exist_ok=True)
    return path


def night_log_path(data_dir: str | os.PathLike | None = None) -> Path:
    return queue_dir(data_dir) / "night.jsonl"


def notifiers_for(settings: NotifySettings, log_path: Path) -> list[Callable[[Notice], None]]:
    """The night log plus the configured e-mail and webhook notifiers."""
    notifiers: list[Callable[[Notice], None]] = [LogFileNotifier(log_path)]
    if settings.email_to:
        password = (
            os.environ.get(settings.smtp_password_env) if settings.smtp_password_env else None
        )
        notifiers.append(
            EmailNotifier(
                settings.email_to,
                sender=settings.email_from,
                smtp_host=settings.smtp_host,
                smtp_port=settings.smtp_port,
                starttls=settings.smtp_starttls,
                username=settings.smtp_username,
                password=password,
                kinds=settings.kinds,
            )
        )
    if settings.webhook_url:
        notifiers.append(WebhookNotifier(settings.webhook_url, kinds=settings.kinds))
    return notifiers


# -- the night (inside the RE worker) ---------------------------------------------------------
@dataclass
class Night:
    """What the queue's plans run with: the session, its watchdog and notifiers."""

    session: Any
    watchdog: Watchdog
    notifiers: list[Callable[[Notice], None]]
    settings: QueueSettings
    recovered: list[Any] = field(default_factory=list)


_night: Night | None = None


def current_night() -> Night:
    if _night is None:
        raise QueueError(
            "no night is open in this process: the queue's plans run in the queue server's "
            f"worker (startup module {STARTUP_MODULE}), or after ionrig.night.queue.open_night()"
        )
    return _night


def open_night(
    settings: QueueSettings | None = None, *, data_dir: str | os.PathLike | None = None
) -> Night:
    """Start what the queue's plans need (the queue's startup module calls this once).

    Settings come from ``settings``, else the JSON file named by ``$IONRIG_QUEUE_SETTINGS``,
    else the defaults. Runs left open by a crash are recovered from their journals first
    (closed as aborted); the rig is made safe; operator steps without a responder fail the cell
    (unattended); the watchdogs start; the disk is checked.
    """
    global _night
    from bluesky.run_engine import call_in_bluesky_event_loop

    from ionrig.data.catalog import open_catalog
    from ionrig.data.documents import recover_runs
    from ionrig.session import start

    if settings is None:
        path = os.environ.get(SETTINGS_ENV)
        settings = (
            QueueSettings.from_dict(json.loads(Path(path).read_text())) if path else QueueSettings()
        )
    catalog = open_catalog(data_dir)
    recovered = recover_runs(catalog)
    session = start(settings.rig, catalog=catalog, **settings.overrides)
    # The queue server reads RE's return value as the run uids (and sends it between processes).
    session.RE._call_returns_result = False
    plans.set_unattended(True)
    call_in_bluesky_event_loop(session.rig.make_safe())
    location = catalog.location
    notifiers = notifiers_for(settings.notify, night_log_path(location.root))
    watchdog = Watchdog(
        session.RE,
        session.rig,
        settings.watchdogs,
        notifiers=notifiers,
        data_dir=location.root,
    ).start()
    for run in recovered:
        notify_all(
            notifiers,
            Notice(
                "failure",
                f"run {run.uid} was interrupted (process ended); recovered from its journal",
                details={"run_uid": run.uid, "n_events": run.n_events},
            ),
        )
    if settings.watchdogs.disk_min_free_GB is not None:
        try:
            check_disk(location.root, settings.watchdogs.disk_min_free_GB)
        except LowDiskSpace as error:
            notify_all(notifiers, Notice("check", str(error)))
    _night = Night(session, watchdog, notifiers, settings, recovered)
    return _night


def close_night() -> None:
    """Stop the watchdogs, leave the rig safe, release the catalog (tests, interactive use)."""
    global _night
    if _night is not None:
        night, _night = _night, None
        plans.set_unattended(False)
        night.watchdog.stop()
        night.session.close()


# -- the queue's plans ---------------------------------------------------------------------------
def queue_item(
    name: str,
    plan: Any,
    *,
    units: Iterable[str] | None = None,
    seal_check: bool = False,
    night: Night | None = None,
) -> Any:
    """Run ``plan`` as one queue item: guarded by the watchdogs, announced to the notifiers
    (``item_start``, ``item_end``), and on any failure the rig made safe and a ``failure``
    notice sent before the exception fails the item."""
    night = night or current_night()
    watchdog, rig = night.watchdog, night.session.rig
    watchdog.item = name
    watchdog.notify("item_start", f"{name} started")

    def on_failure(error: BaseException):
        cause = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        if hasattr(error, "exit_status"):  # RequestAbort, RequestStop: the operator's request
            cause += f" (run closed with exit status {error.exit_status!r})"
        watchdog.notify("failure", cause, exception=type(error).__name__)
        yield from bps.wait_for([rig.make_safe])

    def on_success():
        watchdog.notify("item_end", f"{name} completed")
        yield from bps.null()

    try:
        return (
            yield from bpp.contingency_wrapper(
                watchdog.guard(plan, units=units, seal_check=seal_check),
                except_plan=on_failure,
                else_plan=on_success,
            )
        )
    finally:
        watchdog.item = ""


RIG_PARAMETER = {
    "rig": {
        "description": "The rig (its name in the queue: rig).",
        "annotation": "Rigs",
        "devices": {"Rigs": ["rig"]},
    }
}


@parameter_annotation_decorator({"parameters": RIG_PARAMETER})
def ratiometric_timecourse(
    rig,
    n_pairs: int,
    exposure_ms: float = 20.0,
    interval_s: float | None = None,
    md: dict | None = None,
):
    """340/380 time course (ionrig.plans.ratiometric_timecourse) as a queue item.

    Parameters
    ----------
    rig
        the rig
    n_pairs
        number of 340/380 pairs
    exposure_ms
        exposure per frame (ms)
    interval_s
        pair period on the rig clock (s); none: back to back
    md
        metadata for the start document
    """
    plan = plans.ratiometric_timecourse(
        rig, n_pairs, exposure_ms=exposure_ms, interval_s=interval_s, md=md
    )
    return (yield from queue_item("ratiometric_timecourse", plan, units={"ratio"}))


@parameter_annotation_decorator({"parameters": RIG_PARAMETER})
def trpm7_ramps(
    rig,
    duration_s: float = 300.0,
    period_s: float = 2.0,
    holding_mV: float = 0.0,
    cm_pF: float | None = None,
    md: dict | None = None,
):
    """TRPM7 ramps (ionrig.plans.trpm7_ramps) as a queue item; seal loss fails the cell.

    Parameters
    ----------
    rig
        the rig
    duration_s
        recording duration (s, rig clock)
    period_s
        ramp period (s)
    holding_mV
        holding potential between ramps (mV)
    cm_pF
        cell capacitance for current densities (pF)
    md
        metadata for the start document
    """
    plan = plans.trpm7_ramps(
        rig, duration_s=duration_s, period_s=period_s, holding_mV=holding_mV, cm_pF=cm_pF, md=md
    )
    return (yield from queue_item("trpm7_ramps", plan, units={"trpm7"}, seal_check=True))


@parameter_annotation_decorator({"parameters": RIG_PARAMETER})
def wash(rig, solution: str = "hbss_probenecid", bath_volumes: float = 5.0, md: dict | None = None):
    """Wash the bath with a solution (ionrig.plans.wash) as a queue item.

    Parameters
    ----------
    rig
        the rig
    solution
        solution name (from the rig's perfusion)
    bath_volumes
        bath volumes to exchange
    md
        metadata for the start document
    """
    plan = plans.wash(rig, solution=solution, bath_volumes=bath_volumes, md=md)
    return (yield from queue_item("wash", plan))


def _withdraw_pipette(rig) -> Any:
    """End of a cell, recorded or not: the pipette comes off (an operator step; on a rig
    without anyone to do it the next cell's approach fails cleanly instead)."""
    try:
        yield from plans.operator_step(
            rig,
            "Withdraw the pipette; a fresh one goes in the bath.",
            action=plans.WITHDRAW_PIPETTE,
        )
    except plans.OperatorUnavailable as error:
        logger.warning("pipette not withdrawn after the cell: %s", error)


def _record_cell(night: Night, rig, cell_index: int, **kw) -> Any:
    return (
        yield from bpp.finalize_wrapper(
            _record_cell_runs(night, rig, cell_index, **kw), _withdraw_pipette(rig)
        )
    )


def _record_cell_runs(night: Night, rig, cell_index: int, **kw) -> Any:
    config = night.watchdog.config
    cell_md = {**(kw["md"] or {}), "cell_index": cell_index}
    yield from plans.form_seal(
        rig,
        target_GOhm=kw["target_GOhm"],
        timeout_s=kw["seal_timeout_s"],
        cell_index=cell_index,
        md=cell_md,
    )
    yield from plans.break_in(rig, md=cell_md)
    baseline = yield from plans.membrane_test(rig, md=cell_md)
    uids = []
    remaining_s = kw["duration_s"]
    while remaining_s > 1e-9:
        segment_s = min(kw["segment_s"], remaining_s)
        uid = yield from night.watchdog.guard(
            plans.trpm7_ramps(
                rig,
                duration_s=segment_s,
                period_s=kw["period_s"],
                cm_pF=baseline.cm_pF,
                md=cell_md,
            ),
            units={"trpm7"},
            seal_check=True,
        )
        uids.append(uid)
        remaining_s -= segment_s
        test = yield from plans.membrane_test(rig, md=cell_md)
        failure = ra_drift_failure(baseline.ra_MOhm, test.ra_MOhm, config)
        if failure is not None:
            raise failure
    return uids


@parameter_annotation_decorator({"parameters": RIG_PARAMETER})
def record_cell(
    rig,
    cell_index: int,
    duration_s: float = 300.0,
    period_s: float = 2.0,
    segment_s: float = 60.0,
    target_GOhm: float = 1.0,
    seal_timeout_s: float = 60.0,
    md: dict | None = None,
):
    """One cell, unattended: seal, break in, membrane test, then TRPM7 ramps in segments with a
    membrane test after each; fails the cell (and the item) on no seal, no break-in, seal loss
    or access-resistance drift.

    Parameters
    ----------
    rig
        the rig
    cell_index
        the cell to patch (the operator step approach_cell places the pipette)
    duration_s
        total ramp recording (s, rig clock)
    period_s
        ramp period (s)
    segment_s
        ramps between two membrane tests (s)
    target_GOhm
        seal resistance to reach (GOhm)
    seal_timeout_s
        time allowed to seal (s)
    md
        metadata for every run of the cell
    """
    night = current_night()
    plan = _record_cell(
        night,
        rig,
        cell_index,
        duration_s=duration_s,
        period_s=period_s,
        segment_s=segment_s,
        target_GOhm=target_GOhm,
        seal_timeout_s=seal_timeout_s,
        md=md,
    )
    return (yield from queue_item("record_cell", plan, night=night))


@parameter_annotation_decorator({"parameters": RIG_PARAMETER})
def make_safe(rig):
    """Leave the rig safe: shutter closed, holding and pressure safe, perfusion stopped.

    Parameters
    ----------
    rig
        the rig
    """
    yield from bps.wait_for([rig.make_safe])


# -- processes ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ManagerInfo:
    """What ``start_queue`` started (``<data>/queue/manager.json``). Process ids are ``None``
    for what was already running (the Redis server named by ``--redis``, a catalog server)."""

    data_dir: str
    control_addr: str
    info_addr: str
    redis_addr: str
    redis_prefix: str
    redis_kind: str  # "redis-server", "fakeredis" or "external"
    manager_pid: int
    redis_pid: int | None
    catalog_pid: int | None
    log_path: str

    @contextmanager
    def api(self, *, timeout_s: float = 10.0) -> Iterator[Any]:
        """A ``REManagerAPI`` client for this manager, closed on exit."""
        from bluesky_queueserver_api.zmq import REManagerAPI

        api = REManagerAPI(
            zmq_control_addr=self.control_addr,
            zmq_info_addr=self.info_addr,
            timeout_recv=timeout_s,
            timeout_send=timeout_s,
        )
        try:
            yield api
        finally:
            api.close()
            _destroy_zmq_contexts(api)


def _destroy_zmq_contexts(api: Any) -> None:
    """REManagerAPI 0.0.13 ``close()`` closes its control socket but leaves its three zmq
    contexts (control, console and system-info subscribers) for the garbage collector, which
    warns; destroy them (found among the client's attributes, two levels deep)."""
    import zmq

    contexts: set = set()
    for holder in (api, *vars(api).values()):
        for value in getattr(holder, "__dict__", {}).values():
            for candidate in (value, *getattr(value, "__dict__", {}).values()):
                if isinstance(candidate, zmq.Context):
                    contexts.add(candidate)
                elif isinstance(candidate, zmq.Socket):
                    contexts.add(candidate.context)
    for context in contexts:
        context.destroy(linger=0)


def _state_file(data_dir) -> Path:
    return queue_dir(data_dir) / "manager.json"


def read_manager_info(data_dir: str | os.PathLike | None = None) -> ManagerInfo | None:
    """The running queue server of ``data_dir`` (``None`` if none is recorded)."""
    path = _state_file(data_dir)
    if not path.exists():
        return None
    return ManagerInfo(**json.loads(path.read_text()))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: The background processes this process started, kept so that they are reaped (not zombies,
#: and no "still running" warning when a Popen object is collected).
_children: dict[int, subprocess.Popen] = {}


def _alive(pid: int | None) -> bool:
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


def _wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise QueueError(f"{what} did not come up within {timeout_s:g} s")


def _spawn(args: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None) -> int:
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


def _start_redis(redis: str | None, qdir: Path, timeout_s: float) -> tuple[str, str, int | None]:
    """(address, kind, pid of a server started here)."""
    addr = redis or os.environ.get(REDIS_ENV)
    if addr:
        if not _redis_ping(addr):
            raise QueueError(f"no Redis server answers at {addr} (from --redis or ${REDIS_ENV})")
        return addr, "external", None
    port = _free_port()
    addr = f"127.0.0.1:{port}"
    server = shutil.which("redis-server")
    if server:
        redis_dir = qdir / "redis"
        redis_dir.mkdir(exist_ok=True)
        pid = _spawn(
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
        pid = _spawn(
            [sys.executable, "-P", "-m", "ionrig.night.queue", "fakeredis", "--port", str(port)],
            qdir / "redis.log",
        )
        kind = "fakeredis"
    _wait_for(lambda: _redis_ping(addr), timeout_s, f"the {kind} server on {addr}")
    return addr, kind, pid


def _start_catalog_server(data_dir: Path, qdir: Path, timeout_s: float) -> int | None:
    location = DataLocation.at(data_dir)
    if _running_server(location) is not None:
        return None
    port = _free_port()
    pid = _spawn(
        [
            sys.executable, "-P", "-m", "ionrig.cli", "--data", str(location.root),
            "catalog", "serve", "--port", str(port),
        ],
        qdir / "catalog.log",
    )  # fmt: skip

    def up() -> bool:
        if not _alive(pid):
            raise QueueError(f"ionrig catalog serve ended; see {qdir / 'catalog.log'}")
        if _running_server(location) is None:
            return False
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    _wait_for(up, timeout_s, "the catalog server")
    return pid


def _stop_pid(pid: int | None, sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> None:
    if not _alive(pid):
        return
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def start_queue(
    settings: QueueSettings | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    redis: str | None = None,
    open_environment: bool = True,
    autostart: bool = True,
    timeout_s: float = 120.0,
) -> ManagerInfo:
    """Start Redis, the catalog server and the RE Manager for ``data_dir`` (see the module
    docstring); refuses when one is already running or the disk is short of space."""
    settings = settings or QueueSettings()
    location = DataLocation.at(data_dir)
    qdir = queue_dir(location.root)
    existing = read_manager_info(location.root)
    if existing is not None and _alive(existing.manager_pid):
        raise QueueError(
            f"a queue server already runs for {location.root} (pid {existing.manager_pid}); "
            "ionrig queue stop first"
        )
    if settings.watchdogs.disk_min_free_GB is not None:
        check_disk(location.root, settings.watchdogs.disk_min_free_GB)
    settings_path = qdir / "settings.json"
    settings_path.write_text(json.dumps(settings.to_dict(), indent=2))
    startup = resources.files("ionrig.night.queue_startup")
    for name in (PLANS_FILE, PERMISSIONS_FILE):  # the manager may rewrite its copies
        (qdir / name).write_text((startup / name).read_text())
    if existing is not None and redis is None and _alive(existing.redis_pid):
        # a manager that died leaves its Redis (the queue, the history) and catalog server
        redis_addr, redis_kind, redis_pid = (
            existing.redis_addr,
            existing.redis_kind,
            existing.redis_pid,
        )
    else:
        redis_addr, redis_kind, redis_pid = _start_redis(redis, qdir, timeout_s)
    catalog_pid = None
    manager_pid = None
    try:
        if existing is not None and _alive(existing.catalog_pid):
            catalog_pid = existing.catalog_pid
        else:
            catalog_pid = _start_catalog_server(location.root, qdir, timeout_s)
        control = f"tcp://127.0.0.1:{_free_port()}"
        info = f"tcp://127.0.0.1:{_free_port()}"
        # one queue per data directory, even when several share a Redis server
        prefix = "qs_ionrig_" + hashlib.sha1(str(location.root).encode()).hexdigest()[:10]
        log_path = qdir / "manager.log"
        env = {**os.environ, "IONRIG_DATA": str(location.root), SETTINGS_ENV: str(settings_path)}
        manager_pid = _spawn(
            [
                sys.executable,
                "-P",
                "-c",
                "from bluesky_queueserver.manager.start_manager import start_manager; "
                "start_manager()",
                "--startup-module", STARTUP_MODULE,
                "--existing-plans-devices", str(qdir / PLANS_FILE),
                "--user-group-permissions", str(qdir / PERMISSIONS_FILE),
                "--redis-addr", redis_addr,
                "--redis-name-prefix", prefix,
                "--zmq-control-addr", control,
                "--zmq-info-addr", info,
            ],
            log_path,
            env,
        )  # fmt: skip
        info_record = ManagerInfo(
            data_dir=str(location.root),
            control_addr=control,
            info_addr=info,
            redis_addr=redis_addr,
            redis_prefix=prefix,
            redis_kind=redis_kind,
            manager_pid=manager_pid,
            redis_pid=redis_pid,
            catalog_pid=catalog_pid,
            log_path=str(log_path),
        )
        _state_file(location.root).write_text(json.dumps(asdict(info_record), indent=2))
        with info_record.api() as api:

            def answers() -> bool:
                if not _alive(manager_pid):
                    raise QueueError(f"the RE Manager ended at start; see {log_path}")
                try:
                    api.status()
                except Exception:
                    return False
                return True

            _wait_for(answers, timeout_s, "the RE Manager")
            api.queue_mode_set(ignore_failures=True)
            if open_environment:
                status = api.status()
                if not status["worker_environment_exists"]:
                    api.environment_open()
                api.wait_for_idle(timeout=timeout_s)
                if not api.status()["worker_environment_exists"]:
                    raise QueueError(f"the RE environment did not open; see {log_path}")
                if autostart:
                    api.queue_autostart(True)
        return info_record
    except BaseException:
        _stop_pid(manager_pid, signal.SIGKILL)
        _stop_pid(catalog_pid, signal.SIGINT)
        _stop_pid(redis_pid)
        _state_file(location.root).unlink(missing_ok=True)
        raise


def _stop_manager(api, *, force: bool, timeout_s: float) -> None:
    if force:
        api.send_request(method="manager_stop", params={"option": "safe_off"})
        return
    if api.status()["manager_state"] == "executing_queue":
        api.queue_stop()  # after the running item
    api.wait_for_idle(timeout=timeout_s)
    if api.status()["worker_environment_exists"]:
        api.environment_close()
        api.wait_for_idle(timeout=timeout_s)
    api.send_request(method="manager_stop", params={"option": "safe_on"})


def stop_queue(
    data_dir: str | os.PathLike | None = None,
    *,
    force: bool = False,
    keep_redis: bool = False,
    timeout_s: float = 60.0,
) -> ManagerInfo:
    """Stop the queue server of ``data_dir``: the environment closes after the running item
    (``force``: at once, the item's run is recovered at the next start), then the manager, the
    catalog server and the Redis server it started (``keep_redis``: leave Redis running)."""
    info = read_manager_info(data_dir)
    if info is None:
        raise QueueError(f"no queue server is recorded for {DataLocation.at(data_dir).root}")
    if _alive(info.manager_pid):
        try:
            with info.api() as api:
                _stop_manager(api, force=force, timeout_s=timeout_s)
        except Exception as error:
            logger.warning("the manager did not stop cleanly (%s): ending it", error)
        _stop_pid(info.manager_pid, signal.SIGTERM, timeout_s)
    _stop_pid(info.catalog_pid, signal.SIGINT, 30.0)
    if not keep_redis:
        _stop_pid(info.redis_pid)
    _state_file(info.data_dir).unlink(missing_ok=True)
    return info


def is_running(data_dir: str | os.PathLike | None = None) -> bool:
    """True while the queue server recorded for ``data_dir`` has a live manager process."""
    info = read_manager_info(data_dir)
    return info is not None and _alive(info.manager_pid)


def _running(data_dir) -> ManagerInfo:
    info = read_manager_info(data_dir)
    if info is None or not _alive(info.manager_pid):
        raise QueueError("no queue server runs for this data directory: ionrig queue start")
    return info


def queue_status(data_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """The manager's status (``manager_state``, ``items_in_queue``, ``items_in_history``…)."""
    with _running(data_dir).api() as api:
        return dict(api.status())


def add_item(
    plan: str,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Add a plan to the end of the queue (the rig is passed by name: ``"rig"``)."""
    from bluesky_queueserver_api import BPlan

    if plan not in QUEUE_PLANS:
        raise QueueError(f"plan must be one of {', '.join(QUEUE_PLANS)}; got {plan!r}")
    with _running(data_dir).api() as api:
        return dict(api.item_add(BPlan(plan, "rig", *args, **dict(kwargs or {}))))


def queue_history(data_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Completed and failed items, oldest first (from the manager)."""
    with _running(data_dir).api() as api:
        return list(api.history_get()["items"])


def regenerate_plan_list(
    out_dir: str | os.PathLike | None = None, *, settings: QueueSettings | None = None
) -> Path:
    """Write ``existing_plans_and_devices.yaml`` for the queue's startup module (simulated rig,
    a throw-away data directory) with ``qserver-list-plans-devices``. Default ``out_dir``: the
    ``src/ionrig/night/queue_startup`` folder of this checkout (the file kept in the repository)."""
    import tempfile

    out = Path(out_dir) if out_dir else Path(__file__).parent / "queue_startup"
    settings = settings or QueueSettings(
        watchdogs=WatchdogConfig(disk_min_free_GB=None, camera_timeouts=False)
    )
    with tempfile.TemporaryDirectory() as scratch:
        settings_path = Path(scratch) / "settings.json"
        settings_path.write_text(json.dumps(settings.to_dict()))
        env = {
            **os.environ,
            "IONRIG_DATA": str(Path(scratch) / "data"),
            SETTINGS_ENV: str(settings_path),
        }
        completed = subprocess.run(
            [
                sys.executable,
                "-P",
                "-c",
                "from bluesky_queueserver.manager.gen_lists import "
                "gen_list_of_plans_and_devices_cli as cli; cli()",
                "--startup-module", STARTUP_MODULE,
                "--file-dir", str(out),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )  # fmt: skip
    if completed.returncode != 0:
        raise QueueError(
            "qserver-list-plans-devices failed:\n"
            + completed.stdout[-2000:]
            + completed.stderr[-4000:]
        )
    return out / PLANS_FILE


# -- the command line (ionrig queue …) -----------------------------------------------------------
def _parse_params(params: Sequence[str]) -> dict[str, Any]:
    """``["n_pairs=3", "interval_s=2.5", "md={operator: ab}"]`` → values parsed as YAML."""
    import yaml

    kwargs = {}
    for param in params:
        key, sep, text = param.partition("=")
        if not sep or not key.isidentifier():
            raise QueueError(f"parameters are KEY=VALUE (e.g. n_pairs=10), got {param!r}")
        kwargs[key] = yaml.safe_load(text) if text else ""
    return kwargs


def _settings_from_args(args) -> QueueSettings:
    settings = QueueSettings.from_file(args.config) if args.config else QueueSettings()
    changes: dict[str, Any] = {}
    if args.rig:
        changes["rig"] = args.rig
    if args.time_scale is not None:
        changes["overrides"] = {**settings.overrides, "time_scale": args.time_scale}
    if changes:
        settings = QueueSettings.from_dict({**settings.to_dict(), **changes})
    return settings


def queue_cli(args) -> int:
    """``ionrig queue start|stop|status|add|history|summary|regenerate`` (see ``ionrig.cli``)."""
    data_dir = getattr(args, "data", None)
    command = args.queue_command
    if command == "start":
        info = start_queue(
            _settings_from_args(args),
            data_dir=data_dir,
            redis=args.redis,
            autostart=not args.no_autostart,
        )
        print(f"queue server started for {info.data_dir}")
        print(f"  manager pid {info.manager_pid}, control {info.control_addr}, log {info.log_path}")
        memory = (
            " (in memory: the queue is lost when it stops)"
            if info.redis_kind == "fakeredis"
            else ""
        )
        print(f"  Redis: {info.redis_kind} at {info.redis_addr}{memory}")
        print("  queue mode: ignore_failures" + ("" if args.no_autostart else "; autostart on"))
        return 0
    if command == "stop":
        info = stop_queue(data_dir, force=args.force, keep_redis=args.keep_redis)
        print(f"queue server of {info.data_dir} stopped")
        return 0
    if command == "status":
        status = queue_status(data_dir)
        for key in (
            "manager_state",
            "worker_environment_exists",
            "re_state",
            "items_in_queue",
            "items_in_history",
            "running_item_uid",
            "queue_autostart_enabled",
        ):
            print(f"{key}: {status.get(key)}")
        return 0
    if command == "add":
        response = add_item(args.plan, kwargs=_parse_params(args.params), data_dir=data_dir)
        if not response.get("success", False):
            print(f"error: {response.get('msg')}", file=sys.stderr)
            return 2
        print(f"added {args.plan} ({response['item']['item_uid']}); {response['qsize']} in queue")
        return 0
    if command == "history":
        for item in queue_history(data_dir):
            result = item.get("result", {})
            started = time.strftime("%H:%M:%S", time.localtime(result.get("time_start", 0)))
            msg = (result.get("msg") or "").strip().splitlines()
            print(
                f"{started}  {result.get('exit_status', '?'):10s} {item['name']} "
                f"{item.get('kwargs', {})}" + (f": {msg[0][:100]}" if msg else "")
            )
        return 0
    if command == "summary":
        from ionrig.night.summary import format_summary, summarize_night

        history = queue_history(data_dir) if is_running(data_dir) else None
        summary = summarize_night(data_dir, since=time.time() - args.hours * 3600, history=history)
        print(format_summary(summary), end="")
        from ionrig.data.catalog import open_catalog
        from ionrig.night.summary import write_night_figures

        out = Path(args.figures) if args.figures else queue_dir(data_dir) / "summary"
        catalog = open_catalog(data_dir)
        try:
            paths = write_night_figures(summary, catalog, out)
        finally:
            catalog.close()
        print(f"figure: {paths[0]}")
        return 0
    if command == "regenerate":
        print(f"wrote {regenerate_plan_list(args.out)}")
        return 0
    raise QueueError(f"unknown queue command {command!r}")


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
    """``python -m ionrig.night.queue fakeredis --port N``: a fakeredis TCP server on loopback."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m ionrig.night.queue")
    sub = parser.add_subparsers(dest="command", required=True)
    fake = sub.add_parser("fakeredis", help="an in-memory Redis (fakeredis) on loopback")
    fake.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    _serve_fakeredis(args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Starting, stopping and talking to the queue server of a data directory.

``ionrig queue start`` starts, in the background and on loopback only:

1. a Redis server for the queue: the one named by ``--redis``/``$IONRIG_REDIS``, else a
   ``redis-server`` of its own (persisting to ``<data>/queue/redis/``), else a ``fakeredis``
   TCP server (in memory: the queue is lost when it stops; said when it starts);
2. ``ionrig catalog serve`` for the data directory (one process owns the catalog; the RE
   worker, ``ionrig queue summary`` and anyone else reach it over HTTP);
3. the RE Manager (``start-re-manager``), whose worker imports
   :mod:`ionrig.night.queue_startup.profile`: the session (RunEngine, rig, catalog) built from the
   rig file, the watchdogs, the notifiers, and the queue's plans (:mod:`ionrig.night.queue`);

then opens the environment, sets queue mode ``ignore_failures`` (a failed cell never stops the
night) and turns autostart on (items run as they are added). ``<data>/queue/manager.json``
records what was started; ``ionrig queue stop`` stops it.
"""

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ionrig.data.catalog import DataLocation
from ionrig.night.processes import (
    alive,
    free_port,
    spawn,
    start_catalog_server,
    start_redis,
    stop_pid,
    wait_for,
)
from ionrig.night.queue import QUEUE_PLANS
from ionrig.night.queue_settings import (
    PERMISSIONS_FILE,
    PLANS_FILE,
    SETTINGS_ENV,
    STARTUP_MODULE,
    QueueError,
    QueueSettings,
    queue_dir,
)
from ionrig.night.queueserver_adapter import close_manager_api
from ionrig.night.watchdogs import WatchdogConfig, check_disk

__all__ = [
    "ManagerInfo",
    "add_item",
    "is_running",
    "queue_history",
    "queue_status",
    "read_manager_info",
    "regenerate_plan_list",
    "start_queue",
    "stop_queue",
]

logger = logging.getLogger(__name__)


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
            close_manager_api(api)


def _state_file(data_dir) -> Path:
    return queue_dir(data_dir) / "manager.json"


def read_manager_info(data_dir: str | os.PathLike | None = None) -> ManagerInfo | None:
    """The running queue server of ``data_dir`` (``None`` if none is recorded)."""
    path = _state_file(data_dir)
    if not path.exists():
        return None
    return ManagerInfo(**json.loads(path.read_text()))


def _refuse_to_start(existing: ManagerInfo | None, root: Path, settings: QueueSettings) -> None:
    """Raise when a queue server already runs for ``root`` or its disk is short of space."""
    if existing is not None and alive(existing.manager_pid):
        raise QueueError(
            f"a queue server already runs for {root} (pid {existing.manager_pid}); "
            "ionrig queue stop first"
        )
    if settings.watchdogs.disk_min_free_GB is not None:
        check_disk(root, settings.watchdogs.disk_min_free_GB)


def _write_manager_files(settings: QueueSettings, qdir: Path) -> Path:
    """The settings (JSON, for the RE worker) and fresh copies of the plan list and the
    permissions (the manager may rewrite its copies) in ``qdir``; returns the settings' path."""
    settings_path = qdir / "settings.json"
    settings_path.write_text(json.dumps(settings.to_dict(), indent=2))
    startup = resources.files("ionrig.night.queue_startup")
    for name in (PLANS_FILE, PERMISSIONS_FILE):
        (qdir / name).write_text((startup / name).read_text())
    return settings_path


def _spawn_manager(
    root: Path,
    qdir: Path,
    settings_path: Path,
    redis_addr: str,
    prefix: str,
    control: str,
    info: str,
) -> int:
    """Start the RE Manager in the background (log: ``qdir/manager.log``); returns its pid."""
    env = {**os.environ, "IONRIG_DATA": str(root), SETTINGS_ENV: str(settings_path)}
    return spawn(
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
        qdir / "manager.log",
        env,
    )  # fmt: skip


def _configure_manager(
    record: ManagerInfo, *, open_environment: bool, autostart: bool, timeout_s: float
) -> None:
    """Wait until the manager answers, set queue mode ``ignore_failures``, open the
    environment and turn autostart on (as asked); ``timeout_s`` in real seconds per step."""
    log_path = record.log_path
    with record.api() as api:

        def answers() -> bool:
            if not alive(record.manager_pid):
                raise QueueError(f"the RE Manager ended at start; see {log_path}")
            try:
                api.status()
            except Exception:
                return False
            return True

        wait_for(answers, timeout_s, "the RE Manager")
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
    _refuse_to_start(existing, location.root, settings)
    settings_path = _write_manager_files(settings, qdir)
    if existing is not None and redis is None and alive(existing.redis_pid):
        # a manager that died leaves its Redis (the queue, the history) and catalog server
        redis_addr, redis_kind, redis_pid = (
            existing.redis_addr,
            existing.redis_kind,
            existing.redis_pid,
        )
    else:
        redis_addr, redis_kind, redis_pid = start_redis(redis, qdir, timeout_s)
    catalog_pid = None
    manager_pid = None
    try:
        if existing is not None and alive(existing.catalog_pid):
            catalog_pid = existing.catalog_pid
        else:
            catalog_pid = start_catalog_server(location.root, qdir, timeout_s)
        control = f"tcp://127.0.0.1:{free_port()}"
        info = f"tcp://127.0.0.1:{free_port()}"
        # one queue per data directory, even when several share a Redis server
        prefix = "qs_ionrig_" + hashlib.sha1(str(location.root).encode()).hexdigest()[:10]
        manager_pid = _spawn_manager(
            location.root, qdir, settings_path, redis_addr, prefix, control, info
        )
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
            log_path=str(qdir / "manager.log"),
        )
        _state_file(location.root).write_text(json.dumps(asdict(info_record), indent=2))
        _configure_manager(
            info_record,
            open_environment=open_environment,
            autostart=autostart,
            timeout_s=timeout_s,
        )
        return info_record
    except BaseException:
        stop_pid(manager_pid, signal.SIGKILL)
        stop_pid(catalog_pid, signal.SIGINT)
        stop_pid(redis_pid)
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
    if alive(info.manager_pid):
        try:
            with info.api() as api:
                _stop_manager(api, force=force, timeout_s=timeout_s)
        except Exception as error:
            logger.warning("the manager did not stop cleanly (%s): ending it", error)
        stop_pid(info.manager_pid, signal.SIGTERM, timeout_s)
    stop_pid(info.catalog_pid, signal.SIGINT, 30.0)
    if not keep_redis:
        stop_pid(info.redis_pid)
    _state_file(info.data_dir).unlink(missing_ok=True)
    return info


def is_running(data_dir: str | os.PathLike | None = None) -> bool:
    """True while the queue server recorded for ``data_dir`` has a live manager process."""
    info = read_manager_info(data_dir)
    return info is not None and alive(info.manager_pid)


def _running(data_dir) -> ManagerInfo:
    info = read_manager_info(data_dir)
    if info is None or not alive(info.manager_pid):
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

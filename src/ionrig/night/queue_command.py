"""``ionrig queue start|stop|status|add|history|summary|regenerate``: one handler per command
(the parser is in :mod:`ionrig.cli`)."""

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ionrig.bench.params import parse_key_values
from ionrig.night.queue_server import (
    ManagerInfo,
    add_item,
    is_running,
    queue_history,
    queue_status,
    regenerate_plan_list,
    start_queue,
    stop_queue,
)
from ionrig.night.queue_settings import QueueError, QueueSettings, queue_dir

__all__ = ["parse_item_params", "queue_cli"]

#: Why ``rig=…`` is refused in ``ionrig queue add``.
RIG_BY_NAME = "the queue passes the rig by name (rig): give only the other parameters"

#: What ``ionrig queue status`` prints, in order.
STATUS_KEYS = (
    "manager_state",
    "worker_environment_exists",
    "re_state",
    "items_in_queue",
    "items_in_history",
    "running_item_uid",
    "queue_autostart_enabled",
)


def parse_item_params(params: Sequence[str]) -> dict[str, Any]:
    """``["n_pairs=3", "interval_s=2.5", "md={'operator': 'ab'}"]`` → the item's keyword
    arguments, read as ``ionrig run`` reads them (:func:`ionrig.bench.params.parse_key_values`:
    Python literals, else text); ``rig`` is refused (the queue passes the rig by name)."""
    return parse_key_values(params, reserved={"rig": RIG_BY_NAME}, error=QueueError)


def _settings_from_args(args) -> QueueSettings:
    """The settings file of ``--config`` (else the defaults), with ``--rig`` and
    ``--time-scale`` applied."""
    settings = QueueSettings.from_file(args.config) if args.config else QueueSettings()
    changes: dict[str, Any] = {}
    if args.rig:
        changes["rig"] = args.rig
    if args.time_scale is not None:
        changes["overrides"] = {**settings.overrides, "time_scale": args.time_scale}
    if changes:
        settings = QueueSettings.from_dict({**settings.to_dict(), **changes})
    return settings


def _start(args, data_dir) -> int:
    info: ManagerInfo = start_queue(
        _settings_from_args(args),
        data_dir=data_dir,
        redis=args.redis,
        autostart=not args.no_autostart,
    )
    print(f"queue server started for {info.data_dir}")
    print(f"  manager pid {info.manager_pid}, control {info.control_addr}, log {info.log_path}")
    memory = (
        " (in memory: the queue is lost when it stops)" if info.redis_kind == "fakeredis" else ""
    )
    print(f"  Redis: {info.redis_kind} at {info.redis_addr}{memory}")
    print("  queue mode: ignore_failures" + ("" if args.no_autostart else "; autostart on"))
    return 0


def _stop(args, data_dir) -> int:
    info = stop_queue(data_dir, force=args.force, keep_redis=args.keep_redis)
    print(f"queue server of {info.data_dir} stopped")
    return 0


def _status(args, data_dir) -> int:
    status = queue_status(data_dir)
    for key in STATUS_KEYS:
        print(f"{key}: {status.get(key)}")
    return 0


def _add(args, data_dir) -> int:
    response = add_item(args.plan, kwargs=parse_item_params(args.params), data_dir=data_dir)
    if not response.get("success", False):
        print(f"error: {response.get('msg')}", file=sys.stderr)
        return 2
    print(f"added {args.plan} ({response['item']['item_uid']}); {response['qsize']} in queue")
    return 0


def _history(args, data_dir) -> int:
    for item in queue_history(data_dir):
        result = item.get("result", {})
        started = time.strftime("%H:%M:%S", time.localtime(result.get("time_start", 0)))
        msg = (result.get("msg") or "").strip().splitlines()
        print(
            f"{started}  {result.get('exit_status', '?'):10s} {item['name']} "
            f"{item.get('kwargs', {})}" + (f": {msg[0][:100]}" if msg else "")
        )
    return 0


def _summary(args, data_dir) -> int:
    from ionrig.data.catalog import open_catalog
    from ionrig.night.summary import format_summary, summarize_night, write_night_figures

    history = queue_history(data_dir) if is_running(data_dir) else None
    summary = summarize_night(data_dir, since=time.time() - args.hours * 3600, history=history)
    print(format_summary(summary), end="")
    out = Path(args.figures) if args.figures else queue_dir(data_dir) / "summary"
    catalog = open_catalog(data_dir)
    try:
        paths = write_night_figures(summary, catalog, out)
    finally:
        catalog.close()
    print(f"figure: {paths[0]}")
    return 0


def _regenerate(args, data_dir) -> int:
    print(f"wrote {regenerate_plan_list(args.out)}")
    return 0


COMMANDS: dict[str, Callable[[Any, Any], int]] = {
    "start": _start,
    "stop": _stop,
    "status": _status,
    "add": _add,
    "history": _history,
    "summary": _summary,
    "regenerate": _regenerate,
}


def queue_cli(args) -> int:
    """``ionrig queue start|stop|status|add|history|summary|regenerate`` (see ``ionrig.cli``)."""
    handler = COMMANDS.get(args.queue_command)
    if handler is None:
        raise QueueError(f"unknown queue command {args.queue_command!r}")
    return handler(args, getattr(args, "data", None))

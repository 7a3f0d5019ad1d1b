"""The queue's plans and the night they run in (inside the queue server's RE worker).

The RE worker imports :mod:`ionrig.night.queue_startup.profile`, which opens the night
(:func:`open_night`: the session built from the rig file, the watchdogs, the notifiers) and
offers the plans defined here (:data:`QUEUE_PLANS`). Every queue plan runs inside
:func:`queue_item`: guarded by the watchdogs, announced to the notifiers, and on failure (an
exception, an abort) the rig is made safe before the item fails.

Starting and stopping the queue server: :mod:`ionrig.night.queue_server`; its settings:
:mod:`ionrig.night.queue_settings`; the ``ionrig queue`` command:
:mod:`ionrig.night.queue_command`.
"""

import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky_queueserver import parameter_annotation_decorator

from ionrig import plans
from ionrig.night.notify import Notice, notify_all
from ionrig.night.queue_settings import (
    SETTINGS_ENV,
    STARTUP_MODULE,
    QueueError,
    QueueSettings,
    night_log_path,
    notifiers_for,
)
from ionrig.night.watchdogs import LowDiskSpace, Watchdog, check_disk, ra_drift_failure

__all__ = [
    "QUEUE_PLANS",
    "Night",
    "QueueSettings",  # re-exported: what open_night takes
    "close_night",
    "current_night",
    "make_safe",
    "open_night",
    "queue_item",
    "ratiometric_timecourse",
    "record_cell",
    "trpm7_ramps",
    "wash",
]

logger = logging.getLogger(__name__)

#: Plans the queue offers (the permissions file allows exactly these).
QUEUE_PLANS = ("make_safe", "ratiometric_timecourse", "record_cell", "trpm7_ramps", "wash")


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


def _settings_from_environment() -> QueueSettings:
    """The settings in the JSON file named by ``$IONRIG_QUEUE_SETTINGS``, else the defaults."""
    path = os.environ.get(SETTINGS_ENV)
    return QueueSettings.from_dict(json.loads(Path(path).read_text())) if path else QueueSettings()


def _announce_recovered_runs(notifiers: list[Callable[[Notice], None]], recovered: list) -> None:
    """A ``failure`` notice for each run a crash left open (recovered from its journal)."""
    for run in recovered:
        notify_all(
            notifiers,
            Notice(
                "failure",
                f"run {run.uid} was interrupted (process ended); recovered from its journal",
                details={"run_uid": run.uid, "n_events": run.n_events},
            ),
        )


def _notify_low_disk(
    notifiers: list[Callable[[Notice], None]], root: Path, min_free_GB: float | None
) -> None:
    """A ``check`` notice when the data directory's disk has less than ``min_free_GB`` (GB)
    free (``None``: not checked)."""
    if min_free_GB is None:
        return
    try:
        check_disk(root, min_free_GB)
    except LowDiskSpace as error:
        notify_all(notifiers, Notice("check", str(error)))


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

    settings = settings or _settings_from_environment()
    catalog = open_catalog(data_dir)
    recovered = recover_runs(catalog)
    # The queue server reads RE's return value as the run uids (and sends it between processes).
    session = start(settings.rig, catalog=catalog, call_returns_result=False, **settings.overrides)
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
    _announce_recovered_runs(notifiers, recovered)
    _notify_low_disk(notifiers, location.root, settings.watchdogs.disk_min_free_GB)
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

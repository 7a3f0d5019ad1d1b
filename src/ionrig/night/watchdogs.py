"""Watchdogs for unattended nights: suspend on what recovers, fail the cell on what does not.

Recoverable conditions suspend the running plan with bluesky's suspenders and resume it when
they clear (the run keeps going; its ``t_s`` shows the gap; the run's ``interruptions`` stream
records each suspension with its cause):

- temperature: the bath temperature is outside ``temperature_band_C``
  (``SuspendWhenOutsideBand``);
- reservoir: the selected solution's reservoir holds less than ``reservoir_floor_mL``; resumes
  at ``reservoir_resume_mL``, after a refill (``SuspendFloor``);
- camera: the camera delivers no frame (a frame timeout) (``SuspendBoolLow``);
- disk: less than ``disk_min_free_GB`` free under the data directory; resumes at
  ``disk_resume_free_GB`` (``SuspendFloor``).

Unrecoverable ones fail the current cell (:class:`CellFailure`, a
:class:`~ionrig.plans.PatchFailure`): seal loss (the input resistance from a 5-mV seal test
between ramps drops below ``seal_min_input_MOhm`` or by ``seal_max_drop_fraction``; a plan that
starts below ``seal_min_input_MOhm`` has no seal to lose and is not checked) and access
resistance drift (:func:`ra_drift_failure`).

The conditions, their thresholds (:class:`WatchdogConfig`) and the bridge from ophyd-async
signals to the suspenders are in :mod:`ionrig.night.conditions` (re-exported here).

Suspensions only take effect where replaying the plan from its last checkpoint is harmless:
:meth:`Watchdog.guard` wraps a plan, adds a checkpoint after every completed ``wait`` and
``save`` outside an event bundle, and holds a condition that trips while a trigger, move or
event bundle is outstanding until the next such point (a sleep is interrupted at once). A camera
frame timeout raised into the plan is turned into a suspension: the frame is taken again after
the camera delivers again.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
from bluesky import RunEngine
from bluesky.utils import FailedStatus, Msg, MsgGenerator

from ionrig.night.conditions import (
    BridgedSignal,
    CellFailure,
    Condition,
    LowDiskSpace,
    WatchdogConfig,
    camera_condition,
    check_disk,
    disk_condition,
    free_disk_GB,
    ra_drift_failure,
    reservoir_condition,
    temperature_condition,
)
from ionrig.night.notify import Notice, notify_all

__all__ = [
    "BridgedSignal",
    "CellFailure",
    "Condition",
    "LowDiskSpace",
    "Watchdog",
    "WatchdogConfig",
    "camera_condition",
    "check_disk",
    "disk_condition",
    "free_disk_GB",
    "ra_drift_failure",
    "reservoir_condition",
    "temperature_condition",
]

logger = logging.getLogger(__name__)

#: Messages that start something the RunEngine waits for later, or open an event bundle:
#: a suspension landing before the matching ``wait``/``save`` could lose or duplicate data.
_OUTSTANDING = frozenset(
    {"set", "trigger", "kickoff", "prepare", "complete", "collect", "stage", "unstage"}
)


def _root_cause(error: BaseException) -> BaseException:
    while isinstance(error, FailedStatus) and error.__cause__ is not None:
        error = error.__cause__
    return error


class Watchdog:
    """The conditions of one rig, their suspenders on one RunEngine, and a plan guard.

    ``Watchdog(RE, rig, config, notifiers=[...], data_dir=...)`` builds the conditions the rig
    supports; :meth:`start` installs the suspenders and polls the conditions in the RunEngine's
    loop; :meth:`stop` undoes both. Wrap every plan in :meth:`guard`. Suspensions, resumptions
    and cell failures are logged and told to ``notifiers`` (callables taking a
    :class:`~ionrig.night.notify.Notice`).
    """

    def __init__(
        self,
        RE: RunEngine,
        rig: Any,
        config: WatchdogConfig | None = None,
        *,
        notifiers: Iterable[Callable[[Notice], None]] = (),
        data_dir: str | Path | None = None,
        free_GB: Callable[[], float] | None = None,
    ) -> None:
        self.RE = RE
        self.rig = rig
        self.config = config or WatchdogConfig()
        self.notifiers = list(notifiers)
        self.item = ""
        cfg = self.config
        kw = {
            "sleep": cfg.resume_delay_s,
            "pre_plan": self._before_suspension,
            "post_plan": self._after_suspension,
        }
        conditions: list[Condition | None] = []
        if cfg.temperature_band_C is not None and getattr(rig, "temperature", None) is not None:
            conditions.append(temperature_condition(rig, tuple(cfg.temperature_band_C), **kw))
        if cfg.reservoir_floor_mL is not None:
            conditions.append(
                reservoir_condition(rig, cfg.reservoir_floor_mL, cfg.reservoir_resume_mL, **kw)
            )
        if cfg.camera_timeouts:
            conditions.append(camera_condition(rig, **kw))
        if cfg.disk_min_free_GB is not None and (data_dir is not None or free_GB is not None):
            conditions.append(
                disk_condition(
                    data_dir or ".",
                    cfg.disk_min_free_GB,
                    cfg.disk_resume_free_GB,
                    free_GB=free_GB,
                    **kw,
                )
            )
        self.conditions: list[Condition] = [c for c in conditions if c is not None]
        self.suspensions = 0
        self.resumptions = 0
        self._guards = 0
        self._holding = False  # a guarded plan has an outstanding status or an open bundle
        self._interruptible = False  # ... or is sleeping (a suspension may land at once)
        self._shutter_was_open = False
        self._suspended_depth = 0
        self._poller: asyncio.Future | None = None
        self._stopping = False

    # -- lifecycle ------------------------------------------------------------------------
    def condition(self, name: str) -> Condition:
        for c in self.conditions:
            if c.name == name:
                return c
        names = ", ".join(c.name for c in self.conditions)
        raise KeyError(f"no watched condition {name!r} (watched: {names})")

    def start(self) -> Watchdog:
        """Install the suspenders and start polling (in the RunEngine's event loop)."""
        self.RE.record_interruptions = True  # each suspension becomes an event of the run
        for c in self.conditions:
            self.RE.install_suspender(c.suspender)
        self._stopping = False
        self._poller = asyncio.run_coroutine_threadsafe(self._poll_forever(), self.RE.loop)
        return self

    def stop(self) -> None:
        """Stop polling and remove the suspenders."""
        self._stopping = True
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None
        for c in self.conditions:
            self.RE.remove_suspender(c.suspender)

    # -- notices --------------------------------------------------------------------------
    def _now_s(self) -> float | None:
        clock = getattr(self.rig, "clock", None)
        return clock.now_s() if clock is not None else None

    def notify(self, kind: str, cause: str, **details: Any) -> None:
        log = logger.error if kind == "failure" else logger.warning
        log("%s%s: %s", kind, f" in {self.item}" if self.item else "", cause)
        notice = Notice(kind, cause, item=self.item, t_s=self._now_s(), details=details)
        notify_all(self.notifiers, notice)

    # -- polling --------------------------------------------------------------------------
    async def _poll_forever(self) -> None:
        while not self._stopping:
            for c in self.conditions:
                if c.probe_when_tripped_only and not c.tripped:
                    continue
                try:
                    value = await asyncio.wait_for(c.signal.poll(), timeout=10.0)
                except Exception as error:  # a read failing is not a reason to stop watching
                    logger.warning("watchdog %s: reading failed: %s", c.name, error)
                    continue
                self._apply(c, value)
            await asyncio.sleep(self.config.poll_s)

    def _apply(self, c: Condition, value: Any) -> None:
        c.last_value = value
        if c.tripped:
            if c.clears(value):
                self._clear(c, value)
            return
        if c.trips(value):
            if self._guards and self._holding and not self._interruptible:
                c.pending = value  # takes effect at the guarded plan's next safe point
            else:
                self._trip(c, value)
        else:
            c.pending = None
            c.signal.put(value)

    def _trip(self, c: Condition, value: Any, *, cause: str | None = None) -> None:
        c.tripped, c.pending = True, None
        c.history.append(("suspension", self._now_s(), value))
        self.suspensions += 1
        self.notify("suspension", cause or c.describe(value), condition=c.name, value=value)
        c.signal.put(value)  # the suspender asks the RunEngine to suspend

    def _clear(self, c: Condition, value: Any) -> None:
        c.tripped = False
        c.history.append(("resumption", self._now_s(), value))
        self.notify(
            "resumption", f"{c.name} back to normal ({value!r})", condition=c.name, value=value
        )
        c.signal.put(value)  # the suspender releases the RunEngine

    @property
    def tripped(self) -> list[str]:
        return [c.name for c in self.conditions if c.tripped]

    async def _all_clear(self) -> None:
        while any(c.tripped for c in self.conditions):
            await asyncio.sleep(self.config.poll_s)

    # -- suspension hooks (run by the RunEngine around every suspension) -----------------
    def _before_suspension(self) -> MsgGenerator[None]:
        self._suspended_depth += 1
        shutter = getattr(getattr(self.rig, "filter_wheel", None), "shutter", None)
        if shutter is None:
            return
        state = yield from bps.rd(shutter.state)
        if self._suspended_depth == 1:  # a second suspender tripping meanwhile sees it closed
            self._shutter_was_open = str(getattr(state, "value", state)) == "open"
        yield from bps.mv(shutter, "closed")  # no light on the cells while suspended

    def _after_suspension(self) -> MsgGenerator[None]:
        self.resumptions += 1
        self._suspended_depth = max(0, self._suspended_depth - 1)
        shutter = getattr(getattr(self.rig, "filter_wheel", None), "shutter", None)
        if shutter is not None and self._shutter_was_open and self._suspended_depth == 0:
            yield from bps.mv(shutter, "open")

    # -- the guard ------------------------------------------------------------------------
    def guard(
        self,
        plan: MsgGenerator[Any],
        *,
        units: Iterable[str] | None = None,
        seal_check: bool = False,
    ) -> MsgGenerator[Any]:
        """``plan`` with checkpoints after every completed ``wait`` and ``save`` outside an
        event bundle, suspensions held to the end of a unit of data, camera frame timeouts
        turned into suspensions, and (``seal_check``) a seal test every
        ``seal_check_every_s`` of rig time at unit ends that fails the cell on seal loss.

        ``units``: streams whose event ends a unit (``{"ratio"}``: a 340/380 pair, whose two
        frames must not straddle a suspension); a unit starts at the first ``trigger`` or the
        first event of another stream after the previous unit's end. ``None``: every event
        is a unit.
        """
        return (yield from self._guarded(plan, None if units is None else set(units), seal_check))

    def _guarded(
        self, plan: Generator[Msg, Any, Any], units: set[str] | None, seal_check: bool
    ) -> MsgGenerator[Any]:
        self._guards += 1
        response: Any = None
        error: BaseException | None = None
        outstanding = bundle_open = run_open = in_unit = False
        stream = ""
        triggered: set = set()
        seal = {"baseline": None, "last_s": -math.inf}
        try:
            while True:
                try:
                    msg = plan.throw(error) if error is not None else plan.send(response)
                except StopIteration as stop:
                    return stop.value
                error = None
                command = msg.command
                free = not (outstanding or bundle_open or in_unit)
                if free and (not run_open or command == "sleep"):
                    yield from self._hold_for_suspensions()
                if command in _OUTSTANDING:
                    outstanding = True
                elif command == "create":
                    bundle_open = True
                    stream = msg.kwargs.get("name") or (msg.args[0] if msg.args else "primary")
                if command == "trigger":
                    triggered.add(msg.obj)
                    # a unit runs from its first exposure to its end: a suspension between
                    # a frame's exposure and its event would split the unit
                    in_unit = in_unit or (units is not None and run_open)
                self._holding = outstanding or bundle_open or in_unit
                interruptible = command == "sleep" and not self._holding
                self._interruptible = interruptible
                try:
                    response = yield msg
                except Exception as exc:
                    if command == "wait" and self._is_camera_timeout(exc, triggered):
                        self._interruptible = False
                        if (yield from self._recover_camera(exc)):
                            response = None  # the replay took the frame again
                            outstanding, triggered = False, set()
                            self._holding = bundle_open or in_unit
                            continue
                    error = exc
                    continue
                finally:
                    self._interruptible = False
                if interruptible:
                    # a suspension requested during the sleep lands here, before the plan
                    # reads anything it would keep (a replay does not hand back responses)
                    yield from self._hold_for_suspensions()
                if command == "wait":
                    outstanding, triggered = False, set()
                elif command == "open_run":
                    run_open = True
                elif command == "close_run":
                    run_open = in_unit = False
                elif command in ("save", "drop"):
                    bundle_open = False
                    if command == "save" and units is not None and run_open:
                        in_unit = stream not in units
                self._holding = outstanding or bundle_open or in_unit
                if command in ("wait", "save") and not (outstanding or bundle_open):
                    yield Msg("checkpoint")  # a replay after a suspension starts here
                    unit_end = units is None or (command == "save" and not in_unit)
                    if unit_end:
                        yield from self._hold_for_suspensions()
                    if seal_check and command == "save" and unit_end:
                        error = yield from self._check_seal(seal)
        finally:
            self._guards -= 1
            self._holding = self._interruptible = False
            plan.close()

    def _hold_for_suspensions(self) -> MsgGenerator[None]:
        """At a safe point: trip the held conditions, and wait while any is tripped (the
        suspension lands during this wait, and its replay ends with it)."""
        for c in self.conditions:
            if c.pending is not None and not c.tripped:
                self._trip(c, c.pending)
        if any(c.tripped for c in self.conditions):
            yield Msg("wait_for", None, [self._all_clear])

    # -- camera frame timeouts -------------------------------------------------------------
    def _is_camera_timeout(self, error: BaseException, triggered: set) -> bool:
        camera = getattr(self.rig, "camera", None)
        if camera is None or camera not in triggered:
            return False
        try:
            self.condition("camera")
        except KeyError:
            return False
        return isinstance(_root_cause(error), TimeoutError)

    def _recover_camera(self, error: BaseException) -> MsgGenerator[bool]:
        """Suspend until the camera delivers again; True if the suspension replayed the
        frame's trigger (the plan may go on as if the frame had arrived)."""
        c = self.condition("camera")
        before = self.resumptions
        self._trip(c, False, cause=f"camera frame timeout: {_root_cause(error)}")
        yield Msg("wait_for", None, [self._all_clear])
        return self.resumptions > before

    # -- seal loss ---------------------------------------------------------------------------
    def _check_seal(self, seal: dict) -> MsgGenerator[CellFailure | None]:
        amplifier = getattr(self.rig, "amplifier", None)
        if amplifier is None or not hasattr(amplifier, "seal_test_MOhm"):
            return None
        now_s = self._now_s() or 0.0
        if now_s - seal["last_s"] < self.config.seal_check_every_s:
            return None
        seal["last_s"] = now_s
        # Tested at a negative holding, where the cell's own channels (TRPM7 near 0 mV, §8.2)
        # carry little current: the input resistance there is membrane and seal.
        holding_mV = yield from bps.rd(amplifier.holding_mV)
        yield from bps.mv(amplifier.holding_mV, self.config.seal_check_holding_mV)
        try:
            tasks = yield from bps.wait_for([lambda: amplifier.seal_test_MOhm(5.0)])
        finally:
            yield from bps.mv(amplifier.holding_mV, holding_mV)
        input_MOhm = float(tasks[0].result())
        baseline = seal["baseline"]
        cfg = self.config
        if baseline is None:
            seal["baseline"] = baseline = input_MOhm
            if input_MOhm < cfg.seal_min_input_MOhm:
                logger.info(
                    "seal check off: input resistance %.3g MΩ at the start (no seal to lose)",
                    input_MOhm,
                )
                seal["last_s"] = math.inf
                return None
        floor = max(cfg.seal_min_input_MOhm, (1 - cfg.seal_max_drop_fraction) * baseline)
        if input_MOhm < floor:
            cause = (
                f"seal lost: input resistance {input_MOhm:.3g} MΩ (was {baseline:.3g} MΩ; "
                f"limit {floor:.3g} MΩ)"
            )
            self.notify("failure", cause, condition="seal", value=input_MOhm)
            return CellFailure(cause)
        return None

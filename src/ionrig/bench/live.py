"""Live feedback while plans run: tables, plots, progress bars and one log line per step.

::

    from ionrig.bench.live import enable_live_feedback
    live = enable_live_feedback(session.RE, clock=session.clock)
    session.RE(ratiometric_timecourse(session.rig, 10))
    live.disable()

What it shows (every part can be switched off):

- **tables** (bluesky ``LiveTable``): the ``ratio`` stream's ``t_s`` and per-ROI ``ratio_<roi>``,
  and the ``trpm7`` stream's ``t_s``, ``i_plus80_pA``, ``i_minus80_pA``;
- **plots** (bluesky ``LivePlot``): the same against ``t_s``, one figure per stream kind
  (``"ionrig live: ratio"``, ``"ionrig live: trpm7"``), cleared at each new run. bluesky calls
  callbacks in the RunEngine's thread: plots are drawn with a non-GUI backend (Agg, notebook
  inline or widget) or Qt (``%matplotlib qt``, through bluesky's Qt teleporter); other GUI
  backends (Tk, macOS) are skipped with one warning, since drawing from another thread is unsafe.
  Choose the backend first: after a later ``%matplotlib qt``, enable live feedback again;
- **progress bars** (bluesky ``ProgressBarManager`` as ``RE.waiting_hook``): every wait on a
  status that reports progress (a perfusion exchange reports exchanged bath volumes), and with
  ``clock`` given, plan sleeps of at least ``sleep_progress_min_s`` (dye loading, equilibration)
  in rig-clock seconds;
- **log lines** on the logger ``"ionrig.runs"``: run start (plan, rig, arguments), each change
  of solution (``perfusion`` stream: solution and exchanged bath volumes), each stage of
  ``patch_cell`` (start documents with ``patch_state``), run stop (exit status, reason, events
  per stream). Configure a handler to see them (the ionrig shell prints them).

Streams the callbacks do not know are ignored.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from bluesky import RunEngine
from bluesky.callbacks.core import CallbackBase, LiveTable, make_class_safe
from bluesky.callbacks.mpl_plotting import LivePlot, QtAwareCallback, initialize_qt_teleporter
from bluesky.utils import ProgressBarManager
from event_model import RunRouter

from ionrig.data.documents import NoFilling

__all__ = [
    "RUN_LOGGER",
    "LiveFeedback",
    "LivePlots",
    "RunLogger",
    "enable_live_feedback",
    "make_live_tables",
    "plotted_fields",
]

#: The logger of the one-line-per-step run log.
RUN_LOGGER = "ionrig.runs"
#: Callback failures are logged here (and never interrupt acquisition).
_CALLBACK_LOG = logging.getLogger("ionrig.bench.live")

_TRPM7_FIELDS = ("i_plus80_pA", "i_minus80_pA")
_Y_LABELS = {"ratio": "340/380 ratio", "trpm7": "current at ±80 mV (pA)"}


def plotted_fields(stream: str | None, data_keys: Mapping[str, Any]) -> list[str]:
    """The data keys shown live for ``stream`` (empty for a stream without live display):
    ``ratio_<roi>`` of the ``ratio`` stream, ``i_plus80_pA``/``i_minus80_pA`` of ``trpm7``."""
    if stream == "ratio":
        return [key for key in data_keys if key.startswith("ratio_")]
    if stream == "trpm7":
        return [key for key in _TRPM7_FIELDS if key in data_keys]
    return []


@make_class_safe(logger=_CALLBACK_LOG)
class _SafeRunRouter(RunRouter):
    """A RunRouter whose failures (a run that started before it was subscribed) are logged."""


def make_live_tables(*, out: Callable[[str], None] = print) -> RunRouter:
    """A callback printing a bluesky ``LiveTable`` for every ``ratio`` and ``trpm7`` stream:
    ``t_s`` and the fields of :func:`plotted_fields`, one row per event, through ``out``."""

    def factory(name: str, start: dict) -> tuple[list, list]:
        def subfactory(name: str, descriptor: dict) -> list:
            stream = descriptor.get("name")
            fields = plotted_fields(stream, descriptor["data_keys"])
            if not fields:
                return []
            x = ["t_s"] if "t_s" in descriptor["data_keys"] else []
            return [LiveTable([*x, *fields], stream_name=stream, out=out)]

        return [], [subfactory]

    return _SafeRunRouter([factory], filler_class=NoFilling)


def _can_plot_from_other_thread() -> bool:
    import matplotlib
    from matplotlib.backends import BackendFilter, backend_registry

    backend = matplotlib.get_backend().lower()
    non_gui = backend_registry.list_builtin(BackendFilter.NON_INTERACTIVE)
    return backend in non_gui or "qt" in backend or backend.startswith("module://")


@make_class_safe(logger=_CALLBACK_LOG)
class LivePlots(QtAwareCallback):
    """bluesky ``LivePlot`` of each ``ratio_<roi>`` and of ``i_plus80_pA``/``i_minus80_pA``
    against ``t_s``; one figure per stream kind (``figures["ratio"]``), cleared per run.

    Under Qt, bluesky's teleporter runs this in the main thread (call it from there first:
    :func:`enable_live_feedback` does). Other GUI backends are skipped (one warning).
    """

    def __init__(self) -> None:
        import matplotlib

        self._teleported = "qt" in matplotlib.get_backend().lower()
        super().__init__(use_teleporter=self._teleported)
        self.figures: dict[str, Any] = {}
        self._warned = False
        self._router = RunRouter([self._factory], filler_class=NoFilling)

    def _factory(self, name: str, start: dict) -> tuple[list, list]:
        import matplotlib

        backend = matplotlib.get_backend()
        if not _can_plot_from_other_thread():
            why = "cannot draw from the RunEngine's thread; use `%matplotlib qt` (or Jupyter)"
        elif "qt" in backend.lower() and not self._teleported:
            why = "was chosen after live feedback was enabled"
        else:
            return [], [self._subfactory]
        if not self._warned:
            self._warned = True
            _CALLBACK_LOG.warning(
                "live plots are off: the matplotlib backend %r %s; then enable live feedback "
                "again (live.disable(); live = enable_live_feedback(RE, clock=clock))",
                backend,
                why,
            )
        return [], []

    def _subfactory(self, name: str, descriptor: dict) -> list:
        import matplotlib.pyplot as plt

        stream = descriptor.get("name")
        keys = descriptor["data_keys"]
        fields = plotted_fields(stream, keys)
        if not fields or "t_s" not in keys:
            return []
        figure = self.figures.get(stream)
        if figure is None or not plt.fignum_exists(figure.number):
            figure = plt.figure(f"ionrig live: {stream}")
            self.figures[stream] = figure
        figure.clf()
        ax = figure.add_subplot()
        plots = [
            LivePlot(field, "t_s", ax=ax, use_teleporter=False, label=field.removeprefix("ratio_"))
            for field in fields
        ]

        def labels(name: str, doc: dict) -> None:
            if name == "start":
                ax.set_xlabel("t_s (s, rig clock)")
                ax.set_ylabel(_Y_LABELS.get(stream, stream))
                ax.set_title(f"{doc.get('plan_name', 'run')} {doc['uid'][:8]}")

        return [*plots, labels]

    def _forward(self, name: str, doc: dict) -> None:
        self._router(name, doc)

    def start(self, doc: dict) -> None:
        self._forward("start", doc)

    def descriptor(self, doc: dict) -> None:
        self._forward("descriptor", doc)

    def event(self, doc: dict) -> None:
        self._forward("event", doc)

    def event_page(self, doc: dict) -> None:
        self._forward("event_page", doc)

    def stream_resource(self, doc: dict) -> None:
        self._forward("stream_resource", doc)

    def stream_datum(self, doc: dict) -> None:
        self._forward("stream_datum", doc)

    def resource(self, doc: dict) -> None:
        self._forward("resource", doc)

    def datum(self, doc: dict) -> None:
        self._forward("datum", doc)

    def datum_page(self, doc: dict) -> None:
        self._forward("datum_page", doc)

    def stop(self, doc: dict) -> None:
        self._forward("stop", doc)


def _short(value: Any, width: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


@make_class_safe(logger=_CALLBACK_LOG)
class RunLogger(CallbackBase):
    """One INFO line on :data:`RUN_LOGGER` per run start, solution change, ``patch_cell`` stage
    and run stop (see the module docstring).

    A solution change is a ``perfusion`` event whose ``perfusion-solution`` differs from the
    previous ``perfusion`` event seen (in this or an earlier run); the first one seen only sets
    the reference.
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        super().__init__()
        self._logger = logger or logging.getLogger(RUN_LOGGER)
        self._starts: dict[str, dict] = {}
        self._streams: dict[str, tuple[str, str | None]] = {}  # descriptor → (run, stream)
        self._solution: str | None = None

    def start(self, doc: dict) -> None:
        self._starts[doc["uid"]] = doc
        if doc.get("simulated"):
            where = f"rig {doc.get('rig', '?')} (simulated, ×{doc.get('time_scale', '?')})"
        else:
            where = f"rig {doc.get('rig', '?')}"
        args = ", ".join(f"{k}={_short(v)}" for k, v in (doc.get("plan_args") or {}).items())
        if "outcome" in doc:
            args += f"{', ' if args else ''}outcome={doc['outcome']!r}"
        self._logger.info(
            "run %s start: %s on %s%s",
            doc["uid"][:8],
            doc.get("plan_name", "?"),
            where,
            f" ({args})" if args else "",
        )
        if "patch_state" in doc:
            self._logger.info(
                "patch_cell cell %s attempt %s: stage %s (run %s)",
                doc.get("cell_index", "?"),
                doc.get("attempt", "?"),
                doc["patch_state"],
                doc["uid"][:8],
            )

    def descriptor(self, doc: dict) -> None:
        self._streams[doc["uid"]] = (doc["run_start"], doc.get("name"))

    def event(self, doc: dict) -> None:
        run_uid, stream = self._streams.get(doc["descriptor"], ("", None))
        if stream != "perfusion":
            return
        data = doc.get("data", {})
        solution = data.get("perfusion-solution")
        if solution is None:
            return
        previous, self._solution = self._solution, solution
        if previous is None or solution == previous:
            return
        exchanged = data.get("perfusion-exchanged_bath_volumes")
        t_s = data.get("t_s")
        self._logger.info(
            "run %s solution change: %s → %s (%s bath volumes exchanged%s)",
            run_uid[:8],
            previous,
            solution,
            "?" if exchanged is None else f"{exchanged:.2f}",
            "" if t_s is None else f", t_s {t_s:.1f} s",
        )

    def stop(self, doc: dict) -> None:
        run_uid = doc["run_start"]
        start = self._starts.pop(run_uid, {})
        for descriptor in [d for d, (run, _) in self._streams.items() if run == run_uid]:
            del self._streams[descriptor]
        counts = ", ".join(f"{k}={v}" for k, v in (doc.get("num_events") or {}).items())
        reason = doc.get("reason") or ""
        self._logger.info(
            "run %s stop: %s %s%s; events: %s",
            run_uid[:8],
            start.get("plan_name", "?"),
            doc.get("exit_status", "?"),
            f" ({reason})" if reason else "",
            counts or "none",
        )


class _ClockSleepProgress:
    """The RunEngine's ``sleep`` on the rig clock, with a progress bar for long sleeps."""

    def __init__(self, clock: Any, progress: ProgressBarManager, min_s: float) -> None:
        self.clock, self.progress, self.min_s = clock, progress, min_s

    async def _ticks(self, duration_s: float) -> AsyncIterator[Any]:
        from ophyd_async.core import WatcherUpdate

        clock = self.clock
        start_s = clock.now_s()
        end_s = start_s + duration_s
        # a tick every ~0.2 real seconds, at most 200 per sleep
        step_s = max(duration_s / 200.0, 0.2 * clock.time_scale)
        while True:
            now_s = clock.now_s()
            yield WatcherUpdate(
                name="sleep (rig clock)",
                current=min(now_s - start_s, duration_s),
                initial=0.0,
                target=duration_s,
                unit="s",
                time_elapsed=now_s - start_s,
            )
            if now_s >= end_s:
                return
            await clock.async_sleep_s(min(step_s, end_s - now_s))

    async def __call__(self, msg: Any) -> None:
        from ophyd_async.core import WatchableAsyncStatus

        duration_s = float(msg.args[0])
        if duration_s < self.min_s or not math.isfinite(self.clock.real_seconds(duration_s)):
            await self.clock.async_sleep_s(duration_s)
            return
        status = WatchableAsyncStatus(self._ticks(duration_s))
        self.progress({status})
        try:
            await status
        finally:
            if not status.done:
                status.task.cancel()
            self.progress(None)


class LiveFeedback:
    """What :func:`enable_live_feedback` subscribed; :meth:`disable` removes it all.

    ``tables``, ``plots`` (``plots.figures``), ``progress`` (the ``ProgressBarManager``) and
    ``runs`` (the :class:`RunLogger`) are ``None`` when switched off.
    """

    def __init__(
        self,
        RE: RunEngine,
        *,
        tables: RunRouter | None,
        plots: LivePlots | None,
        progress: ProgressBarManager | None,
        runs: RunLogger | None,
        clock: Any,
        tokens: list[int],
    ) -> None:
        self.RE = RE
        self.tables, self.plots, self.progress, self.runs = tables, plots, progress, runs
        self._clock = clock
        self._tokens = tokens

    def disable(self) -> None:
        """Unsubscribe the callbacks, remove the progress hook, restore plain clock sleeps."""
        for token in self._tokens:
            self.RE.unsubscribe(token)
        self._tokens = []
        if self.progress is not None and self.RE.waiting_hook is self.progress:
            self.RE.waiting_hook = None
        if self._clock is not None:
            clock = self._clock

            async def clock_sleep(msg: Any) -> None:
                await clock.async_sleep_s(msg.args[0])

            self.RE.register_command("sleep", clock_sleep)
            self._clock = None


def enable_live_feedback(
    RE: RunEngine,
    *,
    plots: bool = True,
    table: bool = True,
    progress: bool = True,
    log: bool = True,
    clock: Any = None,
    sleep_progress_min_s: float = 10.0,
    out: Callable[[str], None] = print,
) -> LiveFeedback:
    """Subscribe live tables, plots, progress bars and run log lines to ``RE`` (module
    docstring). ``clock`` (the session's rig clock) adds progress bars to plan sleeps of at
    least ``sleep_progress_min_s`` clock seconds, by making ``RE``'s ``sleep`` wait on that clock
    (as the session does). ``out`` receives the tables' lines. Call it from the main thread.
    """
    if not sleep_progress_min_s >= 0:
        raise ValueError(f"sleep_progress_min_s must be >= 0 s, got {sleep_progress_min_s!r}")
    tokens: list[int] = []
    tables = make_live_tables(out=out) if table else None
    live_plots = None
    if plots:
        import matplotlib

        if "qt" in matplotlib.get_backend().lower():
            initialize_qt_teleporter()
        live_plots = LivePlots()
    runs = RunLogger() if log else None
    for callback in (tables, live_plots, runs):
        if callback is not None:
            tokens.append(RE.subscribe(callback))
    manager = None
    sleep_clock = None
    if progress:
        manager = ProgressBarManager()
        RE.waiting_hook = manager
        if clock is not None:
            RE.register_command("sleep", _ClockSleepProgress(clock, manager, sleep_progress_min_s))
            sleep_clock = clock
    return LiveFeedback(
        RE,
        tables=tables,
        plots=live_plots,
        progress=manager,
        runs=runs,
        clock=sleep_clock,
        tokens=tokens,
    )

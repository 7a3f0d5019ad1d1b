"""``ionrig shell``: IPython with the session's names, ``%mov``/``%movr``/``%wa`` and top-level
``await`` running in the RunEngine's event loop.

The same names from Jupyter or any IPython::

    from ionrig.session import start
    session = start("sim", time_scale=100)
    from ionrig.bench.shell import shell_namespace
    globals().update(shell_namespace(session))

``shell_namespace`` also loads the magics and the ``await`` loop runner into the running IPython
(if any). A Jupyter kernel (ipykernel) honours a custom loop runner: it then runs such cells
through IPython's ``run_cell``, so ``await`` reaches the RunEngine's loop there too.

Cells run in the RunEngine's thread when they contain a top-level ``await``: keep ``RE(...)``
calls and ``with init_devices():`` blocks out of such cells (both fail there).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import sys
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import numpy as np
from bluesky import RunEngine
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from ionrig.bench.loop import run_in_loop

__all__ = [
    "IonrigMagics",
    "banner",
    "enable_shell_features",
    "launch_shell",
    "load_ipython_extension",
    "loop_runner_for",
    "run_in_loop",
    "shell_namespace",
]

T = TypeVar("T")

#: Marks an ``ionrig shell`` namespace whose live feedback the extension enables.
_LIVE_PENDING = "_ionrig_live_pending"

#: Per RunEngine: the BestEffortCallback and live feedback that ``shell_namespace`` subscribed,
#: so a second call returns the same objects instead of subscribing twice.
_SUBSCRIBED: weakref.WeakKeyDictionary[RunEngine, dict[str, Any]] = weakref.WeakKeyDictionary()


def loop_runner_for(RE: RunEngine) -> Callable[[Coroutine[Any, Any, T]], T]:
    """An IPython ``loop_runner``: cells with a top-level ``await`` run in ``RE``'s loop."""

    def runner(coroutine: Coroutine[Any, Any, T]) -> T:
        return run_in_loop(RE, coroutine)

    return runner


# -- magics -------------------------------------------------------------------------------------


def _format_value(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return np.array2string(value, precision=4, separator=", ", threshold=8)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(getattr(value, "value", value))


def _device_lines(RE: RunEngine, device: Any) -> list[tuple[str, str, str]]:
    """(data key, value, units) of a device: readings of readables, configuration of detectors
    (a camera or an amplifier reads only inside a run), and of movable sub-devices (shutter)."""
    from bluesky.protocols import Configurable, Movable, Readable, Triggerable
    from ophyd_async.core import Device, Signal

    async def collect() -> list[tuple[str, str, str]]:
        rows: list[tuple[str, str, str]] = []
        targets = [device]
        if isinstance(device, Device) and not isinstance(device, Signal):
            targets += [
                child
                for _, child in device.children()
                if isinstance(child, Device)
                and not isinstance(child, Signal)
                and isinstance(child, Movable)
                and isinstance(child, Readable)
            ]
        for target in targets:
            if isinstance(target, Triggerable) and isinstance(target, Configurable):
                readings = await _maybe_await(target.read_configuration())
                keys = await _maybe_await(target.describe_configuration())
            elif isinstance(target, Readable):
                readings = await _maybe_await(target.read())
                keys = await _maybe_await(target.describe())
            else:
                continue
            for key, reading in readings.items():
                units = keys.get(key, {}).get("units") or ""
                rows.append((key, _format_value(reading["value"]), units))
        return rows

    return run_in_loop(RE, collect(), timeout_s=30.0)


async def _maybe_await(value: Any) -> Any:
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        return await value
    return value


def _print_rows(rows: list[tuple[str, str, str]]) -> None:
    width = max((len(key) for key, _, _ in rows), default=0)
    for key, value, units in rows:
        print(f"  {key:<{width}}  {value}{' ' + units if units else ''}")


@magics_class
class IonrigMagics(Magics):
    """``%mov``, ``%movr`` and ``%wa`` on ionrig's (ophyd-async) devices, run by the session's
    RunEngine in its own event loop; nothing is recorded (no run is opened).

    bluesky's ``BlueskyMagics`` are not used: they drive devices from a RunEngine of their own
    on a second event loop (ionrig's devices belong to the session's loop), importing
    ``bluesky.magics`` re-points bluesky's global event loop at that second loop, and ``%wa``
    only lists classic-ophyd objects carrying ``_ophyd_labels_``.
    """

    def __init__(self, shell: Any, RE: RunEngine, rig: Any) -> None:
        super().__init__(shell)
        self.RE = RE
        self.rig = rig

    @line_magic
    def mov(self, line: str) -> None:
        """Move devices to positions: ``%mov DEVICE POSITION [DEVICE POSITION …]``.

        DEVICE is a name of the shell (``filter_wheel``, ``rig.camera.exposure_ms``); POSITION a
        Python expression, or bare text (``%mov perfusion hbss``). Long moves show progress.
        """
        self._move(line, relative=False)

    @line_magic
    def movr(self, line: str) -> None:
        """Move devices by numeric offsets: ``%movr pressure 1.5`` (kPa), ``%movr
        camera.exposure_ms -5``."""
        self._move(line, relative=True)

    @line_magic
    def wa(self, line: str) -> None:
        """Where all: every role's readings (``%wa``), or the named devices' (``%wa perfusion``).

        Detectors (camera, amplifier) show their configuration (exposure, holding potential…).
        """
        import ionrig.devices

        if line.strip():
            devices = [(text, self._evaluate(text)) for text in line.split()]
        else:
            devices = [
                (role, getattr(self.rig, role))
                for role in (*ionrig.devices.ROLES, "sequencer")
                if getattr(self.rig, role, None) is not None
            ]
        self._ensure_idle("%wa")
        for label, device in devices:
            print(label)
            try:
                _print_rows(_device_lines(self.RE, device))
            except Exception as error:  # one instrument not answering must not hide the rest
                print(f"  <could not read: {type(error).__name__}: {error}>")

    # -- helpers ---------------------------------------------------------------------------------
    def _evaluate(self, text: str) -> Any:
        try:
            return eval(text, self.shell.user_ns)
        except NameError:
            roles = ", ".join(name for name, _ in self.rig.children())
            raise UsageError(
                f"no device named {text!r} in the shell (the roles: {roles})"
            ) from None

    def _position(self, text: str) -> Any:
        try:
            return eval(text, self.shell.user_ns)
        except (NameError, SyntaxError):
            return text

    def _ensure_idle(self, what: str) -> None:
        if self.RE.state != "idle":
            raise UsageError(
                f"the RunEngine is {self.RE.state}; {what} runs only while it is idle "
                "(RE.resume(), RE.stop() or RE.abort() first)"
            )

    def _move(self, line: str, *, relative: bool) -> None:
        import bluesky.plan_stubs as bps
        from bluesky.protocols import Movable
        from bluesky.utils import ProgressBarManager, RunEngineInterrupted

        name = "%movr" if relative else "%mov"
        try:
            tokens = shlex.split(line, posix=False)
        except ValueError as error:
            raise UsageError(f"{name}: {error}") from None
        if not tokens or len(tokens) % 2:
            raise UsageError(
                f"{name} takes DEVICE POSITION pairs, e.g. "
                + ("%movr pressure 1.5" if relative else "%mov filter_wheel 380")
            )
        args: list[Any] = []
        moved: list[tuple[str, Any]] = []
        for device_text, position_text in zip(tokens[::2], tokens[1::2], strict=True):
            device = self._evaluate(device_text)
            if not isinstance(device, Movable):
                raise UsageError(f"{device_text} cannot be moved (it has no set())")
            position = self._position(position_text)
            if relative and (
                isinstance(position, bool) or not isinstance(position, int | float | np.number)
            ):
                raise UsageError(
                    f"%movr needs a numeric offset for {device_text}, got {position!r}"
                )
            args += [device, position]
            moved.append((device_text, device))
        self._ensure_idle(name)
        plan = bps.mvr(*args) if relative else bps.mv(*args)
        temporary_hook = self.RE.waiting_hook is None
        if temporary_hook:
            self.RE.waiting_hook = ProgressBarManager()
        try:
            self.RE(plan)
        except RunEngineInterrupted:
            print(f"{name} interrupted: the move was stopped where it was")
            if self.RE.state != "idle":
                self.RE.abort(reason=f"{name} interrupted")
        finally:
            if temporary_hook:
                self.RE.waiting_hook = None
        for label, device in moved:
            try:
                rows = _device_lines(self.RE, device)
            except Exception:  # the move happened; a read-back failure is not the move's
                continue
            print(label)
            _print_rows(rows)


# -- namespace, banner, IPython wiring ------------------------------------------------------------


def shell_namespace(session: Any, *, live: bool = True) -> dict[str, Any]:
    """The names a scientist works with, for ``globals().update(...)`` or IPython's ``user_ns``.

    ``RE``, ``rig``, each role by name (``filter_wheel``, ``camera``, ``perfusion``,
    ``amplifier``, ``pressure``, ``temperature``, …), every public name of
    :mod:`ionrig.plans`, ``bps`` (bluesky.plan_stubs), ``bp`` (bluesky.plans), ``catalog``,
    ``clock``, ``session``, ``bec`` (a subscribed BestEffortCallback; its plots are off:
    ``bec.enable_plots()``), ``live`` (:func:`ionrig.bench.live.enable_live_feedback`'s handle, or
    ``None`` with ``live=False``; ``enable_live_feedback`` too), ``load_rois`` and ``preview()``
    (the camera preview window).
    Calling it again for the same session subscribes nothing new. Inside a running IPython it
    also loads the magics and the ``await`` loop runner (:func:`enable_shell_features`).
    """
    import bluesky.plan_stubs as bps
    import bluesky.plans as bp
    from bluesky.callbacks.best_effort import BestEffortCallback

    import ionrig.plans
    from ionrig.bench.live import enable_live_feedback
    from ionrig.bench.preview import PreviewController, load_rois, open_preview

    RE, rig = session.RE, session.rig
    subscribed = _SUBSCRIBED.setdefault(RE, {})
    if "bec" not in subscribed:
        bec = BestEffortCallback()
        bec.disable_plots()  # ionrig.bench.live plots the ratio and TRPM7 streams
        RE.subscribe(bec)
        subscribed["bec"] = bec
    if live and "live" not in subscribed:
        subscribed["live"] = enable_live_feedback(RE, clock=session.clock)

    def preview(**options: Any) -> Any:
        """Open the camera preview window (see :func:`ionrig.bench.preview.open_preview`)."""
        return open_preview(session, **options)

    namespace: dict[str, Any] = {name: getattr(ionrig.plans, name) for name in ionrig.plans.__all__}
    namespace.update(dict(rig.children()))
    namespace.update(
        {
            "session": session,
            "RE": RE,
            "rig": rig,
            "catalog": session.catalog,
            "clock": session.clock,
            "bps": bps,
            "bp": bp,
            "bec": subscribed["bec"],
            "live": subscribed.get("live"),
            "enable_live_feedback": enable_live_feedback,
            "load_rois": load_rois,
            "preview": preview,
            "PreviewController": PreviewController,
            "run_in_loop": run_in_loop,
        }
    )
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        get_ipython = None
    ip = get_ipython() if get_ipython is not None else None
    if ip is not None:
        enable_shell_features(ip, RE, rig)
    return namespace


def enable_shell_features(ip: Any, RE: RunEngine, rig: Any) -> None:
    """Register :class:`IonrigMagics` in IPython ``ip`` and make top-level ``await`` run in
    ``RE``'s event loop (autoawait with :func:`loop_runner_for`)."""
    ip.register_magics(IonrigMagics(ip, RE, rig))
    ip.loop_runner = loop_runner_for(RE)
    ip.autoawait = True


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext ionrig.bench.shell`` once ``RE`` and ``rig`` (from :func:`shell_namespace`) are
    in the user namespace."""
    if ip.user_ns.pop(_LIVE_PENDING, False):
        # `ionrig shell`: live feedback is enabled here, after IPython has set up its matplotlib
        # GUI integration, so that a Qt backend gets bluesky's teleporter from the main thread
        ip.user_ns.update(shell_namespace(ip.user_ns["session"]))
        return
    try:
        RE, rig = ip.user_ns["RE"], ip.user_ns["rig"]
    except KeyError:
        raise UsageError(
            "ionrig.bench.shell needs RE and rig in the namespace: "
            "globals().update(shell_namespace(session)) first"
        ) from None
    enable_shell_features(ip, RE, rig)


def _qt_gui_available() -> bool:
    """Whether IPython can integrate Qt here: a Qt binding, a display, no MPLBACKEND chosen."""
    import importlib.util

    if os.environ.get("MPLBACKEND"):
        return False
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return False
    return any(
        importlib.util.find_spec(binding) is not None
        for binding in ("PyQt6", "PySide6", "PyQt5", "PySide2")
    )


def banner(session: Any) -> str:
    """Which rig is live (simulated or not, time scale), where data go, and the names."""
    rig = session.rig
    config = getattr(rig, "config", None)
    name = getattr(config, "name", rig.name)
    if getattr(rig, "simulated", False):
        scale = session.clock.time_scale
        kind = f"SIMULATED instruments, time_scale {scale:g} (simulated seconds per real second)"
    else:
        kind = "REAL instruments, wall-clock time"
    lines = [f"ionrig shell: rig {name!r}: {kind}"]
    catalog = session.catalog
    if catalog is not None:
        location = catalog.location
        lines.append(
            f"data: {location.root} (catalog: {len(catalog)} runs; frames and sweeps in "
            f"{location.raw_dir}; journal in {location.journal_dir})"
        )
    else:
        lines.append("data: no catalog (documents are journaled only)")
    roles = ", ".join(role for role, _ in rig.children())
    lines += [
        f"devices: {roles} (also rig.<role>)",
        "names: RE, rig, catalog, bec, bps, bp, live, preview(), load_rois, every plan of "
        "ionrig.plans (ratiometric_timecourse, wash, patch_cell, …)",
        "magics: %mov filter_wheel 380 · %mov perfusion hbss · %movr pressure 1 · %wa; "
        "top-level `await` runs in the RunEngine's loop",
        "e.g. RE(ratiometric_timecourse(rig, 10)); catalog[-1]",
    ]
    return "\n".join(lines) + "\n"


def _log_runs_to_console() -> None:
    logger = logging.getLogger("ionrig.runs")
    if not any(getattr(h, "_ionrig_shell", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        handler._ionrig_shell = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def launch_shell(
    rig: str | os.PathLike = "sim",
    *,
    data: str | os.PathLike | None = None,
    time_scale: float | None = None,
    ipython_argv: list[str] | None = None,
) -> int:
    """Start a session on ``rig`` and an IPython shell on it (the ``ionrig shell`` command).

    ``data`` is the data directory (default ``$IONRIG_DATA``); ``time_scale`` overrides the rig
    file's (simulated rigs). The rig is left safe and the catalog closed when the shell exits.
    Returns the exit code (0).
    """
    from IPython import start_ipython
    from traitlets.config import Config

    from ionrig.data.catalog import open_catalog
    from ionrig.rig import read_rig_config
    from ionrig.session import start

    overrides = {} if time_scale is None else {"time_scale": time_scale}
    read_rig_config(rig, **overrides)  # a wrong rig file or time scale fails before the catalog
    catalog = open_catalog(data)
    try:
        session = start(rig, catalog=catalog, **overrides)
    except BaseException:
        catalog.close()
        raise
    try:
        _log_runs_to_console()
        namespace = {**shell_namespace(session, live=False), _LIVE_PENDING: True}
        config = Config()
        if _qt_gui_available():  # live plots and the preview window in Qt
            config.InteractiveShellApp.matplotlib = "qt"
        config.TerminalInteractiveShell.banner2 = banner(session)
        config.TerminalInteractiveShell.confirm_exit = False
        config.InteractiveShellApp.extensions = ["ionrig.bench.shell"]
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("the ionrig shell must run in the main thread")
        start_ipython(argv=list(ipython_argv or []), user_ns=namespace, config=config)
    finally:
        try:
            session.close()
        except Exception as error:  # the rig could not be made safe: say so
            print(f"warning: could not leave the rig safe: {error}", file=sys.stderr)
    return 0

"""What one run of ``ionrig doctor`` holds, and how a check runs and fails.

:class:`DoctorRun` runs each check with the doctor's timeout (a dead instrument cannot hang
it) and turns any exception into a FAIL that names the part checked and says what to fix.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ionrig.devices.drivers import (
    Daq,
    DaqCommandError,
    DaqDeviceLost,
    DaqReadingError,
    DaqTimeout,
    InstrumentAlarm,
    InstrumentCommandError,
    InstrumentDisconnected,
    InstrumentError,
    InstrumentReplyError,
    InstrumentTimeout,
)
from ionrig.rig.config import ConfigError
from ionrig.rig.rigfile import RigConfig

from ._report import CheckResult

__all__ = [
    "Abandoned",
    "CameraFrameError",
    "DoctorRun",
    "Part",
    "call_with_timeout",
    "describe_error",
    "error_text",
]


@dataclass(frozen=True)
class Part:
    """What a check talks to: how to name it, which rig-file field sets it, which fault
    ``instrument`` of the ``faults:`` section reaches it."""

    label: str
    field: str
    fault_instrument: str | None = None
    in_rig_file: bool = True


class Abandoned(Exception):
    """A check did not finish within the doctor's timeout."""


def call_with_timeout(fn: Callable[[], Any], timeout_s: float, name: str) -> Any:
    """``fn()`` in a daemon thread; its result, its exception, or :class:`Abandoned`."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as error:  # handed to the caller
            box["error"] = error

    thread = threading.Thread(target=target, name=f"ionrig-doctor {name}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise Abandoned(f"no answer within {timeout_s:g} s (the check was abandoned)")
    if "error" in box:
        raise box["error"]
    return box.get("result")


@dataclass
class DoctorRun:
    """One doctor run: what it checks (``rig``, ``overrides``, ``data_dir``), its limits
    (``min_free_GB``, GB; ``timeout_s``, real seconds per check), the results so far, and what
    earlier checks found for later ones (the rig file's ``config``, the simulated
    ``instruments`` by role, the ``daq`` that answered) and ``closers`` to run at the end."""

    rig: str | os.PathLike
    data_dir: str | os.PathLike | None
    min_free_GB: float
    timeout_s: float
    overrides: dict[str, Any]
    results: list[CheckResult] = field(default_factory=list)
    config: RigConfig | None = None
    instruments: dict[str, Any] = field(default_factory=dict)
    daq: Daq | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)

    def check(self, name: str, part: Part, body: Callable[[], CheckResult]) -> CheckResult:
        """Run ``body`` with the timeout; any exception becomes a FAIL naming ``part``."""
        try:
            result = call_with_timeout(body, self.timeout_s, name)
        except Abandoned as error:
            result = CheckResult(
                name,
                "FAIL",
                f"{part.label}: {error}",
                self.fix_hint(part, "it does not answer: check it is switched on and its cable"),
            )
        except Exception as error:  # every failure is reported
            result = CheckResult(
                name, "FAIL", describe_error(error, part), self.fix_for(error, part)
            )
        self.results.append(result)
        return result

    def on_daq(
        self, name: str, part: Part, body: Callable[[Daq], CheckResult]
    ) -> CheckResult | None:
        """Run ``body`` on the DAQ that answered; a FAIL without running it when none did."""
        if self.daq is None:
            result = CheckResult(
                name,
                "FAIL",
                f"{part.label}: not checked, the DAQ check failed",
                "fix the DAQ check first",
            )
            self.results.append(result)
            return result
        daq = self.daq
        return self.check(name, part, lambda: body(daq))

    def close(self) -> None:
        """Close what the checks opened, newest first, each within 2 s."""
        for closer in reversed(self.closers):
            # Closing a dead port must not fail the report.
            with contextlib.suppress(Exception):
                call_with_timeout(closer, 2.0, "close")
        self.closers.clear()

    # -- what to fix -----------------------------------------------------------------------------
    def injected(self, part: Part) -> str:
        config = self.config
        if config is None or not config.simulated or part.fault_instrument is None:
            return ""
        kinds = [f.kind for f in config.faults if f.instrument == part.fault_instrument]
        if not kinds:
            return ""
        return (
            f" (this simulated rig injects {', '.join(kinds)} into {part.fault_instrument}: "
            "remove it from the rig file's faults: section)"
        )

    def fix_hint(self, part: Part, text: str) -> str:
        where = " in the rig file" if part.in_rig_file else ""
        return f"{text}; check {part.field}{where}{self.injected(part)}"

    def fix_for(self, error: BaseException, part: Part) -> str:
        if isinstance(error, ImportError):
            return str(error)
        if isinstance(error, FileNotFoundError) or isinstance(error.__cause__, FileNotFoundError):
            return f"the file does not exist: correct {part.field} in the rig file"
        if isinstance(error, ConfigError | ValueError) and not isinstance(error, InstrumentError):
            return f"correct {part.field} in the rig file"
        if part.fault_instrument == "camera":
            return self.fix_hint(
                part,
                "the camera does not deliver frames: check its power and cable, and that no "
                "other program (Micro-Manager, a vendor viewer) holds it",
            )
        if isinstance(error, DaqDeviceLost):
            return self.fix_hint(
                part,
                "the DAQ is gone: check its USB/PCIe cable and power, and that daq.device names "
                "it (NI MAX lists the devices)",
            )
        if isinstance(error, DaqTimeout):
            return self.fix_hint(
                part, "the DAQ did not complete a read: close other programs using the board"
            )
        if isinstance(error, DaqReadingError):
            return self.fix_hint(
                part, "the reading is impossible: check the BNC cable and the channel wired"
            )
        if isinstance(error, DaqCommandError):
            return self.fix_hint(part, "the DAQ driver reported an error: reset the device")
        if isinstance(error, InstrumentDisconnected):
            return self.fix_hint(
                part,
                "cannot reach the port: check the USB-serial cable and power, and the port name "
                "(ls /dev/ttyUSB* on Linux, Device Manager on Windows)",
            )
        if isinstance(error, InstrumentTimeout):
            return self.fix_hint(
                part,
                "no reply: check the controller is on and on-line (not in local mode), the "
                "cable, and the baud rate",
            )
        if isinstance(error, InstrumentReplyError):
            return self.fix_hint(
                part,
                "garbled reply: check the baud rate, that no other program has the port open, "
                "then power-cycle the controller",
            )
        if isinstance(error, InstrumentAlarm):
            return self.fix_hint(part, "clear the alarm on the instrument's front panel")
        if isinstance(error, InstrumentCommandError):
            return self.fix_hint(
                part, "the instrument refused a query: power-cycle it; is another program using it?"
            )
        return self.fix_hint(part, f"unexpected {type(error).__name__}: see the detail")


class CameraFrameError(Exception):
    """The camera identified itself but its test frame failed (already described)."""


def error_text(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    if isinstance(error, InstrumentError):
        return text
    return f"{type(error).__name__}: {text}"


def describe_error(error: BaseException, part: Part) -> str:
    """The error's message, prefixed with the part unless the message already starts with it."""
    if isinstance(error, CameraFrameError):
        return str(error)
    if isinstance(error, ImportError):
        missing = getattr(error.__cause__, "name", None) or getattr(error, "name", None)
        return f"{part.label}: the Python package {missing or '(see the fix)'} is not installed"
    text = error_text(error)
    return text if text.startswith(part.label) else f"{part.label}: {text}"

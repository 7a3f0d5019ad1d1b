"""Rig bring-up: ``ionrig doctor`` checks every part of a rig without running a plan.

:func:`run_doctor` reads the rig file, then asks each instrument who it is and how it is — the
filter wheel's identity and status, the syringe pump's firmware and status, one DAQ reading, the
amplifier's telegraphs (mode, gain, lowpass), the bath temperature, the pressure monitor, the
camera's model, size and bit depth (and one test frame) — checks the solutions and the DAQ
wiring in the rig file, and that the data directory is writable with enough free space.

Nothing moves: no filter, shutter, valve, pump, pressure or holding command is sent; only
identification and status queries, analog input readings and one camera frame. Each check
runs with a timeout (real seconds), so a dead instrument cannot hang the doctor. On a
simulated rig the simulated instruments are built from the rig file exactly as ``load_rig``
builds them (faults of the file's ``faults:`` section included), registered on their
``ionrig-sim://`` ports while the doctor runs, and the previous registrations restored after.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import textwrap
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import psutil
import yaml

from ionrig.data.catalog import DataLocation, data_directory
from ionrig.devices.drivers import (
    Axopatch200B,
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
    MicroManagerCamera,
    NewEraPump,
    NidaqmxDaq,
    PressureRegulator,
    PumpStatus,
    SutterLambda10_3,
    TemperatureMonitor,
)
from ionrig.devices.drivers._daq import channel_kind
from ionrig.rig.build import filter_wheel_driver
from ionrig.rig.config import ConfigError
from ionrig.rig.rigfile import (
    RigConfig,
    axopatch_channels,
    read_rig_config,
    read_solutions,
    solutions_origin,
    valve_lines,
)
from ionrig.rig.wiring import inject_faults, simulate_instruments
from ionrig.simulators import (
    ScaledClock,
    SimulatedDaq,
    World,
    register_simulated_instrument,
    registered_simulated_instruments,
    unregister_simulated_instrument,
)

__all__ = ["CheckResult", "DoctorReport", "Status", "run_doctor"]

Status = Literal["ok", "warn", "FAIL"]

#: Default free-space threshold of the data directory's disk (GB = 10⁹ bytes).
DEFAULT_MIN_FREE_GB = 10.0
#: Default per-check timeout, real seconds (drivers time out on their own well before it).
DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class CheckResult:
    """One line of the doctor's table: ``status`` is ``"ok"``, ``"warn"`` or ``"FAIL"``;
    ``detail`` names the instrument (and its port or channel) and what it answered; ``fix``
    says what to do (empty when nothing is needed)."""

    name: str
    status: Status
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class DoctorReport:
    """Every check of one doctor run, in the order they ran."""

    rig: str
    checks: tuple[CheckResult, ...]

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.status == "FAIL")

    @property
    def ok(self) -> bool:
        """True when no check failed (warnings allowed)."""
        return not self.failed

    @property
    def exit_code(self) -> int:
        """0 when every check is ok or warn, 1 when any failed."""
        return 0 if self.ok else 1

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.checks)

    def __getitem__(self, name: str) -> CheckResult:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(f"no check {name!r} (checks: {', '.join(self.names)})")

    def table(self, *, detail_width: int = 60, fix_width: int = 44) -> str:
        """The report as a text table: check | status | detail | what to fix."""
        header = ("check", "status", "detail", "what to fix")
        name_width = max(len(header[0]), *(len(c.name) for c in self.checks))
        rows = [header, ("-" * name_width, "------", "-" * detail_width, "-" * fix_width)]
        lines = []
        for row in rows:
            lines.append(
                f"{row[0]:<{name_width}}  {row[1]:<6}  {row[2]:<{detail_width}}  {row[3]}".rstrip()
            )
        for check in self.checks:
            detail = textwrap.wrap(check.detail, detail_width, break_on_hyphens=False) or [""]
            fix = textwrap.wrap(check.fix, fix_width, break_on_hyphens=False) or [""]
            for i in range(max(len(detail), len(fix))):
                cells = (
                    check.name if i == 0 else "",
                    check.status if i == 0 else "",
                    detail[i] if i < len(detail) else "",
                    fix[i] if i < len(fix) else "",
                )
                lines.append(
                    f"{cells[0]:<{name_width}}  {cells[1]:<6}  {cells[2]:<{detail_width}}  "
                    f"{cells[3]}".rstrip()
                )
        failed = len(self.failed)
        warned = sum(c.status == "warn" for c in self.checks)
        verdict = (
            f"{failed} check(s) FAILED: fix them and run `ionrig doctor` again"
            if failed
            else "rig ready" + (f" ({warned} warning(s))" if warned else "")
        )
        return "\n".join([f"ionrig doctor: rig {self.rig}", *lines, verdict])


@dataclass(frozen=True)
class _Part:
    """What a check talks to: how to name it, which rig-file field sets it, which fault
    ``instrument`` of the ``faults:`` section reaches it."""

    label: str
    field: str
    fault_instrument: str | None = None
    in_rig_file: bool = True


class _Abandoned(Exception):
    """A check did not finish within the doctor's timeout."""


def _call_with_timeout(fn: Callable[[], Any], timeout_s: float, name: str) -> Any:
    """``fn()`` in a daemon thread; its result, its exception, or :class:`_Abandoned`."""
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
        raise _Abandoned(f"no answer within {timeout_s:g} s (the check was abandoned)")
    if "error" in box:
        raise box["error"]
    return box.get("result")


class _Doctor:
    def __init__(
        self,
        rig: str | os.PathLike,
        *,
        data_dir: str | os.PathLike | None,
        min_free_GB: float,
        timeout_s: float,
        overrides: dict[str, Any],
    ) -> None:
        self.rig = rig
        self.data_dir = data_dir
        self.min_free_GB = min_free_GB
        self.timeout_s = timeout_s
        self.overrides = overrides
        self.results: list[CheckResult] = []
        self.config: RigConfig | None = None
        self.instruments: dict[str, Any] = {}
        self.daq: Daq | None = None
        self._closers: list[Callable[[], None]] = []

    # -- running checks ------------------------------------------------------------------------
    def check(self, name: str, part: _Part, body: Callable[[], CheckResult]) -> CheckResult:
        """Run ``body`` with the timeout; any exception becomes a FAIL naming ``part``."""
        try:
            result = _call_with_timeout(body, self.timeout_s, name)
        except _Abandoned as error:
            result = CheckResult(
                name,
                "FAIL",
                f"{part.label}: {error}",
                self._fix_hint(part, "it does not answer: check it is switched on and its cable"),
            )
        except Exception as error:  # every failure is reported
            result = CheckResult(name, "FAIL", _describe(error, part), self._fix_for(error, part))
        self.results.append(result)
        return result

    def close(self) -> None:
        for closer in reversed(self._closers):
            # Closing a dead port must not fail the report.
            with contextlib.suppress(Exception):
                _call_with_timeout(closer, 2.0, "close")
        self._closers.clear()

    # -- what to fix -----------------------------------------------------------------------------
    def _injected(self, part: _Part) -> str:
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

    def _fix_hint(self, part: _Part, text: str) -> str:
        where = " in the rig file" if part.in_rig_file else ""
        return f"{text}; check {part.field}{where}{self._injected(part)}"

    def _fix_for(self, error: BaseException, part: _Part) -> str:
        if isinstance(error, ImportError):
            return str(error)
        if isinstance(error, FileNotFoundError) or isinstance(error.__cause__, FileNotFoundError):
            return f"the file does not exist: correct {part.field} in the rig file"
        if isinstance(error, ConfigError | ValueError) and not isinstance(error, InstrumentError):
            return f"correct {part.field} in the rig file"
        if part.fault_instrument == "camera":
            return self._fix_hint(
                part,
                "the camera does not deliver frames: check its power and cable, and that no "
                "other program (Micro-Manager, a vendor viewer) holds it",
            )
        if isinstance(error, DaqDeviceLost):
            return self._fix_hint(
                part,
                "the DAQ is gone: check its USB/PCIe cable and power, and that daq.device names "
                "it (NI MAX lists the devices)",
            )
        if isinstance(error, DaqTimeout):
            return self._fix_hint(
                part, "the DAQ did not complete a read: close other programs using the board"
            )
        if isinstance(error, DaqReadingError):
            return self._fix_hint(
                part, "the reading is impossible: check the BNC cable and the channel wired"
            )
        if isinstance(error, DaqCommandError):
            return self._fix_hint(part, "the DAQ driver reported an error: reset the device")
        if isinstance(error, InstrumentDisconnected):
            return self._fix_hint(
                part,
                "cannot reach the port: check the USB-serial cable and power, and the port name "
                "(ls /dev/ttyUSB* on Linux, Device Manager on Windows)",
            )
        if isinstance(error, InstrumentTimeout):
            return self._fix_hint(
                part,
                "no reply: check the controller is on and on-line (not in local mode), the "
                "cable, and the baud rate",
            )
        if isinstance(error, InstrumentReplyError):
            return self._fix_hint(
                part,
                "garbled reply: check the baud rate, that no other program has the port open, "
                "then power-cycle the controller",
            )
        if isinstance(error, InstrumentAlarm):
            return self._fix_hint(part, "clear the alarm on the instrument's front panel")
        if isinstance(error, InstrumentCommandError):
            return self._fix_hint(
                part, "the instrument refused a query: power-cycle it; is another program using it?"
            )
        return self._fix_hint(part, f"unexpected {type(error).__name__}: see the detail")

    # -- the checks ------------------------------------------------------------------------------
    def run(self) -> DoctorReport:
        try:
            if self.check_rig_file():
                self.check_solutions()
                self.check_perfusion()
                self.check_daq_wiring()
            if self.config is not None and self.build_simulated_rig():
                self.check_filter_wheel()
                self.check_pump()
                self.check_daq()
                self.check_amplifier()
                self.check_temperature()
                self.check_pressure()
                self.check_camera()
            self.check_data_directory()
        finally:
            self.close()
        return DoctorReport(rig=str(self.rig), checks=tuple(self.results))

    def check_rig_file(self) -> bool:
        part = _Part(f"rig file {self.rig}", "the rig file")
        try:
            config = read_rig_config(self.rig, **self.overrides)
        except ConfigError as error:
            self.results.append(
                CheckResult(
                    "rig file",
                    "FAIL",
                    str(error),
                    "correct that field in the rig file (every key, with its allowed values, "
                    "is in rigs/example-real.yaml)",
                )
            )
            return False
        except yaml.YAMLError as error:
            self.results.append(
                CheckResult(
                    "rig file",
                    "FAIL",
                    f"rig file {str(self.rig)!r} is not valid YAML: {error}",
                    "fix the YAML syntax at the line shown",
                )
            )
            return False
        except OSError as error:
            self.results.append(
                CheckResult("rig file", "FAIL", _describe(error, part), "check the path")
            )
            return False
        self.config = config
        kind = f"simulated, time_scale {config.time_scale:g}" if config.simulated else "real"
        source = "" if str(self.rig) == config.name else f" from {self.rig}"
        detail = f"{config.name}{source} ({kind}): every key valid"
        if config.faults:
            faults = ", ".join(f"{f.kind} into {f.instrument}" for f in config.faults)
            self.results.append(
                CheckResult(
                    "rig file",
                    "warn",
                    f"{detail}; faults injected: {faults}",
                    "a rehearsal of failures: remove faults: for a clean rig",
                )
            )
        else:
            self.results.append(CheckResult("rig file", "ok", detail))
        return True

    def build_simulated_rig(self) -> bool:
        """On a simulated rig, build its instruments (False, with a FAIL, if it cannot be)."""
        config = self.config
        assert config is not None
        if not config.simulated:
            return True
        try:
            self._simulate(config)
        except Exception as error:  # the rig file describes a rig that cannot be built
            self.results.append(
                CheckResult(
                    "simulated rig",
                    "FAIL",
                    f"{config.name}: the simulated instruments cannot be built: {_text(error)}",
                    "correct the rig file (the checks above may name the field)",
                )
            )
            return False
        return True

    def _simulate(self, config: RigConfig) -> None:
        """The simulated instruments behind the ports, as ``load_rig`` builds them."""
        previous = registered_simulated_instruments()

        def restore() -> None:
            for name in registered_simulated_instruments():
                if name not in previous:
                    unregister_simulated_instrument(name)
            for name, instrument in previous.items():
                register_simulated_instrument(name, instrument)

        self._closers.insert(0, restore)  # runs last, after the ports are closed
        clock = ScaledClock(config.time_scale)
        world = World.from_config(
            config.world, clock=clock, seed=config.seed, solutions=read_solutions(config)
        )
        daq = SimulatedDaq(config.daq.device, clock=clock, ai_resolution_bits=None)
        self.instruments = simulate_instruments(config, world, daq)
        inject_faults(self.instruments, config.faults)

    def check_solutions(self) -> None:
        config = self.config
        assert config is not None
        origin = solutions_origin(config, None)
        part = _Part(f"solutions: {origin}", "perfusion.solutions")

        def body() -> CheckResult:
            known = read_solutions(config)
            names = config.perfusion.solutions
            missing = [n for n in names if n not in known]
            if missing:
                return CheckResult(
                    "solutions",
                    "FAIL",
                    f"perfusion.solutions: {missing} are not in {origin} "
                    f"(known: {', '.join(known)})",
                    "add them with their recipe to the lab's solutions file (the rig file's "
                    "'solutions', see docs/solutions.md), or correct the names in "
                    "perfusion.solutions",
                )
            empty = [n for n in names if not known[n].totals_mM]
            if empty:
                return CheckResult(
                    "solutions",
                    "FAIL",
                    f"{empty} have no composition in {origin} (nothing is added)",
                    "give each its recipe (components in mM) in the solutions file",
                )
            initial = config.perfusion.initial or names[0]
            return CheckResult(
                "solutions",
                "ok",
                f"{len(names)} solutions, each in {origin} with a recipe: "
                f"{', '.join(names)} (initial {initial})",
            )

        self.check("solutions", part, body)

    def check_perfusion(self) -> None:
        config = self.config
        assert config is not None
        p = config.perfusion
        part = _Part("perfusion valves", "perfusion.valve_lines")

        def body() -> CheckResult:
            lines = valve_lines(config)
            problems = []
            for name, line in lines.items():
                if not _is_channel(line, "line", config.daq.device):
                    problems.append(
                        f"{name} → {line!r} is not a DO line of {config.daq.device} "
                        f"(like {config.daq.device}/port0/line0)"
                    )
            shared = _duplicates(lines.items())
            problems += [f"{' and '.join(names)} share {line}" for line, names in shared.items()]
            if p.flow == "peristaltic" and not _is_channel(p.pump_ao, "ao", config.daq.device):
                problems.append(f"perfusion.pump_ao {p.pump_ao!r} is not an AO of the DAQ")
            if problems:
                return CheckResult(
                    "perfusion",
                    "FAIL",
                    "valve/pump mapping incomplete: " + "; ".join(problems),
                    "give every solution its own DO line in perfusion.valve_lines",
                )
            mapping = ", ".join(f"{name} → {line}" for name, line in lines.items())
            flow = {
                "gravity": f"gravity flow {p.flow_mL_per_min:g} mL/min",
                "ne500": f"New Era NE-500 on {p.pump_port}",
                "peristaltic": f"peristaltic pump on {p.pump_ao}",
            }[p.flow]
            defaulted = [n for n in p.solutions if n not in p.valve_lines]
            detail = f"{len(lines)} valves: {mapping}; {flow}"
            if defaulted and not config.simulated:
                return CheckResult(
                    "perfusion",
                    "warn",
                    f"{detail}; lines assumed by order for {', '.join(defaulted)}",
                    "list every valve's DO line in perfusion.valve_lines to match the wiring",
                )
            return CheckResult("perfusion", "ok", detail)

        self.check("perfusion", part, body)

    def check_daq_wiring(self) -> None:
        config = self.config
        assert config is not None
        a, pr, te, pe = config.amplifier, config.pressure, config.temperature, config.perfusion
        channels: list[tuple[str, str | None, str]] = [
            ("amplifier.command_ao", a.command_ao, "ao"),
            ("pressure.ao_channel", pr.ao_channel, "ao"),
            ("amplifier.scaled_output_ai", a.scaled_output_ai, "ai"),
            ("amplifier.gain_telegraph_ai", a.gain_telegraph_ai, "ai"),
            ("amplifier.mode_telegraph_ai", a.mode_telegraph_ai, "ai"),
            ("amplifier.filter_telegraph_ai", a.filter_telegraph_ai, "ai"),
            ("pressure.ai_monitor", pr.ai_monitor, "ai"),
            ("temperature.ai_channel", te.ai_channel, "ai"),
        ]
        if pe.flow == "peristaltic":
            channels.append(("perfusion.pump_ao", pe.pump_ao, "ao"))
        wired = [(f, c, k) for f, c, k in channels if c is not None]
        part = _Part(f"DAQ {config.daq.device} channel map", "the DAQ channels")

        def body() -> CheckResult:
            device = config.daq.device
            problems = [
                f"{field_name} {channel!r} is not an {kind.upper()} channel of {device}"
                for field_name, channel, kind in wired
                if not _is_channel(channel, kind, device)
            ]
            shared = _duplicates((f, c) for f, c, _ in wired)
            problems += [f"{' and '.join(fs)} are both {c}" for c, fs in shared.items()]
            if problems:
                return CheckResult(
                    "DAQ wiring",
                    "FAIL",
                    "; ".join(problems),
                    "give each signal its own channel on the DAQ, as wired",
                )
            return CheckResult(
                "DAQ wiring",
                "ok",
                f"{len(wired)} analog channels on {device}, none shared: "
                + ", ".join(f"{f} {c}" for f, c, _ in wired),
            )

        self.check("DAQ wiring", part, body)

    def check_filter_wheel(self) -> None:
        config = self.config
        assert config is not None
        wheel = config.filter_wheel
        by_position = {f.position: (name, f.wavelength_nm) for name, f in wheel.filters.items()}

        def describe_position(position: int) -> str:
            if position in by_position:
                name, nm = by_position[position]
                return f"position {position} (filter {name}, {nm:g} nm)"
            return f"position {position} (no filter of the rig file there)"

        if wheel.driver == "simulated":
            part = _Part("simulated filter wheel (no serial port)", "filter_wheel.driver")

            def simulated() -> CheckResult:
                sim = self.instruments["filter_wheel"]
                shutter = "open" if sim.shutter_open else "closed"
                return CheckResult(
                    "filter wheel",
                    "ok",
                    f"{part.label}: {describe_position(sim.position)}, shutter {shutter}",
                )

            self.check("filter wheel", part, simulated)
            return
        model = "Sutter Lambda DG-4" if wheel.driver == "dg4" else "Sutter Lambda 10-3"
        part = _Part(f"{model} at {wheel.port}", "filter_wheel.port", "filter_wheel")

        def body() -> CheckResult:
            driver = filter_wheel_driver(wheel)
            self._closers.append(driver.close)
            identity = driver.id
            if not isinstance(driver, SutterLambda10_3):
                return CheckResult(
                    "filter wheel", "ok", f"{driver.instrument_label}: id {identity!r}"
                )
            fitted = dict(re.findall(r"W([ABC])-(NC|ER|\d+)", identity))
            if fitted.get(wheel.wheel) in ("NC", "ER"):
                state = "not connected" if fitted[wheel.wheel] == "NC" else "in error"
                return CheckResult(
                    "filter wheel",
                    "FAIL",
                    f"{driver.instrument_label}: id {identity!r}: wheel {wheel.wheel} is {state}",
                    f"connect wheel {wheel.wheel}, or set filter_wheel.wheel to a fitted wheel",
                )
            status = driver.status
            shutter = "open" if status.shutter_open[wheel.shutter] else "closed"
            return CheckResult(
                "filter wheel",
                "ok",
                f"{driver.instrument_label}: id {identity!r}; wheel {wheel.wheel} at "
                f"{describe_position(status.wheel_positions[wheel.wheel])}, "
                f"shutter {wheel.shutter} {shutter}",
            )

        self.check("filter wheel", part, body)

    def check_pump(self) -> None:
        config = self.config
        assert config is not None
        p = config.perfusion
        if p.flow != "ne500":
            return
        part = _Part(f"New Era NE-500 at {p.pump_port}", "perfusion.pump_port", "pump")

        def body() -> CheckResult:
            pump = NewEraPump(p.pump_port)
            self._closers.append(pump.close)
            version = pump.id
            status = pump.status
            detail = f"{pump.instrument_label}: {version}, {status.name.lower()}"
            if pump.last_alarm is not None:
                detail += f" (reported alarm {pump.last_alarm.name} once, now cleared)"
            if status in (PumpStatus.INFUSING, PumpStatus.WITHDRAWING, PumpStatus.PURGING):
                return CheckResult(
                    "pump", "warn", detail, "the pump is running: stop it before a run"
                )
            return CheckResult("pump", "ok", detail)

        self.check("pump", part, body)

    def check_daq(self) -> None:
        config = self.config
        assert config is not None
        label = (
            f"simulated DAQ {config.daq.device}"
            if config.daq.backend == "simulated"
            else f"NI-DAQmx {config.daq.device}"
        )
        part = _Part(label, "daq.device", "daq")
        channel = config.amplifier.scaled_output_ai

        opened: list[Daq] = []

        def body() -> CheckResult:
            backend = (
                self.instruments["daq"]
                if config.simulated
                else NidaqmxDaq(config.daq.device)  # the only backend of a real rig
            )
            daq = Daq(backend)
            self._closers.append(daq.close)
            volts = daq.read_ai(channel)
            opened.append(daq)
            return CheckResult(
                "DAQ",
                "ok",
                f"{daq.label}: answers ({channel}, amplifier output, {_volts(volts)} V)",
            )

        if self.check("DAQ", part, body).status == "ok":
            self.daq = opened[0]

    def _on_daq(
        self, name: str, part: _Part, body: Callable[[Daq], CheckResult]
    ) -> CheckResult | None:
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

    def check_amplifier(self) -> None:
        config = self.config
        assert config is not None
        a = config.amplifier
        part = _Part(
            f"Axopatch 200B telegraphs on {a.mode_telegraph_ai}, {a.gain_telegraph_ai}"
            + (f", {a.filter_telegraph_ai}" if a.filter_telegraph_ai else ""),
            "amplifier (telegraph channels, beta)",
            "daq",
        )

        def body(daq: Daq) -> CheckResult:
            amplifier = Axopatch200B(
                daq,
                axopatch_channels(a),
                beta=a.beta,
                command_sensitivity_mV_per_V=a.command_sensitivity_mV_per_V,
                safe_holding_mV=a.safe_holding_mV,
            )
            t = amplifier.telegraphs()
            lowpass = "not wired" if t.lowpass_kHz is None else f"{t.lowpass_kHz:g} kHz"
            detail = (
                f"{amplifier.instrument_label}: mode {t.mode}, gain {t.gain_alpha_beta:g} mV/pA "
                f"(β = {a.beta:g}), lowpass {lowpass}"
            )
            if not t.mode.output_is_current:
                return CheckResult(
                    "amplifier",
                    "warn",
                    detail,
                    "switch the front panel to V-Clamp: voltage-clamp plans refuse other modes",
                )
            return CheckResult("amplifier", "ok", detail)

        self._on_daq("amplifier", part, body)

    def check_temperature(self) -> None:
        config = self.config
        assert config is not None
        te = config.temperature
        part = _Part(
            f"temperature monitor on {te.ai_channel}", "temperature.ai_channel / C_per_V", "daq"
        )

        def body(daq: Daq) -> CheckResult:
            monitor = TemperatureMonitor(daq, te.ai_channel, C_per_V=te.C_per_V)
            return CheckResult(
                "temperature",
                "ok",
                f"{monitor.instrument_label}: bath {monitor.temperature_C:.1f} °C "
                f"({te.C_per_V:g} °C/V)",
            )

        self._on_daq("temperature", part, body)

    def check_pressure(self) -> None:
        config = self.config
        assert config is not None
        pr = config.pressure
        part = _Part(f"pressure regulator on {pr.ao_channel}", "pressure", "daq")

        def body(daq: Daq) -> CheckResult:
            regulator = PressureRegulator(
                daq,
                pr.ao_channel,
                kPa_per_V=pr.kPa_per_V,
                limits_kPa=(pr.limits_kPa[0], pr.limits_kPa[1]),
                ai_monitor=pr.ai_monitor,
            )
            limits = f"limits {pr.limits_kPa[0]:g} to {pr.limits_kPa[1]:g} kPa"
            if pr.ai_monitor is None:
                return CheckResult(
                    "pressure",
                    "ok",
                    f"{regulator.instrument_label}: set-point {pr.kPa_per_V:g} kPa/V, {limits}; "
                    "no monitor input (pressure.ai_monitor), nothing to read back",
                )
            return CheckResult(
                "pressure",
                "ok",
                f"{regulator.instrument_label}: monitor {pr.ai_monitor} reads "
                f"{regulator.pressure_kPa:.2f} kPa; {limits}",
            )

        self._on_daq("pressure", part, body)

    def check_camera(self) -> None:
        config = self.config
        assert config is not None
        cam = config.camera
        if cam.driver == "simulated":
            part = _Part("simulated camera", "camera", "camera")
        else:
            label = f" {cam.camera_label!r}" if cam.camera_label else ""
            part = _Part(
                f"Micro-Manager camera{label}", "camera.config_file / camera.camera_label", "camera"
            )

        def body() -> CheckResult:
            if cam.driver == "simulated":
                driver = self.instruments["camera"]
                model = "simulated camera (ionrig.simulators)"
            else:
                driver = MicroManagerCamera(
                    camera_label=cam.camera_label, config_file=cam.config_file
                )
                model = f"{driver.name}: {driver.identify()}"
            try:
                frame = np.asarray(driver.snap(cam.exposure_ms))
            except Exception as error:
                raise _CameraFrameError(f"{model}: test frame failed: {_text(error)}") from error
            return CheckResult(
                "camera",
                "ok",
                f"{model}: {driver.width_px}×{driver.height_px} px, {driver.bit_depth}-bit; "
                f"test frame ({cam.exposure_ms:g} ms): mean {frame.mean():.0f} ADU, "
                f"max {int(frame.max())} ADU",
            )

        self.check("camera", part, body)

    def check_data_directory(self) -> None:
        target = self.data_dir if self.data_dir is not None else data_directory()
        part = _Part(f"data directory {target}", "--data or $IONRIG_DATA", in_rig_file=False)
        root: list[Path] = []

        def writable() -> CheckResult:
            location = DataLocation.at(self.data_dir)
            root.append(location.root)
            with tempfile.NamedTemporaryFile(dir=location.root, prefix=".doctor-") as probe:
                probe.write(b"ionrig doctor")
                probe.flush()
                os.fsync(probe.fileno())
            return CheckResult(
                "data directory", "ok", f"{location.root}: writable (catalog/, raw/, journal/)"
            )

        result = self.check("data directory", part, writable)
        if result.status == "FAIL":
            self.results[-1] = CheckResult(
                result.name,
                "FAIL",
                result.detail,
                "choose a writable directory (--data DIR or $IONRIG_DATA) or fix its permissions",
            )
            return

        def free_space() -> CheckResult:
            free_GB = psutil.disk_usage(str(root[0])).free / 1e9
            detail = f"{free_GB:.1f} GB free on the disk of {root[0]}"
            if free_GB < self.min_free_GB:
                return CheckResult(
                    "disk space",
                    "warn",
                    f"{detail}, below {self.min_free_GB:g} GB",
                    "free space, or put the data on a larger disk (--data DIR); frames fill "
                    "a disk fast (a 128×128 frame pair every 2 s is ~0.4 GB per 12-h night)",
                )
            return CheckResult(
                "disk space", "ok", f"{detail} (warns below {self.min_free_GB:g} GB)"
            )

        self.check(
            "disk space",
            _Part(f"disk of {root[0]}", "--min-free-gb", in_rig_file=False),
            free_space,
        )


class _CameraFrameError(Exception):
    """The camera identified itself but its test frame failed (already described)."""


def _text(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    if isinstance(error, InstrumentError):
        return text
    return f"{type(error).__name__}: {text}"


def _describe(error: BaseException, part: _Part) -> str:
    """The error's message, prefixed with the part unless the message already starts with it."""
    if isinstance(error, _CameraFrameError):
        return str(error)
    if isinstance(error, ImportError):
        missing = getattr(error.__cause__, "name", None) or getattr(error, "name", None)
        return f"{part.label}: the Python package {missing or '(see the fix)'} is not installed"
    text = _text(error)
    return text if text.startswith(part.label) else f"{part.label}: {text}"


def _volts(volts: float) -> str:
    """Volts to 3 decimals, without a "-0.000"."""
    return f"{round(volts, 3) + 0.0:.3f}"


def _is_channel(channel: str, kind: str, device: str) -> bool:
    try:
        return channel_kind(channel) == kind and channel.split("/", 1)[0] == device
    except ValueError:
        return False


def _duplicates(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """``{value: [keys…]}`` for values that more than one key maps to."""
    seen: dict[str, list[str]] = {}
    for key, value in pairs:
        seen.setdefault(value, []).append(key)
    return {value: keys for value, keys in seen.items() if len(keys) > 1}


def run_doctor(
    rig: str | os.PathLike = "sim",
    *,
    data_dir: str | os.PathLike | None = None,
    min_free_GB: float = DEFAULT_MIN_FREE_GB,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    **overrides: Any,
) -> DoctorReport:
    """Check every part of ``rig`` (``"sim"`` or a rig file path) without running a plan.

    ``data_dir``: the data directory to check (default ``$IONRIG_DATA`` or the user data
    directory); ``min_free_GB``: warn below this much free disk space (10⁹ bytes);
    ``timeout_s``: how long (real seconds) each check may take before it is abandoned and
    failed; ``overrides``: top-level rig-file keys, as for :func:`ionrig.rig.load_rig`.
    Returns the report; ``report.exit_code`` is 0 when nothing failed.
    """
    if not min_free_GB >= 0:
        raise ValueError(f"min_free_GB must be >= 0 GB, got {min_free_GB!r}")
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be > 0 s, got {timeout_s!r}")
    return _Doctor(
        rig, data_dir=data_dir, min_free_GB=min_free_GB, timeout_s=timeout_s, overrides=overrides
    ).run()

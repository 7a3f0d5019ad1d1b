"""The doctor's checks of the rig file as written: its keys, its solutions, the perfusion's valve
lines and the DAQ channel map. Nothing here talks to an instrument."""

from __future__ import annotations

from collections.abc import Iterable

import yaml

from ionrig.devices.drivers import channel_kind
from ionrig.rig.config import ConfigError
from ionrig.rig.rigfile import read_rig_config, read_solutions, solutions_origin, valve_lines

from ._check_runner import DoctorRun, Part, describe_error
from ._report import CheckResult

__all__ = ["check_daq_wiring", "check_perfusion", "check_rig_file", "check_solutions"]


def check_rig_file(run: DoctorRun) -> bool:
    part = Part(f"rig file {run.rig}", "the rig file")
    try:
        config = read_rig_config(run.rig, **run.overrides)
    except ConfigError as error:
        run.results.append(
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
        run.results.append(
            CheckResult(
                "rig file",
                "FAIL",
                f"rig file {str(run.rig)!r} is not valid YAML: {error}",
                "fix the YAML syntax at the line shown",
            )
        )
        return False
    except OSError as error:
        run.results.append(
            CheckResult("rig file", "FAIL", describe_error(error, part), "check the path")
        )
        return False
    run.config = config
    kind = f"simulated, time_scale {config.time_scale:g}" if config.simulated else "real"
    source = "" if str(run.rig) == config.name else f" from {run.rig}"
    detail = f"{config.name}{source} ({kind}): every key valid"
    if config.faults:
        faults = ", ".join(f"{f.kind} into {f.instrument}" for f in config.faults)
        run.results.append(
            CheckResult(
                "rig file",
                "warn",
                f"{detail}; faults injected: {faults}",
                "a rehearsal of failures: remove faults: for a clean rig",
            )
        )
    else:
        run.results.append(CheckResult("rig file", "ok", detail))
    return True


def check_solutions(run: DoctorRun) -> None:
    config = run.config
    assert config is not None
    origin = solutions_origin(config, None)
    part = Part(f"solutions: {origin}", "perfusion.solutions")

    def body() -> CheckResult:
        known = read_solutions(config)
        names = config.perfusion.solutions
        missing = [n for n in names if n not in known]
        if missing:
            return CheckResult(
                "solutions",
                "FAIL",
                f"perfusion.solutions: {missing} are not in {origin} (known: {', '.join(known)})",
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

    run.check("solutions", part, body)


def check_perfusion(run: DoctorRun) -> None:
    config = run.config
    assert config is not None
    p = config.perfusion
    part = Part("perfusion valves", "perfusion.valve_lines")

    def body() -> CheckResult:
        lines = valve_lines(config)
        problems = []
        for name, line in lines.items():
            if not is_channel(line, "line", config.daq.device):
                problems.append(
                    f"{name} → {line!r} is not a DO line of {config.daq.device} "
                    f"(like {config.daq.device}/port0/line0)"
                )
        shared = duplicates(lines.items())
        problems += [f"{' and '.join(names)} share {line}" for line, names in shared.items()]
        if p.flow == "peristaltic" and not is_channel(p.pump_ao, "ao", config.daq.device):
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

    run.check("perfusion", part, body)


def check_daq_wiring(run: DoctorRun) -> None:
    config = run.config
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
    part = Part(f"DAQ {config.daq.device} channel map", "the DAQ channels")

    def body() -> CheckResult:
        device = config.daq.device
        problems = [
            f"{field_name} {channel!r} is not an {kind.upper()} channel of {device}"
            for field_name, channel, kind in wired
            if not is_channel(channel, kind, device)
        ]
        shared = duplicates((f, c) for f, c, _ in wired)
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

    run.check("DAQ wiring", part, body)


def is_channel(channel: str, kind: str, device: str) -> bool:
    try:
        return channel_kind(channel) == kind and channel.split("/", 1)[0] == device
    except ValueError:
        return False


def duplicates(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """``{value: [keys…]}`` for values that more than one key maps to."""
    seen: dict[str, list[str]] = {}
    for key, value in pairs:
        seen.setdefault(value, []).append(key)
    return {value: keys for value, keys in seen.items() if len(keys) > 1}

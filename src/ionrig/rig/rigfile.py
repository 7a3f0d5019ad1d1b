"""Rig files: the YAML a rig is described in, read into a :class:`RigConfig`.

A rig file names its instruments by role. ``rig="sim"`` is the packaged ``rigs/sim.yaml``; any
path to a YAML file works. :func:`read_rig_config` reads and checks one (every key, type and
range, and the solution names against the rig's solutions files);
:func:`ionrig.rig.build.load_rig` builds the rig it describes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from ionrig.chemistry import Solution, SolutionsError, load_solutions, solutions_paths
from ionrig.devices.drivers import AxopatchChannels
from ionrig.devices.drivers._axopatch import (
    AXOPATCH_200B_FILTER_TELEGRAPH,
    AXOPATCH_200B_GAIN_TELEGRAPH,
    BETA_SETTINGS,
    COMMAND_SENSITIVITIES_MV_PER_V,
    SWEEP_RATE_RANGE_HZ,
)
from ionrig.rig.config import ConfigError, build, merge
from ionrig.simulators import CAMERA_FAULT_KINDS, WorldConfig

__all__ = [
    "AmplifierConfig",
    "CalibrationConfig",
    "CameraConfig",
    "DaqConfig",
    "FaultConfig",
    "FilterConfig",
    "FilterWheelConfig",
    "PerfusionConfig",
    "PressureConfig",
    "RigConfig",
    "TemperatureConfig",
    "available_rigs",
    "axopatch_channels",
    "check_solution_names",
    "read_rig_config",
    "read_solutions",
    "solutions_origin",
    "valve_lines",
]


def _in_range(
    name: str, value: float, low: float, high: float, unit: str, *, low_open: bool = False
) -> None:
    """Refuse ``value`` outside ``[low, high]`` (``(low, high]`` with ``low_open``), NaN too."""
    above_low = low < value if low_open else low <= value
    if not (above_low and value <= high):
        left = "(" if low_open else "["
        raise ConfigError(f"{name} must be in {left}{low:g}, {high:g}] {unit}, got {value!r}")


def _one_of(name: str, value: float, allowed: Any, unit: str) -> None:
    if value not in tuple(allowed):
        listed = ", ".join(f"{v:g}" for v in allowed)
        raise ConfigError(f"{name} must be one of {listed} {unit}, got {value!r}")


@dataclass(frozen=True)
class FilterConfig:
    position: int
    wavelength_nm: float

    def __post_init__(self) -> None:
        if not 0 <= self.position <= 9:
            raise ConfigError(f"position must be in 0..9, got {self.position!r}")
        if not 200 <= self.wavelength_nm <= 1000:
            raise ConfigError(f"wavelength_nm must be in 200..1000 nm, got {self.wavelength_nm!r}")


@dataclass(frozen=True)
class FilterWheelConfig:
    """The excitation switcher.

    ``driver: lambda10-3`` (filter wheel + shutter) or ``dg4`` (galvo switcher with a ring
    buffer for hardware-timed alternation, paced by the camera's exposing output) talk Sutter's
    serial protocol on ``port`` (``/dev/ttyUSB0``, ``COM3``, a VISA name, or
    ``ionrig-sim://NAME`` for the simulated controller); ``driver: simulated`` drives the
    simulated world directly, without bytes.
    """

    driver: Literal["lambda10-3", "dg4", "simulated"] = "lambda10-3"
    port: str = "ionrig-sim://lambda10-3"
    wheel: Literal["A", "B", "C"] = "A"
    shutter: Literal["A", "B"] = "A"
    speed: int = 1
    baud_rate: int = 9600
    timeout_s: float = 1.0
    filters: dict[str, FilterConfig] = field(
        default_factory=lambda: {
            "340": FilterConfig(position=1, wavelength_nm=340.0),
            "380": FilterConfig(position=2, wavelength_nm=380.0),
        }
    )
    switch_ms: float = 40.0  # driver "simulated" only: time per position step

    def __post_init__(self) -> None:
        positions = [f.position for f in self.filters.values()]
        if len(set(positions)) != len(positions):
            raise ConfigError(f"filters: two filters share a position ({sorted(positions)})")
        if not 0 <= self.switch_ms <= 10_000:
            raise ConfigError(f"switch_ms must be in 0..10000 ms, got {self.switch_ms!r}")
        if not 0 <= self.speed <= 7:
            raise ConfigError(f"speed must be in 0..7 (Sutter speed setting), got {self.speed!r}")
        if not 0 < self.timeout_s <= 60:
            raise ConfigError(f"timeout_s must be in (0, 60] s, got {self.timeout_s!r}")
        _in_range("baud_rate", self.baud_rate, 300, 4_000_000, "baud")


@dataclass(frozen=True)
class CameraConfig:
    """``driver: simulated`` (simulated rigs) or ``micromanager``: any Micro-Manager camera via
    pymmcore-plus (extra ``ionrig[micromanager]``), from a Micro-Manager ``config_file``."""

    driver: Literal["simulated", "micromanager"] = "simulated"
    exposure_ms: float = 20.0
    config_file: str | None = None
    camera_label: str | None = None

    def __post_init__(self) -> None:
        if not 0 < self.exposure_ms <= 10_000:
            raise ConfigError(f"exposure_ms must be in (0, 10000] ms, got {self.exposure_ms!r}")


@dataclass(frozen=True)
class DaqConfig:
    """The DAQ board the analog instruments are wired to (amplifier, valves, pressure, heater).

    ``backend: simulated`` on simulated rigs; ``nidaqmx`` (extra ``ionrig[nidaq]``) on real ones.
    """

    backend: Literal["simulated", "nidaqmx"] = "simulated"
    device: str = "Dev1"


@dataclass(frozen=True)
class PerfusionConfig:
    """Reservoirs, their valves (DO lines), and what pushes the liquid.

    ``solutions`` are names from the solutions file (``rigs/solutions.yaml``). ``valve_lines``
    maps each to a DO line (default: ``<device>/port0/line<i>`` in the order listed).
    ``flow: gravity`` flows at ``flow_mL_per_min`` whenever a valve is open; ``flow: ne500``
    pushes with a New Era syringe pump on ``pump_port``; ``flow: peristaltic`` runs a pump whose
    speed input is the DAQ output ``pump_ao`` (``pump_mL_per_min_per_V``).
    """

    solutions: list[str] = field(default_factory=lambda: ["hbss"])
    initial: str | None = None
    flow: Literal["gravity", "ne500", "peristaltic"] = "gravity"
    flow_mL_per_min: float = 2.0
    bath_volume_mL: float = 0.5
    exchange_bath_volumes: float = 5.0
    reservoir_mL: float = 50.0
    valve_lines: dict[str, str] = field(default_factory=dict)
    pump_port: str = "ionrig-sim://ne500"
    syringe_diameter_mm: float = 26.59
    pump_ao: str = "Dev1/ao2"  # peristaltic pump's 0-10 V speed input
    pump_mL_per_min_per_V: float = 1.0

    def __post_init__(self) -> None:
        if not self.solutions:
            raise ConfigError("solutions must name at least one solution")
        if self.initial is not None and self.initial not in self.solutions:
            raise ConfigError(
                f"initial must be one of {', '.join(self.solutions)}; got {self.initial!r}"
            )
        unknown = sorted(set(self.valve_lines) - set(self.solutions))
        if unknown:
            raise ConfigError(f"valve_lines: {unknown} are not among solutions {self.solutions}")
        if not 0 < self.flow_mL_per_min <= 50:
            raise ConfigError(
                f"flow_mL_per_min must be in (0, 50] mL/min, got {self.flow_mL_per_min!r}"
            )
        # the ranges the perfusion device and the NE-500 accept, checked when the file is read
        _in_range("bath_volume_mL", self.bath_volume_mL, 0.01, 100.0, "mL")
        _in_range("exchange_bath_volumes", self.exchange_bath_volumes, 0.5, 50.0, "bath volumes")
        _in_range("reservoir_mL", self.reservoir_mL, 0.0, 10_000.0, "mL", low_open=True)
        _in_range("syringe_diameter_mm", self.syringe_diameter_mm, 0.1, 50.0, "mm")
        _in_range(
            "pump_mL_per_min_per_V",
            self.pump_mL_per_min_per_V,
            0.0,
            100.0,
            "mL/min per V",
            low_open=True,
        )


@dataclass(frozen=True)
class AmplifierConfig:
    """An Axopatch 200B through the DAQ (instrument-protocols.md §3.1): which channels carry
    the command, the scaled output and the telegraphs; front-panel β and command scaling."""

    driver: Literal["axopatch200b"] = "axopatch200b"
    command_ao: str = "Dev1/ao0"
    scaled_output_ai: str = "Dev1/ai0"
    gain_telegraph_ai: str = "Dev1/ai1"
    mode_telegraph_ai: str = "Dev1/ai2"
    filter_telegraph_ai: str | None = "Dev1/ai3"
    beta: float = 1.0
    command_sensitivity_mV_per_V: float = 20.0
    safe_holding_mV: float = 0.0
    sample_rate_Hz: float = 10_000.0
    #: the pipette (internal) solution by name in the solutions file, as the operator fills
    #: it; plans record it and its composition (a patch plan's ``pipette_solution`` changes it)
    pipette_solution: str | None = None
    #: front panel of the simulated amplifier (a real one telegraphs its own)
    simulated_gain_mV_per_pA: float = 1.0
    simulated_filter_kHz: float = 5.0

    def __post_init__(self) -> None:
        # what the Axopatch 200B driver accepts (instrument-protocols.md §3.1)
        _one_of("beta", self.beta, BETA_SETTINGS, "(1 patch, 0.1 whole cell)")
        _one_of(
            "command_sensitivity_mV_per_V",
            self.command_sensitivity_mV_per_V,
            COMMAND_SENSITIVITIES_MV_PER_V,
            "mV/V",
        )
        _in_range("safe_holding_mV", self.safe_holding_mV, -150.0, 150.0, "mV")
        _in_range("sample_rate_Hz", self.sample_rate_Hz, *SWEEP_RATE_RANGE_HZ, "Hz")
        _one_of(
            "simulated_gain_mV_per_pA",
            self.simulated_gain_mV_per_pA,
            AXOPATCH_200B_GAIN_TELEGRAPH.values(),
            "mV/pA",
        )
        _one_of(
            "simulated_filter_kHz",
            self.simulated_filter_kHz,
            AXOPATCH_200B_FILTER_TELEGRAPH.values(),
            "kHz",
        )


@dataclass(frozen=True)
class PressureConfig:
    """Analog pressure regulator on the pipette (kPa per volt; suction < 0)."""

    ao_channel: str = "Dev1/ao1"
    ai_monitor: str | None = None
    kPa_per_V: float = 10.0
    limits_kPa: list[float] = field(default_factory=lambda: [-50.0, 50.0])

    def __post_init__(self) -> None:
        if len(self.limits_kPa) != 2 or not self.limits_kPa[0] < self.limits_kPa[1]:
            raise ConfigError(f"limits_kPa must be [min, max], got {self.limits_kPa!r}")
        # the sign is the regulator's polarity; the size a sane scale of a 0-10 V input
        _in_range("abs(kPa_per_V)", abs(self.kPa_per_V), 0.0, 1000.0, "kPa/V", low_open=True)


@dataclass(frozen=True)
class TemperatureConfig:
    """Temperature controller's analog monitor output (°C per volt)."""

    ai_channel: str = "Dev1/ai6"
    C_per_V: float = 10.0  # 100 mV/°C, instrument-protocols.md §2.4 (unconfirmed)

    def __post_init__(self) -> None:
        _in_range("abs(C_per_V)", abs(self.C_per_V), 0.0, 1000.0, "°C/V", low_open=True)


SERIAL_FAULTS = ("no_reply", "garbage", "partial", "disconnect", "error_reply", "slow_reply")
CAMERA_FAULTS = CAMERA_FAULT_KINDS


@dataclass(frozen=True)
class FaultConfig:
    """A fault injected into a simulated instrument (rehearsals of what goes wrong at 3 a.m.).

    Serial instruments and the DAQ: ``kind`` one of no_reply, garbage, partial, disconnect,
    error_reply, slow_reply, from clock time ``at_s`` for ``count`` commands or ``duration_s``
    (``delay_s``: how late a slow reply is). Camera: ``kind`` error, timeout, dropped, garbage,
    partial or disconnect, after ``after_frames`` good frames, for ``count`` frames (none: from
    then on).
    """

    instrument: Literal["filter_wheel", "pump", "daq", "camera"]
    kind: str
    at_s: float = 0.0
    duration_s: float | None = None
    count: int | None = None
    delay_s: float = 0.0
    after_frames: int = 0

    def __post_init__(self) -> None:
        allowed = CAMERA_FAULTS if self.instrument == "camera" else SERIAL_FAULTS
        if self.kind not in allowed:
            raise ConfigError(
                f"kind for {self.instrument} must be one of {', '.join(allowed)}; got {self.kind!r}"
            )
        if not self.at_s >= 0:
            raise ConfigError(f"at_s must be >= 0 s (clock time), got {self.at_s!r}")
        if self.duration_s is not None and not self.duration_s > 0:
            raise ConfigError(f"duration_s must be > 0 s or absent, got {self.duration_s!r}")
        if self.count is not None and self.count < 1:
            raise ConfigError(f"count must be >= 1 or absent, got {self.count!r}")
        if self.kind == "slow_reply" and not self.delay_s > 0:
            raise ConfigError(f"delay_s must be > 0 s for a slow_reply, got {self.delay_s!r}")
        if not self.delay_s >= 0:
            raise ConfigError(f"delay_s must be >= 0 s, got {self.delay_s!r}")
        if self.after_frames < 0:
            raise ConfigError(f"after_frames must be >= 0, got {self.after_frames!r}")


@dataclass(frozen=True)
class CalibrationConfig:
    """The Mag-fura-2 constants the analysis assumes until an in-situ calibration replaces them."""

    r_min: float = 0.4
    r_max: float = 3.0
    beta: float = 5.0
    kd_mM: float = 1.9
    source: str = "rig file"

    def __post_init__(self) -> None:
        if not 0 <= self.r_min < self.r_max:
            raise ConfigError(
                f"needs 0 <= r_min < r_max, got r_min={self.r_min!r}, r_max={self.r_max!r}"
            )
        if not (self.beta > 0 and self.kd_mM > 0):
            raise ConfigError(f"beta and kd_mM must be > 0, got {self.beta!r}, {self.kd_mM!r}")
        _in_range("r_max", self.r_max, 0.0, 100.0, "(ratio)", low_open=True)
        _in_range("beta", self.beta, 0.0, 100.0, "(F380 free/bound)", low_open=True)
        _in_range("kd_mM", self.kd_mM, 0.01, 100.0, "mM")  # calibrate_in_situ's kd_mM range


@dataclass(frozen=True)
class RigConfig:
    name: str
    simulated: bool = False
    description: str = ""
    time_scale: float = 1.0
    seed: int = 0
    #: operator steps fail the current cell instead of prompting (overnight queues)
    unattended: bool = False
    #: the lab's solutions files (paths relative to the rig file), layered; none: the packaged
    #: example. ``--solutions`` and $IONRIG_SOLUTIONS take precedence (docs/solutions.md)
    solutions: list[str] = field(default_factory=list)
    world: WorldConfig = field(default_factory=WorldConfig)
    filter_wheel: FilterWheelConfig = field(default_factory=FilterWheelConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    daq: DaqConfig = field(default_factory=DaqConfig)
    perfusion: PerfusionConfig = field(default_factory=PerfusionConfig)
    amplifier: AmplifierConfig = field(default_factory=AmplifierConfig)
    pressure: PressureConfig = field(default_factory=PressureConfig)
    temperature: TemperatureConfig = field(default_factory=TemperatureConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    faults: list[FaultConfig] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0 < self.time_scale <= 1e6:
            raise ConfigError(
                f"time_scale must be > 0 and at most 1e6 (clock seconds per real second), "
                f"got {self.time_scale!r}"
            )
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0 (a numpy seed), got {self.seed!r}")
        if self.simulated:
            return
        if self.faults:
            raise ConfigError("faults can only be injected into a simulated rig")
        if self.time_scale != 1.0:
            raise ConfigError(
                "time_scale must be 1 on a real rig (only simulated time can run fast)"
            )
        simulated_parts = [
            role
            for role, is_simulated in (
                ("camera.driver", self.camera.driver == "simulated"),
                ("filter_wheel.driver", self.filter_wheel.driver == "simulated"),
                ("daq.backend", self.daq.backend == "simulated"),
            )
            if is_simulated
        ]
        if simulated_parts:
            raise ConfigError(
                f"a real rig (simulated: false) cannot use simulated {', '.join(simulated_parts)}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: YAML files in ``rigs/`` that are not rig files.
NOT_RIG_FILES = frozenset({"solutions.yaml"})


def available_rigs() -> list[str]:
    """Names of the rig files shipped with ionrig (``rigs/*.yaml``)."""
    files = resources.files("ionrig.rigs")
    return sorted(
        p.name.removesuffix(".yaml")
        for p in files.iterdir()
        if p.name.endswith(".yaml") and p.name not in NOT_RIG_FILES
    )


def read_rig_config(
    name_or_path: str | os.PathLike = "sim",
    *,
    solutions: Sequence[str | os.PathLike] | None = None,
    **overrides: Any,
) -> RigConfig:
    """Parse a rig file (packaged name or path) with top-level ``overrides`` deep-merged.

    The solution names of ``world`` are checked against the rig's solutions files
    (``solutions``: as ``--solutions``; see :func:`read_solutions`)."""
    text_name = str(name_or_path)
    rig_dir: Path | None = None  # solutions paths in a rig file are relative to it
    if text_name.endswith((".yaml", ".yml")) or os.sep in text_name or Path(text_name).exists():
        path = Path(text_name)
        if not path.is_file():
            raise ConfigError(f"rig file {text_name!r} does not exist")
        raw = yaml.safe_load(path.read_text())
        rig_dir = path.parent
    else:
        names = available_rigs()
        if text_name not in names:
            raise ConfigError(
                f"rig must be one of {', '.join(names)} or a path to a YAML file; got {text_name!r}"
            )
        raw = yaml.safe_load((resources.files("ionrig.rigs") / f"{text_name}.yaml").read_text())
    if not isinstance(raw, dict):
        raise ConfigError(f"rig file {text_name!r} must hold a mapping")
    entry = raw.get("solutions")
    if isinstance(entry, str):
        entry = raw["solutions"] = [entry]
    if isinstance(entry, list) and rig_dir is not None:
        raw["solutions"] = [
            str(rig_dir / e) if isinstance(e, str) and not Path(e).is_absolute() else e
            for e in entry
        ]
    config = build(RigConfig, merge(raw, overrides))
    check_solution_names(config, solutions)
    return config


def check_solution_names(
    config: RigConfig, solutions: Sequence[str | os.PathLike] | None = None
) -> None:
    """Refuse ``world`` solution names that the rig's solutions files do not define."""
    table = read_solutions(config, solutions)
    try:
        config.world.check_solution_names(table)
    except ValueError as error:
        raise ConfigError(f"world.{error}") from error


def axopatch_channels(amplifier: AmplifierConfig) -> AxopatchChannels:
    """The DAQ channels of the rig file's Axopatch 200B, as its driver takes them."""
    a = amplifier
    return AxopatchChannels(
        command_ao=a.command_ao,
        scaled_output_ai=a.scaled_output_ai,
        gain_telegraph_ai=a.gain_telegraph_ai,
        mode_telegraph_ai=a.mode_telegraph_ai,
        filter_telegraph_ai=a.filter_telegraph_ai,
    )


def valve_lines(config: RigConfig) -> dict[str, str]:
    """Solution name → DO line of its valve: ``perfusion.valve_lines``, else
    ``<device>/port0/line<i>`` in the order of ``perfusion.solutions``."""
    p = config.perfusion
    return {
        name: p.valve_lines.get(name, f"{config.daq.device}/port0/line{i}")
        for i, name in enumerate(p.solutions)
    }


def read_solutions(
    config: RigConfig | None = None, solutions: Sequence[str | os.PathLike] | None = None
) -> dict[str, Solution]:
    """The rig's solutions, name → Solution: the files of ``solutions`` (``--solutions``), else
    $IONRIG_SOLUTIONS, else the rig file's ``solutions``, else the packaged example."""
    paths = solutions_paths(solutions, config.solutions if config is not None else None)
    try:
        return load_solutions(*paths)
    except SolutionsError as error:
        raise ConfigError(str(error)) from error


def solutions_origin(config: RigConfig, solutions: Sequence[str | os.PathLike] | None) -> str:
    """Which files a rig's solutions come from, for messages."""
    paths = solutions_paths(solutions, config.solutions)
    return ", ".join(p.name for p in paths) if paths else "the packaged solutions.yaml"

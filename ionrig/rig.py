"""Rig files and ``load_rig``: from YAML to a connected :class:`ionrig.devices.Rig`.

A rig file names its instruments by role. ``rig="sim"`` is the packaged ``rigs/sim.yaml``; any
path to a YAML file works. Only this module (and test fixtures) know whether a rig is real or
simulated: plans see the same :class:`~ionrig.devices.Rig` either way.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from ionrig.config import ConfigError, build, merge
from ionrig.devices import (
    Camera,
    FilterSlot,
    FilterWheel,
    Rig,
    SoftAmplifier,
    SoftPerfusion,
)
from ionrig.devices.drivers import SutterLambda10_3
from ionrig.simulators import (
    ScaledClock,
    SimulatedCamera,
    SimulatedFilterWheel,
    SimulatedLambda10_3,
    World,
    WorldConfig,
    bind_excitation,
    register_simulated_instrument,
)

__all__ = ["RigConfig", "available_rigs", "load_rig", "read_rig_config"]


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
    """The excitation switcher. ``driver: lambda10-3`` talks Sutter's serial protocol on
    ``port`` (``/dev/ttyUSB0``, ``COM3``, a VISA name, or ``ionrig-sim://NAME`` for the simulated
    controller); ``driver: simulated`` drives the simulated world directly, without bytes."""

    driver: Literal["lambda10-3", "simulated"] = "lambda10-3"
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


@dataclass(frozen=True)
class CameraConfig:
    driver: Literal["simulated"] = "simulated"
    exposure_ms: float = 20.0

    def __post_init__(self) -> None:
        if not 0 < self.exposure_ms <= 10_000:
            raise ConfigError(f"exposure_ms must be in (0, 10000] ms, got {self.exposure_ms!r}")


@dataclass(frozen=True)
class PerfusionConfig:
    solutions: list[str] = field(default_factory=lambda: ["hbss"])
    initial: str | None = None
    flow_mL_per_min: float = 2.0

    def __post_init__(self) -> None:
        if not self.solutions:
            raise ConfigError("solutions must name at least one solution")
        if self.initial is not None and self.initial not in self.solutions:
            raise ConfigError(
                f"initial must be one of {', '.join(self.solutions)}; got {self.initial!r}"
            )
        if not 0 <= self.flow_mL_per_min <= 50:
            raise ConfigError(
                f"flow_mL_per_min must be in 0..50 mL/min, got {self.flow_mL_per_min!r}"
            )


@dataclass(frozen=True)
class AmplifierConfig:
    holding_mV: float = 0.0
    safe_holding_mV: float = 0.0


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


@dataclass(frozen=True)
class RigConfig:
    name: str
    simulated: bool = False
    description: str = ""
    time_scale: float = 1.0
    seed: int = 0
    world: WorldConfig = field(default_factory=WorldConfig)
    filter_wheel: FilterWheelConfig = field(default_factory=FilterWheelConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    perfusion: PerfusionConfig = field(default_factory=PerfusionConfig)
    amplifier: AmplifierConfig = field(default_factory=AmplifierConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)

    def __post_init__(self) -> None:
        if not self.time_scale > 0:
            raise ConfigError(f"time_scale must be > 0, got {self.time_scale!r}")
        if not self.simulated and self.time_scale != 1.0:
            raise ConfigError(
                "time_scale must be 1 on a real rig (only simulated time can run fast)"
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


def read_rig_config(name_or_path: str | os.PathLike = "sim", **overrides: Any) -> RigConfig:
    """Parse a rig file (packaged name or path) with top-level ``overrides`` deep-merged."""
    text_name = str(name_or_path)
    if text_name.endswith((".yaml", ".yml")) or os.sep in text_name or Path(text_name).exists():
        path = Path(text_name)
        if not path.is_file():
            raise ConfigError(f"rig file {text_name!r} does not exist")
        raw = yaml.safe_load(path.read_text())
    else:
        names = available_rigs()
        if text_name not in names:
            raise ConfigError(
                f"rig must be one of {', '.join(names)} or a path to a YAML file; got {text_name!r}"
            )
        raw = yaml.safe_load((resources.files("ionrig.rigs") / f"{text_name}.yaml").read_text())
    if not isinstance(raw, dict):
        raise ConfigError(f"rig file {text_name!r} must hold a mapping")
    return build(RigConfig, merge(raw, overrides))


SIMULATED_PORT = "ionrig-sim://"


def _filter_wheel_driver(config: FilterWheelConfig, world: World, clock: ScaledClock):
    """The wheel's driver, and the simulated instrument behind it (for fault injection)."""
    wavelengths = {f.position: f.wavelength_nm for f in config.filters.values()}
    if config.driver == "simulated":
        instrument = SimulatedFilterWheel(
            world, {p: round(nm) for p, nm in wavelengths.items()}, switch_ms=config.switch_ms
        )
        return instrument, instrument
    if not config.port.startswith(SIMULATED_PORT):
        raise ConfigError(
            f"filter_wheel.port: a simulated rig uses {SIMULATED_PORT}NAME ports, "
            f"got {config.port!r}"
        )
    instrument = SimulatedLambda10_3(clock)
    bind_excitation(world, instrument, wavelengths, wheel=config.wheel, shutter=config.shutter)
    register_simulated_instrument(config.port.removeprefix(SIMULATED_PORT), instrument)
    driver = SutterLambda10_3(
        config.port,
        config.wheel,
        shutter=config.shutter,
        speed=config.speed,
        baud_rate=config.baud_rate,
        timeout_s=config.timeout_s,
    )
    return driver, instrument


def load_rig(
    name_or_path: str | os.PathLike = "sim",
    *,
    raw_dir: str | os.PathLike | None = None,
    **overrides: Any,
) -> Rig:
    """Build and connect the rig of a rig file; needs a RunEngine (its event loop) to exist.

    ``raw_dir`` is where detectors write their files (default: the data directory's ``raw/``).
    ``overrides`` replace top-level keys of the file (``time_scale=1000``, ``seed=3``, or a
    mapping such as ``world={"n_cells": 3}`` that is merged into the file's).
    """
    from bluesky.run_engine import call_in_bluesky_event_loop
    from ophyd_async.core import StaticPathProvider, UUIDFilenameProvider

    from ionrig.catalog import DataLocation

    config = read_rig_config(name_or_path, **overrides)
    raw = Path(raw_dir) if raw_dir is not None else DataLocation.at().raw_dir
    raw.mkdir(parents=True, exist_ok=True)
    if not config.simulated:
        raise ConfigError(
            f"rig {config.name!r}: camera.driver 'simulated' is the only camera of this build, "
            "so only simulated rigs (simulated: true) can be loaded yet"
        )
    clock = ScaledClock(config.time_scale)
    world = World.from_config(config.world, clock=clock, seed=config.seed)
    wheel_driver, wheel_instrument = _filter_wheel_driver(config.filter_wheel, world, clock)
    filters = {
        name: FilterSlot(position=f.position, wavelength_nm=f.wavelength_nm)
        for name, f in config.filter_wheel.filters.items()
    }
    camera_driver = SimulatedCamera(world)
    rig = Rig(
        filter_wheel=FilterWheel(wheel_driver, filters),
        camera=Camera(
            camera_driver,
            StaticPathProvider(UUIDFilenameProvider(), raw),
            now_s=clock.now_s,
            exposure_ms=config.camera.exposure_ms,
        ),
        perfusion=SoftPerfusion(
            config.perfusion.solutions,
            initial=config.perfusion.initial,
            flow_mL_per_min=config.perfusion.flow_mL_per_min,
        ),
        amplifier=SoftAmplifier(
            holding_mV=config.amplifier.holding_mV,
            safe_holding_mV=config.amplifier.safe_holding_mV,
        ),
        clock=clock,
        world=world,
        config=config,
        name="rig",
    )
    # The simulated instruments behind the devices, for tests that inject faults.
    rig.instruments = {"filter_wheel": wheel_instrument, "camera": camera_driver}
    call_in_bluesky_event_loop(rig.connect())
    return rig

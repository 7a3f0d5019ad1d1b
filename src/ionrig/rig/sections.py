"""The rig file's sections: pydantic dataclasses, frozen, refusing unknown keys.

Each field's type (:data:`~ionrig.rig.config.Number`, :data:`~ionrig.rig.config.Text` …) and
range (:func:`~ionrig.rig.config.bounded`) is checked by pydantic when a rig file is read, and
shows in the rig file's JSON Schema (:func:`rig_file_json_schema`) with its description and
unit. What ties several fields together (distinct filter positions, ``initial`` among
``solutions``, a real rig without simulated parts …) is checked in ``__post_init__``. The
``world`` section is the simulator's own :class:`~ionrig.simulators.WorldConfig`, checked by the
simulator's dataclasses through :func:`~ionrig.rig.config.build`.
"""

from __future__ import annotations

from dataclasses import asdict, field
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, PlainValidator
from pydantic.dataclasses import dataclass

from ionrig.devices.drivers import (
    AXOPATCH_200B_FILTER_TELEGRAPH,
    AXOPATCH_200B_GAIN_TELEGRAPH,
    BETA_SETTINGS,
    COMMAND_SENSITIVITIES_MV_PER_V,
    SWEEP_RATE_RANGE_HZ,
)
from ionrig.rig.config import (
    AllowedText,
    ConfigError,
    Flag,
    Integer,
    Number,
    Text,
    bounded,
    build,
    described,
    one_of,
)
from ionrig.simulators import CAMERA_FAULT_KINDS, WorldConfig

__all__ = [
    "CAMERA_FAULTS",
    "SERIAL_FAULTS",
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
]

#: Every section refuses unknown keys; its keys are its fields' titles in the JSON Schema.
SECTION = ConfigDict(extra="forbid", field_title_generator=lambda name, info: name)


def _in_range(
    name: str, value: float, low: float, high: float, unit: str, *, low_open: bool = False
) -> None:
    """Refuse ``value`` outside ``[low, high]`` (``(low, high]`` with ``low_open``), NaN too."""
    above_low = low < value if low_open else low <= value
    if not (above_low and value <= high):
        left = "(" if low_open else "["
        raise ConfigError(f"{name} must be in {left}{low:g}, {high:g}] {unit}, got {value!r}")


@dataclass(frozen=True, config=SECTION)
class FilterConfig:
    """One filter of the excitation switcher."""

    position: Annotated[Integer, bounded("wheel position", ge=0, le=9)]
    wavelength_nm: Annotated[Number, bounded("excitation wavelength", "nm", ge=200, le=1000)]


def _default_filters() -> dict[str, FilterConfig]:
    return {
        "340": FilterConfig(position=1, wavelength_nm=340.0),
        "380": FilterConfig(position=2, wavelength_nm=380.0),
    }


@dataclass(frozen=True, config=SECTION)
class FilterWheelConfig:
    """The excitation switcher.

    ``driver: lambda10-3`` (filter wheel + shutter) or ``dg4`` (galvo switcher with a ring
    buffer for hardware-timed alternation, paced by the camera's exposing output) talk Sutter's
    serial protocol on ``port`` (``/dev/ttyUSB0``, ``COM3``, a VISA name, or
    ``ionrig-sim://NAME`` for the simulated controller); ``driver: simulated`` drives the
    simulated world directly, without bytes.
    """

    driver: Annotated[
        Literal["lambda10-3", "dg4", "simulated"],
        described("Sutter Lambda 10-3, Sutter DG-4, or the world's wheel without bytes"),
    ] = "lambda10-3"
    port: Annotated[
        Text, described("serial port, URL or VISA name; ionrig-sim://NAME when simulated")
    ] = "ionrig-sim://lambda10-3"
    wheel: Annotated[Literal["A", "B", "C"], described("the Lambda 10-3's wheel")] = "A"
    shutter: Annotated[Literal["A", "B"], described("the Lambda 10-3's shutter")] = "A"
    speed: Annotated[
        Integer, bounded("Sutter speed setting (adjacent filters in ~40 ms at 1)", ge=0, le=7)
    ] = 1
    baud_rate: Annotated[Integer, bounded("serial speed", "baud", ge=300, le=4_000_000)] = 9600
    timeout_s: Annotated[Number, bounded("reply timeout of each command", "s", gt=0, le=60)] = 1.0
    filters: Annotated[
        dict[Text, FilterConfig], described("the filters by name; positions distinct")
    ] = field(default_factory=_default_filters)
    #: driver "simulated" only: time per position step
    switch_ms: Annotated[
        Number, bounded("driver simulated only: time per position step", "ms", ge=0, le=10_000)
    ] = 40.0

    def __post_init__(self) -> None:
        positions = [f.position for f in self.filters.values()]
        if len(set(positions)) != len(positions):
            raise ConfigError(f"filters: two filters share a position ({sorted(positions)})")


@dataclass(frozen=True, config=SECTION)
class CameraConfig:
    """``driver: simulated`` (simulated rigs) or ``micromanager``: any Micro-Manager camera via
    pymmcore-plus (extra ``ionrig[micromanager]``), from a Micro-Manager ``config_file``."""

    driver: Annotated[
        Literal["simulated", "micromanager"],
        described("the simulated camera, or a Micro-Manager camera"),
    ] = "simulated"
    exposure_ms: Annotated[
        Number, bounded("exposure until a plan sets its own", "ms", gt=0, le=10_000)
    ] = 20.0
    config_file: Annotated[Text | None, described("a Micro-Manager .cfg file")] = None
    camera_label: Annotated[
        Text | None, described("the camera device of that configuration (null: current)")
    ] = None


@dataclass(frozen=True, config=SECTION)
class DaqConfig:
    """The DAQ board the analog instruments are wired to (amplifier, valves, pressure, heater).

    ``backend: simulated`` on simulated rigs; ``nidaqmx`` (extra ``ionrig[nidaq]``) on real ones.
    """

    backend: Annotated[
        Literal["simulated", "nidaqmx"], described("the simulated DAQ, or NI-DAQmx")
    ] = "simulated"
    device: Annotated[Text, described("the board's NI device name")] = "Dev1"


@dataclass(frozen=True, config=SECTION)
class PerfusionConfig:
    """Reservoirs, their valves (DO lines), and what pushes the liquid.

    ``solutions`` are names from the solutions file (``rigs/solutions.yaml``). ``valve_lines``
    maps each to a DO line (default: ``<device>/port0/line<i>`` in the order listed).
    ``flow: gravity`` flows at ``flow_mL_per_min`` whenever a valve is open; ``flow: ne500``
    pushes with a New Era syringe pump on ``pump_port``; ``flow: peristaltic`` runs a pump whose
    speed input is the DAQ output ``pump_ao`` (``pump_mL_per_min_per_V``).
    """

    solutions: Annotated[
        list[Text], described("the solutions plumbed to the bath, by name (at least one)")
    ] = field(default_factory=lambda: ["hbss"])
    initial: Annotated[
        Text | None, described("the solution selected at start (null: the first)")
    ] = None
    flow: Annotated[
        Literal["gravity", "ne500", "peristaltic"],
        described("gravity, a New Era NE-500 syringe pump, or a peristaltic pump"),
    ] = "gravity"
    flow_mL_per_min: Annotated[Number, bounded("the flow rate", "mL/min", gt=0, le=50)] = 2.0
    bath_volume_mL: Annotated[Number, bounded("bath volume", "mL", ge=0.01, le=100)] = 0.5
    exchange_bath_volumes: Annotated[
        Number,
        bounded("bath volumes a solution change lets flow", "bath volumes", ge=0.5, le=50),
    ] = 5.0
    reservoir_mL: Annotated[
        Number, bounded("volume of each full reservoir", "mL", gt=0, le=10_000)
    ] = 50.0
    valve_lines: Annotated[
        dict[Text, Text], described("DO line per solution (default: <device>/port0/line<i>)")
    ] = field(default_factory=dict)
    pump_port: Annotated[Text, described("the NE-500's serial port")] = "ionrig-sim://ne500"
    pump_timeout_s: Annotated[
        Number, bounded("the NE-500's reply timeout of each command", "s", gt=0, le=60)
    ] = 1.0
    syringe_diameter_mm: Annotated[
        Number, bounded("syringe inner diameter", "mm", ge=0.1, le=50)
    ] = 26.59
    #: peristaltic pump's 0-10 V speed input
    pump_ao: Annotated[Text, described("the peristaltic pump's 0-10 V speed input")] = "Dev1/ao2"
    pump_mL_per_min_per_V: Annotated[
        Number, bounded("the peristaltic pump's flow per volt", "mL/min per V", gt=0, le=100)
    ] = 1.0

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


_GAINS_MV_PER_PA = tuple(AXOPATCH_200B_GAIN_TELEGRAPH.values())
_FILTERS_KHZ = tuple(AXOPATCH_200B_FILTER_TELEGRAPH.values())


def _choice(doc: str, unit: str, values: tuple[float, ...]) -> Any:
    """The description and schema of a number that takes only ``values`` (in ``unit``)."""
    return described(doc, unit, enum=values)


@dataclass(frozen=True, config=SECTION)
class AmplifierConfig:
    """An Axopatch 200B through the DAQ (docs/reference/instruments.md §3.1): which channels carry
    the command, the scaled output and the telegraphs; front-panel β and command scaling."""

    driver: Annotated[Literal["axopatch200b"], described("the amplifier")] = "axopatch200b"
    command_ao: Annotated[Text, described("analog output to EXT COMMAND")] = "Dev1/ao0"
    scaled_output_ai: Annotated[Text, described("analog input from SCALED OUTPUT")] = "Dev1/ai0"
    gain_telegraph_ai: Annotated[Text, described("gain telegraph input")] = "Dev1/ai1"
    mode_telegraph_ai: Annotated[Text, described("mode telegraph input")] = "Dev1/ai2"
    filter_telegraph_ai: Annotated[
        Text | None, described("lowpass telegraph input (null: not wired)")
    ] = "Dev1/ai3"
    beta: Annotated[
        Number,
        _choice("front-panel beta (1 patch, 0.1 whole cell)", "", BETA_SETTINGS),
        one_of(BETA_SETTINGS, "(1 patch, 0.1 whole cell)"),
    ] = 1.0
    command_sensitivity_mV_per_V: Annotated[
        Number,
        _choice("mV of command per volt from the DAQ", "mV/V", COMMAND_SENSITIVITIES_MV_PER_V),
        one_of(COMMAND_SENSITIVITIES_MV_PER_V, "mV/V"),
    ] = 20.0
    safe_holding_mV: Annotated[
        Number, bounded("holding potential of the safe state", "mV", ge=-150, le=150)
    ] = 0.0
    sample_rate_Hz: Annotated[
        Number,
        bounded(
            "sweep sampling rate until a plan sets its own",
            "Hz",
            ge=SWEEP_RATE_RANGE_HZ[0],
            le=SWEEP_RATE_RANGE_HZ[1],
        ),
    ] = 10_000.0
    #: the pipette (internal) solution by name in the solutions file, as the operator fills
    #: it; plans record it and its composition (a patch plan's ``pipette_solution`` changes it)
    pipette_solution: Annotated[
        Text | None, described("the pipette (internal) solution by name")
    ] = None
    #: front panel of the simulated amplifier (a real one telegraphs its own)
    simulated_gain_mV_per_pA: Annotated[
        Number,
        _choice("simulated rigs: the front panel's gain", "mV/pA", _GAINS_MV_PER_PA),
        one_of(_GAINS_MV_PER_PA, "mV/pA"),
    ] = 1.0
    simulated_filter_kHz: Annotated[
        Number,
        _choice("simulated rigs: the front panel's lowpass", "kHz", _FILTERS_KHZ),
        one_of(_FILTERS_KHZ, "kHz"),
    ] = 5.0


@dataclass(frozen=True, config=SECTION)
class PressureConfig:
    """Analog pressure regulator on the pipette (kPa per volt; suction < 0)."""

    ao_channel: Annotated[Text, described("the regulator's set-point input")] = "Dev1/ao1"
    ai_monitor: Annotated[Text | None, described("the regulator's monitor output")] = None
    kPa_per_V: Annotated[
        Number, bounded("regulator scale, not 0 (suction < 0)", "kPa/V", ge=-1000, le=1000)
    ] = 10.0
    limits_kPa: Annotated[list[Number], described("[min, max] pressures a plan may set", "kPa")] = (
        field(default_factory=lambda: [-50.0, 50.0])
    )

    def __post_init__(self) -> None:
        if len(self.limits_kPa) != 2 or not self.limits_kPa[0] < self.limits_kPa[1]:
            raise ConfigError(f"limits_kPa must be [min, max], got {self.limits_kPa!r}")
        # the sign is the regulator's polarity; the size a sane scale of a 0-10 V input
        _in_range("abs(kPa_per_V)", abs(self.kPa_per_V), 0.0, 1000.0, "kPa/V", low_open=True)


@dataclass(frozen=True, config=SECTION)
class TemperatureConfig:
    """Temperature controller's analog monitor output (°C per volt)."""

    ai_channel: Annotated[Text, described("the controller's monitor output")] = "Dev1/ai6"
    #: 100 mV/°C, docs/reference/instruments.md §2.4 (unconfirmed)
    C_per_V: Annotated[Number, bounded("monitor scale, not 0", "°C/V", ge=-1000, le=1000)] = 10.0

    def __post_init__(self) -> None:
        _in_range("abs(C_per_V)", abs(self.C_per_V), 0.0, 1000.0, "°C/V", low_open=True)


SERIAL_FAULTS = ("no_reply", "garbage", "partial", "disconnect", "error_reply", "slow_reply")
CAMERA_FAULTS = CAMERA_FAULT_KINDS


@dataclass(frozen=True, config=SECTION)
class FaultConfig:
    """A fault injected into a simulated instrument (rehearsals of what goes wrong at 3 a.m.).

    Serial instruments and the DAQ: ``kind`` one of no_reply, garbage, partial, disconnect,
    error_reply, slow_reply, from clock time ``at_s`` for ``count`` commands or ``duration_s``
    (``delay_s``: how late a slow reply is). Camera: ``kind`` error, timeout, dropped, garbage,
    partial or disconnect, after ``after_frames`` good frames, for ``count`` frames (none: from
    then on).
    """

    instrument: Annotated[
        Literal["filter_wheel", "pump", "daq", "camera"], described("where the fault goes")
    ]
    kind: Annotated[Text, described("what goes wrong (the kinds depend on the instrument)")]
    at_s: Annotated[Number, bounded("rig-clock time the fault starts", "s", ge=0)] = 0.0
    duration_s: Annotated[Number | None, bounded("how long it lasts", "s", gt=0)] = None
    count: Annotated[
        Integer | None, bounded("commands or camera frames affected (null: see kind)", ge=1)
    ] = None
    delay_s: Annotated[Number, bounded("extra reply delay of a slow_reply", "s", ge=0)] = 0.0
    after_frames: Annotated[Integer, bounded("camera: good frames before the fault", ge=0)] = 0

    def __post_init__(self) -> None:
        allowed = CAMERA_FAULTS if self.instrument == "camera" else SERIAL_FAULTS
        if self.kind not in allowed:
            raise ConfigError(
                f"kind for {self.instrument} must be one of {', '.join(allowed)}; got {self.kind!r}"
            )
        if self.kind == "slow_reply" and not self.delay_s > 0:
            raise ConfigError(f"delay_s must be > 0 s for a slow_reply, got {self.delay_s!r}")


@dataclass(frozen=True, config=SECTION)
class CalibrationConfig:
    """The Mag-fura-2 constants the analysis assumes until an in-situ calibration replaces them."""

    r_min: Annotated[Number, bounded("ratio of Mg-free dye (below r_max)", ge=0)] = 0.4
    r_max: Annotated[Number, bounded("ratio of Mg-saturated dye", gt=0, le=100)] = 3.0
    beta: Annotated[Number, bounded("F380 free / F380 bound", gt=0, le=100)] = 5.0
    #: calibrate_in_situ's kd_mM range
    kd_mM: Annotated[Number, bounded("Kd of Mag-fura-2 for Mg2+", "mM", ge=0.01, le=100)] = 1.9
    source: Annotated[Text, described("where the constants come from")] = "rig file"

    def __post_init__(self) -> None:
        if not 0 <= self.r_min < self.r_max:
            raise ConfigError(
                f"needs 0 <= r_min < r_max, got r_min={self.r_min!r}, r_max={self.r_max!r}"
            )


def _world(value: Any) -> WorldConfig:
    """The ``world`` section, checked by the simulator's dataclasses (strict builder)."""
    if isinstance(value, WorldConfig):
        return value
    return build(WorldConfig, value, "world")


@dataclass(frozen=True, config=SECTION)
class RigConfig:
    """A rig file: the rig's instruments by role, how they are wired, and (on a simulated rig)
    the simulated world."""

    name: Annotated[Text, described("the rig's name, recorded as rig in every start document")]
    simulated: Annotated[
        Flag, described("true: every instrument is a simulator acting on world")
    ] = False
    description: Annotated[Text, described("free text")] = ""
    time_scale: Annotated[
        Number,
        bounded("simulated seconds per real second (1 on a real rig)", gt=0, le=1e6),
        AllowedText("> 0 and at most 1e6 (clock seconds per real second)"),
    ] = 1.0
    seed: Annotated[Integer, bounded("seeds the simulated world (a numpy seed)", ge=0)] = 0
    #: operator steps fail the current cell instead of prompting (overnight queues)
    unattended: Annotated[
        Flag, described("operator steps fail the current cell instead of prompting")
    ] = False
    #: the lab's solutions files (paths relative to the rig file), layered; none: the packaged
    #: example. ``--solutions`` and $IONRIG_SOLUTIONS take precedence (docs/solutions.md)
    solutions: Annotated[
        list[Text], described("the lab's solutions files, relative to the rig file, layered")
    ] = field(default_factory=list)
    world: Annotated[
        WorldConfig,
        PlainValidator(_world, json_schema_input_type=WorldConfig),
        described("the simulated world (simulated rigs)"),
    ] = field(default_factory=WorldConfig)
    filter_wheel: FilterWheelConfig = field(default_factory=FilterWheelConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    daq: DaqConfig = field(default_factory=DaqConfig)
    perfusion: PerfusionConfig = field(default_factory=PerfusionConfig)
    amplifier: AmplifierConfig = field(default_factory=AmplifierConfig)
    pressure: PressureConfig = field(default_factory=PressureConfig)
    temperature: TemperatureConfig = field(default_factory=TemperatureConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    faults: Annotated[
        list[FaultConfig], described("faults injected into simulated instruments")
    ] = field(default_factory=list)

    def __post_init__(self) -> None:
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

"""``load_rig``: from a rig file to a connected :class:`ionrig.devices.Rig`.

The rig file is read by :mod:`ionrig.rig.rigfile`; this module builds what it describes: the
drivers behind their ports (with the retry policies of docs/reliability.md), the perfusion
device and its solutions, and, on a simulated rig, the simulated world and its instruments
(wired by :mod:`ionrig.rig.wiring`, with the rig file's injected faults). Only this module (and
test fixtures) know whether a rig is real or simulated: plans see the same
:class:`~ionrig.devices.Rig` either way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ionrig.chemistry import Solution
from ionrig.devices import (
    AnalogPumpFlow,
    BlockingPort,
    Camera,
    ExcitationSequencer,
    FilterSlot,
    FilterWheel,
    GravityFlow,
    PatchAmplifier,
    Perfusion,
    PressureController,
    RetryPolicy,
    Rig,
    SolutionLine,
    SyringePumpFlow,
    TemperatureController,
    transient_frame_error,
)
from ionrig.devices.drivers import (
    Axopatch200B,
    Daq,
    MicroManagerCamera,
    NewEraPump,
    NidaqmxDaq,
    PressureRegulator,
    SutterLambda10_3,
    SutterLambdaDG4,
    TemperatureMonitor,
    TtlValveController,
)
from ionrig.rig.config import ConfigError
from ionrig.rig.rigfile import (
    FilterWheelConfig,
    RigConfig,
    axopatch_channels,
    read_rig_config,
    read_solutions,
    solutions_origin,
    valve_lines,
)
from ionrig.rig.wiring import SimulatedOperator, inject_faults, simulate_instruments
from ionrig.simulators import FrameDropped, ScaledClock, SimulatedDaq, WallClock, World

__all__ = [
    "CAMERA_RETRY",
    "RETRY",
    "filter_wheel_driver",
    "load_rig",
    "solution_composition",
]

#: How a rig's ports retry transient instrument failures (docs/reliability.md).
RETRY = RetryPolicy()


def _transient_camera_error(error: BaseException) -> bool:
    """Camera failures a retake cures: the device's (a bad frame, a lost link) and the
    simulated camera's dropped frame; frame timeouts are left to the watchdogs."""
    return isinstance(error, FrameDropped) or transient_frame_error(error)


CAMERA_RETRY = RetryPolicy(transient=_transient_camera_error)


def filter_wheel_driver(config: FilterWheelConfig) -> SutterLambda10_3 | SutterLambdaDG4:
    """The Sutter driver of the rig file's excitation switcher, on its serial port."""
    if config.driver == "dg4":
        return SutterLambdaDG4(config.port, baud_rate=config.baud_rate, timeout_s=config.timeout_s)
    return SutterLambda10_3(
        config.port,
        config.wheel,
        shutter=config.shutter,
        speed=config.speed,
        baud_rate=config.baud_rate,
        timeout_s=config.timeout_s,
    )


def _perfusion(
    config: RigConfig, daq: Daq, clock, known: Mapping[str, Solution], origin: str
) -> Perfusion:
    p = config.perfusion
    missing = [name for name in p.solutions if name not in known]
    if missing:
        raise ConfigError(
            f"perfusion.solutions: {missing} are not in {origin} (known: {', '.join(known)})"
        )
    if p.flow == "gravity":
        flow = GravityFlow(clock, p.flow_mL_per_min)
    elif p.flow == "peristaltic":
        flow = AnalogPumpFlow(daq, p.pump_ao, mL_per_min_per_V=p.pump_mL_per_min_per_V, clock=clock)
    else:
        pump = NewEraPump(p.pump_port, timeout_s=p.pump_timeout_s)
        pump.diameter_mm = p.syringe_diameter_mm
        flow = SyringePumpFlow(pump)
    return Perfusion(
        TtlValveController(daq, valve_lines(config)),
        flow,
        {
            name: SolutionLine(
                valve=name,
                reservoir_mL=p.reservoir_mL,
                composition_mM=solution_composition(known[name]),
            )
            for name in p.solutions
        },
        clock=clock,
        bath_volume_mL=p.bath_volume_mL,
        flow_mL_per_min=p.flow_mL_per_min,
        exchange_bath_volumes=p.exchange_bath_volumes,
        initial=p.initial,
        port=BlockingPort("perfusion", retry=RETRY),
    )


def solution_composition(solution: Solution) -> dict[str, float]:
    """What a start document lists of a solution: totals (``na_mM`` …), free Mg²⁺ and Ca²⁺,
    additives in their own units, pH and osmolality."""
    composition = {f"{species}_mM": round(v, 6) for species, v in solution.totals_mM.items() if v}
    for name in ("dye_am_uM", "dye_uM", "pluronic_percent", "ionophore_uM"):
        if getattr(solution, name):
            composition[name] = getattr(solution, name)
    composition["mg_free_mM"] = round(solution.mg_free_mM, 6)
    composition["ca_free_uM"] = round(solution.ca_free_uM, 6)
    composition["ph"] = solution.ph
    composition["osmolarity_mOsm"] = round(solution.osmolarity_mOsm, 2)
    return composition


@dataclass
class _Backends:
    """What the devices are built on: the clock, the world (simulated rigs only), the DAQ and
    the simulated instruments by role (empty on a real rig)."""

    clock: Any
    world: World | None
    daq: Daq
    instruments: dict[str, Any] = field(default_factory=dict)


def _backends(config: RigConfig, table: Mapping[str, Solution]) -> _Backends:
    """A simulated rig's clock, world and instruments; a real rig's wall clock and NI-DAQmx."""
    if not config.simulated:
        return _Backends(WallClock(), None, Daq(NidaqmxDaq(config.daq.device)))
    clock = ScaledClock(config.time_scale)
    world = World.from_config(config.world, clock=clock, seed=config.seed, solutions=table)
    daq_backend = SimulatedDaq(config.daq.device, clock=clock, ai_resolution_bits=None)
    instruments = simulate_instruments(config, world, daq_backend)
    return _Backends(clock, world, Daq(daq_backend), instruments)


def _excitation_devices(
    config: RigConfig, instruments: Mapping[str, Any]
) -> tuple[FilterWheel, ExcitationSequencer | None]:
    """The filter wheel device and, when the switcher has a ring buffer, its sequencer."""
    wheel = config.filter_wheel
    if wheel.driver == "simulated":
        driver = instruments["filter_wheel"]
    else:
        driver = filter_wheel_driver(wheel)
    filters = {
        name: FilterSlot(position=f.position, wavelength_nm=f.wavelength_nm)
        for name, f in wheel.filters.items()
    }
    port = BlockingPort("filter_wheel", retry=RETRY)
    sequencer = (
        ExcitationSequencer(driver, filters, port=port)
        if hasattr(driver, "load_ring_buffer")
        else None
    )
    return FilterWheel(driver, filters, port=port), sequencer


def _camera(config: RigConfig, instruments: Mapping[str, Any], path_provider, clock) -> Camera:
    """The camera device on the simulated camera or a Micro-Manager camera."""
    cam = config.camera
    if cam.driver == "simulated":
        driver = instruments["camera"]
    else:
        driver = MicroManagerCamera(camera_label=cam.camera_label, config_file=cam.config_file)
    return Camera(
        driver,
        path_provider,
        now_s=clock.now_s,
        exposure_ms=cam.exposure_ms,
        port=BlockingPort("camera", retry=CAMERA_RETRY),
    )


def _amplifier(config: RigConfig, daq: Daq, path_provider, clock) -> PatchAmplifier:
    """The patch amplifier device on an Axopatch 200B through the DAQ."""
    a = config.amplifier
    axopatch = Axopatch200B(
        daq,
        axopatch_channels(a),
        beta=a.beta,
        command_sensitivity_mV_per_V=a.command_sensitivity_mV_per_V,
        safe_holding_mV=a.safe_holding_mV,
    )
    return PatchAmplifier(
        axopatch,
        path_provider,
        now_s=clock.now_s,
        sample_rate_Hz=a.sample_rate_Hz,
        port=BlockingPort("amplifier", retry=RETRY),
        telegraphs=lambda: {
            "mode": str(axopatch.mode),
            "gain_mV_per_pA": axopatch.gain_mV_per_pA,
            "lowpass_kHz": axopatch.lowpass_kHz,
        },
    )


def _pressure(config: RigConfig, daq: Daq) -> PressureController:
    pr = config.pressure
    regulator = PressureRegulator(
        daq,
        pr.ao_channel,
        kPa_per_V=pr.kPa_per_V,
        limits_kPa=tuple(pr.limits_kPa),
        ai_monitor=pr.ai_monitor,
    )
    return PressureController(regulator, port=BlockingPort("pressure", retry=RETRY))


def _temperature(config: RigConfig, daq: Daq) -> TemperatureController:
    te = config.temperature
    return TemperatureController(
        TemperatureMonitor(daq, te.ai_channel, C_per_V=te.C_per_V),
        port=BlockingPort("temperature", retry=RETRY),
    )


def _rig(
    config: RigConfig,
    backends: _Backends,
    raw: Path,
    table: Mapping[str, Solution],
    origin: str,
) -> Rig:
    """Every device of the rig on its backends (not connected); detectors write to ``raw``."""
    from ophyd_async.core import StaticPathProvider, UUIDFilenameProvider

    clock, daq, instruments = backends.clock, backends.daq, backends.instruments
    path_provider = StaticPathProvider(UUIDFilenameProvider(), raw)
    filter_wheel, sequencer = _excitation_devices(config, instruments)
    return Rig(
        filter_wheel=filter_wheel,
        sequencer=sequencer,
        camera=_camera(config, instruments, path_provider, clock),
        perfusion=_perfusion(config, daq, clock, table, origin),
        amplifier=_amplifier(config, daq, path_provider, clock),
        pressure=_pressure(config, daq),
        temperature=_temperature(config, daq),
        clock=clock,
        world=backends.world,
        config=config,
        name="rig",
    )


def _attach_solutions(
    rig: Rig, config: RigConfig, table: Mapping[str, Solution], origin: str
) -> None:
    """The rig's solutions, their compositions and the pipette's solution."""
    a = config.amplifier
    rig.solutions = table
    rig.solution_compositions = {name: solution_composition(e) for name, e in table.items()}
    if a.pipette_solution is not None and a.pipette_solution not in rig.solution_compositions:
        raise ConfigError(
            f"amplifier.pipette_solution: {a.pipette_solution!r} is not in {origin} "
            f"(known: {', '.join(rig.solution_compositions)})"
        )
    rig.pipette_solution = (
        config.world.patch.pipette_solution if rig.world is not None else a.pipette_solution
    )


def load_rig(
    name_or_path: str | os.PathLike = "sim",
    *,
    raw_dir: str | os.PathLike | None = None,
    solutions: Sequence[str | os.PathLike] | None = None,
    **overrides: Any,
) -> Rig:
    """Build and connect the rig of a rig file; needs a RunEngine (its event loop) to exist.

    ``raw_dir`` is where detectors write their files (default: the data directory's ``raw/``).
    ``solutions`` names solutions files that replace the rig file's (``--solutions``).
    ``overrides`` replace top-level keys of the file (``time_scale=1000``, ``seed=3``, or a
    mapping such as ``world={"n_cells": 3}`` that is merged into the file's).

    On a simulated rig every instrument is the simulator of the real one behind the real driver
    (serial bytes for the Lambda 10-3 and the NE-500, DAQ channels for the Axopatch, valves,
    pressure and temperature), wired to the world by :mod:`ionrig.rig.wiring`.
    """
    from bluesky.run_engine import call_in_bluesky_event_loop

    from ionrig.data.catalog import DataLocation

    config = read_rig_config(name_or_path, solutions=solutions, **overrides)
    table = read_solutions(config, solutions)
    origin = solutions_origin(config, solutions)
    raw = Path(raw_dir) if raw_dir is not None else DataLocation.at().raw_dir
    raw.mkdir(parents=True, exist_ok=True)
    backends = _backends(config, table)
    rig = _rig(config, backends, raw, table, origin)
    # The simulated instruments behind the devices, for tests that inject faults.
    rig.instruments = backends.instruments
    inject_faults(backends.instruments, config.faults)
    _attach_solutions(rig, config, table, origin)
    if backends.world is not None:
        rig.operator = SimulatedOperator(
            backends.world, rig.perfusion, backends.instruments.get("amplifier_front_panel")
        )
    call_in_bluesky_event_loop(rig.connect())
    return rig

"""How the simulated rig's instruments are wired to the simulated world.

A real rig's instruments act on cells through cables and tubing; the simulated rig's act on the
world through these bindings. Each binding plays the part of the instrument's analog side using
the same protocol facts the drivers decode (the Axopatch 200B telegraph tables, the command
scaling), so a driver cannot tell the simulated rig from the real one. Only the glue (rig loading)
uses this module: :func:`simulate_instruments` builds every simulated instrument of a rig file
and wires it, :func:`inject_faults` injects the rig file's ``faults:``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ionrig.devices.drivers import (
    AXOPATCH_200B_FILTER_TELEGRAPH,
    AXOPATCH_200B_GAIN_TELEGRAPH,
    AXOPATCH_200B_MODE_TELEGRAPH,
    AxopatchChannels,
    AxopatchMode,
)
from ionrig.rig.config import ConfigError
from ionrig.rig.rigfile import FaultConfig, RigConfig, axopatch_channels, valve_lines
from ionrig.simulators import (
    CameraFault,
    Fault,
    FaultKind,
    SimulatedCamera,
    SimulatedDaq,
    SimulatedFilterWheel,
    SimulatedLambda10_3,
    SimulatedLambdaDG4,
    SimulatedNE500,
    World,
    bind_excitation,
    register_simulated_instrument,
)

__all__ = [
    "SIMULATED_PORT",
    "SimulatedFrontPanel",
    "SimulatedOperator",
    "inject_faults",
    "simulate_instruments",
    "simulated_port_name",
    "wire_analog_pump",
    "wire_axopatch",
    "wire_camera_trigger",
    "wire_pressure",
    "wire_pump",
    "wire_temperature",
    "wire_valves",
]


def _telegraph_V(table: Mapping[float, object], value: object, what: str) -> float:
    for volts, entry in table.items():
        if entry == value:
            return float(volts)
    raise ValueError(f"{what} {value!r} is not on the Axopatch 200B's front panel")


@dataclass
class SimulatedFrontPanel:
    """The simulated Axopatch's front-panel mode switch (the operator turns it)."""

    mode: AxopatchMode = AxopatchMode.V_CLAMP


def wire_axopatch(
    world: World,
    daq: SimulatedDaq,
    channels: AxopatchChannels,
    *,
    command_mV_per_V: float,
    gain_alpha_beta: float = 1.0,
    filter_kHz: float = 5.0,
) -> SimulatedFrontPanel:
    """An Axopatch 200B between ``daq`` and ``world.patch``; returns its front panel.

    Front panel (docs/reference/instruments.md §3.1): mode V-Clamp (the returned panel's ``mode``),
    gain ``gain_alpha_beta`` mV/pA (β = 1), lowpass ``filter_kHz``; telegraphs put out the
    table voltages. EXT COMMAND takes ``command_mV_per_V``; SCALED OUTPUT is I × αβ mV/pA.
    """
    panel = SimulatedFrontPanel()
    gain_V = _telegraph_V(AXOPATCH_200B_GAIN_TELEGRAPH, gain_alpha_beta, "gain")
    daq.connect_ai(
        channels.mode_telegraph_ai,
        lambda t_s: _telegraph_V(AXOPATCH_200B_MODE_TELEGRAPH, panel.mode, "mode"),
    )
    daq.connect_ai(channels.gain_telegraph_ai, lambda t_s: gain_V)
    if channels.filter_telegraph_ai is not None:
        filter_V = _telegraph_V(AXOPATCH_200B_FILTER_TELEGRAPH, filter_kHz, "filter")
        daq.connect_ai(channels.filter_telegraph_ai, lambda t_s: filter_V)

    def command_written(t_s: float, volts: float) -> None:
        world.patch.holding_mV = float(np.clip(volts * command_mV_per_V, -200.0, 200.0))

    def sweep(wave_V: np.ndarray, sample_rate_Hz: float, t0_s: float) -> np.ndarray:
        current_pA = world.patch.record_sweep(
            np.asarray(wave_V) * command_mV_per_V,
            sample_rate_Hz,
            filter_kHz=filter_kHz,
            gain_mV_per_pA=gain_alpha_beta,
            advance_clock=False,  # the DAQ takes the time
        )
        return current_pA * gain_alpha_beta / 1000.0

    def holding_current_V(t_s: float) -> float:
        holding = world.patch.holding_mV
        current = world.patch.record_sweep(
            np.full(64, holding),
            10_000.0,
            filter_kHz=filter_kHz,
            gain_mV_per_pA=gain_alpha_beta,
            advance_clock=False,
        )
        return float(np.mean(current)) * gain_alpha_beta / 1000.0

    daq.on_ao(channels.command_ao, command_written)
    daq.connect_sweep(channels.scaled_output_ai, sweep, ao_channel=channels.command_ao)
    daq.connect_ai(channels.scaled_output_ai, holding_current_V)
    return panel


def wire_pressure(
    world: World,
    daq: SimulatedDaq,
    ao_channel: str,
    *,
    kPa_per_V: float,
    ai_monitor: str | None = None,
) -> None:
    """A pressure regulator on the pipette: AO volts × ``kPa_per_V`` → ``world.patch``."""
    state = {"kPa": 0.0}

    def written(t_s: float, volts: float) -> None:
        state["kPa"] = volts * kPa_per_V
        world.patch.apply_pressure_kPa(float(np.clip(state["kPa"], -100.0, 100.0)))

    daq.on_ao(ao_channel, written)
    if ai_monitor is not None:
        daq.connect_ai(ai_monitor, lambda t_s: state["kPa"] / kPa_per_V)


def wire_temperature(world: World, daq: SimulatedDaq, ai_channel: str, *, C_per_V: float) -> None:
    """A temperature controller's monitor output: bath °C ÷ ``C_per_V`` volts."""
    daq.connect_ai(ai_channel, lambda t_s: world.bath_temperature_C / C_per_V)


def wire_valves(
    world: World,
    daq: SimulatedDaq,
    lines: Mapping[str, str],
    *,
    gravity_mL_per_min: float | None = None,
) -> None:
    """Pinch valves, one per reservoir (solution name → DO line): the open one feeds the bath.

    With ``gravity_mL_per_min`` the reservoirs are gravity-fed: liquid flows at that rate
    whenever exactly one valve is open; otherwise a pump sets the flow (:func:`wire_pump`).
    """
    open_lines: set[str] = set()
    solution_of = {line: name for name, line in lines.items()}

    def written(line: str):
        def on_do(t_s: float, state: bool) -> None:
            (open_lines.add if state else open_lines.discard)(line)
            inflow = [solution_of[x] for x in open_lines]
            world.chamber.select(inflow[0] if len(inflow) == 1 else None)
            if gravity_mL_per_min is not None:
                world.chamber.set_flow_mL_per_min(gravity_mL_per_min if len(inflow) == 1 else 0.0)

        return on_do

    for line in lines.values():
        daq.on_do(line, written(line))


def wire_analog_pump(
    world: World, daq: SimulatedDaq, ao_channel: str, *, mL_per_min_per_V: float
) -> None:
    """A peristaltic pump whose speed input is a DAQ output: the bath inflow follows it."""
    daq.on_ao(
        ao_channel,
        lambda t_s, volts: world.chamber.set_flow_mL_per_min(max(0.0, volts * mL_per_min_per_V)),
    )


def wire_pump(world: World, pump: SimulatedNE500) -> None:
    """A syringe pump pushing the selected reservoir: its infusion rate is the bath inflow."""

    def observe(what: str, value: object) -> None:
        if what == "flow_uL_per_min":
            world.chamber.set_flow_mL_per_min(float(value) / 1000.0)

    pump.observers.append(observe)


class SimulatedOperator:
    """The operator of the simulated rig: does by hand, in the world, what a plan asks.

    Steps (see ``ionrig.plans`` operator steps): ``approach_cell`` (``cell_index``) puts the
    pipette on that cell; ``withdraw_pipette`` takes it off (a fresh pipette goes in the bath);
    ``fill_pipette`` (``solution``) fills the pipette; ``set_amplifier_mode`` (``mode``) turns
    the front-panel mode switch; ``set_bath_temperature`` (``temperature_C``) sets the bath heater;
    ``refill_reservoir`` (``solution``, optional ``volume_mL``) refills a reservoir in the world
    and tells the perfusion device; ``acknowledge`` confirms a plain prompt.
    """

    def __init__(
        self, world: World, perfusion=None, front_panel: SimulatedFrontPanel | None = None
    ) -> None:
        self._world = world
        self._perfusion = perfusion
        self._front_panel = front_panel
        #: (clock time, step, params) of every step done, for tests and the morning summary.
        self.log: list[tuple[float, str, dict]] = []

    def __call__(self, step: str, /, *, message: str, **params):
        self.log.append((self._world.clock.now_s(), step, dict(params)))
        if step == "approach_cell":
            self._world.patch.approach(int(params["cell_index"]))
        elif step == "withdraw_pipette":
            self._world.patch.withdraw()
        elif step == "fill_pipette":
            self._world.patch.set_pipette_solution(str(params["solution"]))
        elif step == "set_amplifier_mode" and self._front_panel is not None:
            self._front_panel.mode = AxopatchMode(str(params["mode"]))
        elif step == "set_bath_temperature":
            self._world.chamber.set_heater_C(float(params["temperature_C"]))
        elif step == "refill_reservoir":
            solution = params["solution"]
            volume = params.get("volume_mL")
            if volume is None:
                volume = self._perfusion.capacity_mL(solution) if self._perfusion else 50.0
            self._world.chamber.refill(solution, float(volume))
            if self._perfusion is not None:
                self._perfusion.refilled(solution, float(volume))
        elif step != "acknowledge":
            raise ValueError(f"the simulated operator cannot do step {step!r}")
        return "done"


def wire_camera_trigger(camera: SimulatedCamera, dg4: SimulatedLambdaDG4) -> None:
    """The camera's exposing output pulses the DG-4's trigger input (one step per exposure)."""

    def observe(what: str, value: object) -> None:
        if what == "exposing":
            dg4.trigger()

    camera.observers.append(observe)


#: The port prefix of simulated serial instruments: ``ionrig-sim://NAME``.
SIMULATED_PORT = "ionrig-sim://"


def simulated_port_name(port: str, field_name: str) -> str:
    """The registry name of a simulated instrument's ``ionrig-sim://NAME`` port; a
    :class:`ConfigError` naming ``field_name`` for any other port."""
    if not port.startswith(SIMULATED_PORT):
        raise ConfigError(
            f"{field_name}: a simulated rig uses {SIMULATED_PORT}NAME ports, got {port!r}"
        )
    return port.removeprefix(SIMULATED_PORT)


def _simulate_excitation(config: RigConfig, world: World) -> Any:
    """The simulated excitation switcher: a byte-less filter wheel, or a Lambda 10-3 / DG-4
    controller registered on its ``ionrig-sim://`` port."""
    wheel = config.filter_wheel
    wavelengths = {f.position: f.wavelength_nm for f in wheel.filters.values()}
    if wheel.driver == "simulated":
        return SimulatedFilterWheel(
            world, {p: round(nm) for p, nm in wavelengths.items()}, switch_ms=wheel.switch_ms
        )
    clock = world.clock
    switcher = SimulatedLambdaDG4(clock) if wheel.driver == "dg4" else SimulatedLambda10_3(clock)
    bind_excitation(world, switcher, wavelengths, wheel=wheel.wheel, shutter=wheel.shutter)
    register_simulated_instrument(simulated_port_name(wheel.port, "filter_wheel.port"), switcher)
    return switcher


def _simulate_perfusion(config: RigConfig, world: World, daq: SimulatedDaq) -> dict[str, Any]:
    """Valves on the DAQ's DO lines and what pushes the liquid; the simulated syringe pump
    (registered on its port) when the rig has one."""
    pe = config.perfusion
    lines = valve_lines(config)
    if pe.flow == "gravity":
        wire_valves(world, daq, lines, gravity_mL_per_min=pe.flow_mL_per_min)
        return {}
    wire_valves(world, daq, lines)
    if pe.flow == "peristaltic":
        wire_analog_pump(world, daq, pe.pump_ao, mL_per_min_per_V=pe.pump_mL_per_min_per_V)
        return {}
    pump = SimulatedNE500(world.clock, diameter_mm=pe.syringe_diameter_mm, power_on_alarm=False)
    wire_pump(world, pump)
    register_simulated_instrument(simulated_port_name(pe.pump_port, "perfusion.pump_port"), pump)
    return {"pump": pump}


def simulate_instruments(config: RigConfig, world: World, daq: SimulatedDaq) -> dict[str, Any]:
    """Simulated instruments behind the real drivers' ports and channels, wired to the world.

    Returns them by role: ``daq``, ``filter_wheel``, ``camera``, ``amplifier_front_panel`` and,
    with a syringe pump, ``pump``.
    """
    instruments: dict[str, Any] = {"daq": daq}
    instruments["filter_wheel"] = _simulate_excitation(config, world)
    instruments["camera"] = SimulatedCamera(world)
    if config.filter_wheel.driver == "dg4":
        wire_camera_trigger(instruments["camera"], instruments["filter_wheel"])
    a = config.amplifier
    instruments["amplifier_front_panel"] = wire_axopatch(
        world,
        daq,
        axopatch_channels(a),
        command_mV_per_V=a.command_sensitivity_mV_per_V,
        gain_alpha_beta=a.simulated_gain_mV_per_pA,
        filter_kHz=a.simulated_filter_kHz,
    )
    pr, te = config.pressure, config.temperature
    wire_pressure(world, daq, pr.ao_channel, kPa_per_V=pr.kPa_per_V, ai_monitor=pr.ai_monitor)
    wire_temperature(world, daq, te.ai_channel, C_per_V=te.C_per_V)
    instruments.update(_simulate_perfusion(config, world, daq))
    return instruments


def _inject(instruments: Mapping[str, Any], fault: FaultConfig) -> None:
    instrument = instruments.get(fault.instrument)
    if instrument is None or not hasattr(instrument, "inject"):
        raise ConfigError(
            f"faults: this rig has no simulated {fault.instrument} that takes faults "
            f"(it has {', '.join(k for k, v in instruments.items() if hasattr(v, 'inject'))})"
        )
    if fault.instrument == "camera":
        instrument.inject(
            CameraFault(after_frames=fault.after_frames, kind=fault.kind, count=fault.count)
        )
    else:
        instrument.inject(
            Fault(
                FaultKind(fault.kind),
                at_s=fault.at_s,
                duration_s=fault.duration_s,
                count=fault.count,
                delay_s=fault.delay_s,
            )
        )


def inject_faults(instruments: Mapping[str, Any], faults: Iterable[FaultConfig]) -> None:
    """Inject each fault of a rig file's ``faults:`` into its simulated instrument (by role,
    as :func:`simulate_instruments` returns them); a :class:`ConfigError` when the rig has no
    such simulated instrument."""
    for fault in faults:
        _inject(instruments, fault)

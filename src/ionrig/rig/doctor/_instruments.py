"""The doctor's instrument checks: each asks one instrument who it is and how it is.

Only identification and status queries, analog input readings and one camera frame: no filter,
shutter, valve, pump, pressure or holding command is sent.
"""

from __future__ import annotations

import re

import numpy as np

from ionrig.devices.drivers import (
    Axopatch200B,
    Daq,
    MicroManagerCamera,
    NewEraPump,
    NidaqmxDaq,
    PressureRegulator,
    PumpStatus,
    SutterLambda10_3,
    TemperatureMonitor,
)
from ionrig.rig.build import filter_wheel_driver
from ionrig.rig.rigfile import axopatch_channels

from ._check_runner import CameraFrameError, DoctorRun, Part, error_text
from ._report import CheckResult

__all__ = [
    "check_amplifier",
    "check_camera",
    "check_daq",
    "check_filter_wheel",
    "check_pressure",
    "check_pump",
    "check_temperature",
]


def check_filter_wheel(run: DoctorRun) -> None:
    config = run.config
    assert config is not None
    wheel = config.filter_wheel
    by_position = {f.position: (name, f.wavelength_nm) for name, f in wheel.filters.items()}

    def describe_position(position: int) -> str:
        if position in by_position:
            name, nm = by_position[position]
            return f"position {position} (filter {name}, {nm:g} nm)"
        return f"position {position} (no filter of the rig file there)"

    if wheel.driver == "simulated":
        part = Part("simulated filter wheel (no serial port)", "filter_wheel.driver")

        def simulated() -> CheckResult:
            sim = run.instruments["filter_wheel"]
            shutter = "open" if sim.shutter_open else "closed"
            return CheckResult(
                "filter wheel",
                "ok",
                f"{part.label}: {describe_position(sim.position)}, shutter {shutter}",
            )

        run.check("filter wheel", part, simulated)
        return
    model = "Sutter Lambda DG-4" if wheel.driver == "dg4" else "Sutter Lambda 10-3"
    part = Part(f"{model} at {wheel.port}", "filter_wheel.port", "filter_wheel")

    def body() -> CheckResult:
        driver = filter_wheel_driver(wheel)
        run.closers.append(driver.close)
        identity = driver.id
        if not isinstance(driver, SutterLambda10_3):
            return CheckResult("filter wheel", "ok", f"{driver.instrument_label}: id {identity!r}")
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

    run.check("filter wheel", part, body)


def check_pump(run: DoctorRun) -> None:
    config = run.config
    assert config is not None
    p = config.perfusion
    if p.flow != "ne500":
        return
    part = Part(f"New Era NE-500 at {p.pump_port}", "perfusion.pump_port", "pump")

    def body() -> CheckResult:
        pump = NewEraPump(p.pump_port)
        run.closers.append(pump.close)
        version = pump.id
        status = pump.status
        detail = f"{pump.instrument_label}: {version}, {status.name.lower()}"
        if pump.last_alarm is not None:
            detail += f" (reported alarm {pump.last_alarm.name} once, now cleared)"
        if status in (PumpStatus.INFUSING, PumpStatus.WITHDRAWING, PumpStatus.PURGING):
            return CheckResult("pump", "warn", detail, "the pump is running: stop it before a run")
        return CheckResult("pump", "ok", detail)

    run.check("pump", part, body)


def check_daq(run: DoctorRun) -> None:
    config = run.config
    assert config is not None
    label = (
        f"simulated DAQ {config.daq.device}"
        if config.daq.backend == "simulated"
        else f"NI-DAQmx {config.daq.device}"
    )
    part = Part(label, "daq.device", "daq")
    channel = config.amplifier.scaled_output_ai

    opened: list[Daq] = []

    def body() -> CheckResult:
        backend = (
            run.instruments["daq"]
            if config.simulated
            else NidaqmxDaq(config.daq.device)  # the only backend of a real rig
        )
        daq = Daq(backend)
        run.closers.append(daq.close)
        volts = daq.read_ai(channel)
        opened.append(daq)
        return CheckResult(
            "DAQ",
            "ok",
            f"{daq.label}: answers ({channel}, amplifier output, {volts_text(volts)} V)",
        )

    if run.check("DAQ", part, body).status == "ok":
        run.daq = opened[0]


def check_amplifier(run: DoctorRun) -> None:
    config = run.config
    assert config is not None
    a = config.amplifier
    part = Part(
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

    run.on_daq("amplifier", part, body)


def check_temperature(run: DoctorRun) -> None:
    config = run.config
    assert config is not None
    te = config.temperature
    part = Part(
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

    run.on_daq("temperature", part, body)


def check_pressure(run: DoctorRun) -> None:
    config = run.config
    assert config is not None
    pr = config.pressure
    part = Part(f"pressure regulator on {pr.ao_channel}", "pressure", "daq")

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

    run.on_daq("pressure", part, body)


def check_camera(run: DoctorRun) -> None:
    config = run.config
    assert config is not None
    cam = config.camera
    if cam.driver == "simulated":
        part = Part("simulated camera", "camera", "camera")
    else:
        label = f" {cam.camera_label!r}" if cam.camera_label else ""
        part = Part(
            f"Micro-Manager camera{label}", "camera.config_file / camera.camera_label", "camera"
        )

    def body() -> CheckResult:
        if cam.driver == "simulated":
            driver = run.instruments["camera"]
            model = "simulated camera (ionrig.simulators)"
        else:
            driver = MicroManagerCamera(camera_label=cam.camera_label, config_file=cam.config_file)
            model = f"{driver.name}: {driver.identify()}"
        try:
            frame = np.asarray(driver.snap(cam.exposure_ms))
        except Exception as error:
            raise CameraFrameError(f"{model}: test frame failed: {error_text(error)}") from error
        return CheckResult(
            "camera",
            "ok",
            f"{model}: {driver.width_px}×{driver.height_px} px, {driver.bit_depth}-bit; "
            f"test frame ({cam.exposure_ms:g} ms): mean {frame.mean():.0f} ADU, "
            f"max {int(frame.max())} ADU",
        )

    run.check("camera", part, body)


def volts_text(volts: float) -> str:
    """Volts to 3 decimals, without a "-0.000"."""
    return f"{round(volts, 3) + 0.0:.3f}"

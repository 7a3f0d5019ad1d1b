"""``ionrig doctor``: rig bring-up checks on the simulated rig, with faults, and from the CLI."""

import importlib.util
import subprocess
import sys
import time
from importlib import resources

import pytest
import yaml

from ionrig.rig import wiring
from ionrig.rig.doctor import CheckResult, DoctorReport, run_doctor
from ionrig.simulators import registered_simulated_instruments

INSTRUMENT_CHECKS = (
    "filter wheel",
    "DAQ",
    "amplifier",
    "temperature",
    "pressure",
    "camera",
)
ALL_CHECKS = (
    "rig file",
    "solutions",
    "perfusion",
    "DAQ wiring",
    *INSTRUMENT_CHECKS,
    "data directory",
    "disk space",
)
WHEEL = "Sutter Lambda 10-3 at ionrig-sim://lambda10-3"


def sim_rig_file(tmp_path, **changes) -> str:
    """The packaged sim.yaml with top-level ``changes`` (mappings merged one level deep)."""
    raw = yaml.safe_load((resources.files("ionrig.rigs") / "sim.yaml").read_text())
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    path = tmp_path / "rig.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def not_ok(report: DoctorReport) -> dict[str, str]:
    return {c.name: c.status for c in report.checks if c.status != "ok"}


def test_the_simulated_rig_passes_every_check_and_names_every_instrument(tmp_path):
    report = run_doctor("sim", data_dir=tmp_path / "data", min_free_GB=0)
    assert report.names == ALL_CHECKS
    assert not_ok(report) == {} and report.exit_code == 0 and report.ok
    details = {c.name: c.detail for c in report.checks}
    assert details["filter wheel"].startswith(f"{WHEEL}: id '10-3WA-25WB-NC")
    assert "wheel A at position 0" in details["filter wheel"]
    assert "shutter A closed" in details["filter wheel"]
    assert details["DAQ"].startswith("simulated DAQ Dev1: answers (Dev1/ai0")
    assert details["amplifier"] == (
        "Axopatch 200B on simulated DAQ Dev1: mode V-Clamp, gain 1 mV/pA (β = 1), lowpass 5 kHz"
    )
    assert "bath 22.0 °C" in details["temperature"]  # sim.yaml room_temperature_C
    assert details["pressure"].startswith("analog pressure regulator on Dev1/ao1")
    assert "128×128 px, 16-bit" in details["camera"]  # sim.yaml sensor
    assert "hbss → Dev1/port0/line0" in details["perfusion"]
    assert "calibration_rmax → Dev1/port0/line7" in details["perfusion"]
    assert "gravity flow 2 mL/min" in details["perfusion"]
    assert "amplifier.filter_telegraph_ai Dev1/ai3" in details["DAQ wiring"]
    assert str(tmp_path / "data") in details["data directory"]
    table = report.table()
    assert table.splitlines()[1].split() == ["check", "status", "detail", "what", "to", "fix"]
    assert table.endswith("rig ready")
    for name in ALL_CHECKS:
        assert any(line.startswith(f"{name} ") for line in table.splitlines()), name


def test_the_doctor_only_identifies_and_reads(tmp_path, monkeypatch):
    """No move, shutter, valve, pump, pressure or holding command: identification, status,
    analog readings and one camera frame. The ne500 variant adds the pump's check."""
    instruments = {}
    build = wiring.simulate_instruments  # what the doctor builds a simulated rig with
    monkeypatch.setattr(
        wiring, "simulate_instruments", lambda *a: instruments.update(build(*a)) or instruments
    )
    before = registered_simulated_instruments()
    report = run_doctor(
        "sim", data_dir=tmp_path / "data", min_free_GB=0, perfusion={"flow": "ne500"}
    )
    assert not_ok(report) == {}
    assert report["pump"].detail.startswith("New Era NE-500 at ionrig-sim://ne500: NE500V")
    assert report["pump"].detail.endswith("stopped")
    wheel_commands = [m for _, m in instruments["filter_wheel"].received]
    assert wheel_commands == [b"\xee", b"\xfd", b"\xcc"]  # on-line, identify, status
    assert [m for _, m in instruments["pump"].received] == [b"0VER", b"0"]  # version, status
    assert len(instruments["daq"].history) == 0  # not one analog or digital output written
    assert instruments["camera"].frames_taken == 1
    # the doctor's simulated instruments were only registered while it ran
    assert registered_simulated_instruments() == before


FAULTS = {
    "wheel no reply": (
        {
            "faults": [{"instrument": "filter_wheel", "kind": "no_reply", "duration_s": 1e9}],
            "filter_wheel": {"timeout_s": 0.2},
        },
        {"filter wheel": "FAIL"},
        [WHEEL, "no reply within 0.2 s"],
        ["filter_wheel.port", "no reply", "remove it from the rig file's faults:"],
    ),
    "wheel garbage": (
        {"faults": [{"instrument": "filter_wheel", "kind": "garbage", "duration_s": 1e9}]},
        {"filter wheel": "FAIL"},
        [WHEEL, "(garbage)"],
        ["garbled reply", "baud rate", "filter_wheel.port"],
    ),
    "camera error": (
        {"faults": [{"instrument": "camera", "kind": "error"}]},
        {"camera": "FAIL"},
        ["simulated camera", "test frame failed: CameraError"],
        ["the camera does not deliver frames", "injects error into camera"],
    ),
    "DAQ lost": (
        {"faults": [{"instrument": "daq", "kind": "disconnect", "duration_s": 1e9}]},
        {"DAQ": "FAIL", "amplifier": "FAIL", "temperature": "FAIL", "pressure": "FAIL"},
        ["simulated DAQ Dev1", "DAQ device lost", "read_ai Dev1/ai0"],
        ["the DAQ is gone", "daq.device", "injects disconnect into daq"],
    ),
    "pump no reply": (
        {
            "perfusion": {"flow": "ne500"},
            "faults": [{"instrument": "pump", "kind": "no_reply", "duration_s": 1e9}],
        },
        {"pump": "FAIL"},
        ["New Era NE-500 at ionrig-sim://ne500", "no reply within 1 s", "'VER'"],
        ["perfusion.pump_port", "no reply"],
    ),
}


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_an_injected_fault_fails_the_instruments_check_naming_it_and_its_port(tmp_path, fault):
    changes, failing, in_detail, in_fix = FAULTS[fault]
    report = run_doctor(sim_rig_file(tmp_path, **changes), data_dir=tmp_path / "data")
    assert not_ok(report) == {"rig file": "warn", **failing}  # the file says faults are injected
    assert report.exit_code == 1
    first = report[next(iter(failing))]
    for text in in_detail:
        assert text in first.detail, (text, first.detail)
    for text in in_fix:
        assert text in first.fix, (text, first.fix)
    for dependent in set(failing) - {first.name}:  # on the DAQ: not checked, fix it first
        assert report[dependent].detail.endswith("not checked, the DAQ check failed")
        assert report[dependent].fix == "fix the DAQ check first"
    assert "injected" in report["rig file"].detail


def test_the_wheel_named_in_the_rig_file_must_be_fitted_and_a_dg4_identifies(tmp_path):
    report = run_doctor(
        "sim", data_dir=tmp_path / "data", min_free_GB=0, filter_wheel={"wheel": "C"}
    )
    assert not_ok(report) == {"filter wheel": "FAIL"}
    assert report["filter wheel"].detail.endswith("'10-3WA-25WB-NCWC-NC': wheel C is not connected")
    assert "set filter_wheel.wheel to a fitted wheel" in report["filter wheel"].fix
    report = run_doctor(
        "sim",
        data_dir=tmp_path / "data",
        min_free_GB=0,
        filter_wheel={"driver": "dg4", "port": "ionrig-sim://dg4"},
    )
    assert not_ok(report) == {}
    assert (
        report["filter wheel"].detail
        == "Sutter Lambda DG-4 at ionrig-sim://dg4: id 'DG4/5V1.12SS-ON'"
    )


def test_a_dead_instrument_cannot_hang_the_doctor(tmp_path):
    """The wheel answers 1000 clock seconds late and its driver waits up to 60 s: the doctor
    abandons the check at its own timeout and goes on."""
    rig = sim_rig_file(
        tmp_path,
        faults=[
            {"instrument": "filter_wheel", "kind": "slow_reply", "duration_s": 1e9, "delay_s": 1e3}
        ],
        filter_wheel={"timeout_s": 60},
    )
    started = time.monotonic()
    report = run_doctor(rig, data_dir=tmp_path / "data", min_free_GB=0, timeout_s=0.5)
    assert time.monotonic() - started < 10
    assert report["filter wheel"] == CheckResult(
        "filter wheel",
        "FAIL",
        f"{WHEEL}: no answer within 0.5 s (the check was abandoned)",
        report["filter wheel"].fix,
    )
    assert "filter_wheel.port" in report["filter wheel"].fix
    assert report["camera"].status == "ok"  # the checks after it still ran


def test_a_solution_missing_from_the_solutions_file_fails_the_solutions_check(tmp_path):
    rig = sim_rig_file(tmp_path, perfusion={"solutions": ["hbss", "hbss_with_magic"]})
    report = run_doctor(rig, data_dir=tmp_path / "data", min_free_GB=0)
    assert not_ok(report) == {"solutions": "FAIL"}
    assert (
        "perfusion.solutions: ['hbss_with_magic'] are not in the packaged solutions.yaml"
        in report["solutions"].detail
    )
    assert "solutions file" in report["solutions"].fix and "docs/solutions.md" in (
        report["solutions"].fix
    )


def test_valves_and_channels_sharing_a_line_fail_the_wiring_checks(tmp_path):
    rig = sim_rig_file(
        tmp_path,
        perfusion={"valve_lines": {"hbss": "Dev1/port0/line1"}},  # hbss_probenecid's by default
        temperature={"ai_channel": "Dev1/ai1"},  # the gain telegraph's
        pressure={"ao_channel": "Dev2/ao1"},  # another board
    )
    report = run_doctor(rig, data_dir=tmp_path / "data", min_free_GB=0)
    assert report["perfusion"].status == "FAIL"
    assert "hbss and hbss_probenecid share Dev1/port0/line1" in report["perfusion"].detail
    wiring = report["DAQ wiring"]
    assert wiring.status == "FAIL"
    assert "pressure.ao_channel 'Dev2/ao1' is not an AO channel of Dev1" in wiring.detail
    assert "amplifier.gain_telegraph_ai and temperature.ai_channel are both Dev1/ai1" in (
        wiring.detail
    )
    # a simulated DAQ cannot play a channel of another board: no instrument can be checked
    assert report.names[-3:] == ("simulated rig", "data directory", "disk space")
    assert "Dev2/ao1" in report["simulated rig"].detail


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: bad\nsimulated: true\ncamera: {exposure_mss: 20}\n",
            "camera: unknown key 'exposure_mss'; allowed keys: camera_label, config_file",
        ),
        ("name: bad\nsimulated: true\ncamera: [unclosed\n", "is not valid YAML"),
    ],
    ids=["misspelled key", "broken YAML"],
)
def test_a_bad_rig_file_is_the_first_failed_check(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    report = run_doctor(path, data_dir=tmp_path / "data", min_free_GB=0)
    assert report.checks[0].name == "rig file" and report.checks[0].status == "FAIL"
    assert expected in report.checks[0].detail
    assert report.names == ("rig file", "data directory", "disk space")  # nothing else to check
    assert report.exit_code == 1


def test_a_real_rig_without_its_hardware_fails_fast_naming_every_port(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTEST_RUNNING", "1")  # pymmcore-plus: no log file in the user's dirs
    missing = tmp_path / "no-such"
    started = time.monotonic()
    report = run_doctor(
        "example-real",
        data_dir=tmp_path / "data",
        min_free_GB=0,
        filter_wheel={"port": f"{missing}-wheel"},
        perfusion={"pump_port": f"{missing}-pump"},
        camera={"config_file": f"{missing}.cfg"},
    )
    assert time.monotonic() - started < 30
    assert report["rig file"].detail == "bench-1 from example-real (real): every key valid"
    wheel, pump = report["filter wheel"], report["pump"]
    assert wheel.status == "FAIL" and f"{missing}-wheel" in wheel.detail
    assert "cannot reach the port" in wheel.fix and "filter_wheel.port" in wheel.fix
    assert pump.status == "FAIL" and f"{missing}-pump" in pump.detail
    assert report["DAQ"].status == "FAIL" and "NI-DAQmx Dev1" in report["DAQ"].detail
    if importlib.util.find_spec("nidaqmx") is None:
        assert "pip install nidaqmx" in report["DAQ"].fix
    for dependent in ("amplifier", "temperature", "pressure"):
        assert report[dependent].fix == "fix the DAQ check first"
    camera = report["camera"]
    assert camera.status == "FAIL" and "Micro-Manager camera 'Camera'" in camera.detail
    if importlib.util.find_spec("pymmcore_plus") is None:
        assert "ionrig[micromanager]" in camera.fix
    else:
        assert f"{missing}.cfg" in camera.detail
        assert "the file does not exist: correct camera.config_file" in camera.fix
    # the valve map of example-real.yaml is explicit and complete
    assert report["perfusion"].status == "ok" and report["solutions"].status == "ok"


def test_low_disk_space_warns_and_an_unwritable_data_directory_fails(tmp_path):
    report = run_doctor("sim", data_dir=tmp_path / "data", min_free_GB=1e12)
    assert not_ok(report) == {"disk space": "warn"} and report.exit_code == 0
    assert "below 1e+12 GB" in report["disk space"].detail
    assert "--data" in report["disk space"].fix
    assert report.table().endswith("rig ready (1 warning(s))")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    report = run_doctor("sim", data_dir=blocker / "data", min_free_GB=0)
    assert [c.name for c in report.failed] == ["data directory"]
    assert str(blocker / "data") in report["data directory"].detail
    assert "writable directory" in report["data directory"].fix
    assert "disk space" not in report.names


def test_bad_arguments_and_unknown_checks_are_named():
    with pytest.raises(ValueError, match="timeout_s must be > 0 s"):
        run_doctor("sim", timeout_s=0)
    with pytest.raises(ValueError, match="min_free_GB must be >= 0 GB"):
        run_doctor("sim", min_free_GB=-1)
    report = DoctorReport("sim", (CheckResult("rig file", "ok", "fine"),))
    with pytest.raises(KeyError, match=r"no check 'pump' \(checks: rig file\)"):
        report["pump"]


def _doctor_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "ionrig.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_the_cli_prints_the_table_and_exits_0_on_the_simulated_rig(tmp_path):
    data = str(tmp_path / "data")
    done = _doctor_cli("doctor", "--rig", "sim", "--data", data, "--min-free-gb", "0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "ionrig doctor: rig sim" and lines[-1] == "rig ready"
    for name in ALL_CHECKS:
        assert any(line.split("  ")[0] == name and " ok " in line for line in lines), name
    assert "FAIL" not in done.stdout


def test_the_cli_exits_1_on_a_faulty_rig_file_naming_the_instrument(tmp_path):
    rig = sim_rig_file(
        tmp_path,
        faults=[{"instrument": "filter_wheel", "kind": "no_reply", "duration_s": 1e9}],
        filter_wheel={"timeout_s": 0.2},
    )
    data = str(tmp_path / "data")
    done = _doctor_cli("--data", data, "doctor", "--rig", rig, "--min-free-gb", "0", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    wheel = next(line for line in done.stdout.splitlines() if line.startswith("filter wheel"))
    assert "FAIL" in wheel and "Sutter Lambda 10-3 at" in wheel
    assert "ionrig-sim://lambda10-3" in done.stdout
    assert done.stdout.splitlines()[-1].startswith("1 check(s) FAILED")

"""ionrig.bench.shell: the namespace, the magics, top-level await, and ``ionrig shell`` itself."""

from __future__ import annotations

import builtins
import os
import re
import subprocess
import sys
from types import SimpleNamespace

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import pytest
from bluesky.callbacks.best_effort import BestEffortCallback
from IPython.core.error import UsageError

import ionrig.plans
from ionrig.bench.live import enable_live_feedback
from ionrig.bench.loop import run_in_loop
from ionrig.bench.shell import banner, shell_namespace
from ionrig.devices import ROLES


def _value(session, signal):
    return run_in_loop(session.RE, signal.get_value(), timeout_s=10)


@pytest.fixture
def ipython(session, tmp_path, monkeypatch):
    """An in-process IPython shell holding the session's namespace (no history file)."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    # IPython replaces sys.modules["__main__"] and adds builtins: put them back afterwards
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    for name in ("__IPYTHON__", "display"):
        monkeypatch.setattr(builtins, name, None, raising=False)
        monkeypatch.delattr(builtins, name)
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    shell.user_ns.update(shell_namespace(session, live=False))
    yield shell
    InteractiveShell.clear_instance()


def test_namespace_holds_the_session_its_devices_and_every_plan(session, capsys):
    namespace = shell_namespace(session, live=False)
    rig = session.rig
    assert namespace["RE"] is session.RE
    assert namespace["rig"] is rig
    assert namespace["catalog"] is session.catalog
    assert namespace["bps"] is bps
    assert namespace["live"] is None
    assert namespace["enable_live_feedback"] is enable_live_feedback
    roles = [role for role in ROLES if getattr(rig, role, None) is not None]
    assert roles == ["filter_wheel", "camera", "perfusion", "amplifier", "pressure", "temperature"]
    for role in roles:
        assert namespace[role] is getattr(rig, role)
    for name in ionrig.plans.__all__:
        assert namespace[name] is getattr(ionrig.plans, name)
    bec = namespace["bec"]
    assert isinstance(bec, BestEffortCallback)
    # a second call subscribes nothing new
    assert shell_namespace(session, live=False)["bec"] is bec
    session.RE(bp.count([rig.t_s], 2))
    out = capsys.readouterr().out
    assert out.count("Transient Scan ID: 1") == 1  # bec is subscribed, once


def test_banner_says_which_rig_how_fast_and_where_data_go(session):
    text = banner(session)
    assert "rig 'sim': SIMULATED instruments, time_scale 100" in text
    assert str(session.catalog.location.root) in text
    assert "catalog: 0 runs" in text
    assert "%mov" in text
    real = SimpleNamespace(
        rig=SimpleNamespace(
            config=SimpleNamespace(name="lab-2"),
            simulated=False,
            name="rig",
            children=lambda: iter([("camera", None)]),
        ),
        clock=SimpleNamespace(time_scale=1.0),
        catalog=None,
    )
    assert "rig 'lab-2': REAL instruments, wall-clock time" in banner(real)


def test_top_level_await_runs_in_the_run_engine_loop(ipython, session):
    result = ipython.run_cell("exposure = await rig.camera.exposure_ms.get_value()")
    result.raise_error()
    assert ipython.user_ns["exposure"] == 20.0
    result = ipython.run_cell(
        "import asyncio\nloop = (await asyncio.sleep(0)) or asyncio.get_running_loop()"
    )
    result.raise_error()
    assert ipython.user_ns["loop"] is session.RE.loop


def test_mov_and_movr_move_ionrig_devices_through_the_session_run_engine(ipython, session, capsys):
    rig = session.rig
    ipython.run_line_magic("mov", 'filter_wheel "340"')
    assert _value(session, rig.filter_wheel.filter) == "340"
    assert "filter_wheel-filter" in capsys.readouterr().out
    ipython.run_line_magic("mov", "filter_wheel 380 camera.exposure_ms 30")
    assert _value(session, rig.filter_wheel.wavelength_nm) == 380.0
    assert _value(session, rig.camera.exposure_ms) == 30.0
    ipython.run_line_magic("movr", "camera.exposure_ms -5")
    assert _value(session, rig.camera.exposure_ms) == 25.0
    ipython.run_line_magic("mov", "perfusion hbss_probenecid")  # bare text is a position
    assert _value(session, rig.perfusion.solution) == "hbss_probenecid"
    assert _value(session, rig.perfusion.exchanged_bath_volumes) >= 5.0
    assert session.RE.state == "idle"
    assert session.RE.waiting_hook is None  # the magic's progress bar was temporary


def test_mov_refuses_bad_lines_with_clear_errors(ipython):
    with pytest.raises(UsageError, match="DEVICE POSITION pairs"):
        ipython.run_line_magic("mov", "filter_wheel")
    with pytest.raises(UsageError, match=r"no device named 'wheel'.*filter_wheel, camera"):
        ipython.run_line_magic("mov", "wheel 340")
    with pytest.raises(UsageError, match=r"rig\.t_s cannot be moved"):
        ipython.run_line_magic("mov", "rig.t_s 3")
    with pytest.raises(UsageError, match="numeric offset"):
        ipython.run_line_magic("movr", "perfusion hbss")


def test_wa_shows_every_role(ipython, capsys):
    ipython.run_line_magic("wa", "")
    out = capsys.readouterr().out
    for line in (
        "filter_wheel",
        "filter_wheel-filter",
        "filter_wheel-shutter-state  closed",
        "camera-exposure_ms",
        "perfusion-solution",
        "temperature",
        "pressure",
    ):
        assert line in out
    ipython.run_line_magic("wa", "perfusion")
    out = capsys.readouterr().out
    assert "perfusion-solution" in out and "camera-exposure_ms" not in out


def test_shell_command_runs_typed_lines_on_the_simulated_rig(data_dir, tmp_path):
    lines = [
        "RE(ratiometric_timecourse(rig, 2))",
        "print('runs:', len(catalog))",
        "exposure = await rig.camera.exposure_ms.get_value()",
        "print('exposure:', exposure)",
        "%mov filter_wheel 340",
        "exit",
    ]
    env = {**os.environ, "IPYTHONDIR": str(tmp_path / "ipython"), "MPLBACKEND": "Agg"}
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "ionrig.cli",
            "--data",
            str(data_dir),
            "shell",
            "--rig",
            "sim",
            "--time-scale",
            "100",
        ],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=100,
    )
    out = process.stdout
    assert process.returncode == 0, process.stderr[-2000:]
    assert "rig 'sim': SIMULATED instruments, time_scale 100" in out
    assert f"data: {data_dir}" in out
    assert "ratio_cell1" in out  # the live table of the ratio stream
    assert "stop: ratiometric_timecourse success; events: primary=4, ratio=2" in out
    assert "runs: 1" in out
    assert "exposure: 20.0" in out
    assert re.search(r"filter_wheel-filter +340\n", out)  # %mov's read-back


def test_shell_command_refuses_a_missing_rig_file(tmp_path, capsys):
    from ionrig.cli import main

    assert main(["shell", "--rig", str(tmp_path / "nowhere.yaml")]) == 2
    assert "nowhere.yaml" in capsys.readouterr().err

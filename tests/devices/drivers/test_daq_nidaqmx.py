"""NidaqmxDaq without NI hardware or the nidaqmx package (neither is available here).

What can be tested: the lazy import and its message, argument checks (which come before the
import), and the call sequence against a stand-in ``nidaqmx`` module written from NI's
documented API. The stand-in checks our use of the API as we understand it; it cannot show
that the real package or a real board behaves that way.
"""

from __future__ import annotations

import enum
import subprocess
import sys
import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from ionrig.devices.drivers import (
    Daq,
    DaqCommandError,
    DaqDeviceLost,
    DaqRangeError,
    DaqTimeout,
    NidaqmxDaq,
)

AO, AI, AI2 = "Dev1/ao0", "Dev1/ai0", "Dev1/ai1"
LINE = "Dev1/port0/line0"


# -- without the package ---------------------------------------------------------------------------
@pytest.fixture
def no_nidaqmx(monkeypatch):
    for name in ("nidaqmx", "nidaqmx.constants", "nidaqmx.errors"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError


def test_constructing_needs_no_package_and_use_says_how_to_install(no_nidaqmx):
    daq = Daq(NidaqmxDaq("Dev1"))
    assert daq.label == "NI-DAQmx Dev1"
    for call in (
        lambda: daq.write_ao(AO, 1.0),
        lambda: daq.read_ai(AI),
        lambda: daq.write_do(LINE, True),
        lambda: daq.run_sweep(AO, np.zeros(10), [AI], 10_000.0),
    ):
        with pytest.raises(ImportError, match=r"pip install nidaqmx") as info:
            call()
        assert "python -m nidaqmx installdriver" in str(info.value)
        assert "SimulatedDaq" in str(info.value)


def test_argument_checks_come_before_the_import(no_nidaqmx):
    daq = Daq(NidaqmxDaq("Dev1"))
    with pytest.raises(DaqRangeError, match="Dev1/ao0"):
        daq.write_ao(AO, 12.0)
    with pytest.raises(ValueError, match="not on this DAQ"):
        daq.read_ai("Dev2/ai0")
    with pytest.raises(ValueError, match="sample_rate_Hz"):
        daq.run_sweep(AO, np.zeros(10), [AI], -5.0)
    for device in ("", "Dev1/ai0", " Dev1"):
        with pytest.raises(ValueError, match="device"):
            NidaqmxDaq(device)
    with pytest.raises(ValueError, match="timeout_margin_s"):
        NidaqmxDaq(timeout_margin_s=0)


def test_importing_the_drivers_does_not_import_nidaqmx(tmp_path):
    code = "import sys, ionrig.devices.drivers; sys.exit('nidaqmx' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()


# -- a stand-in nidaqmx module ---------------------------------------------------------------------
class DaqError(Exception):
    def __init__(self, message: str, error_code: int) -> None:
        super().__init__(message)
        self.error_code = error_code


@dataclass
class FakeNidaqmx:
    log: list[tuple[int, str, tuple, dict]] = field(default_factory=list)
    ai_values: dict[str, float] = field(default_factory=dict)
    di_value: bool = True
    fail: tuple[str, int] | None = None  # (method, DAQmx code)
    n_tasks: int = 0

    def module(self) -> dict[str, types.ModuleType]:
        fake = self
        root = types.ModuleType("nidaqmx")
        constants = types.ModuleType("nidaqmx.constants")
        errors = types.ModuleType("nidaqmx.errors")
        constants.AcquisitionType = enum.Enum("AcquisitionType", "FINITE CONTINUOUS")
        constants.LineGrouping = enum.Enum("LineGrouping", "CHAN_PER_LINE CHAN_FOR_ALL_LINES")
        constants.TerminalConfiguration = enum.Enum(
            "TerminalConfiguration", "DEFAULT RSE NRSE DIFF PSEUDO_DIFF"
        )
        errors.DaqError = DaqError

        class Recorder:
            def __init__(self, task: Task, prefix: str) -> None:
                self._task, self._prefix = task, prefix

            def __getattr__(self, name: str) -> Any:
                if name in ("timing", "triggers", "start_trigger") or name.endswith("_channels"):
                    return Recorder(self._task, f"{self._prefix}{name}.")
                return lambda *a, **k: self._task.call(f"{self._prefix}{name}", a, k)

        class Task:
            def __init__(self) -> None:
                fake.n_tasks += 1
                self.id = fake.n_tasks
                self.channels: list[str] = []
                self.n: int | None = None
                self.call("Task", (), {})

            def __enter__(self) -> Task:
                return self

            def __exit__(self, *exc: object) -> None:
                self.call("close", (), {})

            def __getattr__(self, name: str) -> Any:
                return Recorder(self, f"{name}.")

            def call(self, name: str, args: tuple, kwargs: dict) -> Any:
                fake.log.append((self.id, name, args, kwargs))
                if fake.fail is not None and fake.fail[0] == name:
                    raise DaqError(f"simulated failure in {name}", fake.fail[1])
                if name.endswith(("add_ai_voltage_chan", "add_di_chan")):
                    self.channels.append(args[0])
                if name == "timing.cfg_samp_clk_timing":
                    self.n = kwargs["samps_per_chan"]
                return None

            def write(self, data: Any, auto_start: bool = False) -> None:
                self.call("write", (data,), {"auto_start": auto_start})

            def start(self) -> None:
                self.call("start", (), {})

            def wait_until_done(self, timeout: float) -> None:
                self.call("wait_until_done", (), {"timeout": timeout})

            def read(self, number_of_samples_per_channel: int | None = None, timeout=10.0):
                self.call("read", (), {"n": number_of_samples_per_channel, "timeout": timeout})
                if self.channels and self.channels[0].split("/")[1].startswith("port"):
                    return fake.di_value
                values = [fake.ai_values.get(c, 0.0) for c in self.channels]
                if number_of_samples_per_channel is None:
                    return values[0]
                rows = [[v] * number_of_samples_per_channel for v in values]
                return rows[0] if len(rows) == 1 else rows

        root.Task = Task
        root.constants = constants
        root.errors = errors
        return {"nidaqmx": root, "nidaqmx.constants": constants, "nidaqmx.errors": errors}

    def calls(self, task_id: int | None = None) -> list[str]:
        return [name for tid, name, _, _ in self.log if task_id in (None, tid)]

    def find(self, name: str) -> tuple[int, tuple, dict]:
        for tid, n, args, kwargs in self.log:
            if n == name:
                return tid, args, kwargs
        raise AssertionError(f"{name} was never called: {self.calls()}")


@pytest.fixture
def fake(monkeypatch):
    fake = FakeNidaqmx()
    for name, module in fake.module().items():
        monkeypatch.setitem(sys.modules, name, module)
    return fake


def test_sweep_puts_ao_on_the_ai_sample_clock_and_start_trigger(fake):
    fake.ai_values = {AI: 0.5, AI2: -1.5}
    daq = Daq(NidaqmxDaq("Dev1", timeout_margin_s=1.0))
    wave = np.linspace(0, 1, 1000)
    data = daq.run_sweep(AO, wave, [AI, AI2], 10_000.0)
    np.testing.assert_array_equal(data[AI], 0.5)
    np.testing.assert_array_equal(data[AI2], -1.5)

    ai_id, _, ai_timing = fake.find("timing.cfg_samp_clk_timing")
    _, args, kwargs = fake.find("ao_channels.add_ao_voltage_chan")
    ao_id = next(t for t, n, a, _ in fake.log if n == "ao_channels.add_ao_voltage_chan")
    assert ai_id != ao_id
    assert args == (AO,) and kwargs == {"min_val": -10.0, "max_val": 10.0}
    assert ai_timing["samps_per_chan"] == 1000 and ai_timing["sample_mode"].name == "FINITE"
    ao_timing = next(k for t, n, _, k in fake.log if t == ao_id and n.endswith("samp_clk_timing"))
    assert ao_timing["source"] == "/Dev1/ai/SampleClock"
    assert ao_timing["samps_per_chan"] == 1000
    _, trig_args, _ = fake.find("triggers.start_trigger.cfg_dig_edge_start_trig")
    assert trig_args == ("/Dev1/ai/StartTrigger",)
    _, write_args, write_kwargs = fake.find("write")
    np.testing.assert_array_equal(write_args[0], wave)
    assert write_kwargs == {"auto_start": False}
    order = [(t, n) for t, n, _, _ in fake.log if n in ("start", "read")]
    assert order == [(ao_id, "start"), (ai_id, "start"), (ai_id, "read")]  # AO armed first
    _, _, read_kwargs = fake.find("read")
    assert read_kwargs == {"n": 1000, "timeout": pytest.approx(1000 / 10_000 + 1.0)}
    assert fake.calls().count("close") == 2
    ai_chans = [a for t, n, a, _ in fake.log if n == "ai_channels.add_ai_voltage_chan"]
    assert ai_chans == [(AI,), (AI2,)]


def test_static_calls_use_one_short_task_each(fake):
    fake.ai_values = {AI: 1.25}
    daq = Daq(NidaqmxDaq("Dev1", ai_terminal_config="RSE"), channel_ranges_V={AI: (-5.0, 5.0)})
    daq.write_ao(AO, 2.0)
    assert daq.read_ai(AI) == 1.25
    assert daq.read_ai_mean(AI, n_samples=4) == 1.25
    daq.write_do(LINE, True)
    assert daq.read_di(LINE) is True
    assert fake.n_tasks == 5 and fake.calls().count("close") == 5
    _, _, ai_kwargs = fake.find("ai_channels.add_ai_voltage_chan")
    assert ai_kwargs["terminal_config"].name == "RSE"
    assert (ai_kwargs["min_val"], ai_kwargs["max_val"]) == (-5.0, 5.0)
    _, do_args, do_kwargs = fake.find("do_channels.add_do_chan")
    assert do_args == (LINE,) and do_kwargs["line_grouping"].name == "CHAN_PER_LINE"
    writes = [(a, k) for _, n, a, k in fake.log if n == "write"]
    assert writes == [((2.0,), {"auto_start": True}), ((True,), {"auto_start": True})]


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (-201003, DaqDeviceLost),  # DEV_CANNOT_BE_ACCESSED
        (-50405, DaqDeviceLost),  # PAL_TRANSFER_ABORTED
        (-200284, DaqTimeout),  # SAMPLES_NOT_YET_AVAILABLE
        (-200077, DaqCommandError),
    ],
)
def test_daqmx_error_codes_become_typed_errors(fake, code, error):
    fake.fail = ("read", code)
    daq = Daq(NidaqmxDaq("Dev1"))
    with pytest.raises(error, match=str(code)) as info:
        daq.run_sweep(AO, np.zeros(10), [AI], 10_000.0)
    if error is DaqCommandError:
        assert info.value.code == str(code)
    assert fake.calls().count("close") == 2  # both tasks cleared on the way out


def test_unknown_terminal_configuration_is_named(fake):
    daq = Daq(NidaqmxDaq("Dev1", ai_terminal_config="SINGLE_ENDED"))
    with pytest.raises(ValueError, match=r"SINGLE_ENDED.*DEFAULT"):
        daq.read_ai(AI)

"""``ionrig run PLAN KEY=VALUE …``: plans by name from the command line, and the CLI's help and
errors."""

import io
import json
import os
import signal
import subprocess
import sys
import time
from importlib import resources

import pytest
import yaml

from ionrig.bench.runner import (
    UsageError,
    available_plans,
    parse_assignments,
    plan_signature,
    plan_summary,
    run_command,
)
from ionrig.cli.main import main
from ionrig.cli.parser import build_parser
from ionrig.data.catalog import open_catalog


def cli(*args, data_dir, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "ionrig.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "IONRIG_DATA": str(data_dir)},
        cwd=data_dir.parent,
    )


def run_in_process(*argv, **kwargs):
    out, err = io.StringIO(), io.StringIO()
    code = run_command(*argv, stdout=out, stderr=err, **kwargs)
    return code, out.getvalue(), err.getvalue()


def test_a_plan_runs_by_name_from_the_cli_and_the_catalog_has_it(tmp_path):
    data = tmp_path / "data"
    done = cli(
        "run",
        "ratiometric_timecourse",
        "n_pairs=2",
        "md={'cell_line': 'HEK-293'}",
        "--time-scale",
        "100",
        "--data",
        str(data),
        data_dir=tmp_path / "unused",  # --data wins over $IONRIG_DATA
    )
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("run ") and first.endswith(" (ratiometric_timecourse)")
    uid = first.split()[1]
    assert f"data: {data}" in done.stdout and f"ionrig catalog show {uid[:8]}" in done.stdout
    assert done.stdout.splitlines()[-1] == "ratiometric_timecourse: success"
    catalog = open_catalog(data)
    try:
        run = catalog[uid]
        start, stop = run.metadata["start"], run.metadata["stop"]
        assert start["plan_name"] == "ratiometric_timecourse" and start["rig"] == "sim"
        assert start["time_scale"] == 100 and start["cell_line"] == "HEK-293"
        assert stop["exit_status"] == "success"
        assert stop["num_events"] == {"primary": 4, "ratio": 2}  # 2 pairs of 340/380 frames
    finally:
        catalog.close()
    assert (data / "journal" / f"{uid}.jsonl").is_file()


def test_options_may_come_between_the_plan_and_its_parameters(monkeypatch):
    seen = {}
    monkeypatch.setattr(
        "ionrig.bench.runner.run_command",
        lambda plan, params, **kw: seen.update(kw, plan=plan, params=params) or 0,
    )
    assert main(["run", "wash", "--time-scale", "50", "bath_volumes=2", "solution=hbss"]) == 0
    assert seen["plan"] == "wash" and seen["params"] == ["bath_volumes=2", "solution=hbss"]
    assert seen["time_scale"] == 50.0 and seen["rig"] == "sim"
    with pytest.raises(SystemExit):
        main(["run", "wash", "--bogus", "bath_volumes=2"])


def test_an_unknown_or_missing_plan_lists_the_plans_with_their_summaries(capsys):
    assert main(["run", "washh"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown plan 'washh'; the plans are:")
    for name, plan in available_plans().items():
        assert f"  {name}" in err and plan_summary(plan) in err
    assert main(["run"]) == 2
    assert "name a plan to run" in capsys.readouterr().err


def test_the_runnable_plans_are_the_public_plans_that_open_a_run():
    plans = available_plans()
    assert {"wash", "ratiometric_timecourse", "dye_loading", "trpm7_ramps"} <= set(plans)
    assert not {"exchange_solution", "operator_step", "set_unattended"} & set(plans)  # stubs
    assert plan_summary(plans["wash"]) == (
        "Wash the bath with solution: bath_volumes bath volumes flow in, then the flow continues w…"
    )
    assert plan_summary(plans["form_seal"]) == "Form a gigaseal."
    assert all(len(plan_summary(p)) <= 90 and "\n" not in plan_summary(p) for p in plans.values())


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (["bath_volume=2"], "wash: got an unexpected keyword argument 'bath_volume'"),
        (["solution=hbss", "oops=1"], "wash: got an unexpected keyword argument 'oops'"),
    ],
)
def test_an_unknown_keyword_shows_the_plans_signature(capsys, params, message):
    assert main(["run", "wash", *params]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}")
    assert plan_signature("wash", available_plans()["wash"]) in err
    assert "wash(rig, *, solution: str = 'hbss_probenecid', bath_volumes: float = 5.0" in err
    assert "the rig comes from --rig" in err


def test_the_usage_error_lists_each_declared_parameters_range(capsys):
    assert main(["run", "trpm7_ramps", "period=2"]) == 2
    err = capsys.readouterr().err
    assert "  ramp_ms: number in [5, 2000] ms\n" in err
    assert "  cm_pF: number in (0, 1000] pF or None\n" in err
    assert "  leak: one of 'linear', 'first_ramps', 'none'\n" in err


def test_schema_prints_the_plans_parameters_as_json_schema(capsys):
    import jsonschema

    assert main(["run", "trpm7_ramps", "--schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    ramp_ms = schema["properties"]["ramp_ms"]
    assert (ramp_ms["minimum"], ramp_ms["maximum"], ramp_ms["unit"]) == (5.0, 2000.0, "ms")
    assert schema["properties"]["duration_s"]["exclusiveMinimum"] == 0.0
    jsonschema.validate({"ramp_ms": 100.0, "cm_pF": None, "md": {"cell": "c1"}}, schema)
    for bad in ({"ramp_ms": 1.0}, {"leak": "cubic"}, {"period": 2.0}, {"leak_ramps": 2.5}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    assert main(["run", "no_such_plan", "--schema"]) == 2


def test_a_missing_required_parameter_shows_the_signature(capsys):
    assert main(["run", "ratiometric_timecourse"]) == 2
    err = capsys.readouterr().err
    assert "ratiometric_timecourse: missing a required argument: 'n_pairs'" in err
    assert "ratiometric_timecourse(rig, n_pairs: int, *, exposure_ms: float = 20.0" in err


def test_values_are_python_literals_or_text():
    assert parse_assignments(
        [
            "n_pairs=10",
            "exposure_ms=12.5",
            "solution=hbss",
            "rois=[[64, 64, 8], [10, 20, 5]]",
            "md={'cell': 'c1', 'n': 2}",
            "interval_s=None",
            "quoted='42'",
            "note=two words = fine",
            "empty=",
        ]
    ) == {
        "n_pairs": 10,
        "exposure_ms": 12.5,
        "solution": "hbss",
        "rois": [[64, 64, 8], [10, 20, 5]],
        "md": {"cell": "c1", "n": 2},
        "interval_s": None,
        "quoted": "42",
        "note": "two words = fine",
        "empty": "",
    }


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["n_pairs"], "expected KEY=VALUE, got 'n_pairs'"),
        (["2x=1"], "'2x' in '2x=1' is not a parameter name"),
        (["rig=sim"], "the rig is chosen with --rig"),
        (["n_pairs=1", "n_pairs=2"], "n_pairs is given twice"),
    ],
)
def test_malformed_items_are_usage_errors(items, message, capsys):
    with pytest.raises(UsageError, match=message):
        parse_assignments(items)
    assert main(["run", "wash", *items]) == 2
    assert capsys.readouterr().err.startswith(f"error: {message}")


def test_a_refused_parameter_exits_2_and_nothing_runs(tmp_path):
    data = tmp_path / "data"
    code, out, err = run_in_process("wash", ["solution=seawater"], data=data)
    assert code == 2 and out == ""
    assert err.startswith("error: wash: solution must be one of hbss, hbss_probenecid")
    assert list((data / "journal").iterdir()) == []  # no run was opened
    other = tmp_path / "other"
    code, _, err = run_in_process("wash", [], data=other, time_scale=-1.0)
    assert code == 2 and "rig 'sim': time_scale must be > 0 and at most 1e6" in err, err
    assert not other.exists()  # refused before the catalog was touched


def test_a_failing_run_exits_1_with_its_uid_and_reason(tmp_path):
    raw = yaml.safe_load((resources.files("ionrig.rigs") / "sim.yaml").read_text())
    raw["faults"] = [{"instrument": "camera", "kind": "error", "after_frames": 2}]
    rig = tmp_path / "faulty.yaml"
    rig.write_text(yaml.safe_dump(raw))
    data = tmp_path / "data"
    code, out, err = run_in_process(
        "ratiometric_timecourse", ["n_pairs=5"], rig=rig, data=data, time_scale=100.0
    )
    assert code == 1
    uid = out.splitlines()[0].split()[1]
    assert f"ratiometric_timecourse did not succeed (run {uid}; exit status fail): " in err
    assert "fail): CameraError: camera stopped delivering frames (simulated fault)" in err, err
    lines = (data / "journal" / f"{uid}.jsonl").read_text().splitlines()
    journal = [json.loads(line) for line in lines]
    assert journal[-1]["name"] == "stop" and journal[-1]["doc"]["exit_status"] == "fail"
    # a rig whose filter wheel does not answer does not start: exit 1, and where to look
    raw["faults"] = [{"instrument": "filter_wheel", "kind": "no_reply", "duration_s": 1e9}]
    raw["filter_wheel"]["timeout_s"] = 0.2
    rig.write_text(yaml.safe_dump(raw))
    code, out, err = run_in_process("wash", [], rig=rig, data=data)
    assert code == 1 and out == ""
    assert "(no run was opened; exit status no run): the rig did not start: NotConnected" in err
    assert "Sutter Lambda 10-3 at ionrig-sim://lambda10-3" in err
    assert f"`ionrig doctor --rig {rig}` checks every instrument" in err


@pytest.mark.slow
def test_ctrl_c_aborts_the_run_stores_it_and_exits_130(tmp_path):
    """One Ctrl-C (SIGINT) during a 75-s wash: the run is aborted, closed and journaled."""
    data = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, "-m", "ionrig.cli", "--data", str(data), "run", "wash"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        journal = data / "journal"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (journal.is_dir() and any(journal.iterdir())):
            time.sleep(0.1)
        time.sleep(0.5)  # inside the exchange
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 130, err
    (uid,) = [line.split()[1] for line in out.splitlines() if line.startswith("run ")]
    assert f"wash did not succeed (run {uid}; exit status abort)" in err
    assert "interrupted (Ctrl-C)" in err
    stop = json.loads((journal / f"{uid}.jsonl").read_text().splitlines()[-1])
    assert stop["name"] == "stop" and stop["doc"]["exit_status"] == "abort"


def test_help_lists_every_subcommand_with_a_one_line_help(capsys):
    subcommands = next(
        action for action in build_parser()._actions if action.dest == "command"
    )._choices_actions
    names = [choice.dest for choice in subcommands]
    assert {"demo", "simulate", "doctor", "run", "catalog"} <= set(names)
    for choice in subcommands:
        assert choice.help and "\n" not in choice.help, choice.dest
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in names:
        assert f"    {name} " in out, name
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--help"])
    assert "KEY=VALUE" in capsys.readouterr().out


def test_catalog_show_errors_say_what_to_do(data_dir, capsys):
    assert main(["--data", str(data_dir), "catalog", "show", "ffffffff"]) == 2
    err = capsys.readouterr().err
    assert "0 runs match 'ffffffff' in" in err and "`ionrig catalog ls` lists them" in err

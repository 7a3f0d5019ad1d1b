"""The benchmark harness (benchmarks/): every benchmark runs at tiny sizes and emits well-formed
measurements; the table renders them. No timing thresholds: the numbers of a quick run mean
nothing, only their form is checked."""

from __future__ import annotations

import importlib
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
FIELDS = {
    "benchmark": str,
    "key": str,
    "figure": str,
    "value": float,
    "unit": str,
    "quick": bool,
    "load_1min": float,
    "details": dict,
}
#: What each quick run must measure, and which of its figures carry a target.
EXPECTED = {
    "pair_rate": ({"simulator_frame_128", "step_5ms", "fly_5ms"}, {"step_5ms", "fly_5ms"}),
    "orchestration": ({"bare", "session", "ratio"}, {"ratio"}),
    "frames": ({"simulator_frame", "raw", "fps", "vs_raw"}, {"fps", "vs_raw"}),
    "sweeps": ({"end_to_end", "simulator_synthesis", "recording_path"}, {"end_to_end"}),
    "night": (
        {"long_rss", "long_per_event", "queue_rss", "queue_per_event"},
        {"long_rss", "long_per_event", "queue_rss", "queue_per_event"},
    ),
    "analysis": (
        {"stack_catalog", "stack_h5py", "membrane_each", "membrane_average"},
        set(),
    ),
}


@pytest.fixture
def benchmarks(monkeypatch):
    """Import benchmark modules the way ``python benchmarks/<module>.py`` does."""
    monkeypatch.syspath_prepend(str(BENCHMARKS_DIR))
    return lambda name: importlib.import_module(name)


def check_measurement(result: dict, benchmark: str) -> None:
    for field, kind in FIELDS.items():
        assert isinstance(result[field], kind), (field, result)
    assert result["benchmark"] == benchmark and result["quick"] is True
    assert math.isfinite(result["value"])
    assert json.loads(json.dumps(result)) == result  # one JSON line, nothing lost
    if result["target"] is None:
        assert result["op"] is None and result["met"] is None and result["miss_by"] is None
    else:
        assert result["op"] in (">=", "<=")
        holds = (
            result["value"] >= result["target"]
            if result["op"] == ">="
            else result["value"] <= result["target"]
        )
        assert result["met"] is holds
        expected_miss = 0.0 if holds else abs(result["target"] - result["value"])
        assert result["miss_by"] == pytest.approx(expected_miss)


#: Quick runs of these take 10-20 s each (two sessions, a patch_cell, a night's first cycle).
SLOW_QUICK_RUNS = {"pair_rate", "sweeps", "night"}


@pytest.mark.parametrize(
    "benchmark",
    [
        pytest.param(name, marks=pytest.mark.slow) if name in SLOW_QUICK_RUNS else name
        for name in sorted(EXPECTED)
    ],
)
def test_each_benchmark_measures_what_it_promises(benchmark, benchmarks, data_dir, capsys):
    module = benchmarks(f"bench_{benchmark}")
    results = list(module.run(quick=True, data_dir=data_dir))
    keys = [r["key"] for r in results]
    all_keys, with_target = EXPECTED[benchmark]
    assert sorted(keys) == sorted(all_keys)  # each once
    for result in results:
        check_measurement(result, benchmark)
    assert {r["key"] for r in results if r["target"] is not None} == with_target


def test_measurement_says_whether_and_by_how_much_a_target_is_missed(benchmarks):
    common = benchmarks("_common")
    short = common.measurement("b", "k", "f", 0.72, "1", target=0.9, op=">=")
    assert short["met"] is False
    assert short["miss_by"] == pytest.approx(0.18)
    assert short["miss_by_percent"] == pytest.approx(20.0)
    over = common.measurement("b", "k", "f", 60.0, "MB", target=50.0, op="<=")
    assert (over["met"], over["miss_by"]) == (False, 10.0)
    assert common.measurement("b", "k", "f", 40.0, "MB", target=50.0, op="<=")["miss_by"] == 0
    with pytest.raises(ValueError, match="op must be one of"):
        common.measurement("b", "k", "f", 1.0, "1", target=1.0, op=">")
    with pytest.raises(ValueError, match="together"):
        common.measurement("b", "k", "f", 1.0, "1", target=1.0)


def test_a_module_prints_one_json_line_per_measurement(benchmarks, tmp_path, capsys):
    common = benchmarks("_common")

    def run(*, quick, data_dir, template):
        assert (quick, data_dir, template) == (True, tmp_path, None)
        yield common.measurement("demo", "a", "first", 1.0, "ms", quick=quick)
        yield common.measurement("demo", "b", "second", 2.0, "1", target=1.5, op="<=")

    common.main_for("demo", run, ["--quick", "--data-dir", str(tmp_path)])
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "b"]
    assert json.loads(lines[1])["met"] is False


def test_the_table_shows_every_figure_its_target_and_the_miss(benchmarks):
    run_all = benchmarks("run_all")
    common = benchmarks("_common")
    results = [
        common.measurement(
            "pair_rate",
            "step_20ms",
            "Step, 20 ms: pair rate / limit",
            0.81,
            "1",
            target=0.9,
            op=">=",
        ),
        common.measurement(
            "orchestration", "ratio", "session / bare", 1.2, "1", target=1.5, op="<="
        ),
        common.measurement("analysis", "membrane_each", "membrane test", 1.7, "ms"),
    ]
    runs = [
        {"name": n, "returncode": 0, "wall_s": 1.0, "load_before": 0.5, "load_after": 0.6}
        for n in ("pair_rate", "orchestration", "analysis")
    ]
    runs.append({"name": "sweeps", "returncode": 1, "wall_s": 1.0, "load_before": 0.5})
    page = run_all.render(
        results,
        runs,
        run_all.machine(),
        command="python benchmarks/run_all.py",
        quick=False,
        date="2025-01-01 00:00 UTC",
        total_s=60.0,
    )
    rows = {line.split(" | ")[1]: line for line in page.splitlines() if line.startswith("| ")}
    assert (
        "| 0.81 | ≥ 0.9 | **no** | 0.09 short (10 % below the target) |"
        in rows["Step, 20 ms: pair rate / limit"]
    )
    assert "| 1.2 | ≤ 1.5 | yes | — |" in rows["session / bare"]
    assert "| 1.7 ms | — | — | — |" in rows["membrane test"]
    assert "**sweeps failed** (exit status 1" in page
    assert "python benchmarks/run_all.py" in page and "cores" in page
    notes = page.split("## Missed targets")[1].split("## Raw")[0]
    assert "Step, 20 ms: pair rate / limit" in notes and "session / bare" not in notes
    assert "software-timed" in notes  # the step-mode explanation recorded in bench_pair_rate


@pytest.mark.slow
def test_the_documented_command_writes_the_page(tmp_path):
    out = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS_DIR / "run_all.py"),
            "--quick",
            "--only",
            "orchestration",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert {line["key"] for line in lines} == {"bare", "session", "ratio"}
    page = out.read_text()
    assert "Quick run" in page and "Orchestration cost: session / bare per event" in page

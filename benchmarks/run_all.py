"""Run every benchmark of issue 10 and write the table to ``docs/benchmarks.md``.

    python benchmarks/run_all.py [--quick] [--out docs/benchmarks.md] [--only NAME,NAME]

Each benchmark runs in its own Python process (``benchmarks/bench_<name>.py``; fresh memory,
threads and catalog), prints one JSON line per measurement, and those lines are echoed here and
collected into the table with the machine, versions, date, load and command. ``--quick`` runs
tiny sizes that only check the harness (the numbers mean nothing and the table says so). The
full set takes about half an hour on two cores.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
DEFAULT_OUT = REPO_ROOT / "docs" / "benchmarks.md"
#: In the order of issue 10.
BENCHMARKS = ("pair_rate", "orchestration", "frames", "sweeps", "night", "analysis")
PACKAGES = (
    "ionrig",
    "bluesky",
    "ophyd-async",
    "event-model",
    "tiled",
    "bluesky-tiled-plugins",
    "h5py",
    "numpy",
    "scipy",
    "psutil",
)


def machine() -> dict[str, Any]:
    """CPU model and count, RAM, OS, Python and package versions, git commit."""
    import psutil

    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "cpu_model": model,
        "cpu_count": os.cpu_count(),
        "ram_GB": psutil.virtual_memory().total / 1e9,
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
        "git": git_state(),
    }


def git_state() -> str:
    """``<commit>`` (+ "with uncommitted changes"), or "unknown" outside a git checkout."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "unknown"
    return commit + (" with uncommitted changes" if git("status", "--porcelain") else "")


def run_benchmark(
    name: str, *, quick: bool, work: Path, template: Path
) -> tuple[list[dict], dict[str, Any]]:
    """Run one benchmark module in a child process; its measurements and how the run went."""
    command = [
        sys.executable,
        str(HERE / f"bench_{name}.py"),
        "--data-dir",
        str(work / name),
        "--catalog-template",
        str(template),
        *(["--quick"] if quick else []),
    ]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    results: list[dict] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=work) as child:
        assert child.stdout is not None
        for line in child.stdout:
            print(line, end="", flush=True)
            if line.startswith("{"):
                results.append(json.loads(line))
    return results, {
        "name": name,
        "returncode": child.returncode,
        "wall_s": time.perf_counter() - started,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def _number(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.01:
        return f"{value:.3g}"
    return f"{value:.2e}"


def _with_unit(value: float, unit: str) -> str:
    if unit == "1":
        return _number(value)
    if unit == "%":
        return f"{_number(value)} %"
    return f"{_number(value)} {unit}"


def describe(result: dict) -> tuple[str, str, str, str]:
    """Measured, target, met?, by how much: the table's cells for one measurement."""
    measured = _with_unit(result["value"], result["unit"])
    if result["target"] is None:
        return measured, "—", "—", "—"
    op = {">=": "≥", "<=": "≤"}[result["op"]]
    target = f"{op} {_with_unit(result['target'], result['unit'])}"
    if result["met"]:
        return measured, target, "yes", "—"
    below = result["op"] == ">="
    how_much = f"{_with_unit(result['miss_by'], result['unit'])} {'short' if below else 'over'}"
    percent = result["miss_by_percent"]
    if percent is not None and result["unit"] != "%":
        how_much += f" ({percent:.0f} % {'below' if below else 'above'} the target)"
    return measured, target, "**no**", how_much


def miss_note(result: dict) -> str | None:
    """The benchmark module's explanation for a missed target (by key, or key prefix), with
    ``{field}`` filled in from the result's details (the figures of this run)."""
    module = importlib.import_module(f"bench_{result['benchmark']}")
    notes = getattr(module, "MISS_NOTES", {})
    note = notes.get(result["key"]) or notes.get(result["key"].split("_")[0])
    return None if note is None else note.format(**result.get("details", {}))


def header_lines(command: str, date: str, quick: bool) -> list[str]:
    """The page's title, how it was generated and, for a quick run, the warning."""
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{command}` on {date}. Do not edit by hand: run the command again.",
        "",
    ]
    if quick:
        lines += [
            "> **Quick run:** tiny sizes that only check the harness; the numbers below mean "
            "nothing. Run without `--quick` for the real figures.",
            "",
        ]
    return lines


def machine_lines(
    info: dict[str, Any], runs: Sequence[dict], *, command: str, date: str, total_s: float
) -> list[str]:
    """The "Machine and run" section: hardware, software, command, time, load."""
    packages = ", ".join(f"{k} {v}" for k, v in info["packages"].items())
    loads = [f"{r['name']} {r['load_before']:.2f}" for r in runs]
    return [
        "## Machine and run",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {info['cpu_model']}, {info['cpu_count']} cores |",
        f"| RAM | {info['ram_GB']:.1f} GB |",
        f"| OS | {info['os']} |",
        f"| Python | {info['python']} |",
        f"| packages | {packages} |",
        f"| code | git {info['git']} |",
        f"| date | {date} |",
        f"| command | `{command}` |",
        f"| total time | {total_s / 60:.1f} min |",
        "| load average (1 min) when each benchmark started | " + ", ".join(loads) + " |",
        "",
        "The machine's cores are shared with other processes; the load average says how busy "
        "they were (a load above the core count means processes waited for a core). Ratios are "
        "measured within one run of one process, never against remembered absolute times.",
        "",
    ]


def results_lines(results: Sequence[dict], failed: Sequence[dict]) -> list[str]:
    """The "Results" table: one row per measurement, then one per failed benchmark."""
    lines = [
        "## Results",
        "",
        "| # | figure | measured | target | met? | by how much | load (1 min) |",
        "|---|---|---|---|---|---|---|",
    ]
    number = {name: i + 1 for i, name in enumerate(BENCHMARKS)}
    for result in results:
        measured, target, met, how_much = describe(result)
        lines.append(
            f"| {number.get(result['benchmark'], '?')} | {result['figure']} | {measured} | "
            f"{target} | {met} | {how_much} | {result['load_1min']:.2f} |"
        )
    for run in failed:
        lines.append(
            f"| {number.get(run['name'], '?')} | **{run['name']} failed** (exit status "
            f"{run['returncode']}; see its output) | — | — | **no** | — | "
            f"{run['load_before']:.2f} |"
        )
    return lines


def method_lines(runs: Sequence[dict]) -> list[str]:
    """The "How each figure is measured" section: the docstrings of the benchmarks run."""
    lines = ["", "## How each figure is measured", ""]
    for name in BENCHMARKS:
        if not any(r["name"] == name for r in runs):
            continue
        module = importlib.import_module(f"bench_{name}")
        doc = (module.__doc__ or "").strip().split("\n\n    python")[0]
        title, _, body = doc.partition("\n\n")  # titles start with their number
        lines += [f"### {' '.join(title.split())}", "", body.strip(), ""]
        lines += [f"Alone: `python benchmarks/bench_{name}.py [--quick]`", ""]
    return lines


def missed_lines(results: Sequence[dict], failed: Sequence[dict]) -> list[str]:
    """The "Missed targets" section: each miss with its module's explanation (once per note)."""
    missed = [r for r in results if r["met"] is False]
    lines = ["## Missed targets: why, and what would close them", ""]
    if not missed and not failed:
        lines += ["Every target was met.", ""]
    seen: set[str] = set()
    for result in missed:
        note = miss_note(result)
        key = f"{result['benchmark']}:{note}"
        label = f"{result['figure']} ({describe(result)[0]}, target {describe(result)[1]})"
        if note is None:
            lines += [f"- {label}: no explanation recorded.", ""]
        elif key in seen:
            lines += [f"- {label}: as above.", ""]
        else:
            seen.add(key)
            lines += [f"- {label}: {note}", ""]
    return lines


def raw_lines(results: Sequence[dict]) -> list[str]:
    """The "Raw measurements" section: the JSON lines, folded."""
    return [
        "## Raw measurements",
        "",
        "<details><summary>JSON lines as printed by the benchmarks</summary>",
        "",
        "```",
        *(json.dumps(r) for r in results),
        "```",
        "",
        "</details>",
        "",
    ]


def render(
    results: Sequence[dict],
    runs: Sequence[dict],
    info: dict[str, Any],
    *,
    command: str,
    quick: bool,
    date: str,
    total_s: float,
) -> str:
    """The Markdown page: machine, command, the table, how each figure is measured, notes."""
    failed = [r for r in runs if r["returncode"] != 0]
    lines = [
        *header_lines(command, date, quick),
        *machine_lines(info, runs, command=command, date=date, total_s=total_s),
        *results_lines(results, failed),
        *method_lines(runs),
        *missed_lines(results, failed),
        *raw_lines(results),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness only")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the Markdown file to write")
    parser.add_argument(
        "--only", help=f"comma-separated subset of {', '.join(BENCHMARKS)} (default: all)"
    )
    args = parser.parse_args(argv)
    names = BENCHMARKS if not args.only else tuple(n.strip() for n in args.only.split(","))
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"--only must name benchmarks among {', '.join(BENCHMARKS)}; got {unknown}")
    sys.path.insert(0, str(HERE))
    command = "python benchmarks/run_all.py" + "".join(
        f" {arg}" for arg in (argv if argv is not None else sys.argv[1:])
    )
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    started = time.perf_counter()
    results: list[dict] = []
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="ionrig-bench-") as scratch:
        work = Path(scratch)
        from ionrig.data.catalog import open_catalog

        open_catalog(work / "template").close()  # one Tiled initialisation, copied by each
        template = work / "template" / "catalog" / "catalog.db"
        for name in names:
            measured, how = run_benchmark(name, quick=args.quick, work=work, template=template)
            results += measured
            runs.append(how)
    page = render(
        results,
        runs,
        machine(),
        command=command,
        quick=args.quick,
        date=date,
        total_s=time.perf_counter() - started,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(page, encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0 if all(r["returncode"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())

"""HTML reports of runs recorded on the simulated rig, in process and through the CLI."""

import os
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest

from ionrig.cli import main
from ionrig.data.readers import SolutionChanges, read_solution_changes, read_stream, read_sweeps
from ionrig.plans import (
    break_in,
    form_seal,
    membrane_test,
    mg_uptake,
    ratiometric_timecourse,
    trpm7_ramps,
)
from ionrig.reports.report import write_report
from ionrig.session import start

# no Ra drift or seal loss; seal and break-in always work: the patch-clamp runs are certain
PATCH = {
    "ra_drift_per_hour": 0.0,
    "seal_loss_per_hour": 0.0,
    "seal_success_probability": 1.0,
    "break_in_probability": 1.0,
}


class _Page(HTMLParser):
    """The images, links, table rows and text of a report page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.rows: list[list[str]] = []
        self.sections: list[str] = []
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes["src"])
        elif tag == "a":
            self.links.append(attributes["href"])
        elif tag == "section":
            self.sections.append(attributes["id"])
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _check_page(index, runs) -> _Page:
    """index.html links every PNG of its folder (and each one's SVG) and names every run."""
    assert index.name == "index.html" and index.is_file()
    text = index.read_text(encoding="utf-8")
    page = _Page(text)
    pngs = sorted(p.name for p in index.parent.glob("*.png"))
    assert pngs and sorted(page.images) == pngs
    for png in pngs:
        assert png.replace(".png", ".svg") in page.links
        assert (index.parent / png.replace(".png", ".svg")).is_file()
    for run in runs:
        start = run.metadata["start"]
        assert start["uid"] in text and start["plan_name"] in text
        assert f"run-{start['uid'][:8]}" in page.sections
    return page


def test_report_of_time_courses_with_solution_periods(session, tmp_path):
    rig = session.rig
    plain = session.RE(ratiometric_timecourse(rig, 4)).run_start_uids[0]
    uptake = session.RE(
        mg_uptake(
            rig,
            baseline_min=0.5,
            treatment_min=1.5,
            washout_min=1.5,
            interval_s=5.0,
            calibrate=False,
        )
    ).plan_result.uptake_uid
    runs = [session.catalog[plain], session.catalog[uptake]]
    index = write_report(runs, tmp_path / "report", catalog=session.catalog)

    page = _check_page(index, runs)
    for uid in (plain, uptake):
        assert f"{uid[:8]}-rois.png" in page.images
        assert f"{uid[:8]}-timecourse.png" in page.images
    # mean per ROI and solution period: the plain run has one period, the uptake three
    periods = [r for r in page.rows if len(r) == 7 and r[0] == "cell1"]
    assert periods[0][1] == "hbss"  # the plain time course: one period, its start solution
    # the uptake: the solutions of its perfusion stream that held while it imaged
    run = session.catalog[uptake]
    online = read_stream(run, "ratio", ["t_s", "ratio_cell1"])
    expected = read_solution_changes(run).periods(online["t_s"][0] - 60.0, online["t_s"][-1])
    assert [r[1] for r in periods[1:]] == [p[2] for p in expected]
    assert [p[2] for p in expected[:2]] == ["hbss", "mg_k_aspartate"]
    assert float(periods[2][2]) == pytest.approx(expected[1][0], rel=1e-3)  # treatment start
    # the table's mean ratio is the mean of the run's ratios in that period (the online ratio
    # uses the same background subtraction and normalisation)
    inside = (online["t_s"] >= expected[0][0]) & (online["t_s"] < expected[0][1])
    assert int(periods[1][4]) == inside.sum() > 0
    assert float(periods[1][5]) == pytest.approx(online["ratio_cell1"][inside].mean(), rel=2e-3)
    # [Mg²⁺]ᵢ with the start document's calibration (no in-situ run here), in mM
    calibration = run.metadata["start"]["calibration"]
    ratio = float(periods[1][5])
    mg = calibration["kd_mM"] * calibration["beta"] * (ratio - calibration["r_min"])
    mg /= calibration["r_max"] - ratio
    assert float(periods[1][6]) == pytest.approx(mg, rel=0.02)
    assert any(r[:1] == ["Rmin"] for r in page.rows)
    assert any(r and r[-1].startswith("start document") for r in page.rows)


def _patch_session(catalog):
    session = start("sim", catalog=catalog, time_scale=100, world={"patch": PATCH})
    world = session.rig.world

    def operator(step, *, message, **params):  # places the pipette on the cell
        world.patch.approach(params["cell_index"])

    session.rig.operator = operator
    world.patch.set_pipette_solution("trpm7_internal")
    return session


@pytest.mark.slow
def test_report_of_patch_clamp_runs(catalog, tmp_path):
    session = _patch_session(catalog)
    RE, rig = session.RE, session.rig
    uids = [RE(form_seal(rig, target_GOhm=2.0, timeout_s=120.0)).run_start_uids[0]]
    uids.append(RE(break_in(rig)).run_start_uids[0])
    uids.append(RE(membrane_test(rig, n_sweeps=3)).run_start_uids[0])
    uids.append(RE(trpm7_ramps(rig, duration_s=20.0, period_s=2.0, cm_pF=20.0)).run_start_uids[0])
    uids.append(RE(membrane_test(rig, n_sweeps=3)).run_start_uids[0])
    runs = [catalog[uid] for uid in uids]
    index = write_report(reversed(runs), tmp_path / "report")  # shown in start order anyway

    page = _check_page(index, runs)
    seal, broken, test1, ramps, test2 = (uid[:8] for uid in uids)
    assert sorted(page.images) == sorted(
        [
            f"{seal}-seal.png",
            f"{test1}-sweeps.png",
            f"{ramps}-runup.png",
            f"{ramps}-iv.png",
            f"{test2}-sweeps.png",
            "membrane-test-trend.png",
        ]
    )
    assert page.sections == [f"run-{u}" for u in (seal, broken, test1, ramps, test2)] + [
        "membrane-test-trend"
    ]
    text = index.read_text(encoding="utf-8")
    assert "No figures for plan &#x27;break_in&#x27;: metadata only." in text
    values = {r[0]: r[1] for r in page.rows if len(r) == 3}
    peak = float(np.max(read_stream(catalog[uids[3]], "trpm7", ["i_plus80_pA"])["i_plus80_pA"]))
    assert float(values["peak outward I(+80 mV)"]) == pytest.approx(peak, rel=5e-3)
    assert float(values["peak outward density"]) == pytest.approx(peak / 20.0, rel=5e-3)
    assert values["ramps"] == "10"
    live_leak = "raw_i_plus80_pA" in catalog[uids[3]]["trpm7"]  # the plan subtracted the leak
    assert ("leak-subtracted by the plan" in values["currents"]) == live_leak
    ra = float(read_stream(catalog[uids[4]], "membrane_test", ["ra_MOhm"])["ra_MOhm"][0])
    ra_cells = [r[1] for r in page.rows if r[:1] == ["access resistance Ra"]]
    assert float(ra_cells[-1]) == pytest.approx(ra, rel=5e-3)
    # the report rebuilt the ramps' command: the same waveform the plan drove
    sweeps = read_sweeps(catalog[uids[3]])
    assert sweeps.command_mV is not None and sweeps.command_mV.size == 700
    assert sweeps.command_mV.min() == -100.0 and sweeps.command_mV.max() == 100.0
    assert sweeps.current_pA.shape == (10, 700) and sweeps.sample_rate_Hz == 10_000.0
    assert values["target"] == "2.00" and values["seal tests"] == str(
        read_stream(catalog[uids[0]], "seal", ["t_s"])["t_s"].size
    )


def test_solution_periods_merge_repeated_events_and_clip_to_the_span():
    changes = SolutionChanges(
        np.array([10.0, 30.0, 35.0, 80.0, 95.0]),
        ["hbss", "mg_k_aspartate", "mg_k_aspartate", "hbss", "hbss"],
        initial="hbss",
    )
    assert changes.periods(0.0, 100.0) == [
        (0.0, 30.0, "hbss"),
        (30.0, 80.0, "mg_k_aspartate"),
        (80.0, 100.0, "hbss"),
    ]
    assert changes.periods(40.0, 60.0) == [(40.0, 60.0, "mg_k_aspartate")]
    unknown_start = SolutionChanges(np.array([30.0]), ["mg_k_aspartate"], initial=None)
    assert unknown_start.periods(0.0, 50.0) == [(30.0, 50.0, "mg_k_aspartate")]
    with pytest.raises(ValueError, match="stop_s must be >= start_s"):
        changes.periods(5.0, 1.0)


def test_report_refuses_no_runs(tmp_path):
    with pytest.raises(ValueError, match="runs must hold at least one run"):
        write_report([], tmp_path)


def test_demo_writes_its_report_and_the_cli_reports_stored_runs(data_dir, tmp_path, capsys):
    assert main(["--data", str(data_dir), "demo", "--pairs", "2", "--time-scale", "100"]) == 0
    out = capsys.readouterr().out
    default = data_dir.resolve() / "report" / "index.html"
    assert f"report: {default}" in out and default.is_file()
    assert main(["--data", str(data_dir), "report", "ffffffff", "--out", str(tmp_path)]) == 2
    assert "0 runs match 'ffffffff'" in capsys.readouterr().err
    assert not (tmp_path / "index.html").exists()

    env = {**os.environ, "IONRIG_DATA": str(data_dir)}
    out_dir = tmp_path / "cli-report"
    done = subprocess.run(
        [sys.executable, "-m", "ionrig.cli", "report", "-1", "--out", str(out_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr
    assert f"report of 1 run written to {out_dir / 'index.html'}" in done.stdout
    page = _Page((out_dir / "index.html").read_text(encoding="utf-8"))
    assert len(page.images) == 2 and page.images == _Page(default.read_text()).images

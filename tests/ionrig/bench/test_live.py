"""ionrig.bench.live: tables, plots, progress bars and run log lines while plans run (headless)."""

from __future__ import annotations

import logging
import time

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import event_model
import matplotlib
import numpy as np
import pytest
from bluesky.utils import TerminalProgressBar

from ionrig.bench.live import (
    RUN_LOGGER,
    LivePlots,
    RunLogger,
    enable_live_feedback,
    make_live_tables,
)
from ionrig.bench.shell import shell_namespace
from ionrig.plans import wash

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


def _run_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == RUN_LOGGER]


class _Recorder:
    """A progress-bar factory for ``ProgressBarManager`` that records every watcher update."""

    def __init__(self) -> None:
        self.updates: list[dict] = []
        self.bars = 0
        recorder = self

        class Bar(TerminalProgressBar):
            def update(self, pos, **kwargs):
                recorder.updates.append(kwargs)
                super().update(pos, **kwargs)

        self._bar = Bar

    def __call__(self, statuses):
        self.bars += 1
        return self._bar(statuses, delay_draw=0)


def test_ratiometric_run_through_the_shell_namespace_shows_table_plot_and_log_lines(
    session, docs, caplog, capsys
):
    caplog.set_level(logging.INFO, logger=RUN_LOGGER)
    namespace = shell_namespace(session)  # live feedback on, as in `ionrig shell`
    RE, live = namespace["RE"], namespace["live"]
    RE.subscribe(docs)
    result = RE(namespace["ratiometric_timecourse"](namespace["rig"], 3))  # cells detected
    assert result.exit_status == "success"
    lines = capsys.readouterr().out.splitlines()
    (start_doc,) = docs.of("start")
    roi_names = list(start_doc["rois"])
    assert len(roi_names) >= 2
    (ratio_descriptor,) = [d for d in docs.of("descriptor") if d["name"] == "ratio"]
    ratio_events = [e for e in docs.of("event") if e["descriptor"] == ratio_descriptor["uid"]]
    assert len(ratio_events) == 3

    header = next(line for line in lines if "ratio_cell1" in line)
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "seq_num",
        "time",
        "t_s",
        *(f"ratio_{name}" for name in roi_names),
    ]
    rows = [line for line in lines if line.startswith("|") and line != header]
    assert len(rows) == 3
    for row, event in zip(rows, ratio_events, strict=True):
        values = [float(c) for c in row.strip("|").split("|")[2:]]
        assert values[0] == pytest.approx(event["data"]["t_s"], abs=1e-3)
        assert values[1] == pytest.approx(event["data"]["ratio_cell1"], abs=1e-3)
        assert 0.1 < values[1] < 10

    ax = live.plots.figures["ratio"].axes[0]
    by_label = {line.get_label(): line for line in ax.lines}
    assert set(by_label) == set(roi_names)
    last = roi_names[-1]
    np.testing.assert_allclose(by_label[last].get_xdata(), [e["data"]["t_s"] for e in ratio_events])
    np.testing.assert_allclose(
        by_label[last].get_ydata(), [e["data"][f"ratio_{last}"] for e in ratio_events]
    )
    assert ax.get_xlabel().startswith("t_s")

    start, stop = _run_lines(caplog)
    uid = result.run_start_uids[0][:8]
    assert start.startswith(f"run {uid} start: ratiometric_timecourse on rig sim (simulated")
    assert "n_pairs=3" in start and "exposure_ms=20.0" in start
    assert stop == f"run {uid} stop: ratiometric_timecourse success; events: primary=6, ratio=3"
    live.disable()
    assert RE.waiting_hook is None


def test_wash_shows_exchange_progress_and_logs_the_solution_change(session, caplog):
    caplog.set_level(logging.INFO, logger=RUN_LOGGER)
    live = enable_live_feedback(session.RE, clock=session.clock, plots=False, table=False)
    assert session.RE.waiting_hook is live.progress
    recorder = _Recorder()
    live.progress.pbar_factory = recorder
    result = session.RE(wash(session.rig, solution="hbss_probenecid", bath_volumes=2.0))
    assert result.exit_status == "success"

    exchange = [u for u in recorder.updates if u.get("name") == "perfusion"]
    assert len(exchange) >= 3
    assert {u["unit"] for u in exchange} == {"bath volumes"}
    assert {u["target"] for u in exchange} == {2.0}
    currents = [u["current"] for u in exchange]
    assert currents == sorted(currents)
    assert currents[0] < 1.0 <= 2.0 <= currents[-1]
    assert live.progress.pbar is None  # cleaned up after the wait

    start, change, stop = _run_lines(caplog)
    uid = result.run_start_uids[0][:8]
    assert start.startswith(f"run {uid} start: wash on rig sim")
    assert "solution='hbss_probenecid', bath_volumes=2.0" in start
    assert change.startswith(f"run {uid} solution change: hbss → hbss_probenecid (2.0")
    assert "bath volumes exchanged, t_s" in change
    assert stop == f"run {uid} stop: wash success; events: perfusion=2"
    live.disable()


def test_long_plan_sleeps_show_progress_on_the_rig_clock(session):
    live = enable_live_feedback(
        session.RE, clock=session.clock, plots=False, table=False, log=False
    )
    recorder = _Recorder()
    live.progress.pbar_factory = recorder
    clock_before, real_before = session.clock.now_s(), time.monotonic()
    session.RE(bps.sleep(30.0))
    assert session.clock.now_s() - clock_before >= 30.0
    assert time.monotonic() - real_before < 5.0  # 30 s of rig clock at ×100
    sleeps = [u for u in recorder.updates if u.get("unit") == "s"]
    assert sleeps[0]["current"] < 1.0 and sleeps[-1]["current"] == 30.0
    assert {u["target"] for u in sleeps} == {30.0}
    assert recorder.bars == 1
    session.RE(bps.sleep(2.0))  # below sleep_progress_min_s: no progress bar
    assert recorder.bars == 1
    live.disable()
    clock_before = session.clock.now_s()
    session.RE(bps.sleep(30.0))  # still on the rig clock after disable
    assert session.clock.now_s() - clock_before >= 30.0
    assert recorder.bars == 1


def test_disable_unsubscribes_everything(session, caplog):
    caplog.set_level(logging.INFO, logger=RUN_LOGGER)
    lines: list[str] = []
    live = enable_live_feedback(session.RE, clock=session.clock, out=lines.append)
    live.disable()
    assert session.RE.waiting_hook is None
    session.RE(bp.count([session.rig.t_s], 2))
    assert _run_lines(caplog) == []
    assert lines == []


def _synthetic_run():
    """A patch_cell stage run with a ``trpm7`` stream and a stream nobody knows."""
    bundle = event_model.compose_run(
        metadata={
            "plan_name": "trpm7_ramps",
            "plan_args": {"n_ramps": 2},
            "rig": "sim",
            "simulated": True,
            "time_scale": 100.0,
            "patch_state": "seal",
            "cell_index": 3,
            "attempt": 2,
        }
    )
    number = {"dtype": "number", "shape": [], "source": "test"}
    trpm7 = bundle.compose_descriptor(
        name="trpm7",
        data_keys={
            "t_s": {**number, "units": "s"},
            "i_plus80_pA": {**number, "units": "pA"},
            "i_minus80_pA": {**number, "units": "pA"},
        },
    )
    mystery = bundle.compose_descriptor(name="mystery", data_keys={"x": number})
    documents = [("start", bundle.start_doc), ("descriptor", trpm7.descriptor_doc)]
    documents.append(("descriptor", mystery.descriptor_doc))
    for i, (plus, minus) in enumerate(((120.0, -15.0), (180.0, -22.0))):
        data = {"t_s": 10.0 * i, "i_plus80_pA": plus, "i_minus80_pA": minus}
        documents.append(
            ("event", trpm7.compose_event(data=data, timestamps={k: 0.0 for k in data}))
        )
    documents.append(("event", mystery.compose_event(data={"x": 1.0}, timestamps={"x": 0.0})))
    documents.append(("stop", bundle.compose_stop()))
    return documents


def test_trpm7_stream_unknown_streams_and_patch_stages(caplog):
    caplog.set_level(logging.INFO, logger=RUN_LOGGER)
    lines: list[str] = []
    tables, plots, runs = make_live_tables(out=lines.append), LivePlots(), RunLogger()
    for name, doc in _synthetic_run():
        for callback in (tables, plots, runs):
            callback(name, doc)
    header = next(line for line in lines if "i_plus80_pA" in line)
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "seq_num",
        "time",
        "t_s",
        "i_plus80_pA",
        "i_minus80_pA",
    ]
    rows = [line for line in lines if line.startswith("|") and line != header]
    assert [float(r.strip("|").split("|")[3]) for r in rows] == [120.0, 180.0]
    assert set(plots.figures) == {"trpm7"}
    ax = plots.figures["trpm7"].axes[0]
    assert {line.get_label() for line in ax.lines} == {"i_plus80_pA", "i_minus80_pA"}
    assert all(list(line.get_xdata()) == [0.0, 10.0] for line in ax.lines)
    start, stage, stop = _run_lines(caplog)
    assert "start: trpm7_ramps on rig sim (simulated, ×100.0) (n_ramps=2)" in start
    assert stage.startswith("patch_cell cell 3 attempt 2: stage seal (run ")
    assert stop.endswith("stop: trpm7_ramps success; events: trpm7=2, mystery=1")


@pytest.mark.parametrize(
    ("backend", "why"),
    [
        ("tkagg", "cannot draw from the RunEngine's thread; use `%matplotlib qt`"),
        ("qtagg", "was chosen after live feedback was enabled"),
    ],
)
def test_plots_are_skipped_when_the_backend_cannot_draw_from_the_run_engine_thread(
    monkeypatch, caplog, backend, why
):
    plots = LivePlots()  # made under Agg: no Qt teleporter
    monkeypatch.setattr(matplotlib, "get_backend", lambda: backend)
    with caplog.at_level(logging.WARNING, logger="ionrig.bench.live"):
        for _ in range(2):
            for name, doc in _synthetic_run():
                plots(name, doc)
    assert plots.figures == {}
    warnings = [r.getMessage() for r in caplog.records if r.name == "ionrig.bench.live"]
    assert len(warnings) == 1
    assert f"backend {backend!r} {why}" in warnings[0]
    assert "live = enable_live_feedback(RE, clock=clock)" in warnings[0]

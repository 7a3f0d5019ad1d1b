"""A rehearsed night through the real queue server: two simulated hours of imaging, cells,
seals and ramps at a high time_scale, with a cell that will not seal; wall time, memory and the
morning summary are checked."""

import contextlib
import os
import signal
import time

import psutil
import pytest

from ionrig.data.catalog import open_catalog
from ionrig.night.queue_server import (
    add_item,
    queue_history,
    queue_status,
    read_manager_info,
    start_queue,
    stop_queue,
)
from ionrig.night.queue_settings import QueueSettings
from ionrig.night.summary import format_summary, run_spans, summarize_night, write_night_figures
from ionrig.night.watchdogs import WatchdogConfig

TIME_SCALE = 200
BIG = {"reservoir_mL": 5000.0}  # a night's perfusion: reservoirs sized for it
SETTINGS = QueueSettings(
    rig="sim",
    overrides={
        "time_scale": TIME_SCALE,
        "perfusion": BIG,
        "world": {
            "patch": {
                "ra_drift_per_hour": 0.0,
                "seal_loss_per_hour": 0.0,
                "seal_success_probability": 1.0,
                "break_in_probability": 1.0,
            },
            "chamber": BIG,
        },
    },
    watchdogs=WatchdogConfig(disk_min_free_GB=0.01, disk_resume_free_GB=0.02),
)
#: The night: (plan, kwargs). Cell 1's seal time is too short to seal: the injected failure.
NIGHT = [
    ("wash", {"solution": "hbss", "bath_volumes": 5.0}),
    ("ratiometric_timecourse", {"n_pairs": 80, "interval_s": 30.0}),
    ("record_cell", {"cell_index": 0, "duration_s": 600.0, "period_s": 2.0, "segment_s": 300.0}),
    ("record_cell", {"cell_index": 1, "seal_timeout_s": 0.5}),
    ("record_cell", {"cell_index": 2, "duration_s": 600.0, "period_s": 2.0, "segment_s": 300.0}),
    ("ratiometric_timecourse", {"n_pairs": 80, "interval_s": 30.0}),
    ("record_cell", {"cell_index": 3, "duration_s": 600.0, "period_s": 2.0, "segment_s": 300.0}),
]


def _worker_rss_MB(manager_pid: int) -> float:
    """Resident memory of the RE worker: the largest process under the manager."""
    children = psutil.Process(manager_pid).children(recursive=True)
    return max(child.memory_info().rss for child in children) / 2**20


def test_a_two_hour_night_completes_in_minutes_with_flat_memory(tmp_path):
    data_dir = tmp_path / "night"
    info = start_queue(SETTINGS, data_dir=data_dir, timeout_s=120)
    try:
        started = time.time()
        t0 = time.monotonic()
        for plan, kwargs in NIGHT:
            add_item(plan, kwargs=kwargs, data_dir=data_dir)
        memory_MB = []
        deadline = t0 + 300
        while True:
            status = queue_status(data_dir)
            history = queue_history(data_dir)
            with contextlib.suppress(psutil.Error, ValueError):
                memory_MB.append(_worker_rss_MB(info.manager_pid))
            if len(history) >= len(NIGHT) and status["manager_state"] == "idle":
                break
            assert time.monotonic() < deadline, f"the night did not finish: {status}"
            time.sleep(1.0)
        wall_s = time.monotonic() - t0
        statuses = [h["result"]["exit_status"] for h in history]
        assert statuses == ["completed"] * 3 + ["failed"] + ["completed"] * 3, [
            (h["name"], h["kwargs"], h["result"]["exit_status"], h["result"].get("msg", "")[-300:])
            for h in history
        ]
        assert "no seal" in history[3]["result"]["msg"]

        catalog = open_catalog(data_dir)
        try:
            starts = [catalog[uid].metadata["start"] for uid in catalog.uids()]
            stops = [catalog[uid].metadata["stop"] for uid in catalog.uids()]
            clock = [
                float(t)
                for uid in catalog.uids()
                for stream in catalog[uid]
                if "t_s" in catalog[uid][stream]
                for t in catalog[uid][stream]["t_s"].read()[[0, -1]]
            ]
            span_s = max(clock) - min(clock)  # the rig clock from first to last reading
            summary = summarize_night(data_dir, since=started - 1, history=history, catalog=catalog)
            figure_paths = write_night_figures(summary, catalog, tmp_path / "summary")
            print(f"night figure: {figure_paths[0]}")
            spans = run_spans(catalog, summary.since)
            ramps = sum(
                catalog[uid]["trpm7"]["t_s"].read().size
                for uid, start in zip(catalog.uids(), starts, strict=True)
                if start["plan_name"] == "trpm7_ramps"
            )
        finally:
            catalog.close()
        print(
            f"\n{span_s / 3600:.2f} simulated hours in {wall_s:.0f} s wall; {len(starts)} runs, "
            f"{ramps} ramps; worker RSS {min(memory_MB):.0f}-{max(memory_MB):.0f} MB"
        )
        print(format_summary(summary))
        assert span_s >= 2 * 3600  # at least two simulated hours ...
        assert wall_s < 180  # ... in under three minutes of wall time
        # flat memory: after the first item the worker grows by less than 50 MB all night
        settled = memory_MB[len(memory_MB) // 10 :]
        assert max(settled) - settled[0] < 50, memory_MB
        assert all(s["exit_status"] in ("success", "fail") for s in stops)
        assert ramps == 3 * 300
        # the morning summary tells the night as it was
        assert [i.status for i in summary.items] == statuses
        assert summary.cells_attempted == [0, 1, 2, 3]
        assert summary.cells_recorded == [0, 2, 3]
        assert len(summary.failures) == 1 and "no seal" in summary.failures[0][1]
        assert summary.runs_by_plan["ratiometric_timecourse"] == 2
        assert summary.runs_by_plan["trpm7_ramps"] == 3 * 2  # two segments per cell
        assert summary.runs_by_status.get("fail") == 1
        # the night's figure: every run on the rig clock, not blank
        from matplotlib.image import imread

        assert len(spans) == len(starts)  # every run recorded readings on the rig clock
        image = imread(figure_paths[0])
        assert image.shape[0] > 100 and image[..., :3].std() > 0.05
    finally:
        try:
            stop_queue(data_dir, timeout_s=60)
        except Exception:
            info = read_manager_info(data_dir) or info
            for pid in (info.manager_pid, info.catalog_pid, info.redis_pid):
                if pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)
            raise


# Two to three minutes of wall time: run by .ci/run with the other slow tests (pytest -m slow).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

"""The queue server on the simulated rig: real RE Manager processes, a real Redis server when one
is installed (fakeredis otherwise, and the test says which), runs read back from the catalog."""

import contextlib
import os
import shutil
import signal
import time

import pytest

from ionrig.data.catalog import open_catalog
from ionrig.night.queue_server import (
    add_item,
    is_running,
    queue_history,
    queue_status,
    read_manager_info,
    start_queue,
    stop_queue,
)
from ionrig.night.queue_settings import QueueSettings
from ionrig.night.watchdogs import WatchdogConfig

SETTINGS = QueueSettings(
    rig="sim",
    overrides={
        "time_scale": 200,
        "perfusion": {"reservoir_mL": 5000.0},  # no reservoir runs low during the tests
        "world": {
            "patch": {"ra_drift_per_hour": 0.0, "seal_loss_per_hour": 0.0},
            "chamber": {"reservoir_mL": 5000.0},
        },
    },
    watchdogs=WatchdogConfig(disk_min_free_GB=0.01, disk_resume_free_GB=0.02),
)


def _wait_history(data_dir, n_items, timeout_s=90.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        history = queue_history(data_dir)
        status = queue_status(data_dir)
        if (
            len(history) >= n_items
            and status["items_in_queue"] == 0
            and (status["manager_state"] == "idle")
        ):
            return history
        time.sleep(0.3)
    raise AssertionError(f"the queue did not finish {n_items} items within {timeout_s:g} s")


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """A queue server (manager, worker with the simulated rig, catalog server, Redis)."""
    data_dir = tmp_path_factory.mktemp("queue-night")
    t0 = time.monotonic()
    info = start_queue(SETTINGS, data_dir=data_dir, timeout_s=90)
    kind = info.redis_kind
    expected = (
        "external"
        if os.environ.get("IONRIG_REDIS")
        else ("redis-server" if shutil.which("redis-server") else "fakeredis")
    )
    print(f"\nqueue server up in {time.monotonic() - t0:.1f} s; Redis: {kind} at {info.redis_addr}")
    assert kind == expected
    try:
        yield data_dir
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


def test_two_plans_run_through_the_queue_and_are_read_back(night):
    before = len(queue_history(night))
    add_item("ratiometric_timecourse", kwargs={"n_pairs": 3}, data_dir=night)
    add_item("trpm7_ramps", kwargs={"duration_s": 10.0, "period_s": 2.0}, data_dir=night)
    history = _wait_history(night, before + 2)[before:]
    assert [h["name"] for h in history] == ["ratiometric_timecourse", "trpm7_ramps"]
    assert [h["result"]["exit_status"] for h in history] == ["completed", "completed"], history
    catalog = open_catalog(night)
    try:
        assert catalog.remote  # the catalog server owns the catalog; we read over HTTP
        (tc_uid,) = history[0]["result"]["run_uids"]
        (ramps_uid,) = history[1]["result"]["run_uids"]
        timecourse, ramps = catalog[tc_uid], catalog[ramps_uid]
        assert timecourse.metadata["start"]["plan_name"] == "ratiometric_timecourse"
        assert timecourse.metadata["stop"]["exit_status"] == "success"
        assert timecourse["ratio"]["t_s"].read().size == 3
        assert timecourse["primary"]["camera"].read().shape[0] == 6
        assert ramps["trpm7"]["t_s"].read().size == 5
        assert ramps["primary"]["amplifier"].read().shape[0] == 5
    finally:
        catalog.close()


def test_a_failing_cell_is_recorded_and_the_next_item_runs(night):
    before = len(queue_history(night))
    # no seal can form in 0.5 s: the cell fails with PatchFailure
    add_item("record_cell", kwargs={"cell_index": 0, "seal_timeout_s": 0.5}, data_dir=night)
    add_item("ratiometric_timecourse", kwargs={"n_pairs": 2}, data_dir=night)
    failed, completed = _wait_history(night, before + 2)[before:]
    assert failed["name"] == "record_cell" and failed["result"]["exit_status"] == "failed"
    assert "no seal" in failed["result"]["msg"]
    assert completed["result"]["exit_status"] == "completed"
    catalog = open_catalog(night)
    try:
        (seal_uid,) = failed["result"]["run_uids"]
        stop = catalog[seal_uid].metadata["stop"]
        assert stop["exit_status"] == "fail" and "no seal" in stop["reason"]
    finally:
        catalog.close()


@pytest.mark.slow
def test_after_a_crash_a_restarted_manager_goes_on_with_the_next_item(night):
    before = len(queue_history(night))
    add_item("ratiometric_timecourse", kwargs={"n_pairs": 400, "interval_s": 2.0}, data_dir=night)
    add_item("ratiometric_timecourse", kwargs={"n_pairs": 2}, data_dir=night)
    info = read_manager_info(night)
    deadline = time.monotonic() + 60
    while not queue_status(night)["running_item_uid"]:
        assert time.monotonic() < deadline, "the first item never started"
        time.sleep(0.2)
    time.sleep(3.0)  # into the run
    os.killpg(info.manager_pid, signal.SIGKILL)  # manager, watchdog and worker: a crash
    deadline = time.monotonic() + 10
    while is_running(night):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    restarted = start_queue(SETTINGS, data_dir=night, timeout_s=90)
    assert restarted.redis_addr == info.redis_addr  # the queue lived on in Redis
    crashed_item, next_item = _wait_history(night, before + 2)[before:]
    assert crashed_item["result"]["exit_status"] == "unknown"  # the manager's own verdict
    assert "restart of the RE Manager" in crashed_item["result"]["msg"]
    assert next_item["result"]["exit_status"] == "completed"
    catalog = open_catalog(night)
    try:
        runs = [catalog[uid] for uid in catalog.uids()]
        crashed = [
            r for r in runs if r.metadata["start"].get("plan_args", {}).get("n_pairs") == 400
        ]
        (crashed,) = crashed
        stop = crashed.metadata["stop"]
        assert stop["exit_status"] == "abort" and stop["reason"] == "process ended"
        assert 0 < crashed["ratio"]["t_s"].read().size < 400  # what was recorded is kept
    finally:
        catalog.close()


def test_a_failed_item_leaves_the_rig_safe_and_the_summary_tells(tmp_path):
    import bluesky.plan_stubs as bps

    from ionrig.night.queue import close_night, open_night, ratiometric_timecourse, record_cell
    from ionrig.night.summary import format_summary, summarize_night
    from ionrig.plans import PatchFailure

    data = tmp_path / "data"
    big = {"reservoir_mL": 5000.0}  # the reservoir must not run low during the test
    settings = QueueSettings(
        overrides={"time_scale": 300, "perfusion": big, "world": {"chamber": big}},
        watchdogs=WatchdogConfig(disk_min_free_GB=None),
    )
    night = open_night(settings, data_dir=data)
    try:
        RE, rig, world = night.session.RE, night.session.rig, night.session.rig.world
        RE(bps.mv(rig.perfusion, "hbss"))
        assert world.chamber.flowing
        with pytest.raises(PatchFailure, match="no seal"):
            RE(record_cell(rig, 0, seal_timeout_s=0.5))
        # left safe: flow stopped, pressure released, holding safe, shutter closed
        assert not world.chamber.flowing and world.patch.pressure_kPa == 0.0
        assert world.patch.holding_mV == 0.0 and not world.shutter_open
        RE(ratiometric_timecourse(rig, 2))
        summary = summarize_night(data, catalog=night.session.catalog)
    finally:
        close_night()
    assert [(i.name, i.status) for i in summary.items] == [
        ("record_cell", "failed"),
        ("ratiometric_timecourse", "completed"),
    ]
    assert "no seal" in summary.items[0].cause
    assert summary.cells_attempted == [0] and summary.cells_recorded == []
    assert summary.runs_by_status == {"fail": 1, "success": 1}
    assert summary.runs_by_plan == {"form_seal": 1, "ratiometric_timecourse": 1}
    assert summary.data_bytes > 2 * 128 * 128 * 2  # at least the four frames
    text = format_summary(summary)
    assert "items: 2 (1 completed, 1 failed)" in text
    assert "cells: 1 attempted, 0 recorded" in text and "failures: 1" in text
    print(text)


def _cli(data_dir, *args, timeout=120):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "ionrig.cli", "--data", str(data_dir), "queue", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_the_command_line_adds_items_and_summarizes_the_night(night):
    before = len(queue_history(night))
    added = _cli(night, "add", "ratiometric_timecourse", "n_pairs=2", "interval_s=1.5")
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("added ratiometric_timecourse")
    refused = _cli(night, "add", "ratiometric_timecourse", "n_pairs")
    assert refused.returncode == 2 and "KEY=VALUE" in refused.stderr
    _wait_history(night, before + 1)
    status = _cli(night, "status")
    assert "manager_state: idle" in status.stdout and "worker_environment_exists: True" in (
        status.stdout
    )
    history = _cli(night, "history")
    assert "completed  ratiometric_timecourse {'n_pairs': 2, 'interval_s': 1.5}" in history.stdout
    summary = _cli(night, "summary")
    assert summary.returncode == 0, summary.stderr
    assert "items:" in summary.stdout and "data written:" in summary.stdout


def test_the_plan_list_and_permissions_match_the_queue_plans():
    import inspect
    from importlib import resources

    import yaml

    from ionrig.night import queue

    files = resources.files("ionrig.night.queue_startup")
    listed = yaml.safe_load((files / "existing_plans_and_devices.yaml").read_text())
    assert set(listed["existing_plans"]) == set(queue.QUEUE_PLANS)
    assert set(listed["existing_devices"]) == {"rig"}
    for name, description in listed["existing_plans"].items():
        parameters = list(inspect.signature(getattr(queue, name)).parameters)
        assert [p["name"] for p in description["parameters"]] == parameters, (
            f"{name} changed: run `ionrig queue regenerate`"
        )
    permissions = yaml.safe_load((files / "user_group_permissions.yaml").read_text())
    assert set(permissions["user_groups"]["primary"]["allowed_plans"]) == set(queue.QUEUE_PLANS)


@pytest.mark.slow
def test_regenerating_the_plan_list_reproduces_the_kept_file(tmp_path):
    from importlib import resources

    import yaml

    from ionrig.night.queue_server import regenerate_plan_list

    fresh = yaml.safe_load(regenerate_plan_list(tmp_path).read_text())
    kept = yaml.safe_load(
        (
            resources.files("ionrig.night.queue_startup") / "existing_plans_and_devices.yaml"
        ).read_text()
    )
    assert fresh == kept


def test_an_aborted_item_closes_its_run_and_leaves_the_rig_safe(tmp_path):
    import threading

    import bluesky.plan_stubs as bps
    from bluesky.utils import RunEngineInterrupted

    from ionrig.night.notify import read_notices
    from ionrig.night.queue import close_night, open_night, ratiometric_timecourse
    from ionrig.night.queue_settings import night_log_path

    big = {"reservoir_mL": 5000.0}
    settings = QueueSettings(
        overrides={"time_scale": 100, "perfusion": big, "world": {"chamber": big}},
        watchdogs=WatchdogConfig(disk_min_free_GB=None),
    )
    night = open_night(settings, data_dir=tmp_path / "data")
    try:
        RE, rig, world = night.session.RE, night.session.rig, night.session.rig.world
        RE(bps.mv(rig.perfusion, "hbss"))
        documents = []
        RE.subscribe(lambda name, doc: documents.append((name, doc)))
        pause = threading.Timer(1.0, RE.request_pause)  # as Ctrl-C at the RunEngine does
        pause.start()
        with pytest.raises(RunEngineInterrupted):
            RE(ratiometric_timecourse(rig, 10_000, interval_s=1.0))
        pause.join()
        assert RE.state == "paused"
        RE.abort("the operator stopped the night")
        assert not world.chamber.flowing and not world.shutter_open  # made safe
    finally:
        close_night()
    (stop,) = [doc for name, doc in documents if name == "stop"]
    # bluesky 1.15's run_wrapper closes an aborted run without RE.abort's reason
    assert stop["exit_status"] == "abort"
    failures = [n for n in read_notices(night_log_path(tmp_path / "data")) if n.kind == "failure"]
    assert failures[-1].cause == "RequestAbort (run closed with exit status 'abort')"

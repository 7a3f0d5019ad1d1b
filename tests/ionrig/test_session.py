"""The session contract: RunEngine + rig + clock + catalog, and the clock's effect on plans."""

import asyncio
import itertools
import json
import time

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import pytest
from ophyd_async.core import (
    StandardReadable,
    StandardReadableFormat,
    init_devices,
    soft_signal_r_and_setter,
    soft_signal_rw,
)

from ionrig.data.documents import read_journal
from ionrig.session import start


def test_session_ties_rig_clock_and_catalog(session):
    assert session.rig.simulated
    assert session.clock is session.rig.clock
    assert session.clock.time_scale == 100
    assert session.RE.md["rig"] == "sim"
    assert set(dict(session.rig.children())) >= {"filter_wheel", "camera", "perfusion", "amplifier"}


def test_minimal_plan_is_validated_journaled_and_catalogued(session, docs):
    with init_devices():
        knob = soft_signal_rw(float, 1.5, units="mV")
    session.RE.subscribe(docs)
    result = session.RE(bp.count([knob, session.rig.t_s], num=4, md={"cell": "c7"}))
    assert result.exit_status == "success"
    (uid,) = result.run_start_uids
    # journal: every emitted document, in order, as JSON lines
    journal = session.catalog.location.journal_dir / f"{uid}.jsonl"
    journaled = [name for name, _ in read_journal(journal)]
    assert journaled == [name for name, _ in docs.documents]
    # catalog: the run reads back, with its events and metadata
    run = session.catalog[-1]
    assert run.metadata["start"]["uid"] == uid
    assert run.metadata["start"]["cell"] == "c7"
    assert run.metadata["stop"]["exit_status"] == "success"
    assert list(run["primary"]["knob"].read()) == [1.5] * 4
    t_s = run["primary"]["t_s"].read()
    assert len(t_s) == 4 and all(b > a for a, b in itertools.pairwise(t_s))


def test_45_minute_sleep_at_time_scale_10000_takes_under_a_second(catalog):
    session = start("sim", catalog=catalog, time_scale=10_000)
    t_before = session.clock.now_s()
    wall = time.monotonic()
    result = session.RE(bps.sleep(45 * 60))
    elapsed = time.monotonic() - wall
    assert result.exit_status == "success"
    assert elapsed < 1.0
    assert session.clock.now_s() - t_before >= 45 * 60


def test_thread_work_in_an_accelerated_plan_does_not_time_out(catalog):
    """50 ms of real thread work inside a device read at ×10000 (500 simulated seconds):
    ophyd-async's timeouts stay in real seconds, so nothing trips."""
    session = start("sim", catalog=catalog, time_scale=10_000)

    async def slow_getter() -> float:
        await asyncio.to_thread(time.sleep, 0.05)
        return 42.0

    class SlowMeter(StandardReadable):
        def __init__(self, name=""):
            with self.add_children_as_readables(StandardReadableFormat.HINTED_UNCACHED_SIGNAL):
                self.current_pA, _ = soft_signal_r_and_setter(
                    float, 0.0, units="pA", getter=slow_getter
                )
            super().__init__(name=name)

    with init_devices():
        slow = SlowMeter()

    def plan():
        yield from bps.sleep(60)
        yield from bp.count([slow, session.rig.t_s], num=3)
        yield from bps.sleep(60)

    result = session.RE(plan())
    assert result.exit_status == "success"
    values = session.catalog[-1]["primary"]["slow-current_pA"].read()
    assert list(values) == [42.0, 42.0, 42.0]


def test_real_overhead_shows_in_simulated_time(catalog):
    """Honest accounting: real software time between events appears × time_scale in t_s."""
    session = start("sim", catalog=catalog, time_scale=1000)
    session.RE(bp.count([session.rig.t_s], num=5))
    t_s = session.catalog[-1]["primary"]["t_s"].read()
    gaps = [b - a for a, b in itertools.pairwise(t_s)]
    assert min(gaps) > 0  # some real overhead per event, scaled up by 1000


def test_unknown_rig_and_misspelled_overrides_are_refused(catalog):
    with pytest.raises(ValueError, match="rig must be one of example-real, sim or a path"):
        start("no-such-rig", catalog=catalog)
    with pytest.raises(ValueError, match=r"unknown key 'time_scael'.*allowed keys:.*time_scale"):
        start("sim", catalog=catalog, time_scael=10)


def test_start_document_records_versions(session):
    uid = session.RE(bp.count([session.rig.t_s], num=1)).run_start_uids[0]
    start_doc = session.catalog[uid].metadata["start"]
    assert start_doc["ionrig_version"]
    assert json.dumps(start_doc)  # fully JSON

"""The simulated rig end to end: every role through its real driver and simulated instrument."""

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import pytest
from bluesky.utils import FailedStatus

from ionrig.devices.drivers import DaqDeviceLost
from ionrig.session import start
from ionrig.simulators import Fault, FaultKind


def test_every_role_is_an_instrument_backed_device(session):
    roles = dict(session.rig.children())
    assert set(roles) >= {
        "filter_wheel",
        "camera",
        "perfusion",
        "amplifier",
        "pressure",
        "temperature",
    }
    assert type(roles["perfusion"]).__name__ == "Perfusion"
    assert type(roles["amplifier"]).__name__ == "PatchAmplifier"


def test_perfusion_through_the_valves_exchanges_the_bath(session):
    world = session.rig.world
    mg_before = world.chamber.bath_mM["mg_mM"]
    session.RE(bps.mv(session.rig.perfusion, "mg_k_aspartate"))
    assert world.chamber.inflow == "mg_k_aspartate"
    daq = session.rig.instruments["daq"]
    assert daq.do_state("Dev1/port0/line3") is True  # the 4th listed solution's valve
    # 5 bath volumes with the chamber's imperfect mixing (τ = 1.5 V/Q): > 90 % exchanged
    bath = world.chamber.bath_mM
    assert bath["mg_mM"] > 0.9 + 0.9 * (10.9 - 0.9)
    assert mg_before == pytest.approx(0.9)


def test_temperature_and_pressure_reach_the_world(session):
    rig, world = session.rig, session.rig.world
    temperature = session.RE(bps.rd(rig.temperature.temperature_C)).plan_result
    assert temperature == pytest.approx(world.bath_temperature_C, abs=0.05)
    world.patch.approach(0)
    session.RE(bps.mv(rig.pressure, -2.0))
    assert world.patch.state in ("sealing", "cell_attached")


def test_seal_test_in_the_bath_reads_the_pipette_resistance(session):
    measured = session.RE(bps.rd(session.rig.amplifier.resistance_MOhm)).plan_result
    assert measured == pytest.approx(session.rig.world.patch.pipette_resistance_MOhm, rel=0.1)


def test_sweeps_are_recorded_from_the_world(session):
    result = session.RE(bp.count([session.rig.amplifier, session.rig.t_s], num=2))
    sweeps = session.catalog[result.run_start_uids[0]]["primary"]["amplifier"].read()
    assert sweeps.shape[0] == 2 and sweeps.shape[-1] == 200  # default 20-ms step at 10 kHz


def test_daq_lost_mid_run_fails_the_run_with_a_typed_error(session, docs):
    daq = session.rig.instruments["daq"]
    daq.inject(Fault(FaultKind.DISCONNECT, at_s=session.clock.now_s(), duration_s=1e9))
    session.RE.subscribe(docs)
    with pytest.raises(FailedStatus) as failure:
        session.RE(bp.count([session.rig.amplifier], num=3))
    assert isinstance(failure.value.__cause__, DaqDeviceLost)
    assert docs.of("stop")[0]["exit_status"] == "fail"


def test_syringe_pump_perfusion_variant(catalog):
    session = start("sim", catalog=catalog, time_scale=100, perfusion={"flow": "ne500"})
    session.RE(bps.mv(session.rig.perfusion, "hbss_probenecid"))
    chamber = session.rig.world.chamber
    assert chamber.inflow == "hbss_probenecid" and chamber.flow_mL_per_min == pytest.approx(2.0)
    assert chamber.bath_mM.get("probenecid_mM", 0) > 0.9 * 2.5


def test_faults_configured_in_the_rig_file_are_injected(catalog, docs):
    session = start(
        "sim",
        catalog=catalog,
        time_scale=100,
        faults=[
            {"instrument": "camera", "kind": "dropped", "after_frames": 3},
            {"instrument": "filter_wheel", "kind": "no_reply", "at_s": 1e9},
        ],
    )
    from ionrig.plans import ratiometric_timecourse
    from ionrig.simulators import FrameDropped

    session.RE.subscribe(docs)
    with pytest.raises(FailedStatus) as failure:
        session.RE(ratiometric_timecourse(session.rig, 5))  # preview + 2 frames, then lost
    assert isinstance(failure.value.__cause__, FrameDropped)
    assert docs.of("stop")[0]["exit_status"] == "fail"
    assert session.rig.instruments["filter_wheel"].faults  # armed for later


def test_fault_kinds_are_checked_per_instrument():
    from ionrig.rig import read_rig_config
    from ionrig.rig.config import ConfigError

    with pytest.raises(ConfigError, match="kind for camera must be one of error, timeout"):
        read_rig_config("sim", faults=[{"instrument": "camera", "kind": "slow_reply"}])
    with pytest.raises(ConfigError, match="faults can only be injected into a simulated rig"):
        read_rig_config("example-real", faults=[{"instrument": "daq", "kind": "disconnect"}])


def test_dg4_ring_buffer_paced_by_the_camera_alternates_340_and_380(catalog):
    import bluesky.preprocessors as bpp
    import numpy as np
    from ophyd_async.core import TriggerInfo

    from ionrig.devices import ExcitationSequence

    session = start(
        "sim",
        catalog=catalog,
        time_scale=100,
        filter_wheel={"driver": "dg4", "port": "ionrig-sim://dg4"},
    )
    rig = session.rig
    lit_before = []
    rig.instruments["camera"].observers.append(
        lambda what, index: (
            lit_before.append(rig.world.excitation_nm) if what == "exposing" else None
        )
    )

    @bpp.stage_decorator([rig.camera, rig.sequencer])
    @bpp.run_decorator()
    def fly():
        yield from bps.prepare(
            rig.camera, TriggerInfo(number_of_events=6, livetime=0.02), wait=True
        )
        yield from bps.prepare(rig.sequencer, ExcitationSequence(("340", "380"), 6), wait=True)
        yield from bps.declare_stream(rig.camera, name="primary")
        yield from bps.kickoff(rig.sequencer, wait=True)
        yield from bps.kickoff(rig.camera, wait=True)
        yield from bps.collect_while_completing(
            flyers=[rig.camera], dets=[rig.camera], flush_period=0.05
        )
        yield from bps.complete(rig.sequencer, wait=True)

    result = session.RE(fly())
    assert result.exit_status == "success"
    frames = np.asarray(session.catalog[-1]["primary"]["camera"].read(), dtype=float)
    means = frames.reshape(6, -1).mean(axis=1)
    # the DG-4 stepped on each exposure: 340, 380, 340, ... (the wiring observer runs first)
    assert lit_before == [340, 380] * 3
    assert np.all(means[1::2] > means[0::2])  # Mag-fura-2 at rest: brighter at 380 than 340


def test_closing_the_session_leaves_the_rig_safe(catalog):
    session = start("sim", catalog=catalog, time_scale=100, amplifier={"safe_holding_mV": -60.0})
    rig, world = session.rig, session.rig.world
    session.RE(
        bps.mv(rig.filter_wheel.shutter, "open", rig.amplifier.holding_mV, 20.0, rig.pressure, 5.0)
    )
    session.RE(bps.mv(rig.perfusion, "hbss_probenecid"))
    assert world.shutter_open and world.chamber.flow_mL_per_min > 0
    session.close()
    assert not world.shutter_open
    assert world.patch.holding_mV == pytest.approx(-60.0)
    assert world.chamber.flow_mL_per_min == 0.0 and world.chamber.inflow is None
    assert rig.instruments["daq"].ao_V("Dev1/ao1") == pytest.approx(0.0)  # pressure released


def test_peristaltic_perfusion_variant(catalog):
    session = start(
        "sim",
        catalog=catalog,
        time_scale=100,
        perfusion={"flow": "peristaltic", "pump_mL_per_min_per_V": 0.5},
    )
    session.RE(bps.mv(session.rig.perfusion, "mg_k_aspartate"))
    daq = session.rig.instruments["daq"]
    assert daq.ao_V("Dev1/ao2") == pytest.approx(2.0 / 0.5)  # 2 mL/min at 0.5 mL/min/V
    assert session.rig.world.chamber.flow_mL_per_min == pytest.approx(2.0)
    assert session.rig.world.chamber.bath_mM["mg_mM"] > 9.9


def test_detectors_of_the_rig_run_again_and_again(session):
    """bluesky stages a device's root ancestor (the rig): the rig must stage its detectors."""
    for detector in (session.rig.camera, session.rig.amplifier, session.rig.camera):
        for _ in range(2):
            result = session.RE(bp.count([detector], num=2))
            assert result.exit_status == "success"
            run = session.catalog[result.run_start_uids[0]]
            assert run["primary"][detector.name].read().shape[0] == 2


def test_pressure_reads_zero_after_connect(session):
    assert session.RE(bps.rd(session.rig.pressure.pressure_kPa)).plan_result == 0.0

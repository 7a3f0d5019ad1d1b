"""The DG-4 ring buffer as a flyable, through the real driver on the simulated DG-4."""

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import pytest
from ophyd_async.core import init_devices

from ionrig.devices import ExcitationSequence, ExcitationSequencer, FilterSlot
from ionrig.devices.drivers import SutterLambdaDG4
from ionrig.simulators import (
    ScaledClock,
    SimulatedLambdaDG4,
    bind_excitation,
    register_simulated_instrument,
    unregister_simulated_instrument,
)

FILTERS = {"340": FilterSlot(1, 340.0), "380": FilterSlot(2, 380.0)}


@pytest.fixture
def dg4():
    sim = SimulatedLambdaDG4(ScaledClock(1000))
    register_simulated_instrument("dg4-under-test", sim)
    yield sim
    unregister_simulated_instrument("dg4-under-test")


def test_camera_pulses_step_the_loaded_sequence(RE, dg4, world):
    bind_excitation(world, dg4, {1: 340, 2: 380})
    with init_devices():
        sequencer = ExcitationSequencer(SutterLambdaDG4("ionrig-sim://dg4-under-test"), FILTERS)
    seen, told = [], []  # the light of each frame, and what the sequencer says it was

    @bpp.run_decorator()
    def plan():
        yield from bps.stage(sequencer, wait=True)
        yield from bps.prepare(sequencer, ExcitationSequence(("340", "380"), 6), wait=True)
        told.append(sequencer.frame_excitation_nm(0))  # loaded, not running: no say
        yield from bps.kickoff(sequencer, wait=True)
        for frame in range(6):  # the camera's six "exposing" pulses
            dg4.trigger()
            seen.append(world.excitation_nm)
            told.append(sequencer.frame_excitation_nm(frame))
        yield from bps.complete(sequencer, wait=True)
        told.append(sequencer.frame_excitation_nm(6))  # stopped: the wheel's position holds
        yield from bps.unstage(sequencer, wait=True)

    RE(plan())
    assert seen == [340, 380, 340, 380, 340, 380]
    assert told == [None, *seen, None]
    assert dg4.mode != "running"  # complete left ring-buffer mode
    assert RE(bps.rd(sequencer.sequence)).plan_result == "340,380"


def test_unknown_filters_are_refused_before_loading(RE, dg4):
    with init_devices():
        sequencer = ExcitationSequencer(SutterLambdaDG4("ionrig-sim://dg4-under-test"), FILTERS)
    before = dg4.n_received
    with pytest.raises(Exception, match=r"filters \['510'\] unknown; choose from 340, 380"):
        RE(bps.prepare(sequencer, ExcitationSequence(("340", "510"), 4), wait=True))
    assert dg4.n_received == before

import time

import bluesky.plan_stubs as bps
import numpy as np
import pytest
from bluesky.utils import FailedStatus
from ophyd_async.core import init_devices

from ionrig.devices import GravityFlow, Perfusion, SolutionLine, SyringePumpFlow
from ionrig.simulators import ScaledClock, SteppedClock

SOLUTIONS = {
    "hbss": SolutionLine(valve="v1", reservoir_mL=50.0, composition_mM={"Mg": 1.0, "K": 5.4}),
    "mg_k_aspartate": SolutionLine(
        valve="v2", reservoir_mL=10.0, composition_mM={"Mg": 5.0, "K": 10.0, "aspartate": 10.0}
    ),
}


class RecordingValves:
    def __init__(self):
        self.calls = []

    def open_only(self, name):
        self.calls.append(("open_only", name))

    def close_all(self):
        self.calls.append(("close_all",))


TIME_SCALE = 200  # 75 s of exchange take 0.4 s; real overhead (ms) shows × 200 in clock time


@pytest.fixture
def clock():
    return ScaledClock(TIME_SCALE)


def _perfusion(clock, valves, flow, **kwargs):
    with init_devices():
        perfusion = Perfusion(
            valves,
            flow,
            SOLUTIONS,
            clock=clock,
            bath_volume_mL=0.5,
            flow_mL_per_min=2.0,
            exchange_bath_volumes=5,
            **kwargs,
        )
    return perfusion


def test_set_completes_after_the_configured_bath_volumes(RE, clock):
    valves = RecordingValves()
    perfusion = _perfusion(clock, valves, GravityFlow(clock, 2.0))
    updates = []

    def plan():
        status = yield from bps.abs_set(perfusion, "mg_k_aspartate")
        status.watch(lambda **kw: updates.append(kw["current"]))
        yield from bps.wait()

    t0 = clock.now_s()
    RE(plan())
    elapsed_s = clock.now_s() - t0
    # 5 bath volumes × 0.5 mL at 2 mL/min = 1.25 min, never less; late by real overhead only
    assert 75.0 <= elapsed_s < 75.0 + 0.05 * TIME_SCALE
    assert valves.calls[-1] == ("open_only", "v2")
    assert updates[-1] >= 5.0 and updates == sorted(updates)
    reading = RE(bps.rd(perfusion.solution)).plan_result
    assert reading == "mg_k_aspartate"


def test_reservoirs_run_down_and_an_empty_one_is_refused(RE, clock):
    valves = RecordingValves()
    perfusion = _perfusion(clock, valves, GravityFlow(clock, 2.0))
    RE(bps.mv(perfusion, "mg_k_aspartate"))  # uses 2.5 mL of 10
    RE(bps.mv(perfusion, "hbss"))
    levels = RE(bps.rd(perfusion.reservoir_mL)).plan_result
    # 2.5 mL for the exchange, plus what flowed until the switch back
    assert 10.0 - 2.5 - 0.05 * TIME_SCALE / 30 <= levels[1] <= 10.0 - 2.5
    RE(bps.mv(perfusion, "mg_k_aspartate"))
    RE(bps.mv(perfusion, "hbss"))
    RE(bps.mv(perfusion, "mg_k_aspartate"))  # 3 × 2.5 mL used: 2.5 mL left
    RE(bps.mv(perfusion, "hbss"))
    with pytest.raises(Exception, match="refill it"):
        RE(bps.mv(perfusion, "mg_k_aspartate"))


def test_unknown_solution_is_refused_before_any_valve_moves(RE, clock):
    valves = RecordingValves()
    perfusion = _perfusion(clock, valves, GravityFlow(clock, 2.0))
    with pytest.raises(FailedStatus) as failure:
        RE(bps.mv(perfusion, "mg_k_glutamate"))
    assert "solution must be one of hbss, mg_k_aspartate" in str(failure.value.__cause__)
    assert not [call for call in valves.calls if call[0] == "open_only"]


def test_stop_closes_the_valves_and_compositions_are_configuration(RE, clock, docs):
    valves = RecordingValves()
    perfusion = _perfusion(clock, valves, GravityFlow(clock, 2.0))
    RE(bps.mv(perfusion, "hbss"))
    assert valves.calls[-1] == ("open_only", "v1")  # the end of a plan does not stop the flow
    RE(bps.wait_for([perfusion.stop_flow]))
    assert valves.calls[-1] == ("close_all",)
    import bluesky.plans as bp

    RE(bp.count([perfusion]), docs)
    config = docs.of("descriptor")[0]["configuration"]["perfusion"]["data"]
    assert '"aspartate": 10.0' in config["perfusion-compositions_mM"]
    assert config["perfusion-bath_volume_mL"] == 0.5


def test_syringe_pump_flow_through_the_new_era_driver_and_simulator(RE, clock):
    from ionrig.devices.drivers import NewEraPump
    from ionrig.simulators import (
        SimulatedNE500,
        register_simulated_instrument,
        unregister_simulated_instrument,
    )

    pump_sim = SimulatedNE500(clock)
    register_simulated_instrument("pump-under-test", pump_sim)
    try:
        pump = NewEraPump("ionrig-sim://pump-under-test")
        pump.diameter_mm = 14.5
        valves = RecordingValves()
        perfusion = _perfusion(clock, valves, SyringePumpFlow(pump))
        wall = time.monotonic()
        RE(bps.mv(perfusion, "mg_k_aspartate"))
        assert time.monotonic() - wall < 10
        infused = pump.dispensed.infused_uL
        assert 2500.0 <= infused < 2500.0 * 1.05  # 5 bath volumes of 0.5 mL
        assert pump.volume_target_uL == pytest.approx(10_000.0)  # the reservoir bounds the run
        assert pump.is_running  # continuous perfusion after the exchange
        RE(bps.wait_for([perfusion.stop_flow]))
        assert not pump.is_running
        assert np.isfinite(infused)
    finally:
        unregister_simulated_instrument("pump-under-test")


def test_stop_interrupts_an_exchange_but_not_the_flow(RE, clock):
    valves = RecordingValves()
    perfusion = _perfusion(clock, valves, GravityFlow(clock, 2.0), poll_s=1.0)

    def plan():
        yield from bps.abs_set(perfusion, "mg_k_aspartate", group="x")
        yield from bps.sleep(0.05)  # real seconds: 10 s of clock time, mid-exchange
        yield from bps.stop(perfusion)
        yield from bps.wait(group="x")

    with pytest.raises(FailedStatus) as failure:
        RE(plan())
    assert "stopped after" in str(failure.value.__cause__)
    assert valves.calls[-1] == ("open_only", "v2")


def test_a_refilled_reservoir_can_exchange_again(RE, clock):
    valves = RecordingValves()
    perfusion = _perfusion(clock, valves, GravityFlow(clock, 2.0))
    for _ in range(3):
        RE(bps.mv(perfusion, "mg_k_aspartate"))
        RE(bps.mv(perfusion, "hbss"))
    with pytest.raises(FailedStatus):
        RE(bps.mv(perfusion, "mg_k_aspartate"))
    perfusion.refilled("mg_k_aspartate")
    RE(bps.mv(perfusion, "mg_k_aspartate"))
    with pytest.raises(ValueError, match=r"volume_mL must be in 0\.\.10 mL"):
        perfusion.refilled("mg_k_aspartate", 20.0)


def test_refilling_the_flowing_reservoir_forgets_what_flowed_before(RE):
    """A wash leaves its solution flowing; refilled while it flows, the reservoir is full: the
    volume that ran before the refill is not booked against the new filling."""
    clock = SteppedClock()
    perfusion = _perfusion(clock, RecordingValves(), GravityFlow(clock, 2.0))
    RE(bps.mv(perfusion, "mg_k_aspartate"))  # 2.5 mL of 10, and it keeps flowing
    clock.advance_s(4 * 60)  # 8 mL more: the reservoir ran dry
    perfusion.refilled("mg_k_aspartate")
    RE(bps.mv(perfusion, "hbss"))
    assert RE(bps.rd(perfusion.reservoir_mL)).plan_result[1] == pytest.approx(10.0)

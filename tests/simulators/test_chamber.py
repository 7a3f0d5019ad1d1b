"""Chamber: first-order bath exchange (tau = V/Q), dead volume, reservoirs, temperature.

Closed forms: docs/reference/physiology.md §1.4 (CSTR: C(t) = C_new + (C_old - C_new) exp(-t Q/V))
and §6 (defaults 0.5 mL, 2 mL/min, 250 µL dead volume, mixing factor 1.5).
"""

import math

import numpy as np
import pytest

from ionrig.simulators import Cell, ChamberConfig, SteppedClock, World


def make_world(**chamber):
    clock = SteppedClock()
    world = World(cells=[Cell(20, 20, 6)], clock=clock, seed=0, chamber=ChamberConfig(**chamber))
    return world, clock


def bath_mg(world):
    return world.chamber.bath_mM["mg_mM"]


@pytest.mark.parametrize("mixing_factor", [1.0, 1.5])
def test_bath_exchange_follows_tau_v_over_q(mixing_factor):
    world, clock = make_world(
        dead_volume_uL=0.0, mixing_factor=mixing_factor, bath_volume_mL=0.5, flow_mL_per_min=2.0
    )
    tau = mixing_factor * 0.5 / (2.0 / 60.0)  # V/Q in s (15 s), times the mixing factor
    assert world.chamber.tau_s == pytest.approx(tau)
    old, new = 0.9, 10.9  # HBSS → Mg-K-aspartate, total Mg (mM)
    world.chamber.select("mg_k_aspartate")
    times = np.arange(1, 121, 3.0)
    observed = []
    for t in times:
        clock.advance_s(t - clock.now_s())
        observed.append(bath_mg(world))
    observed = np.array(observed)
    expected = new + (old - new) * np.exp(-times / tau)
    np.testing.assert_allclose(observed, expected, rtol=1e-9)
    # the time constant recovered from the data, as a test of tau = V/Q (within 5 %)
    fitted = -1.0 / np.polyfit(times, np.log((new - observed) / (new - old)), 1)[0]
    assert fitted == pytest.approx(tau, rel=0.05)


def test_dead_volume_delays_the_new_solution_by_v_dead_over_q():
    world, clock = make_world(dead_volume_uL=250.0, mixing_factor=1.0)
    delay = 0.250 / (2.0 / 60.0)  # 7.5 s (§6)
    world.chamber.select("mg_k_aspartate")
    clock.advance_s(delay - 0.01)
    assert bath_mg(world) == pytest.approx(0.9, abs=1e-12)  # old solution still arriving
    clock.advance_s(0.01 + 15.0)  # one tau after arrival
    assert bath_mg(world) == pytest.approx(10.9 + (0.9 - 10.9) * math.exp(-1.0), rel=1e-9)
    # t95 = delay + 3 tau with the §6 defaults: 7.5 s + 3 × 22.5 s ≈ 75 s
    world, clock = make_world()
    world.chamber.select("mg_k_aspartate")
    clock.advance_s(7.5 + 3 * 22.5)
    assert (bath_mg(world) - 0.9) / 10.0 == pytest.approx(1 - math.exp(-3), rel=1e-6)


def test_switching_back_before_arrival_keeps_the_plugs_in_order():
    world, clock = make_world(dead_volume_uL=250.0, mixing_factor=1.0)
    world.chamber.select("mg_k_aspartate")
    clock.advance_s(3.0)  # 100 µL of Mg-K-aspartate in the line
    world.chamber.select("hbss")
    assert [name for name, _ in world.chamber.line_contents] == ["hbss", "mg_k_aspartate"]
    clock.advance_s(4.5)  # the 150 µL of HBSS ahead are gone: the plug starts entering
    before = bath_mg(world)
    clock.advance_s(3.0)  # the whole 100-µL plug enters over 3 s
    assert before == pytest.approx(0.9, abs=1e-12)
    assert bath_mg(world) == pytest.approx(10.9 + (0.9 - 10.9) * math.exp(-3.0 / 15.0))
    clock.advance_s(1.0)  # HBSS again: the bath relaxes back towards 0.9 mM
    assert bath_mg(world) < 10.9 + (0.9 - 10.9) * math.exp(-3.0 / 15.0)


def test_an_empty_reservoir_stops_the_inflow():
    world, clock = make_world(
        dead_volume_uL=0.0, mixing_factor=1.0, reservoirs_mL={"mg_k_aspartate": 0.5}
    )
    world.chamber.select("mg_k_aspartate")
    empty_at = 0.5 / (2.0 / 60.0)  # 15 s at 2 mL/min
    clock.advance_s(empty_at + 60.0)
    at_empty = 10.9 + (0.9 - 10.9) * math.exp(-1.0)  # one tau (15 s) of exchange
    assert world.chamber.reservoir_mL("mg_k_aspartate") == 0.0
    assert not world.chamber.flowing
    assert bath_mg(world) == pytest.approx(at_empty, rel=1e-9)  # frozen since it ran dry
    assert any("ran empty" in message for _, message in world.chamber.events)
    world.chamber.refill("mg_k_aspartate", 10.0)
    assert world.chamber.flowing
    clock.advance_s(15.0)
    assert bath_mg(world) == pytest.approx(10.9 + (at_empty - 10.9) * math.exp(-1.0), rel=1e-9)
    assert world.chamber.reservoir_mL("mg_k_aspartate") == pytest.approx(9.5)


def test_hand_exchange_and_flow_changes():
    world, clock = make_world()
    world.chamber.exchange_bath("trpm7_external")
    assert bath_mg(world) == 2.0
    world.chamber.set_flow_mL_per_min(0.0)
    assert world.chamber.tau_s == math.inf
    clock.advance_s(600)
    assert bath_mg(world) == 2.0
    with pytest.raises(ValueError, match="solution must be one of"):
        world.chamber.select("seawater")


def test_heater_and_flow_set_the_bath_temperature():
    world, clock = make_world(heater_setpoint_C=37.0, flow_mL_per_min=0.0)
    assert world.chamber.temperature_C == 37.0
    world.chamber.set_flow_mL_per_min(2.0)  # room-temperature inflow pulls the bath down
    clock.advance_s(600)
    heat, cool = 1 / 30.0, 0.05 * (2.0 / 60.0) / 0.5
    assert world.chamber.temperature_C == pytest.approx((heat * 37 + cool * 22) / (heat + cool))
    world.chamber.set_heater_C(None)
    clock.advance_s(1200)
    assert world.chamber.temperature_C == pytest.approx(22.0, abs=0.01)


def test_bad_chamber_fields_are_refused():
    with pytest.raises(ValueError, match="bath_volume_mL"):
        ChamberConfig(bath_volume_mL=0)
    with pytest.raises(ValueError, match="initial_solution must be one of"):
        make_world(initial_solution="nope")

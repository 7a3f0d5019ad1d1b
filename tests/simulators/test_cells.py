"""Cells: rest, Mg-K-aspartate, dye loading/leak/probenecid, ionophore calibration limits.

Sources: docs/reference/physiology.md §3.2 (calibration solutions), §4 (loading, leak, probenecid),
§9-§11 (pump, EAAT, Mg homeostasis).
"""

import dataclasses
import math
import time

import pytest

from ionrig.simulators import (
    DEFAULT_SOLUTIONS,
    CameraSensor,
    Cell,
    CellModelConfig,
    ChamberConfig,
    DyeHandlingConfig,
    SteppedClock,
    Trpm7Config,
    World,
)


def make_world(cells=None, **kwargs):
    clock = SteppedClock()
    cells = cells or [Cell(20, 16, 6)]
    world = World(
        cells=cells, sensor=CameraSensor(width_px=64, height_px=48), clock=clock, seed=0, **kwargs
    )
    return world, clock


def test_cells_at_rest_stay_at_rest_through_a_cheap_night():
    cells = [Cell(10 + 12 * i, 16, 5, mg_free_mM=mg) for i, mg in enumerate((0.5, 0.8, 1.1))]
    world, clock = make_world(cells, chamber=ChamberConfig(reservoir_mL=2000.0))
    start = time.perf_counter()
    clock.advance_s(12 * 3600)
    world.sync()
    assert time.perf_counter() - start < 1.0  # a 12-hour night costs well under a second
    for cell, mg in zip(world.cells, (0.5, 0.8, 1.1), strict=True):
        assert cell.mg_free_mM == pytest.approx(mg, rel=2e-3)  # only the leaking dye's share
        assert cell.k_mM == pytest.approx(140.0, rel=1e-4)
        assert cell.na_mM == pytest.approx(12.0, rel=1e-4)
        assert cell.mg_total_mM == pytest.approx(18.5, rel=2e-3)
        # dye leak at RT: 20 %/h at 37 °C divided by 4 (§4), first order
        k = -math.log(0.8) / 3600 / 4
        assert cell.dye_uM == pytest.approx(50 * math.exp(-k * 12 * 3600), rel=1e-4)


def test_mg_k_aspartate_raises_mg_and_k_within_minutes_and_washes_out():
    world, clock = make_world()
    cell = world.cells[0]
    world.chamber.select("mg_k_aspartate")
    clock.advance_s(20 * 60)
    mg_20, k_20 = cell.mg_free_mM, cell.k_mM
    assert mg_20 > 0.8 + 0.3  # free Mg²⁺ up by > 0.3 mM in 20 min (TRPM7 influx, §11)
    assert k_20 > 140 + 10  # K⁺ up by > 10 mM (pump + EAAT + less K⁺ efflux, §9-§10)
    world.chamber.select("hbss")
    clock.advance_s(120 * 60)
    assert 0.8 < cell.mg_free_mM < mg_20 - 0.2 and 140 < cell.k_mM < k_20 - 8


def test_mg_rise_needs_trpm7_and_k_rise_is_helped_by_eaat():
    def after(minutes, **kwargs):
        world, clock = make_world(**kwargs)
        world.chamber.select("mg_k_aspartate")
        clock.advance_s(minutes * 60)
        return world.cells[0].mg_free_mM, world.cells[0].k_mM

    mg, k = after(20)
    mg_no_trpm7, _ = after(20, trpm7=Trpm7Config(density_pA_per_pF=0.0))
    _, k_no_eaat = after(20, cell_model=CellModelConfig(eaat_pA_per_pF=0.0))
    assert mg_no_trpm7 == pytest.approx(0.8, abs=0.02)
    assert mg > mg_no_trpm7 + 0.3
    assert k_no_eaat < k - 1.0


def dye_after(hours, solution, temperature_C):
    world, clock = make_world(
        chamber=ChamberConfig(
            initial_solution=solution, heater_setpoint_C=temperature_C, flow_mL_per_min=0.0
        )
    )
    clock.advance_s(hours * 3600)
    return world.cells[0].dye_uM


def test_probenecid_slows_dye_loss():
    k37 = -math.log(1 - 0.20) / 3600  # §4: 20 %/h at 37 °C
    assert dye_after(1, "hbss", 37.0) == pytest.approx(50 * math.exp(-k37 * 3600), rel=1e-4)
    with_probenecid = dye_after(1, "hbss_probenecid", 37.0)
    assert with_probenecid == pytest.approx(50 * math.exp(-k37 * 0.2 * 3600), rel=1e-4)
    assert dye_after(1, "hbss", 22.0) == pytest.approx(50 * math.exp(-k37 / 4 * 3600), rel=1e-4)


def load(temperature_C, minutes=45):
    world, clock = make_world(
        cells=[Cell(20, 16, 6, dye_uM=0.0)],
        chamber=ChamberConfig(
            initial_solution="loading", heater_setpoint_C=temperature_C, flow_mL_per_min=0.0
        ),
    )
    clock.advance_s(minutes * 60)
    cell = world.cells[0]
    return cell.dye_uM, cell.dye_am_uM, world, clock


def test_loading_at_37_C_is_faster_than_at_22_C_and_de_esterifies_after_washing():
    acid_22, am_22, world, clock = load(22.0)
    acid_37, _, _, _ = load(37.0)
    assert acid_37 > 2 * acid_22
    # §4 default: 4 µM AM for 45 min at RT gives ~50 µM inside (acid + ester)
    assert acid_22 + am_22 == pytest.approx(50.0, rel=0.05)
    world.chamber.exchange_bath("hbss")
    clock.advance_s(30 * 60)  # §4: de-esterification 15-30 min
    cell = world.cells[0]
    assert cell.dye_am_uM < 0.02 * cell.dye_uM
    assert cell.dye_uM == pytest.approx(acid_22 + am_22, rel=0.04)  # minus 30 min of leak


def test_ionophore_clamps_mg_to_the_bath_giving_the_calibration_limits():
    world, clock = make_world()
    dye, cell = world.dye, world.cells[0]
    world.chamber.select("calibration_rmin")  # Mg-free + EDTA, Ca-free (EGTA) + ionophore
    clock.advance_s(30 * 60)
    assert cell.mg_free_mM < 0.02 and cell.ca_free_uM < 0.01
    assert float(dye.ratio(cell.mg_free_mM, cell.ca_free_uM)) == pytest.approx(dye.r_min, rel=0.02)
    world.chamber.select("calibration_rmax")  # 100 mM Mg, Ca-free + EGTA + ionophore
    clock.advance_s(30 * 60)
    bath_free = world.environment().mg_o
    assert cell.mg_free_mM == pytest.approx(bath_free, rel=1e-3)
    keff = dye.kd_mM * dye.beta  # even 100 mM Mg leaves the ratio below Rmax (§1.1 closed form)
    expected = (dye.r_min * keff + dye.r_max * bath_free) / (keff + bath_free)
    assert float(dye.ratio(cell.mg_free_mM, cell.ca_free_uM)) == pytest.approx(expected, rel=1e-3)


def test_calcium_in_the_calibration_bath_contaminates_rmin():
    """§3.2: without EGTA the ionophore lets Ca²⁺ in and Rmin reads far too high."""
    hbss = DEFAULT_SOLUTIONS["hbss"]
    no_mg = {k: v for k, v in hbss.components.items() if not k.startswith("Mg")}
    hbss_ionophore = dataclasses.replace(
        hbss, components=no_mg, ionophore_uM=10.0, description="Ca, no Mg"
    )
    assert hbss_ionophore.mg_free_mM == 0.0 and hbss_ionophore.ca_free_uM > 1000
    world, clock = make_world(solutions={"ca_rmin": hbss_ionophore})
    world.chamber.select("ca_rmin")
    clock.advance_s(30 * 60)
    cell = world.cells[0]
    assert cell.ca_free_uM > 100
    assert float(world.dye.ratio(cell.mg_free_mM, cell.ca_free_uM)) > 2 * world.dye.r_min


def test_cell_overrides_truth_and_setting_state():
    world, _ = make_world(cells=[Cell(20, 16, 6, volume_pL=1.0, cm_pF=12.0, k_mM=130.0)])
    cell = world.cells[0]
    truth = cell.truth()
    assert (truth["volume_pL"], truth["cm_pF"], truth["k_mM"]) == (1.0, 12.0, 130.0)
    assert truth["rm_MOhm"] == 1000.0 and truth["v_mV"] == -30.0 and truth["ra_MOhm"] is None
    cell.mg_free_mM = 1.5
    assert cell.mg_free_mM == pytest.approx(1.5)
    assert world.truth()["cells"][0]["mg_free_mM"] == pytest.approx(1.5)
    with pytest.raises(ValueError, match="radius_px"):
        Cell(1, 1, 0)
    with pytest.raises(ValueError, match="eaat_pA_per_pF"):
        CellModelConfig(eaat_pA_per_pF=-1)
    with pytest.raises(ValueError, match="probenecid_block"):
        DyeHandlingConfig(probenecid_block=1.0)


def test_a_hypotonic_bath_swells_cells_and_dilutes_their_mg():
    """Boyle–van 't Hoff: in a bath of osmolality Π the volume goes to V0·(b + (1 − b)·Π0/Π);
    every cytosolic concentration dilutes with it, so [Mg²⁺]ᵢ falls although no Mg²⁺ moved.
    An isosmotic change of composition moves neither."""
    hbss = DEFAULT_SOLUTIONS["hbss"]
    hypotonic = dataclasses.replace(
        hbss, components={**hbss.components, "NaCl": hbss.components["NaCl"] - 30.0}
    )
    isosmotic = dataclasses.replace(
        hbss, components={**hbss.components, "NaCl": hbss.components["NaCl"] - 30.0,
                          "mannitol": 55.0}
    )  # fmt: skip
    ratio = hbss.osmolarity_mOsm / hypotonic.osmolarity_mOsm
    assert 1.15 < ratio < 1.30  # ~55 mOsm/kg less
    world, clock = make_world(
        solutions={"hypotonic": hypotonic, "isosmotic": isosmotic},
        chamber=ChamberConfig(reservoir_mL=2000.0),
    )
    cell = world.cells[0]
    mg0, volume0 = cell.mg_free_mM, cell.volume_pL
    world.chamber.select("isosmotic")
    clock.advance_s(900)
    assert abs(isosmotic.osmolarity_mOsm - hbss.osmolarity_mOsm) < 3.0
    assert cell.volume_pL == pytest.approx(volume0, rel=0.01)
    world.chamber.select("hypotonic")
    clock.advance_s(240)  # the bath exchanged and the cell swelled (τ 30 s)
    # buffered Mg²⁺ dilutes with the cytosol although no Mg²⁺ moved; the cell's Mg²⁺
    # homeostasis then slowly pulls it back (no regulatory volume decrease is modelled)
    assert cell.mg_free_mM < 0.93 * mg0
    clock.advance_s(600)
    b = world.population.model.osmotic_inactive_fraction
    expected = b + (1 - b) * ratio
    assert cell.volume_pL / volume0 == pytest.approx(expected, rel=0.01)
    world.chamber.select("hbss")
    clock.advance_s(900)
    assert cell.volume_pL == pytest.approx(volume0, rel=0.01)

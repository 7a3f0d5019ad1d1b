"""Pipette, seal, whole cell, dialysis, TRPM7 and the amplifier chain.

Closed forms: docs/reference/physiology.md §1.3 (membrane test, ramp capacitance), §1.4 (Oliva
wash-in tau, Hill, 4-pole Bessel rise 0.350/fc), §7.2 (whole-cell noise 1.84 pA rms at 2.9 kHz,
16-bit ±10 V quantisation), §8.3 (configured IC50 and Hill), §8.5 (wash-out table).
"""

import dataclasses
import math

import numpy as np
import pytest

from ionrig.analysis import (
    fit_hill,
    fit_run_up,
    membrane_capacitance_from_ramp,
    membrane_test,
)
from ionrig.simulators import (
    DEFAULT_SOLUTIONS,
    AmplifierConfig,
    CameraSensor,
    Cell,
    CellModelConfig,
    PatchConfig,
    PatchError,
    SteppedClock,
    Trpm7Config,
    World,
    amounts_of,
    ionic_equivalents,
)

#: Deterministic seals and no random events unless a test asks for them.
STEADY = {
    "ra_drift_per_hour": 0.0,
    "seal_loss_per_hour": 0.0,
    "seal_success_probability": 1.0,
    "break_in_probability": 1.0,
    "seal_tau_s_range": (10.0, 10.0),
    "seal_GOhm_range": (10.0, 10.0),
}
RAMP = np.concatenate([np.zeros(100), np.linspace(-100.0, 100.0, 500), np.zeros(100)])  # §8.1
RAMP_V = RAMP[100:600]


def make_world(cells=None, seed=0, patch=None, **kwargs):
    clock = SteppedClock()
    world = World(
        cells=cells or [Cell(20, 16, 6)],
        sensor=CameraSensor(width_px=64, height_px=48),
        clock=clock,
        seed=seed,
        patch=PatchConfig(**{**STEADY, **(patch or {})}),
        **kwargs,
    )
    return world, clock


def whole_cell(world, clock, pipette=None):
    patch = world.patch
    if pipette is not None:
        patch.set_pipette_solution(pipette)
    patch.apply_pressure_kPa(5.0)  # positive pressure on approach (§7.1)
    patch.approach(0)
    patch.apply_pressure_kPa(-3.0)
    clock.advance_s(60.0)
    patch.apply_pressure_kPa(0.0)
    assert patch.break_in()
    return patch


def pipette_with_free_mg(free_mM):
    """The §8.1 internal solution with the MgCl2 that gives ``free_mM`` free Mg²⁺ (solved by the
    chemistry: BAPTA and glutamate bind)."""
    base = DEFAULT_SOLUTIONS["trpm7_internal"]
    return dataclasses.replace(base, target_mg_free_mM=float(free_mM))


def current_at_membrane_mV(patch, sweeps_pA, v_mV=80.0):
    """Current at a true membrane potential on the ramp, corrected for the Ra drop (§7.2)."""
    current = np.mean(sweeps_pA, axis=0)[100:600]
    vm = RAMP_V - current * patch.ra_MOhm * 1e-3  # pA × MΩ = µV
    near = np.abs(vm - v_mV) < 5.0
    slope, intercept = np.polyfit(vm[near], current[near], 1)
    return slope * v_mV + intercept


# -- pipette and seal ------------------------------------------------------------------------


def test_pipette_resistance_from_tip_and_solution():
    world, _ = make_world()
    patch = world.patch
    assert patch.pipette_resistance_MOhm == pytest.approx(5.0, rel=1e-3)  # §7.1 default
    full = DEFAULT_SOLUTIONS["trpm7_internal"]
    half = dataclasses.replace(full, components={k: v / 2 for k, v in full.components.items()})
    patch.set_pipette_solution(half)
    # rho scales with 1/(charge-weighted small ions): half the recipe, about twice the rho
    ratio = ionic_equivalents(amounts_of(full)) / ionic_equivalents(amounts_of(half))
    assert ratio == pytest.approx(2.0, rel=0.02)
    assert patch.pipette_resistance_MOhm == pytest.approx(5.0 * ratio, rel=1e-3)
    wide, _ = make_world(patch={"tip_diameter_um": 5.0 / 3.0})
    assert wide.patch.pipette_resistance_MOhm == pytest.approx(3.0, rel=1e-3)  # TRPM7 pipettes


def test_bath_sweep_reads_the_pipette_resistance():
    world, _ = make_world(amplifier=AmplifierConfig(line_pA=0.0))
    step = np.concatenate([np.zeros(500), np.full(1000, 5.0)])
    current = world.patch.record_sweep(step, 50_000, filter_kHz=10, gain_mV_per_pA=1.0)
    delta = current[900:].mean() - current[:400].mean()
    assert 5.0 / delta * 1000 == pytest.approx(world.patch.pipette_resistance_MOhm, rel=0.01)


def test_seal_grows_under_suction_towards_a_gigaseal_but_not_with_positive_pressure():
    world, clock = make_world()
    patch = world.patch
    rp_GOhm = patch.pipette_resistance_MOhm / 1000
    patch.apply_pressure_kPa(5.0)
    patch.approach(0)
    clock.advance_s(60.0)
    start = 0.3 * rp_GOhm  # contact adds 30 % of Rp (estimate)
    assert patch.seal_resistance_GOhm == pytest.approx(start) and patch.state == "sealing"
    patch.apply_pressure_kPa(-3.0)  # reference suction: tau 10 s in log-resistance
    clock.advance_s(20.0)
    expected = math.exp(math.log(10.0) + (math.log(start) - math.log(10.0)) * math.exp(-2.0))
    assert patch.seal_resistance_GOhm == pytest.approx(expected, rel=1e-9)
    assert patch.state == "cell_attached"
    with pytest.raises(PatchError, match="withdraw"):
        patch.approach(0)


def test_failed_seals_refuse_break_in_and_success_is_seeded():
    world, clock = make_world(patch={"seal_success_probability": 0.0})
    world.patch.approach(0)
    world.patch.apply_pressure_kPa(-5.0)
    clock.advance_s(300.0)
    assert world.patch.seal_resistance_GOhm < 1.0 and world.patch.state == "sealing"
    with pytest.raises(PatchError, match="gigaseal"):
        world.patch.break_in()

    def outcomes(seed):
        world, clock = make_world(seed=seed, patch={"seal_success_probability": 0.8})
        results = []
        for _ in range(200):
            world.patch.approach(0)
            world.patch.apply_pressure_kPa(-3.0)
            clock.advance_s(200.0)
            results.append(world.patch.state == "cell_attached")
            world.patch.withdraw()
        return results

    first = outcomes(7)
    assert first == outcomes(7)
    assert np.mean(first) == pytest.approx(0.8, abs=0.08)


def test_break_in_gives_whole_cell_ra_cm_rm_as_ground_truth():
    world, clock = make_world()
    patch = whole_cell(world, clock)
    cell = world.cells[0]
    assert patch.state == "whole_cell"
    assert patch.ra_MOhm == pytest.approx(2.0 * patch.pipette_resistance_MOhm)  # §7.1
    assert cell.ra_MOhm == patch.ra_MOhm
    assert (cell.cm_pF, cell.rm_MOhm, cell.v_mV) == (20.0, 1000.0, 0.0)  # held at 0 mV (§8.1)
    truth = world.truth()["patch"]
    assert truth["state"] == "whole_cell" and truth["seal_resistance_GOhm"] > 1.0
    patch.withdraw()
    assert cell.ra_MOhm is None and cell.v_mV == -30.0


# -- dialysis and TRPM7 ----------------------------------------------------------------------


def test_pipette_dialysis_follows_the_oliva_time_constants():
    """§8.5 table: Rp 10 MΩ, 2 pL: Mg 35.7 s, ATP/dye 83.3 s (here Ra ≈ 10 MΩ)."""
    # a cell without Mg²⁺ buffers or turnover, and a pipette without chelators: pure wash-out
    world, clock = make_world(
        cells=[Cell(20, 16, 6, dye_uM=0.0, mg_free_mM=0.8)],
        cell_model=CellModelConfig(atp_mM=0.0, slow_pool_capacity_mM=0.0),
        trpm7=Trpm7Config(density_pA_per_pF=0.0),
    )
    internal = DEFAULT_SOLUTIONS["trpm7_internal"]
    no_bapta = {k: v for k, v in internal.components.items() if "BAPTA" not in k}
    pipette = dataclasses.replace(internal, components=no_bapta)
    patch = whole_cell(world, clock, pipette)
    ra = patch.ra_MOhm
    # Oliva: tau = (Ra/rho)·V/D; Ra/rho is the tip's geometry, whatever the filling conducts
    tau_mg = (ra * 1e6 / patch.resistivity_ohm_m) * 2e-15 / 0.7e-9
    assert tau_mg == pytest.approx(35.7, rel=0.01)
    t0, cell = clock.now_s(), world.cells[0]
    for t in (10.0, 40.0, 100.0):
        clock.advance_s(t0 + t - clock.now_s())
        assert cell.mg_free_mM == pytest.approx(0.8 * math.exp(-t / tau_mg), rel=1e-3)
    # dye (salt) in the pipette washes in with D = 0.3e-9 m²/s
    world, clock = make_world(cells=[Cell(20, 16, 6, dye_uM=0.0)])
    pipette = dataclasses.replace(DEFAULT_SOLUTIONS["trpm7_internal"], dye_uM=100.0)
    patch = whole_cell(world, clock, pipette)
    tau_dye = (patch.ra_MOhm * 1e6 / 0.8) * 2e-15 / 0.3e-9
    assert tau_dye == pytest.approx(83.3, rel=0.01)
    t0, cell = clock.now_s(), world.cells[0]
    for t in (10.0, 40.0, 100.0, 300.0):
        clock.advance_s(t0 + t - clock.now_s())
        assert cell.dye_uM == pytest.approx(100 * -math.expm1(-t / tau_dye), rel=2e-3)


def run_up(seed=1, **patch):
    world, clock = make_world(seed=seed, patch=patch)
    patch_ = whole_cell(world, clock)
    t0, times, outward = clock.now_s(), [], []
    for _ in range(90):  # 50-ms ramps at 0.1 Hz for 900 s
        sweep = patch_.record_sweep(RAMP, 10_000, filter_kHz=2.9)
        times.append(clock.now_s() - t0)
        outward.append(current_at_membrane_mV(patch_, [sweep]))
        clock.advance_s(10.0 - RAMP.size / 10_000)
    return fit_run_up(np.array(times), np.array(outward)), world


def test_trpm7_runs_up_over_minutes_after_break_in_into_a_mg_free_pipette():
    """§8.2: run-up over 100-300 s, tau ≈ 60-150 s, faster with low Ra."""
    trpm7_pipette, world = run_up(tip_diameter_um=5.0 / 3.0, ra_factor=7.0 / 3.0)  # Rp 3, Ra 7
    default, _ = run_up()  # Rp 5, Ra 10 MΩ
    assert 60 <= trpm7_pipette.tau_s <= 150
    assert default.tau_s > 1.1 * trpm7_pipette.tau_s
    cell = world.cells[0]
    assert cell.mg_free_mM < 0.01 and cell.trpm7_activity > 0.98
    # the developed current: 5 pA/pF × 20 pF at +80 mV when fully disinhibited (§8.2)
    assert trpm7_pipette.amplitude_pA == pytest.approx(100 * (1 - 1 / (1 + 0.8 / 0.72)), rel=0.25)


def steady_outward_pA(free_mM, seed=0):
    world, clock = make_world(seed=seed)
    patch = whole_cell(world, clock, pipette_with_free_mg(free_mM))
    clock.advance_s(1200.0)
    sweeps = [patch.record_sweep(RAMP, 10_000, filter_kHz=2.9) for _ in range(8)]
    return current_at_membrane_mV(patch, sweeps), world.cells[0].mg_free_mM


def test_steady_trpm7_current_vs_pipette_mg_follows_the_configured_ic50_and_hill():
    pipette_mM = np.array([0.0, 0.03, 0.1, 0.3, 0.72, 1.5, 3.0, 6.0, 12.0])
    results = [steady_outward_pA(x) for x in pipette_mM]
    current = np.array([r[0] for r in results])
    fit = fit_hill(pipette_mM, current)
    assert fit.ic50 == pytest.approx(0.72, rel=0.05)  # §8.3 default, as configured
    assert fit.hill == pytest.approx(1.0, rel=0.05)
    # and against the cell's own free Mg²⁺ (ground truth) it is tighter still
    cell = fit_hill(np.array([r[1] for r in results]), current)
    assert cell.ic50 == pytest.approx(0.72, rel=0.02) and cell.hill == pytest.approx(1.0, rel=0.02)


def test_a_configured_ic50_is_the_one_recovered():
    def outward(free_mM):
        world, clock = make_world(trpm7=Trpm7Config(ic50_mM=0.3, hill=2.0))
        patch = whole_cell(world, clock, pipette_with_free_mg(free_mM))
        clock.advance_s(1200.0)
        sweeps = [patch.record_sweep(RAMP, 10_000, filter_kHz=2.9) for _ in range(4)]
        return current_at_membrane_mV(patch, sweeps)

    x = np.array([0.0, 0.05, 0.1, 0.2, 0.3, 0.45, 0.7, 1.5, 4.0])
    fit = fit_hill(x, np.array([outward(v) for v in x]))
    assert fit.ic50 == pytest.approx(0.3, rel=0.05) and fit.hill == pytest.approx(2.0, rel=0.1)


def test_trpm7_iv_reverses_near_zero_and_rectifies_outwardly():
    """§8.2: Erev ~0 mV, I(+80)/|I(-80)| 10-30; overexpressing cells (100 pA/pF) for signal."""
    ivs = {}
    grid = np.linspace(-85.0, 85.0, 341)
    for free in (0.0, 20.0):
        world, clock = make_world(
            trpm7=Trpm7Config(density_pA_per_pF=100.0),
            amplifier=AmplifierConfig(rs_compensation=0.8),  # §7.2: compensate 70-80 %
        )
        patch = whole_cell(world, clock, pipette_with_free_mg(free))
        clock.advance_s(1200.0)
        sweeps = [patch.record_sweep(RAMP, 10_000, 2.9, gain_mV_per_pA=1.0) for _ in range(8)]
        # 1 mV/pA: ±10 nA before the ADC clips; skip the step transient at the ramp's start
        mean = np.mean(sweeps, axis=0)[120:600]
        vm = RAMP_V[20:] - mean * 0.2 * patch.ra_MOhm * 1e-3  # the uncompensated 20 % of Ra
        order = np.argsort(vm)
        ivs[free] = np.interp(grid, vm[order], mean[order])
    active = ivs[0.0] - ivs[20.0]  # the Mg²⁺-sensitive (TRPM7) current
    crossing = grid[np.flatnonzero(np.diff(np.sign(active)) > 0)]
    assert crossing.size == 1 and abs(crossing[0]) < 3.0
    i80, im80 = np.interp(80.0, grid, active), np.interp(-80.0, grid, active)
    assert im80 < 0 < i80
    assert i80 / abs(im80) == pytest.approx(20.0, rel=0.15)  # configured, within §8.2's 10-30


# -- amplifier chain ---------------------------------------------------------------------------


def test_ramp_carries_the_capacitive_artefact_and_gives_cm():
    world, clock = make_world()
    patch = whole_cell(world, clock)
    up = np.linspace(-100.0, 100.0, 500)
    triangle = np.concatenate([np.full(100, -100.0), up, up[::-1], np.full(100, -100.0)])
    sweeps = [patch.record_sweep(triangle, 10_000, filter_kHz=2.9) for _ in range(4)]
    t = np.arange(triangle.size) / 10_000
    cm = membrane_capacitance_from_ramp(t, sweeps, triangle, filter_kHz=2.9, ra_MOhm=patch.ra_MOhm)
    assert cm.cm_pF == pytest.approx(20.0, rel=0.05)
    # §8.1: 4 V/s on an uncompensated 20 pF cell carries 80 pA (up minus down = 2 × 80 pA)
    mean = np.mean(sweeps, axis=0)
    at0_up, at0_down = mean[100 + 250], mean[600 + 250]
    assert (at0_up - at0_down) / 2 == pytest.approx(80.0, rel=0.05)
    compensated, clock2 = make_world(amplifier=AmplifierConfig(cm_compensation=1.0))
    patch2 = whole_cell(compensated, clock2)
    mean2 = np.mean([patch2.record_sweep(triangle, 10_000, 2.9) for _ in range(4)], axis=0)
    assert abs(mean2[350] - mean2[850]) / 2 < 4.0


def test_membrane_test_recovers_ra_cm_and_input_resistance():
    world, clock = make_world(amplifier=AmplifierConfig(line_pA=0.0))
    patch = whole_cell(world, clock)
    step = np.concatenate([np.zeros(1000), np.full(2500, -10.0), np.zeros(1500)])
    t = np.arange(step.size) / 50_000
    sweeps = [
        patch.record_sweep(step, 50_000, filter_kHz=10.0, gain_mV_per_pA=1.0) for _ in range(10)
    ]
    result = membrane_test(t, sweeps, step, filter_kHz=10.0)
    assert result.ra_MOhm == pytest.approx(patch.ra_MOhm, rel=0.1)
    assert result.cm_pF == pytest.approx(20.0, rel=0.05)
    # Rm measured is the input resistance: Rm ∥ seal ∥ the TRPM7 and pump slope conductances
    assert 500 < result.rm_MOhm < 1000


@pytest.mark.parametrize(("filter_kHz", "rms_pA"), [(2.9, 1.84), (1.0, 0.79)])
def test_whole_cell_noise_matches_the_reference_figures(filter_kHz, rms_pA):
    """§7.2: Ra 10 MΩ, Cm 20 pF, Rm 1 GΩ, Cp 4 pF, e_n 3 nV/√Hz: 1.84 / 0.79 pA rms."""
    world, clock = make_world(
        patch={"pipette_capacitance_pF": 4.0, "seal_GOhm_range": (1e6, 1e6)},
        amplifier=AmplifierConfig(line_pA=0.0),
        trpm7=Trpm7Config(density_pA_per_pF=0.0),
        cell_model=CellModelConfig(pump_pA_per_pF=0.0, eaat_pA_per_pF=0.0),
    )
    world.patch.approach(0)
    world.patch.apply_pressure_kPa(-3.0)
    clock.advance_s(200.0)  # the seal is now ~1e6 GΩ: out of the noise budget
    world.patch.apply_pressure_kPa(0.0)
    world.patch.break_in()
    assert world.patch.ra_MOhm == pytest.approx(10.0, rel=0.001)
    current = world.patch.record_sweep(np.zeros(50_000), 20_000, filter_kHz, gain_mV_per_pA=50.0)
    assert np.std(current[2000:]) == pytest.approx(rms_pA, rel=0.08)


def test_bessel_rise_time_and_quantisation():
    world, _ = make_world(amplifier=AmplifierConfig(line_pA=0.0))
    step = np.concatenate([np.zeros(2000), np.full(2000, 10.0)])
    current = world.patch.record_sweep(step, 200_000, filter_kHz=2.0, gain_mV_per_pA=1.0)
    final = current[3500:].mean()
    t = np.arange(step.size) / 200_000
    t10 = np.interp(0.1 * final, current[2000:2400], t[2000:2400])
    t90 = np.interp(0.9 * final, current[2000:2400], t[2000:2400])
    assert t90 - t10 == pytest.approx(0.350 / 2000.0, rel=0.05)  # §1.4: 4-pole Bessel
    lsb = 20.0 / 2**16 / (10.0 * 1e-3)  # 20 V / 65536 at 10 mV/pA = 0.0305 pA (§7.2)
    quantised = world.patch.record_sweep(np.zeros(2000), 10_000, filter_kHz=1.0, gain_mV_per_pA=10)
    steps = quantised / lsb
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-6)
    assert lsb == pytest.approx(0.0305, rel=0.01)


def test_same_seed_same_sweeps_other_seed_other_noise_and_the_clock_advances():
    def sweep(seed):
        world, clock = make_world(seed=seed)
        patch = whole_cell(world, clock)
        before = clock.now_s()
        out = patch.record_sweep(RAMP, 10_000, 2.9)
        assert clock.now_s() - before == pytest.approx(RAMP.size / 10_000)
        return out

    np.testing.assert_array_equal(sweep(3), sweep(3))
    assert not np.array_equal(sweep(3), sweep(4))


def test_a_scheduled_seal_loss_happens_at_its_time_and_needs_whole_cell():
    world, clock = make_world()  # no random seal loss (seal_loss_per_hour 0)
    patch = world.patch
    with pytest.raises(PatchError, match="whole cell"):
        patch.schedule_seal_loss(10.0)  # the pipette is in the bath
    whole_cell(world, clock)
    loss_s = clock.now_s() + 100.0
    with pytest.raises(ValueError, match="at_s"):
        patch.schedule_seal_loss(clock.now_s() - 1.0)
    patch.schedule_seal_loss(loss_s)
    clock.advance_s(99.0)
    truth = patch.truth()  # brought up to the clock's now
    assert not truth["seal_lost"] and truth["seal_resistance_GOhm"] > 5.0  # still a gigaseal
    clock.advance_s(2.0)
    truth = patch.truth()
    low, high = patch.config.lost_seal_GOhm_range
    assert truth["seal_lost"] and low <= truth["seal_resistance_GOhm"] <= high
    (lost_at_s,) = [t for t, m in patch.events if "seal lost" in m]
    assert lost_at_s == pytest.approx(loss_s)


def test_ra_drift_and_seal_loss_are_seeded_events():
    def night(seed):
        world, clock = make_world(
            seed=seed, patch={"ra_drift_per_hour": 6.0, "seal_loss_per_hour": 0.5}
        )
        patch = whole_cell(world, clock)
        ra0 = patch.ra_MOhm
        clock.advance_s(4 * 3600)
        return ra0, patch.ra_MOhm, patch.seal_lost, [m for _, m in patch.events]

    ra0, ra, lost, events = night(11)
    drifts = sum("Ra drifted" in m for m in events)
    assert 10 <= drifts <= 40  # Poisson, 24 expected in 4 h
    assert ra / ra0 == pytest.approx(1.15**drifts, rel=0.5)
    assert night(11) == (ra0, ra, lost, events)
    assert night(12) != (ra0, ra, lost, events)

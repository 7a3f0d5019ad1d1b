"""patch_cell, voltage protocols, live leak subtraction, the TRPM7 IC50 and imaging with ramps
on the simulated rig, against the world's ground truth."""

import dataclasses

import numpy as np
import pytest

from ionrig.analysis import fit_hill
from ionrig.devices.drivers import AxopatchMode
from ionrig.plans import (
    PATCH_STATES,
    OperatorUnavailable,
    PatchFailure,
    PlanParameterError,
    imaging_with_ramps,
    patch_cell,
    set_unattended,
    trpm7_ramps,
    voltage_ramp,
    voltage_steps,
)
from ionrig.session import start

QUIET = {"ra_drift_per_hour": 0.0, "seal_loss_per_hour": 0.0, "break_in_probability": 1.0}


def _session(catalog, *, seal_success_probability=1.0, time_scale=200, **world):
    patch = {**QUIET, "seal_success_probability": seal_success_probability}
    return start("sim", catalog=catalog, time_scale=time_scale, world={"patch": patch, **world})


@pytest.fixture
def whole_cell(catalog):
    """A session with cell 1 in whole cell (Mg-free pipette) through patch_cell."""
    session = _session(catalog)
    session.RE(patch_cell(session.rig, cell_index=1, pipette_solution="trpm7_internal"))
    return session


def test_patch_cell_reaches_whole_cell_and_logs_every_state(catalog, docs):
    session = _session(catalog)
    session.RE.subscribe(docs)
    result = session.RE(patch_cell(session.rig, cell_index=2, pipette_solution="trpm7_internal"))
    assert result.exit_status == "success"
    patched = result.plan_result
    world = session.rig.world
    assert world.patch.state == "whole_cell" and world.patch.cell_index == 2
    assert patched.attempts == 1 and patched.seal_GOhm >= 1.0
    assert patched.membrane.ra_MOhm == pytest.approx(world.patch.ra_MOhm, rel=0.2)
    assert 2.0 <= patched.pipette_MOhm <= 10.0
    starts = docs.of("start")
    plans = [d["plan_name"] for d in starts]
    assert plans == ["pipette_resistance", "form_seal", "break_in", "membrane_test", "patch_cell"]
    summary = starts[-1]
    assert all(d["patch_cell_id"] == summary["patch_cell_id"] for d in starts)
    assert summary["run_uids"] == [d["uid"] for d in starts[:-1]]
    assert summary["criteria"]["max_ra_MOhm"] == 25.0 and summary["outcome"].startswith("whole")
    assert starts[0]["pipette_solution"] == "trpm7_internal"
    assert starts[0]["pipette_solution_composition_mM"]["bapta_mM"] == 10.0
    states = session.catalog[summary["uid"]]["states"]["state"].read()
    assert [PATCH_STATES[int(s)] for s in states] == list(PATCH_STATES)
    assert world.patch.pressure_kPa == 0.0


def test_patch_cell_fails_cleanly_on_a_cell_that_will_not_seal(catalog, docs):
    session = _session(catalog, seal_success_probability=0.0)
    session.RE.subscribe(docs)
    with pytest.raises(PatchFailure, match=r"not patched after 2 attempts.*no seal"):
        session.RE(patch_cell(session.rig, cell_index=0, max_attempts=2, seal_timeout_s=20.0))
    summary = docs.of("start")[-1]
    assert summary["plan_name"] == "patch_cell" and len(summary["failures"]) == 2
    stops = docs.of("stop")
    assert stops[-1]["exit_status"] == "fail" and "not patched" in stops[-1]["reason"]
    assert [s["exit_status"] for s in stops].count("fail") == 3  # two seals + the summary
    world = session.rig.world
    assert world.patch.state == "bath"  # the last pipette was withdrawn
    assert world.patch.pressure_kPa == 0.0
    assert world.patch.holding_mV == pytest.approx(0.0)  # the amplifier's safe holding


def test_patch_cell_unattended_without_an_operator_fails_with_the_log(catalog, docs):
    session = _session(catalog)
    del session.rig.operator
    session.RE.subscribe(docs)
    set_unattended(True)
    try:
        with pytest.raises(OperatorUnavailable):
            session.RE(patch_cell(session.rig, cell_index=0, pipette_solution="trpm7_internal"))
    finally:
        set_unattended(False)
    assert docs.of("start") == [] or docs.of("stop")[-1]["exit_status"] == "fail"


def test_plans_switch_the_amplifier_to_voltage_clamp_or_refuse(catalog, docs):
    session = _session(catalog)
    panel = session.rig.instruments["amplifier_front_panel"]
    panel.mode = AxopatchMode.I_CLAMP_NORMAL
    session.RE(voltage_ramp(session.rig))  # the simulated operator turns the switch
    assert panel.mode == AxopatchMode.V_CLAMP
    operator_steps = [step for _, step, _ in session.rig.operator.log]
    assert "set_amplifier_mode" in operator_steps

    panel.mode = AxopatchMode.I_CLAMP_NORMAL
    del session.rig.operator
    session.RE.subscribe(docs)
    set_unattended(True)
    try:
        with pytest.raises(OperatorUnavailable, match="set_amplifier_mode"):
            session.RE(voltage_ramp(session.rig))
    finally:
        set_unattended(False)
    assert docs.documents == []  # refused before any run opened


def test_voltage_steps_p_over_n_removes_the_linear_leak(whole_cell, docs):
    session = whole_cell
    session.RE.subscribe(docs)
    levels = [-100, -80, -60, -40, -20, 0, 20, 40, 60, 80]
    raw = session.RE(voltage_steps(session.rig, steps_mV=levels, step_ms=40.0))
    subtracted = session.RE(
        voltage_steps(session.rig, steps_mV=levels, step_ms=40.0, leak_p_over_n=-0.25, n_leak=4)
    )
    raw_iv = session.catalog[raw.plan_result]["iv"].read()
    pn_iv = session.catalog[subtracted.plan_result]["iv"].read()
    steps = np.asarray(pn_iv["step_mV"])
    negative = steps <= -40
    raw_slope = np.polyfit(steps[negative], raw_iv["i_steady_pA"][negative], 1)[0]
    pn_slope = np.polyfit(steps[negative], pn_iv["i_steady_pA"][negative], 1)[0]
    truth = session.rig.world.patch.truth()
    # the raw slope is the membrane's and the seal's conductance (nS = pA/mV; TRPM7's small
    # inward current adds a little) ...
    linear_nS = 1000.0 / truth["rm_MOhm"] + 1.0 / truth["seal_resistance_GOhm"]
    assert raw_slope == pytest.approx(linear_nS, rel=0.2)
    # ... which P/-4 removes, leaving TRPM7's outward current at +80 mV (Mg-free pipette)
    assert abs(pn_slope) < 0.1 * raw_slope
    assert pn_iv["i_steady_pA"][-1] > 20.0
    run = session.catalog[subtracted.plan_result]
    assert run["primary"]["leak_pulse"].read().sum() == 4 * len(levels)
    assert run.metadata["start"]["plan_args"]["leak_p_over_n"] == -0.25


def test_voltage_ramp_reversal_shifts_with_the_capacitive_current(whole_cell):
    """Zero current where the membrane currents cancel the ramp's capacitive current Cm·dV/dt:
    a ramp 4× faster moves the reversal by Cm·Δ(dV/dt)/g (g: membrane + seal conductance)."""
    session = whole_cell
    reversal = {}
    for duration_ms in (200.0, 50.0):  # 1 V/s and 4 V/s over −100 → +100 mV
        result = session.RE(voltage_ramp(session.rig, n_sweeps=2, duration_ms=duration_ms))
        iv = session.catalog[result.plan_result]["iv"].read()
        assert len(iv["t_s"]) == 2
        assert np.all(np.asarray(iv["i_plus80_pA"]) > 0)
        reversal[duration_ms] = float(np.mean(iv["reversal_mV"]))
    truth = session.rig.world.patch.truth()
    g_nS = 1000.0 / truth["rm_MOhm"] + 1.0 / truth["seal_resistance_GOhm"]
    shift_mV = truth["cm_pF"] * (4.0 - 1.0) / g_nS  # pF·V/s = pA; pA/nS = mV
    assert reversal[200.0] - reversal[50.0] == pytest.approx(shift_mV, rel=0.15)
    assert reversal[200.0] < -30.0  # below the leak's reversal (the cell's resting potential)


def test_trpm7_ramps_live_leak_subtraction_and_run_up(catalog):
    # a slow clock: the ramps start seconds after break-in (§8.1), before Mg has washed out
    session = _session(catalog, time_scale=20)
    rig = session.rig
    session.RE(patch_cell(rig, cell_index=0, pipette_solution="trpm7_internal"))
    result = session.RE(trpm7_ramps(rig, duration_s=120.0, period_s=2.0, cm_pF=20.0))
    trpm7 = session.catalog[result.plan_result]["trpm7"].read()
    raw, subtracted = np.asarray(trpm7["raw_i_plus80_pA"]), np.asarray(trpm7["i_plus80_pA"])
    # removed: the linear leak (membrane and seal, from −30 mV) at +80 mV and the ramp's
    # capacitive current (Cm·dV/dt = 20 pF × 4 V/s = 80 pA, §8.1); TRPM7 is left
    truth = session.rig.world.patch.truth()
    g_nS = 1000.0 / truth["rm_MOhm"] + 1.0 / truth["seal_resistance_GOhm"]
    removed_pA = g_nS * (80.0 + 30.0) + truth["cm_pF"] * 4.0
    assert np.median(raw[-10:] - subtracted[-10:]) == pytest.approx(removed_pA, rel=0.2)
    assert 0 < np.median(subtracted) < 110.0
    early, late = np.mean(subtracted[:3]), np.mean(subtracted[-10:])
    print(f"TRPM7 at +80 mV: {early:.1f} → {late:.1f} pA")
    assert late > early + 5.0  # run-up as Mg washes out of the cell


@pytest.mark.slow
def test_ic50_from_pipette_mg_recovers_the_worlds_value(catalog):
    """One cell per pipette free Mg (0-10 mM): TRPM7 current density over the last minute of
    160 s of ramps (Mg dialysed), leak-subtracted live, fitted with a Hill equation."""
    session = _session(catalog, n_cells=6)
    rig, world = session.rig, session.rig.world
    internal = world.solution("trpm7_internal")
    free_mg, density = [], []
    for index, target_mM in enumerate([0.0, 0.13, 0.38, 0.96, 2.65, 10.2]):
        name = f"trpm7_internal_mg{index}"
        solution = dataclasses.replace(internal, target_mg_free_mM=target_mM)  # MgCl2 solved
        world.add_solution(name, solution)
        rig.solutions[name] = solution
        rig.solution_compositions[name] = {"mg_free_mM": solution.mg_free_mM, "bapta_mM": 10.0}
        session.RE(patch_cell(rig, cell_index=index, pipette_solution=name))
        result = session.RE(trpm7_ramps(rig, duration_s=160.0, period_s=2.0, cm_pF=20.0))
        trpm7 = session.catalog[result.plan_result]["trpm7"].read()
        free_mg.append(solution.mg_free_mM)
        density.append(float(np.mean(trpm7["i_plus80_pA_per_pF"][-30:])))
        rig.operator("withdraw_pipette", message="next cell")
    assert max(free_mg) > 9.0 and min(free_mg) == 0.0
    # leak-subtracted: the blocked current is 0 by definition (a free bottom would absorb the
    # small non-TRPM7 residual, ~-0.1 pA/pF, and pull the IC50 up by ~15 %)
    fit = fit_hill(free_mg, density, bottom=0.0)
    configured = world.truth()["trpm7"]["ic50_mM"]
    print(f"IC50 {fit.ic50:.3f} mM (configured {configured}), Hill {fit.hill:.2f}")
    assert fit.ic50 == pytest.approx(configured, rel=0.20)


def test_imaging_with_ramps_share_one_timeline(whole_cell, docs):
    session = whole_cell
    session.RE.subscribe(docs)
    result = session.RE(
        imaging_with_ramps(session.rig, duration_s=40.0, period_s=2.0, pair_every_s=10.0)
    )
    assert result.exit_status == "success"
    run = session.catalog[result.plan_result]
    assert set(run) == {"primary", "ratio", "ramps", "trpm7"}
    ramps_t = np.asarray(run["trpm7"]["t_s"].read())
    pairs_t = np.asarray(run["ratio"]["t_s"].read())
    assert len(ramps_t) == 20 and len(pairs_t) == 4
    # one timeline: pair j comes right after ramp 5j (its tick) and before the next ramp
    for j, t in enumerate(pairs_t):
        assert ramps_t[5 * j] < t < ramps_t[5 * j + 1]
    start_doc = run.metadata["start"]
    assert start_doc["pipette_solution"] == "trpm7_internal" and "rois" in start_doc
    assert not session.rig.world.shutter_open


@pytest.mark.parametrize(
    ("factory", "kwargs", "message"),
    [
        (patch_cell, {"cell_index": -1}, r"cell_index must be in 0\.\."),
        (patch_cell, {"cell_index": 0, "pipette_solution": "sea"}, r"pipette_solution must be"),
        (patch_cell, {"cell_index": 0, "max_attempts": 0}, r"max_attempts must be in 1\.\.20"),
        (patch_cell, {"cell_index": 0, "seal_timeout_s": 0}, r"timeout_s must be in"),
        (voltage_steps, {"steps_mV": []}, r"steps_mV must be a non-empty list"),
        (voltage_steps, {"steps_mV": [0, 500]}, r"steps_mV\[1\] must be in \[-200, 200\] mV"),
        (voltage_steps, {"leak_p_over_n": 0.0}, r"leak_p_over_n must be non-zero"),
        (voltage_steps, {"leak_p_over_n": 2.0}, r"leak_p_over_n must be in \[-1, 1\]"),
        (voltage_ramp, {"start_mV": 0, "stop_mV": 5}, r"stop_mV must differ from start_mV"),
        (voltage_ramp, {"leak": "magic"}, r"leak must be one of none, linear"),
        (trpm7_ramps, {"leak": "magic"}, r"leak must be one of linear, first_ramps, none"),
        (trpm7_ramps, {"leak_fit_mV": (-50, -45)}, r"leak_fit_mV must span at least 10 mV"),
        (imaging_with_ramps, {"pair_every_s": 3.0}, r"pair_every_s must be a multiple"),
        (imaging_with_ramps, {"stop_mV": 50.0}, r"must span -80\.\.\+80 mV"),
    ],
)
def test_bad_parameters_are_refused_before_any_run(shared_session, docs, factory, kwargs, message):
    shared_session.RE.subscribe(docs)
    with pytest.raises(PlanParameterError, match=message):
        factory(shared_session.rig, **kwargs)
    assert docs.documents == []

"""Patch-clamp plans on the simulated rig: truth from the world, refusals, clean failures."""

import numpy as np
import pytest

from ionrig.plans import (
    OperatorUnavailable,
    PatchFailure,
    PlanParameterError,
    break_in,
    form_seal,
    membrane_test,
    operator_step,
    pipette_resistance,
    set_unattended,
    trpm7_ramps,
)
from ionrig.session import start

# no Ra drift or seal loss: the truth stays put while the plans measure it
QUIET = {"ra_drift_per_hour": 0.0, "seal_loss_per_hour": 0.0}


def _session(catalog, time_scale=300, **patch):
    session = start(
        "sim", catalog=catalog, time_scale=time_scale, world={"patch": {**QUIET, **patch}}
    )
    world = session.rig.world

    def responder(step, *, message, **params):  # the operator: places the pipette
        assert step == "approach_cell"
        world.patch.approach(params["cell_index"])

    session.rig.operator = responder
    return session


def _run(session, docs, plan):
    session.RE.subscribe(docs)
    return session.RE(plan)


def test_pipette_resistance_matches_the_pipette(catalog, docs):
    session = _session(catalog)
    result = _run(session, docs, pipette_resistance(session.rig))
    truth = session.rig.world.patch.pipette_resistance_MOhm
    assert result.exit_status == "success"
    assert result.plan_result == pytest.approx(truth, rel=0.1)
    (event,) = docs.of("event")
    assert set(event["data"]) == {"t_s", "pipette_MOhm"}
    start_doc = docs.of("start")[0]
    assert start_doc["plan_name"] == "pipette_resistance"
    assert start_doc["amplifier_telegraphs"]["lowpass_kHz"] == 5.0


def test_seal_break_in_and_membrane_test(catalog, docs):
    session = _session(catalog, seal_success_probability=1.0, break_in_probability=1.0)
    rig, patch = session.rig, session.rig.world.patch
    seal = _run(session, docs, form_seal(rig, target_GOhm=2.0, timeout_s=120.0, suction_kPa=-3.0))
    assert seal.exit_status == "success" and seal.plan_result >= 1.0
    assert patch.state == "cell_attached" and patch.pressure_kPa == 0.0
    assert docs.of("start")[0]["criteria"]["seal_GOhm_at_least"] == 2.0
    seal_events = [e for e in docs.of("event") if "seal_GOhm" in e["data"]]
    assert seal_events[-1]["data"]["seal_GOhm"] >= 1.0

    broken = session.RE(break_in(rig))
    assert broken.exit_status == "success" and patch.state == "whole_cell"
    assert broken.plan_result.cm_pF > 5.0
    assert patch.pressure_kPa == 0.0

    test = session.RE(membrane_test(rig)).plan_result
    assert test.ra_MOhm == pytest.approx(patch.ra_MOhm, rel=0.2)
    assert test.cm_pF == pytest.approx(patch.cm_pF, rel=0.2)
    run = session.catalog[session.RE(membrane_test(rig, n_sweeps=2)).run_start_uids[0]]
    assert run["primary"]["amplifier"].read().shape[0] == 2
    assert set(run["membrane_test"].keys()) >= {"t_s", "ra_MOhm", "rm_MOhm", "cm_pF", "tau_ms"}
    print(
        f"seal {seal.plan_result:.3g} GΩ; Ra {test.ra_MOhm:.3g}/{patch.ra_MOhm:.3g} MΩ, "
        f"Cm {test.cm_pF:.3g}/{patch.cm_pF:.3g} pF"
    )


def test_form_seal_fails_cleanly_on_a_cell_that_will_not_seal(catalog, docs):
    session = _session(catalog, seal_success_probability=0.0)
    with pytest.raises(PatchFailure, match="no seal"):
        _run(session, docs, form_seal(session.rig, timeout_s=20.0))
    assert docs.of("stop")[0]["exit_status"] == "fail"
    assert session.rig.world.patch.pressure_kPa == 0.0


def test_unattended_without_responder_fails_the_cell_cleanly(catalog, docs):
    session = start("sim", catalog=catalog, time_scale=300)
    del session.rig.operator  # the simulated rig's own operator would place the pipette
    set_unattended(True)
    try:
        with pytest.raises(OperatorUnavailable, match="approach_cell"):
            _run(session, docs, form_seal(session.rig))
    finally:
        set_unattended(False)
    assert docs.of("stop")[0]["exit_status"] == "fail"
    assert session.rig.world.patch.pressure_kPa == 0.0
    assert session.rig.world.patch.state == "bath"


def test_interactive_operator_step_prompts_through_input():
    class Rig:
        config = None

    plan = operator_step(Rig(), "Place the pipette on cell 2", action="approach_cell")
    msg = next(plan)
    assert msg.command == "input" and "cell 2" in msg.kwargs["prompt"]
    with pytest.raises(StopIteration):
        plan.send("y")
    plan = operator_step(Rig(), "Refill", action="refill")
    next(plan)
    with pytest.raises(OperatorUnavailable, match="declined"):
        plan.send("n")


def test_trpm7_ramps_show_run_up_after_break_in(catalog, docs):
    # time_scale 25: at 100 a ramp's real overhead (~70 ms on a loaded 2-core machine) became
    # 7 s of rig time, the 60 ramps spread over ~400 s and most of the run-up happened before
    # the first of them
    session = _session(
        catalog, time_scale=25, seal_success_probability=1.0, break_in_probability=1.0
    )
    rig, patch = session.rig, session.rig.world.patch
    patch.set_pipette_solution("trpm7_internal")  # Mg-free: Mg washes out, TRPM7 runs up
    session.RE(form_seal(rig, target_GOhm=2.0, timeout_s=120.0, suction_kPa=-3.0))
    session.RE(break_in(rig))
    result = _run(session, docs, trpm7_ramps(rig, duration_s=120.0, period_s=2.0, cm_pF=20.0))
    assert result.exit_status == "success"
    run = session.catalog[result.run_start_uids[0]]
    t_s = run["trpm7"]["t_s"].read()
    i_plus = run["trpm7"]["i_plus80_pA"].read()
    assert run["primary"]["amplifier"].read().shape == (t_s.size, 1, 700)
    assert "i_plus80_pA_per_pF" in run["trpm7"]
    early, late = np.mean(i_plus[:3]), np.mean(i_plus[-3:])
    print(f"{t_s.size} ramps over {t_s[-1] - t_s[0]:.0f} s: I(+80) {early:.0f} → {late:.0f} pA")
    assert late > early + 5.0  # the world's run-up: ~+14 pA over 130 s here
    assert patch.holding_mV == 0.0


@pytest.mark.parametrize(
    ("factory", "kwargs", "message"),
    [
        (pipette_resistance, {"step_mV": 0.0}, r"step_mV must be in \[1, 20\] mV"),
        (form_seal, {"target_GOhm": 0.0}, r"target_GOhm must be in"),
        (form_seal, {"timeout_s": -1.0}, r"timeout_s must be in \(0, 3600\] s"),
        (form_seal, {"suction_kPa": 2.0}, r"suction_kPa must be in \[-10, -0.1\] kPa"),
        (form_seal, {"cell_index": -1}, r"cell_index must be in 0\.\."),
        (break_in, {"method": "zap"}, r"method must be one of 'suction'"),
        (break_in, {"pulse_kPa": -2.0}, r"pulse_kPa must be in \[-50, -5\] kPa"),
        (break_in, {"max_pulses": 0}, r"max_pulses must be in 1\.\.50"),
        (membrane_test, {"n_sweeps": 0}, r"n_sweeps must be in 1\.\."),
        (membrane_test, {"sample_rate_Hz": 1e6}, r"sample_rate_Hz must be in"),
        (membrane_test, {"step_mV": 0.2}, r"step_mV must be in \[-20, -1\] or \[1, 20\]"),
        (trpm7_ramps, {"duration_s": 0}, r"duration_s must be in \(0, 86400\] s"),
        (trpm7_ramps, {"stop_mV": 50.0}, r"must span -80\.\.\+80 mV"),
        (trpm7_ramps, {"period_s": 0.06}, r"period_s must exceed the sweep"),
        (trpm7_ramps, {"cm_pF": -3}, r"cm_pF must be in"),
        (trpm7_ramps, {"md": "x"}, r"md must be a mapping"),
    ],
)
def test_bad_parameters_are_refused_before_any_run(shared_session, docs, factory, kwargs, message):
    shared_session.RE.subscribe(docs)
    with pytest.raises(PlanParameterError, match=message):
        shared_session.RE(factory(shared_session.rig, **kwargs))
    assert docs.documents == []

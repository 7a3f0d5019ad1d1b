"""dye_loading on the simulated rig: heater by operator step, static bath, dye rises."""

import numpy as np
import pytest

from ionrig.plans import OperatorUnavailable, PlanParameterError, dye_loading, set_unattended
from ionrig.session import start


@pytest.fixture
def fast_session(catalog):
    return start("sim", catalog=catalog, time_scale=2000)


def test_loading_at_37_C_warms_the_bath_holds_it_static_and_loads_dye(fast_session, docs):
    session, world = fast_session, fast_session.rig.world
    dye_before = [c.dye_uM for c in world.cells]
    session.RE.subscribe(docs)
    result = session.RE(
        dye_loading(session.rig, duration_min=20, monitor_every_s=120, plateau_fraction=0.0)
    )
    assert result.exit_status == "success"
    steps = [step for _, step, _ in session.rig.operator.log]
    assert steps == ["set_bath_temperature"]
    assert world.bath_temperature_C == pytest.approx(37.0, abs=1.0)
    assert world.chamber.flow_mL_per_min == 0.0  # held static while loading
    assert world.chamber.bath_mM["dye_am_uM"] > 3.5  # the loading solution's 4 µM AM
    assert all(
        after > before
        for after, before in zip([c.dye_uM for c in world.cells], dye_before, strict=True)
    )
    run = session.catalog[result.run_start_uids[0]]
    field = np.asarray(run["loading"]["camera-roi_sums_adu"].read()).reshape(-1)
    assert len(field) >= 5 and field[-1] > field[0]  # the 380-nm field brightens as dye loads
    t_s = run["loading"]["t_s"].read()
    assert t_s[-1] - t_s[0] <= 20 * 60 + 120  # ends on time
    assert not world.shutter_open


def test_loading_ends_at_the_plateau(fast_session):
    session = fast_session
    result = session.RE(
        dye_loading(session.rig, duration_min=60, monitor_every_s=120, plateau_fraction=0.05)
    )
    run = session.catalog[result.run_start_uids[0]]
    t_s = run["loading"]["t_s"].read()
    assert len(t_s) < 30 and t_s[-1] - t_s[0] < 60 * 60  # stopped well before 60 min


def test_unattended_without_a_responder_fails_the_run_cleanly(fast_session, docs):
    session = fast_session
    del session.rig.operator
    set_unattended(True)
    try:
        session.RE.subscribe(docs)
        with pytest.raises(OperatorUnavailable, match="set_bath_temperature"):
            session.RE(dye_loading(session.rig, duration_min=10))
    finally:
        set_unattended(False)
    assert docs.of("stop")[0]["exit_status"] == "fail"
    assert not session.rig.world.shutter_open


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"solution": "tea"}, "solution must be one of"),
        ({"duration_min": 0.5}, r"duration_min must be in \[1, 240\] min"),
        ({"temperature_C": 60}, r"temperature_C must be in \[15, 40\]"),
        ({"monitor_every_s": 1}, r"monitor_every_s must be in \[5, 3600\] s"),
    ],
)
def test_bad_parameters_are_refused_before_anything_happens(shared_session, docs, kwargs, message):
    shared_session.RE.subscribe(docs)
    with pytest.raises(PlanParameterError, match=message):
        dye_loading(shared_session.rig, **kwargs)
    assert docs.documents == []

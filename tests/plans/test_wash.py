"""wash on the simulated rig: the bath ends up as the chosen solution; bad input refused."""

import pytest

from ionrig.plans import PlanParameterError, wash


def test_wash_exchanges_the_bath_and_records_the_solution(session, docs):
    session.RE.subscribe(docs)
    result = session.RE(wash(session.rig, solution="hbss_probenecid", bath_volumes=6))
    assert result.exit_status == "success"
    bath = session.rig.world.chamber.bath_mM
    assert bath["probenecid_mM"] > 0.9 * 2.5  # §4: 2.5 mM probenecid in the wash
    start = session.catalog[result.run_start_uids[0]].metadata["start"]
    assert start["solution"] == "hbss_probenecid"
    assert start["solution_composition_mM"]["probenecid_mM"] == 2.5
    events = docs.of("event")
    assert [e["data"]["perfusion-solution"] for e in events] == ["hbss", "hbss_probenecid"]
    assert events[-1]["data"]["perfusion-exchanged_bath_volumes"] >= 6.0
    assert events[-1]["data"]["t_s"] - events[0]["data"]["t_s"] >= 6 * 0.5 / 2.0 * 60


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"solution": "seawater"}, r"solution must be one of hbss, .*; got 'seawater'"),
        ({"bath_volumes": 0.2}, r"bath_volumes must be in \[1, 50\] bath volumes"),
    ],
)
def test_bad_parameters_are_refused_before_anything_flows(shared_session, docs, kwargs, message):
    shared_session.RE.subscribe(docs)
    with pytest.raises(PlanParameterError, match=message):
        wash(shared_session.rig, **kwargs)
    assert docs.documents == []
    assert shared_session.rig.world.chamber.inflow in (None, "hbss")

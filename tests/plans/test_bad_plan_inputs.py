"""Bad-input matrix of the plans (issue 11): every keyword parameter of every public plan that
opens a run (it takes ``md``), with a value of the wrong type, a value out of range (or an
unknown name), and an unknown keyword next to them.

The matrix is built by introspection: the plans come from ``ionrig.plans.__all__`` and their
parameters from their signatures; the bad values from each parameter's annotation (a new
annotation without bad values fails :func:`test_every_annotation_has_bad_values`). Each case
must raise at *call time* — before any run opens — a :class:`PlanParameterError` naming the
parameter and what is allowed (an unknown keyword: Python's ``TypeError`` naming it), with no
document emitted and no byte, frame or DAQ output reaching a simulated instrument.
"""

from __future__ import annotations

import inspect
import math
import re
import types
import typing
from collections.abc import Callable
from typing import Any

import pytest

import ionrig.plans as plans
from ionrig.plans import PlanParameterError

INF, NAN = math.inf, math.nan


def _plans_that_open_runs() -> dict[str, Callable[..., Any]]:
    """Every public plan with an ``md`` keyword (plan stubs such as ``exchange_solution`` and
    ``operator_step`` run inside another plan's run and take none)."""
    found = {}
    for name in plans.__all__:
        obj = getattr(plans, name)
        if inspect.isfunction(obj) and "md" in inspect.signature(obj).parameters:
            found[name] = obj
    return found


PLANS = _plans_that_open_runs()

#: The least each plan needs besides the rig (its required parameters).
REQUIRED = {"ratiometric_timecourse": {"n_pairs": 1}, "patch_cell": {"cell_index": 0}}

#: An ROI that lies outside every camera image.
OFF_IMAGE = {"shape": "circle", "x_px": 1e9, "y_px": 1e9, "radius_px": 1.0}

#: Bad values by annotation: (kind, value) pairs, kind "type" (wrong type) or "range" (out of
#: the documented range, not finite, or an unknown name).
BAD_BY_ANNOTATION: dict[str, list[tuple[str, Any]]] = {
    "float": [
        ("type", "5"),
        ("type", [1.0]),
        ("type", None),
        ("type", True),
        ("range", -1e9),
        ("range", 1e9),
        ("range", NAN),
        ("range", INF),
        ("range", -INF),
    ],
    "float | None": [
        ("type", "5"),
        ("type", [1.0]),
        ("type", False),
        ("range", -1e9),
        ("range", 1e9),
        ("range", NAN),
        ("range", INF),
    ],
    "int": [
        ("type", "3"),
        ("type", 2.5),
        ("type", [1]),
        ("type", None),
        ("type", True),
        ("range", -(10**9)),
        ("range", 10**9),
    ],
    "int | None": [
        ("type", "3"),
        ("type", 2.5),
        ("type", [1]),
        ("type", True),
        ("range", -(10**9)),
        ("range", 10**9),
    ],
    "str": [
        ("type", 5),
        ("type", ["hbss"]),
        ("type", None),
        ("range", "no_such_name"),
    ],
    "str | None": [
        ("type", 5),
        ("type", ["hbss"]),
        ("range", "no_such_name"),
    ],
    "bool": [("type", "yes"), ("type", 1), ("type", None)],
    "tuple[float, float]": [
        ("type", "ab"),
        ("type", 5.0),
        ("type", [1.0]),
        ("type", ("a", "b")),
        ("range", (-1e9, 1e9)),
        ("range", (NAN, 0.0)),
        ("range", (0.0, INF)),
    ],
    "Sequence[float]": [
        ("type", "abc"),
        ("type", 5.0),
        ("type", ["a"]),
        ("type", None),
        ("range", []),
        ("range", [1e9]),
        ("range", [NAN]),
        ("range", list(range(-100, 101))),  # 201 levels
    ],
    "Mapping[str, Any] | Sequence[Any] | None": [
        ("type", 5),
        ("type", "cell"),
        ("type", [5]),
        ("range", {}),
        ("range", [OFF_IMAGE]),
        ("range", [{"shape": "blob", "x_px": 1.0}]),
        ("range", {"bad name!": {"shape": "circle", "x_px": 5, "y_px": 5, "radius_px": 2}}),
    ],
    "Mapping[str, Any] | None": [
        ("type", 5),
        ("type", "abc"),
        ("type", [1, 2]),
    ],
}

#: Extra bad values where a parameter's annotation says too little.
BAD_BY_PARAMETER: dict[str, list[tuple[str, Any]]] = {
    "background_roi": [
        ("range", OFF_IMAGE),
        ("range", {"shape": "circle", "x_px": 3.0}),
        ("range", {"shape": "rectangle", "x_px": 0, "y_px": 0, "width_px": -4, "height_px": 4}),
    ],
    "calibration": [
        ("range", {"no_such_option": 1}),
        ("range", {"interval_s": 1e9}),
        ("type", {"rmin_solution": 5}),
        ("type", {"plateau_tolerance": "small"}),
    ],
}


def _plain(annotation: Any) -> str:
    """A declared parameter's Python type, as the matrix names it (``float | None``)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _plain(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_plain(a) for a in args)
    if annotation is type(None):
        return "None"
    if origin is typing.Literal:
        return "str"
    if origin is dict:  # run metadata (declared with its None: "Mapping[str, Any] | None")
        return "Mapping[str, Any]"
    return annotation.__name__


def _annotation(plan: Callable[..., Any], parameter: inspect.Parameter) -> str:
    """The parameter's type: from the plan's pydantic model when it declares one, else the
    signature's annotation."""
    model = getattr(plan, "parameters_model", None)
    if model is not None and parameter.name in model.model_fields:
        return _plain(model.model_fields[parameter.name].annotation)
    return str(parameter.annotation)


def _bad_values(plan: Callable[..., Any], parameter: inspect.Parameter) -> list[tuple[str, Any]]:
    bad = BAD_BY_ANNOTATION[_annotation(plan, parameter)]
    return bad + BAD_BY_PARAMETER.get(parameter.name, [])


def _parameters(plan: Callable[..., Any]) -> list[inspect.Parameter]:
    return list(inspect.signature(plan).parameters.values())[1:]  # after the rig


def _cases() -> list[Any]:
    cases = []
    for plan_name, plan in PLANS.items():
        for parameter in _parameters(plan):
            if _annotation(plan, parameter) not in BAD_BY_ANNOTATION:
                continue  # reported by test_every_annotation_has_bad_values
            for kind, value in _bad_values(plan, parameter):
                case_id = f"{plan_name}-{parameter.name}-{kind}-{value!r:.40}"
                cases.append(pytest.param(plan_name, parameter.name, kind, value, id=case_id))
    return cases


CASES = _cases()


class Watch:
    """What a refused call must not have caused: documents, serial bytes, camera frames, DAQ
    outputs or sweeps, a changed solution or shutter."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.documents: list[tuple[str, dict]] = []
        session.RE.subscribe(lambda name, doc: self.documents.append((name, doc)))

    def snapshot(self) -> dict[str, Any]:
        rig = self.session.rig
        instruments = rig.instruments
        daq = instruments["daq"]
        world = rig.world
        return {
            "documents": len(self.documents),
            "filter_wheel messages": instruments["filter_wheel"].n_received,
            "camera frames": instruments["camera"].frames_taken,
            "daq outputs": len(daq.history),
            "daq sweeps": daq.n_sweeps,
            "inflow": world.chamber.inflow,
            "shutter open": world.shutter_open,
        }


@pytest.fixture(scope="module")
def watch(shared_session) -> Watch:
    return Watch(shared_session)


def test_the_matrix_covers_every_plan_that_opens_a_run() -> None:
    assert set(PLANS) >= {
        "ratiometric_timecourse",
        "mg_uptake",
        "calibrate_in_situ",
        "dye_loading",
        "wash",
        "trpm7_ramps",
        "patch_cell",
        "voltage_steps",
        "voltage_ramp",
        "imaging_with_ramps",
    }
    assert "exchange_solution" not in PLANS and "operator_step" not in PLANS
    covered = {(case.values[0], case.values[1]) for case in CASES}
    every = {(name, p.name) for name, plan in PLANS.items() for p in _parameters(plan)}
    assert covered == every


def test_every_annotation_has_bad_values() -> None:
    missing = {
        f"{name}.{p.name}: {_annotation(plan, p)}"
        for name, plan in PLANS.items()
        for p in _parameters(plan)
        if _annotation(plan, p) not in BAD_BY_ANNOTATION
    }
    assert not missing, f"add bad values for these annotations: {sorted(missing)}"


def test_the_defaults_are_accepted(watch) -> None:
    """The matrix's baseline: each plan called with only its required parameters is accepted
    (so every refusal below is due to the one bad value)."""
    rig = watch.session.rig
    before = watch.snapshot()
    for name, plan in PLANS.items():
        plan(rig, **REQUIRED.get(name, {})).close()
    assert watch.snapshot() == before


ALLOWED = re.compile(r"must|one of|allowed|at least|at most|is reserved|covers no pixel")


@pytest.mark.parametrize(("plan_name", "parameter", "kind", "value"), CASES)
def test_bad_value_is_refused_at_call_time(watch, plan_name, parameter, kind, value) -> None:
    plan = PLANS[plan_name]
    kwargs = {**REQUIRED.get(plan_name, {}), parameter: value}
    before = watch.snapshot()
    with pytest.raises(PlanParameterError) as refused:
        plan(watch.session.rig, **kwargs)
    message = str(refused.value)
    assert parameter in message, f"the message does not name {parameter!r}: {message}"
    assert ALLOWED.search(message), f"the message does not say what is allowed: {message}"
    assert watch.snapshot() == before


@pytest.mark.parametrize("plan_name", sorted(PLANS))
def test_unknown_keyword_is_refused_by_name(watch, plan_name) -> None:
    before = watch.snapshot()
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'exposure_time'"):
        PLANS[plan_name](watch.session.rig, **REQUIRED.get(plan_name, {}), exposure_time=20.0)
    assert watch.snapshot() == before


@pytest.mark.parametrize("plan_name", sorted(name for name in PLANS if name in REQUIRED), ids=str)
def test_missing_required_parameter_is_refused_by_name(watch, plan_name) -> None:
    before = watch.snapshot()
    (required,) = REQUIRED[plan_name]
    with pytest.raises(TypeError, match=rf"missing 1 required .*argument: '{required}'"):
        PLANS[plan_name](watch.session.rig)
    assert watch.snapshot() == before

"""Plan parameters as pydantic models (plans/_parameters.py): the rules a signature declares,
their refusals (the messages the bad-input matrix and the users read), the call-time check of a
decorated plan, and the JSON Schema of every decorated public plan."""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

import ionrig.plans as plans
from ionrig.plans import PlanParameterError, plan_parameters_schema
from ionrig.plans._parameters import (
    Integer,
    Metadata,
    Name,
    Number,
    OneOf,
    check_value,
    plan_parameters,
)
from ionrig.plans._validation import check_int, check_md, check_name, check_number

#: What :func:`toy` was called with (its body runs only for accepted arguments).
CALLS: list[dict[str, Any]] = []


def _steps() -> Iterator[str]:
    yield "step"


@plan_parameters
def toy(
    rig: Any,
    count: Integer(1, 5),
    *,
    exposure_ms: Number(0.0, 10.0, "ms") = 1.0,
    gap_s: Number(0.0, 10.0, "s", min_inclusive=False) = 1.0,
    roi: Name = "cell1",
    mode: OneOf("step", "fly") = "step",
    note: str = "untouched",
    md: Metadata = None,
) -> Iterator[str]:
    """A plan returning a generator; records what it received."""
    CALLS.append(
        {
            "rig": rig,
            "count": count,
            "exposure_ms": exposure_ms,
            "gap_s": gap_s,
            "roi": roi,
            "mode": mode,
            "note": note,
            "md": md,
        }
    )
    return _steps()


@pytest.fixture(autouse=True)
def _no_calls() -> None:
    CALLS.clear()


def _refusal(**kwargs: Any) -> str:
    """The message of :func:`toy` refusing ``kwargs`` (its body must not have run)."""
    with pytest.raises(PlanParameterError) as refused:
        toy(None, **{"count": 1, **kwargs})
    assert CALLS == []
    return str(refused.value)


# -- strictness -----------------------------------------------------------------------------
@pytest.mark.parametrize("value", [True, False, "5", None, [1.0], math.nan, math.inf, -math.inf])
def test_a_number_is_a_finite_int_or_float_and_nothing_else(value: Any) -> None:
    assert _refusal(exposure_ms=value) == (
        f"exposure_ms must be a number in [0, 10] ms, got {value!r}"
    )


def test_an_int_is_accepted_for_a_number_and_given_as_a_float() -> None:
    toy(None, 2, exposure_ms=3, gap_s=10)
    (call,) = CALLS
    assert call["exposure_ms"] == 3.0 and type(call["exposure_ms"]) is float
    assert call["gap_s"] == 10.0 and type(call["gap_s"]) is float
    assert call["count"] == 2 and type(call["count"]) is int


@pytest.mark.parametrize("value", [True, 2.0, 2.5, "2", None])
def test_an_integer_is_an_int_and_not_a_bool_or_float(value: Any) -> None:
    assert _refusal(count=value) == f"count must be an integer in 1..5, got {value!r}"


# -- the messages -----------------------------------------------------------------------------
def test_a_number_out_of_an_inclusive_range() -> None:
    assert _refusal(exposure_ms=10.5) == "exposure_ms must be in [0, 10] ms, got 10.5"
    assert _refusal(exposure_ms=-1) == "exposure_ms must be in [0, 10] ms, got -1"
    toy(None, 1, exposure_ms=0, gap_s=10.0)  # both bounds are allowed
    assert CALLS[0]["exposure_ms"] == 0.0


def test_a_number_out_of_a_range_open_at_its_minimum() -> None:
    assert _refusal(gap_s=0) == "gap_s must be in (0, 10] s, got 0"
    assert _refusal(gap_s=0.0) == "gap_s must be in (0, 10] s, got 0.0"
    assert _refusal(gap_s="1") == "gap_s must be a number in (0, 10] s, got '1'"
    toy(None, 1, gap_s=1e-9)
    assert CALLS[0]["gap_s"] == 1e-9


def test_an_integer_out_of_range() -> None:
    assert _refusal(count=0) == "count must be in 1..5, got 0"
    assert _refusal(count=6) == "count must be in 1..5, got 6"


@pytest.mark.parametrize("value", ["1cell", "cell 1", "", "c" * 33, 5, None])
def test_a_name(value: Any) -> None:
    assert _refusal(roi=value) == (
        "roi must be a name of letters, digits and '_' starting with a letter "
        f"(at most 32 characters), got {value!r}"
    )
    toy(None, 1, roi="c" * 32)
    assert CALLS[0]["roi"] == "c" * 32


@pytest.mark.parametrize("value", ["walk", "STEP", 1, None])
def test_one_of(value: Any) -> None:
    assert _refusal(mode=value) == f"mode must be one of step, fly; got {value!r}"


@pytest.mark.parametrize("value", [5, "abc", [1, 2], ("a", 1)])
def test_metadata_is_a_mapping(value: Any) -> None:
    assert _refusal(md=value) == f"md must be a mapping, got {value!r}"


def test_the_first_refused_parameter_in_signature_order_is_named() -> None:
    assert _refusal(md=5, exposure_ms=-1) == "exposure_ms must be in [0, 10] ms, got -1"


def test_body_checks_read_like_signature_checks() -> None:
    """The check_* helpers (for rig- or parameter-dependent ranges and list items) refuse with
    the same messages, and convert the same way."""
    with pytest.raises(PlanParameterError, match=r"^x must be in \(0, 10\] s, got 0$"):
        check_number("x", 0, minimum=0, maximum=10, unit="s", min_inclusive=False)
    with pytest.raises(PlanParameterError, match=r"^x must be a number in \[0, 10\] s, got nan$"):
        check_number("x", math.nan, minimum=0, maximum=10, unit="s")
    with pytest.raises(PlanParameterError, match=r"^n must be an integer in 1\.\.5, got True$"):
        check_int("n", True, minimum=1, maximum=5)
    with pytest.raises(PlanParameterError, match=r"^rois: ROI name must be a name of letters"):
        check_name("rois: ROI name", "9")
    with pytest.raises(PlanParameterError, match=r"^md must be a mapping, got 5$"):
        check_md(5)
    assert type(check_number("x", 2, minimum=0, maximum=10, unit="s")) is float
    assert check_value("mode", OneOf("step", "fly"), "fly") == "fly"
    with pytest.raises(TypeError, match="carries no parameter rule"):
        check_value("x", float, 1.0)


# -- what the plan receives -----------------------------------------------------------------
def test_md_none_becomes_a_new_empty_dict_and_a_mapping_a_copy() -> None:
    given = {"cell_line": "HEK-293"}
    toy(None, 1, md=given)
    toy(None, 1)
    toy(None, 1, md=None)
    copied, first_empty, second_empty = (call["md"] for call in CALLS)
    assert copied == given and copied is not given and type(copied) is dict
    copied["changed"] = True
    assert given == {"cell_line": "HEK-293"}
    assert first_empty == {} and second_empty == {} and first_empty is not second_empty


def test_parameters_without_a_rule_are_passed_untouched() -> None:
    rig, note = object(), ["not", "a", "string"]
    toy(rig, 1, note=note)
    assert CALLS[0]["rig"] is rig and CALLS[0]["note"] is note


def test_defaults_are_validated_when_the_plan_is_called() -> None:
    @plan_parameters
    def broken(rig: Any, *, exposure_ms: Number(0.0, 10.0, "ms") = 20.0) -> Iterator[str]:
        return _steps()

    with pytest.raises(
        PlanParameterError, match=r"^exposure_ms must be in \[0, 10\] ms, got 20\.0$"
    ):
        broken(None)
    assert next(broken(None, exposure_ms=5)) == "step"


def test_an_unknown_or_missing_argument_is_pythons_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match=r"^toy\(\) got an unexpected keyword argument 'exposure'$"):
        toy(None, 1, exposure=5)
    with pytest.raises(
        TypeError, match=r"^toy\(\) missing 1 required positional argument: 'count'"
    ):
        toy(None)
    assert CALLS == []


def test_the_refusal_comes_at_call_time_before_any_generator_exists() -> None:
    """A refused call raises from the call itself: the plan's body (which would make the
    generator) never runs; for a generator function the check comes before it is created, not
    at its first ``next``. No rig is needed to be refused."""
    calls_before = len(CALLS)
    with pytest.raises(PlanParameterError, match=r"^count must be in 1\.\.5, got 0$"):
        toy(None, 0)
    assert len(CALLS) == calls_before
    with pytest.raises(
        PlanParameterError, match=r"^bath_volumes must be in \[1, 50\] bath volumes"
    ):
        plans.exchange_solution(None, "hbss", bath_volumes=0.5)  # a generator function
    with pytest.raises(PlanParameterError, match=r"^ramp_ms must be in \[5, 2000\] ms, got 1$"):
        plans.trpm7_ramps(None, ramp_ms=1)


def test_the_signature_and_docstring_stay_the_plans() -> None:
    assert toy.__name__ == "toy" and "records what it received" in toy.__doc__
    assert list(inspect.signature(toy).parameters)[:2] == ["rig", "count"]
    assert set(toy.parameters_model.model_fields) == {
        "count",
        "exposure_ms",
        "gap_s",
        "roi",
        "mode",
        "md",
    }


# -- schemas ----------------------------------------------------------------------------------
def test_the_schema_of_trpm7_ramps_has_each_numbers_unit_and_bounds() -> None:
    properties = plan_parameters_schema(plans.trpm7_ramps)["properties"]
    expected = {
        "duration_s": ("s", {"exclusiveMinimum": 0.0, "maximum": 86_400.0}),
        "period_s": ("s", {"minimum": 0.05, "maximum": 3600.0}),
        "start_mV": ("mV", {"minimum": -200.0, "maximum": 200.0}),
        "stop_mV": ("mV", {"minimum": -200.0, "maximum": 200.0}),
        "ramp_ms": ("ms", {"minimum": 5.0, "maximum": 2000.0}),
        "holding_mV": ("mV", {"minimum": -120.0, "maximum": 120.0}),
        "sample_rate_Hz": ("Hz", {"minimum": 10_000.0, "maximum": 100_000.0}),
        "cm_pF": ("pF", {"exclusiveMinimum": 0.0, "maximum": 1000.0}),
    }
    for name, (unit, bounds) in expected.items():
        number = properties[name]
        if "anyOf" in number:  # a number or None
            number = next(s for s in number["anyOf"] if s.get("type") == "number")
        assert number["type"] == "number" and number["unit"] == unit, name
        assert {k: number[k] for k in bounds} == bounds, name
        assert not ({"minimum", "exclusiveMinimum"} - set(bounds)) & set(number), name
    assert properties["leak"]["enum"] == ["linear", "first_ramps", "none"]
    assert (properties["leak_ramps"]["minimum"], properties["leak_ramps"]["maximum"]) == (1, 20)
    assert "leak_fit_mV" not in properties  # checked in the body (a pair)


def _decorated_public_plans() -> dict[str, Any]:
    return {
        name: getattr(plans, name)
        for name in plans.__all__
        if getattr(getattr(plans, name), "parameters_model", None) is not None
    }


def test_every_public_plan_that_opens_a_run_declares_its_parameters() -> None:
    opens_a_run = {
        name
        for name in plans.__all__
        if inspect.isfunction(getattr(plans, name))
        and "md" in inspect.signature(getattr(plans, name)).parameters
    }
    assert len(opens_a_run) >= 14
    assert opens_a_run <= set(_decorated_public_plans())
    assert "exchange_solution" in _decorated_public_plans()


@pytest.mark.parametrize("name", sorted(_decorated_public_plans()))
def test_each_plans_schema_accepts_its_own_defaults(name: str) -> None:
    plan = _decorated_public_plans()[name]
    schema = plan_parameters_schema(plan)
    validator = jsonschema.Draft202012Validator
    validator.check_schema(schema)
    defaults = {
        p.name: p.default
        for p in inspect.signature(plan).parameters.values()
        if p.name in schema["properties"] and p.default is not p.empty
    }
    assert defaults or name == "exchange_solution", name  # a stub: bath_volumes is required
    for parameter, default in defaults.items():
        assert schema["properties"][parameter]["default"] == default
        validator(schema["properties"][parameter]).validate(default)
    required = set(schema.get("required", []))
    assert required == set(schema["properties"]) - set(defaults)
    # and a value the plan refuses is refused by its schema too
    number = next((p for p, s in schema["properties"].items() if s.get("type") == "number"), None)
    if number is not None:
        bad = schema["properties"][number]["maximum"] + 1
        with pytest.raises(jsonschema.ValidationError):
            validator(schema["properties"][number]).validate(bad)

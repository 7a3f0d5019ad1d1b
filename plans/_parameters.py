"""Plan parameters as pydantic models, checked when a plan is *called*.

A plan declares each checked parameter's rule in its signature with an annotation made here
(:func:`Number`, :func:`Integer`, :data:`Name`, :data:`Metadata`, :func:`OneOf`), and
:func:`plan_parameters` turns the signature into a pydantic model (strict: ``True`` is not a
number, ``"5"`` is not 5, NaN and infinities are refused). Calling the plan validates the
arguments against the model before the plan's body runs, so bad input raises
:class:`PlanParameterError` naming the parameter, the allowed range with its unit and the
value given, before any run opens or device moves. The model is the plan's
``parameters_model`` attribute; its JSON Schema (units under ``"unit"``) is what
:func:`plan_parameters_schema` returns.

Checks that depend on the rig or on other parameters stay in the plan's body and use
:func:`check_value` with the same rules, so every message has one form.
"""

from __future__ import annotations

import functools
import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import pydantic
from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

__all__ = [
    "Integer",
    "Metadata",
    "Name",
    "Number",
    "OneOf",
    "PlanParameterError",
    "check_value",
    "describe_parameter",
    "plan_parameters",
    "plan_parameters_schema",
    "python_type_name",
]

F = TypeVar("F", bound=Callable[..., Any])

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,31}$"


class PlanParameterError(ValueError):
    """A plan parameter is out of range or of the wrong type; the message names it."""


# -- rules: what a parameter may be, and how a refusal reads ------------------------------------
@dataclass(frozen=True)
class NumberRule:
    """A finite number in a range with a unit (``min_inclusive=False``: above ``minimum``)."""

    minimum: float
    maximum: float
    unit: str
    min_inclusive: bool = True

    @property
    def allowed(self) -> str:
        low = "[" if self.min_inclusive else "("
        return f"{low}{self.minimum:g}, {self.maximum:g}] {self.unit}"

    def describe(self) -> str:
        return f"number in {self.allowed}"

    def refusal(self, name: str, value: Any) -> str:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            return f"{name} must be a number in {self.allowed}, got {value!r}"
        return f"{name} must be in {self.allowed}, got {value!r}"


@dataclass(frozen=True)
class IntegerRule:
    """An integer in ``minimum..maximum`` (a count: no unit)."""

    minimum: int
    maximum: int

    def describe(self) -> str:
        return f"integer in {self.minimum}..{self.maximum}"

    def refusal(self, name: str, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{name} must be an integer in {self.minimum}..{self.maximum}, got {value!r}"
        return f"{name} must be in {self.minimum}..{self.maximum}, got {value!r}"


@dataclass(frozen=True)
class NameRule:
    """A name of letters, digits and ``_``, starting with a letter, at most 32 characters."""

    def describe(self) -> str:
        return "name"

    def refusal(self, name: str, value: Any) -> str:
        return (
            f"{name} must be a name of letters, digits and '_' starting with a letter "
            f"(at most 32 characters), got {value!r}"
        )


@dataclass(frozen=True)
class MetadataRule:
    """Extra start-document metadata: a mapping (copied) or ``None`` (no extra metadata)."""

    def describe(self) -> str:
        return "mapping"

    def refusal(self, name: str, value: Any) -> str:
        return f"{name} must be a mapping, got {value!r}"


@dataclass(frozen=True)
class OneOfRule:
    """One of a fixed set of choices."""

    choices: tuple[Any, ...]

    def describe(self) -> str:
        return f"one of {', '.join(map(repr, self.choices))}"

    def refusal(self, name: str, value: Any) -> str:
        return f"{name} must be one of {', '.join(map(str, self.choices))}; got {value!r}"


Rule = NumberRule | IntegerRule | NameRule | MetadataRule | OneOfRule


# -- annotations ----------------------------------------------------------------------------------
def Number(minimum: float, maximum: float, unit: str, *, min_inclusive: bool = True) -> Any:
    """A finite number (int or float, not bool) in ``[minimum, maximum]`` ``unit`` (with
    ``min_inclusive=False``: ``(minimum, maximum]``), given to the plan as a float."""
    rule = NumberRule(float(minimum), float(maximum), unit, min_inclusive)
    low = {"ge": minimum} if min_inclusive else {"gt": minimum}
    field = Field(
        strict=True, allow_inf_nan=False, le=maximum, json_schema_extra={"unit": unit}, **low
    )
    return Annotated[float, field, rule]


def Integer(minimum: int, maximum: int) -> Any:
    """An integer (not bool, not a float) in ``minimum..maximum``."""
    return Annotated[int, Field(strict=True, ge=minimum, le=maximum), IntegerRule(minimum, maximum)]


def OneOf(*choices: Any) -> Any:
    """One of ``choices`` (compared with ``==``)."""
    return Annotated[typing.Literal[choices], OneOfRule(tuple(choices))]


def _metadata_or_empty(value: Any) -> Any:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    return value  # refused by the dict type below


#: A run's extra start-document metadata: a mapping, given to the plan as a new ``dict``
#: (``None`` becomes ``{}``).
Metadata = Annotated[
    Annotated[dict[str, Any], Field(strict=True)] | None,
    BeforeValidator(_metadata_or_empty),
    MetadataRule(),
]

#: A short identifier (an ROI, a cell, a solution key chosen by the user).
Name = Annotated[str, Field(strict=True, pattern=NAME_PATTERN), NameRule()]


# -- checking -----------------------------------------------------------------------------------
def _rule_of(annotation: Any) -> Rule | None:
    """The rule carried by a parameter's annotation (also inside ``X | None``), or ``None``."""
    if typing.get_origin(annotation) is Annotated:
        for extra in annotation.__metadata__:
            if isinstance(extra, Rule):
                return extra
        return None
    return next(filter(None, map(_rule_of, typing.get_args(annotation))), None)


def _refusal(rules: Mapping[str, Rule], values: Mapping[str, Any], error: ValidationError) -> str:
    """The message for the first refused parameter (in signature order)."""
    refused = {str(e["loc"][0]) for e in error.errors() if e["loc"]}
    name = next(n for n in rules if n in refused)
    return rules[name].refusal(name, values[name])


_ADAPTERS: dict[tuple[Any, Rule], TypeAdapter] = {}


def _adapter(annotation: Any, rule: Rule) -> TypeAdapter:
    """One TypeAdapter per (type, rule): building one costs far more than validating."""
    key = (
        typing.get_args(annotation)[0]
        if typing.get_origin(annotation) is Annotated
        else annotation,
        rule,
    )
    adapter = _ADAPTERS.get(key)
    if adapter is None:
        adapter = _ADAPTERS[key] = TypeAdapter(annotation)
    return adapter


def check_value(name: str, annotation: Any, value: Any) -> Any:
    """``value`` checked against one rule (an annotation made by this module) and converted
    (a number to float, metadata to a new dict); :class:`PlanParameterError` naming ``name``
    otherwise. For checks made in a plan's body (rig-dependent ranges, list items)."""
    rule = _rule_of(annotation)
    if rule is None:
        raise TypeError(f"{annotation!r} carries no parameter rule of ionrig.plans")
    try:
        return _adapter(annotation, rule).validate_python(value)
    except ValidationError:
        raise PlanParameterError(rule.refusal(name, value)) from None


def plan_parameters(plan: F) -> F:
    """Decorate a plan (a function returning a generator): the parameters whose annotations
    carry a rule of this module form a pydantic model (``plan.parameters_model``), validated
    at call time; the plan receives the validated values (numbers as float, ``md`` as a new
    dict). Parameters without a rule (``rig``, devices) are passed through untouched. The
    declared annotations are ``plan.parameter_annotations`` (name → annotation)."""
    signature = inspect.signature(plan)
    hints = typing.get_type_hints(plan, include_extras=True)
    rules: dict[str, Rule] = {}
    fields: dict[str, Any] = {}
    for name, parameter in signature.parameters.items():
        rule = _rule_of(hints.get(name))
        if rule is None:
            continue
        rules[name] = rule
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        fields[name] = (hints[name], default)
    model = pydantic.create_model(
        f"{plan.__name__}_parameters",
        __config__=ConfigDict(
            extra="forbid", validate_default=True, field_title_generator=lambda name, _: name
        ),
        __doc__=f"Parameters of the plan {plan.__name__} (units in each field's 'unit').",
        **fields,
    )

    @functools.wraps(plan)
    def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            # Python's own message, naming the plan and the argument ("… got an unexpected
            # keyword argument 'x'", "… missing 1 required … argument: 'n_pairs'"): the call
            # fails binding its arguments, before any of the plan's code runs
            plan(*args, **kwargs)
            raise
        bound.apply_defaults()
        given = {n: v for n, v in bound.arguments.items() if n in rules}
        try:
            validated = model.model_validate(given)
        except ValidationError as error:
            raise PlanParameterError(_refusal(rules, given, error)) from None
        for name in given:
            bound.arguments[name] = getattr(validated, name)
        return plan(*bound.args, **bound.kwargs)

    checked.parameters_model = model  # type: ignore[attr-defined]
    checked.parameter_annotations = {n: hints[n] for n in rules}  # type: ignore[attr-defined]
    return typing.cast(F, checked)


def describe_parameter(plan: Callable[..., Any], name: str) -> str | None:
    """What a decorated plan's parameter ``name`` may be, in words (``"number in [5, 2000]
    ms"``, ``"integer in 1..20 or None"``), or ``None`` if the plan declares no rule for it."""
    annotation = getattr(plan, "parameter_annotations", {}).get(name)
    rule = _rule_of(annotation)
    if rule is None:
        return None
    optional = type(None) in typing.get_args(annotation)
    return rule.describe() + (" or None" if optional else "")


def python_type_name(annotation: Any) -> str:
    """A declared annotation as the plain Python type a user passes (``float | None`` for
    ``CapacitancePF | None``, ``str`` for a :func:`OneOf` of names, ``dict`` for metadata)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return python_type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(python_type_name(a) for a in args)
    if annotation is type(None):
        return "None"
    if origin is typing.Literal:
        return " | ".join(sorted({type(choice).__name__ for choice in args}))
    if origin is not None:
        return origin.__name__
    return getattr(annotation, "__name__", str(annotation))


def plan_parameters_schema(plan: Callable[..., Any]) -> dict[str, Any]:
    """The JSON Schema of a decorated plan's parameters (each number with its ``unit``)."""
    model = getattr(plan, "parameters_model", None)
    if model is None:
        raise TypeError(f"{getattr(plan, '__name__', plan)!r} does not declare its parameters")
    return model.model_json_schema()

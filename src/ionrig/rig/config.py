"""Strict parsing of YAML mappings into frozen dataclasses.

Every unknown or misspelled key, wrong type, out-of-range value or missing required field
raises :class:`ConfigError` naming the field by its path (``camera.exposure_ms``), the value and
what is allowed. Sections declared as pydantic dataclasses (the rig file's,
:mod:`ionrig.rig.sections`) are validated by pydantic, with the field types and ranges below
(:data:`Number`, :func:`bounded` …) so that their JSON Schema shows them; plain frozen
dataclasses (the simulator's world, queue settings, solutions files) by this module's own
strict builder. :func:`build` takes either.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    AllowInfNan,
    BeforeValidator,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
)
from pydantic.dataclasses import is_pydantic_dataclass
from pydantic.fields import FieldInfo

__all__ = [
    "AllowedText",
    "ConfigError",
    "Flag",
    "Integer",
    "Number",
    "Text",
    "bounded",
    "build",
    "config_error",
    "described",
    "merge",
    "one_of",
]

T = TypeVar("T")


class ConfigError(ValueError):
    """A rig or solutions file (or an override) is wrong; the message names the field."""


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in args:
            if option is type(None):
                continue
            try:
                return _convert(option, value, path)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(f"{path}: expected {_describe(tp)}, got {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{path}: must be {_describe(tp)}; got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return build(tp, value, path)
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        key_type, value_type = args or (str, Any)
        return {
            _convert(key_type, k, f"{path}"): _convert(value_type, v, f"{path}.{k}")
            for k, v in value.items()
        }
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        item_type = args[0] if args else Any
        items = [_convert(item_type, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{path}: expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return str(value)
    raise ConfigError(f"{path}: unsupported field type {tp!r}")


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    # resolving string annotations is most of a build's time; a dataclass's never change
    return typing.get_type_hints(cls)


def build(cls: type[T], data: Any, path: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, refusing unknown keys and wrong types.

    A pydantic dataclass is validated by pydantic (its errors become one :class:`ConfigError`
    in this module's words); a plain dataclass by the strict builder here. ``path`` prefixes
    the fields' paths in messages (``"queue settings"``); none: the class name.
    """
    where = path or cls.__name__
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    if isinstance(cls, type) and is_pydantic_dataclass(cls):
        try:
            return _adapter(cls).validate_python(data)
        except ValidationError as error:
            raise config_error(error, cls, path) from None
    hints = _type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        allowed = ", ".join(sorted(fields))
        raise ConfigError(
            f"{where}: unknown key{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(k) for k in unknown)}; allowed keys: {allowed}"
        )
    kwargs = {}
    for name, field in fields.items():
        sub = f"{path}.{name}" if path else name
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], sub)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{sub}: required field is missing")
    try:
        return cls(**kwargs)
    except ConfigError as error:
        # a section's own check: name the section (its fields' errors already carry paths)
        if not path or str(error).startswith(path):
            raise
        raise ConfigError(f"{path}: {error}") from error
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{where}: {error}") from error


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``overrides`` into ``base`` (mappings merge, everything else replaces)."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# -- the rig file's field types (pydantic): strict, finite, with ranges the JSON Schema shows --


def _number_as_text(value: Any) -> Any:
    """A number where text is expected (``device: 1``, a key ``340:``) is read as its text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


#: A finite number (an integer is read as a float; true/false, text, NaN and ±inf are refused).
Number = Annotated[float, Strict(), AllowInfNan(False)]
#: An integer (not a float, not true/false).
Integer = Annotated[int, Strict()]
#: true or false (not 1, not "yes").
Flag = Annotated[bool, Strict()]
#: Text; a number is read as its text.
Text = Annotated[str, BeforeValidator(_number_as_text), Strict()]


@dataclasses.dataclass(frozen=True)
class AllowedText:
    """What a range error says is allowed, instead of the range written out (field metadata)."""

    text: str


def _description(doc: str, unit: str) -> str | None:
    if not unit:
        return doc or None
    return f"{doc} [{unit}]" if doc else f"[{unit}]"


def described(doc: str, unit: str = "", *, enum: Iterable[float] | None = None) -> FieldInfo:
    """A field's description (and unit) for the JSON Schema; ``enum``: the only values a
    number takes (checked by :func:`one_of`)."""
    extra: dict[str, Any] = {"unit": unit} if unit else {}
    if enum is not None:
        extra["enum"] = list(enum)
    return Field(description=_description(doc, unit), json_schema_extra=extra or None)


def bounded(
    doc: str = "",
    unit: str = "",
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> FieldInfo:
    """A number field's range (``ge``/``le`` inclusive, ``gt``/``lt`` exclusive), in ``unit``:
    pydantic checks it, the JSON Schema shows it, :class:`ConfigError` writes it out."""
    return Field(
        ge=ge,
        gt=gt,
        le=le,
        lt=lt,
        description=_description(doc, unit),
        json_schema_extra={"unit": unit} if unit else None,
    )


def _g(value: float) -> str:
    return f"{value:g}".replace("e+0", "e").replace("e+", "e")


def one_of(allowed: Iterable[float], unit: str = "") -> AfterValidator:
    """A number field that takes only the values ``allowed`` (in ``unit``)."""
    values = tuple(allowed)

    def check(value: float) -> float:
        if value not in values:
            listed = " ".join([", ".join(_g(v) for v in values), unit]).rstrip()
            raise ValueError(f"must be one of {listed}, got {value!r}")
        return value

    return AfterValidator(check)


# -- pydantic's errors in this module's words -------------------------------------------------
@functools.cache
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def _strip(tp: Any) -> tuple[Any, tuple[Any, ...]]:
    """(the type without ``Annotated`` and ``| None``, the ``Annotated`` metadata)."""
    metadata: tuple[Any, ...] = ()
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp, *extras = typing.get_args(tp)
            metadata += tuple(extras)
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(options) != 1:
                return tp, metadata
            tp = options[0]
        else:
            return tp, metadata


def _type_at(cls: type, loc: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
    """The type (and its metadata) of what ``loc`` names inside dataclass ``cls``."""
    tp: Any = cls
    metadata: tuple[Any, ...] = ()
    for key in loc:
        if dataclasses.is_dataclass(tp):
            hint = _hints(tp).get(str(key))
            if hint is None:
                return Any, ()
            tp, metadata = _strip(hint)
        elif typing.get_origin(tp) in (list, tuple, dict, Mapping):
            tp, metadata = _strip(typing.get_args(tp)[-1] if typing.get_args(tp) else Any)
        else:
            return Any, ()
    return tp, metadata


def _path(base: str, loc: Iterable[Any]) -> str:
    """``camera.exposure_ms``, ``faults[0].kind``: ``loc`` below ``base``."""
    text = base
    for key in loc:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text


def _range_text(metadata: Iterable[Any]) -> str | None:
    """``in (0, 10000] ms``, ``>= 0 s``: the range (and unit) of a field's metadata."""
    bounds: dict[str, float] = {}
    unit = ""
    for item in metadata:
        if isinstance(item, AllowedText):
            return item.text
        if isinstance(item, FieldInfo):
            unit = (item.json_schema_extra or {}).get("unit", unit)  # type: ignore[union-attr]
            bounds |= _range_text_bounds(item.metadata)
    low = ("(", bounds["gt"]) if "gt" in bounds else ("[", bounds["ge"]) if "ge" in bounds else None
    high = (
        (")", bounds["lt"]) if "lt" in bounds else ("]", bounds["le"]) if "le" in bounds else None
    )
    if low and high:
        text = f"in {low[0]}{_g(low[1])}, {_g(high[1])}{high[0]}"
    elif low:
        text = f"{'>' if low[0] == '(' else '>='} {_g(low[1])}"
    elif high:
        text = f"{'<' if high[0] == ')' else '<='} {_g(high[1])}"
    else:
        return None
    return f"{text} {unit}".rstrip()


def _bound(bounds: Mapping[str, float], *kinds: tuple[str, str]) -> tuple[str, float] | None:
    """(bracket, value) of the first of ``kinds`` (constraint name, bracket) in ``bounds``."""
    for name, bracket in kinds:
        if name in bounds:
            return bracket, bounds[name]
    return None


def _range_text_bounds(constraints: Iterable[Any]) -> dict[str, float]:
    bounds = {}
    for constraint in constraints:
        for name in ("gt", "ge", "lt", "le"):
            if getattr(constraint, name, None) is not None:
                bounds[name] = getattr(constraint, name)
    return bounds


_EXPECTED: dict[str, str] = {
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "dict_type": "a mapping",
    "mapping_type": "a mapping",
    "dataclass_type": "a mapping",
    "dataclass_args_type": "a mapping",
    "model_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
}
_RANGE_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})
_UNKNOWN_KEY_ERRORS = frozenset({"unexpected_keyword_argument", "extra_forbidden"})


def _unknown_keys(errors: list[dict[str, Any]], cls: type, path: str) -> ConfigError | None:
    """The unknown keys of the outermost section that has any, as the strict builder says."""
    unknown = [e for e in errors if e["type"] in _UNKNOWN_KEY_ERRORS]
    if not unknown:
        return None
    section = min((e["loc"][:-1] for e in unknown), key=len)
    keys = sorted((e["loc"][-1] for e in unknown if e["loc"][:-1] == section), key=str)
    section_cls, _ = _type_at(cls, section)
    allowed = ", ".join(sorted(f.name for f in dataclasses.fields(section_cls)))
    where = _path(path, section) or cls.__name__
    return ConfigError(
        f"{where}: unknown key{'s' if len(keys) > 1 else ''} "
        f"{', '.join(repr(k) for k in keys)}; allowed keys: {allowed}"
    )


def _one_error(error: dict[str, Any], cls: type, path: str) -> ConfigError:
    """One pydantic error as a :class:`ConfigError` naming the field's path."""
    loc, kind, value = tuple(error["loc"]), error["type"], error.get("input")
    where = _path(path, loc) or cls.__name__
    tp, metadata = _type_at(cls, loc)
    section = _path(path, loc[:-1])
    name = f"{section}: {loc[-1]}" if section else str(loc[-1]) if loc else where
    if kind == "missing":
        return ConfigError(f"{where}: required field is missing")
    if kind == "literal_error":
        return ConfigError(f"{where}: must be {_describe(tp)}; got {value!r}")
    if kind in _EXPECTED:
        nullable = " or null" if _nullable(cls, loc) else ""
        return ConfigError(f"{where}: expected {_EXPECTED[kind]}{nullable}, got {value!r}")
    if kind in _RANGE_ERRORS:
        allowed = _range_text(metadata) or error["msg"].removeprefix("Input should be ")
        return ConfigError(f"{name} must be {allowed}, got {value!r}")
    if kind in ("too_short", "too_long"):
        ctx = error.get("ctx", {})
        size = f"at least {ctx.get('min_length')}" if kind == "too_short" else "at most"
        size = size if kind == "too_short" else f"{size} {ctx.get('max_length')}"
        return ConfigError(f"{name} must have {size} item(s), got {value!r}")
    if kind in ("value_error", "assertion_error"):
        cause = error.get("ctx", {}).get("error")
        text = str(cause) if cause is not None else error["msg"]
        if loc and not dataclasses.is_dataclass(tp):  # a field's own check
            return ConfigError(f"{name} {text}")
        # a section's own check: name the section (its fields' errors already carry paths)
        here = _path(path, loc)
        return ConfigError(text if not here or text.startswith(here) else f"{here}: {text}")
    return ConfigError(f"{where}: {error['msg']}, got {value!r}")


def _nullable(cls: type, loc: tuple[Any, ...]) -> bool:
    """True when the field ``loc`` names may be null (``| None``)."""
    if not loc:
        return False
    owner, _ = _type_at(cls, loc[:-1])
    if not dataclasses.is_dataclass(owner):
        return False
    hint = typing.get_type_hints(owner).get(str(loc[-1]))
    return type(None) in typing.get_args(hint)


def config_error(error: ValidationError, cls: type, path: str = "") -> ConfigError:
    """pydantic's ``error`` building ``cls`` (at ``path``) as one :class:`ConfigError`: the
    outermost section's unknown keys if any, else the first error, naming its field's path,
    the value and what is allowed."""
    errors = error.errors()
    return _unknown_keys(errors, cls, path) or _one_error(errors[0], cls, path)

"""Parameter checks that run when a plan is *called*, before any run opens or device moves."""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["PlanParameterError", "check_int", "check_md", "check_name", "check_number"]


class PlanParameterError(ValueError):
    """A plan parameter is out of range or of the wrong type; the message names it."""


def check_int(name: str, value: Any, *, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlanParameterError(
            f"{name} must be an integer in {minimum}..{maximum}, got {value!r}"
        )
    if not minimum <= value <= maximum:
        raise PlanParameterError(f"{name} must be in {minimum}..{maximum}, got {value!r}")
    return value


def check_number(
    name: str,
    value: Any,
    *,
    minimum: float,
    maximum: float,
    unit: str,
    min_inclusive: bool = True,
) -> float:
    low = "[" if min_inclusive else "("
    allowed = f"{low}{minimum:g}, {maximum:g}] {unit}"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PlanParameterError(f"{name} must be a number in {allowed}, got {value!r}")
    below = value < minimum if min_inclusive else value <= minimum
    if below or value > maximum:
        raise PlanParameterError(f"{name} must be in {allowed}, got {value!r}")
    return float(value)


_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")


def check_name(name: str, value: Any) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise PlanParameterError(
            f"{name} must be a name of letters, digits and '_' starting with a letter "
            f"(at most 32 characters), got {value!r}"
        )
    return value


def check_md(md: Any) -> dict[str, Any]:
    """Extra start-document metadata: a mapping (copied) or ``None``."""
    from collections.abc import Mapping

    if md is None:
        return {}
    if not isinstance(md, Mapping):
        raise PlanParameterError(f"md must be a mapping, got {md!r}")
    return dict(md)

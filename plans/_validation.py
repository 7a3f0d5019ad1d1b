"""Parameter checks made in a plan's body, when a plan is *called*, before any run opens or
device moves: ranges that depend on the rig or on other parameters, and list items. Each is
the same pydantic rule a signature declares (:mod:`._parameters`), so every refusal reads alike:
``"period_s must be in [0.05, 3600] s, got 0.01"``."""

from __future__ import annotations

from typing import Any

from ._parameters import Integer, Metadata, Name, Number, PlanParameterError, check_value

__all__ = ["PlanParameterError", "check_int", "check_md", "check_name", "check_number"]


def check_int(name: str, value: Any, *, minimum: int, maximum: int) -> int:
    """``value`` as an integer in ``minimum..maximum`` (not bool, not float)."""
    return check_value(name, Integer(minimum, maximum), value)


def check_number(
    name: str,
    value: Any,
    *,
    minimum: float,
    maximum: float,
    unit: str,
    min_inclusive: bool = True,
) -> float:
    """``value`` as a finite float in ``[minimum, maximum]`` ``unit`` (``min_inclusive=False``:
    ``(minimum, maximum]``)."""
    rule = Number(minimum, maximum, unit, min_inclusive=min_inclusive)
    return check_value(name, rule, value)


def check_name(name: str, value: Any) -> str:
    """``value`` as a short identifier (letters, digits, ``_``; a letter first; ≤ 32)."""
    return check_value(name, Name, value)


def check_md(md: Any) -> dict[str, Any]:
    """Extra start-document metadata: a mapping (copied) or ``None`` (``{}``)."""
    return check_value("md", Metadata, md)

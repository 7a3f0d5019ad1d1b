"""docs/plans.md's parameter tables agree with the ranges the plans declare: each row of a
declared number or integer states the same bounds as the plan's JSON Schema (a page that says
"1–240 min" for a plan that accepts 0.5–240 min would send a scientist's valid value into an
error, or promise one the plan refuses)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import ionrig.plans as plans

PAGE = Path(__file__).resolve().parents[2] / "docs" / "plans.md"

#: ``a–b``, ``a to b`` (inclusive) or ``(a, b]`` / ``[a, b]``; numbers may hold thin spaces
#: between digit groups, a Unicode minus and a superscript power of ten.
NUMBER = r"[−-]?\d[\d ]*(?:\.\d+)?(?:⁰|¹|²|³|⁴|⁵|⁶|⁷|⁸|⁹)*"
RANGE = re.compile(
    rf"^(?:(?P<open>[(\[])(?P<lo1>{NUMBER}), (?P<hi1>{NUMBER})\]"
    rf"|(?P<lo2>{NUMBER})(?:–| to )(?P<hi2>{NUMBER}))"
)
SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")


def _number(text: str) -> float:
    text = text.replace("−", "-").replace(" ", "")
    if "10" in text and text.translate(SUPERSCRIPT) != text:  # 10⁷
        base, power = text.split("10", 1)
        return float(base or 1) * 10 ** int(power.translate(SUPERSCRIPT))
    return float(text)


def _tables() -> dict[str, dict[str, str]]:
    """plan name → {parameter: allowed text}, from each ``### `plan` `` section's table."""
    tables: dict[str, dict[str, str]] = {}
    plan = None
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^### `(\w+)`", line)
        if heading:
            plan = heading.group(1)
            tables[plan] = {}
        row = re.match(r"^\| `(\w+)` \|[^|]*\|([^|]*)\|", line)
        if plan and row:
            tables[plan][row.group(1)] = row.group(2).strip()
    return tables


def _bounds(schema: dict[str, Any]) -> tuple[float, float, bool] | None:
    """(minimum, maximum, minimum included) of a number/integer property, or None."""
    for option in schema.get("anyOf", [schema]):
        if option.get("type") in ("number", "integer") and "maximum" in option:
            if "exclusiveMinimum" in option:
                return option["exclusiveMinimum"], option["maximum"], False
            return option["minimum"], option["maximum"], True
    return None


def _declared_rows() -> list[Any]:
    rows = []
    for plan_name, table in _tables().items():
        plan = getattr(plans, plan_name)
        model = getattr(plan, "parameters_model", None)
        if model is None:
            continue
        properties = model.model_json_schema()["properties"]
        for parameter, allowed in table.items():
            bounds = _bounds(properties.get(parameter, {}))
            if bounds is not None:
                rows.append(pytest.param(plan_name, parameter, allowed, bounds, id=parameter))
    return rows


ROWS = _declared_rows()


def test_the_page_documents_the_declared_ranges_of_every_plan() -> None:
    documented = {(row.values[0], row.values[1]) for row in ROWS}
    assert len(documented) >= 40  # the tables were found and read
    assert ("trpm7_ramps", "ramp_ms") in documented


@pytest.mark.parametrize(("plan_name", "parameter", "allowed", "bounds"), ROWS)
def test_a_documented_range_is_the_declared_one(plan_name, parameter, allowed, bounds) -> None:
    if allowed.startswith("as `"):
        pytest.skip(f"{plan_name}.{parameter} refers to another plan's row")
    pieces = [RANGE.match(piece) for piece in allowed.split(" or ")]  # "−20 to −1 or 1 to 20"
    ranges = [_range(match) for match in pieces if match]
    assert ranges, f"{plan_name}.{parameter}: no range in {allowed!r}; the plan allows {bounds}"
    low = min(r[0] for r in ranges)
    high = max(r[1] for r in ranges)
    inclusive = next(r[2] for r in ranges if r[0] == low)
    minimum, maximum, min_inclusive = bounds
    assert (low, high, inclusive) == (minimum, maximum, min_inclusive), (
        f"docs/plans.md says {plan_name}.{parameter} is {allowed!r}; the plan declares "
        f"{'[' if min_inclusive else '('}{minimum:g}, {maximum:g}]"
    )


def _range(match: re.Match) -> tuple[float, float, bool]:
    """(low, high, low included) of one documented range."""
    if match.group("open"):
        low, high = _number(match.group("lo1")), _number(match.group("hi1"))
        return low, high, match.group("open") == "["
    return _number(match.group("lo2")), _number(match.group("hi2")), True

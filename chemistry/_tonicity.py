"""Tonicity checks: solutions that should be isosmotic, and pipette against bath."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ._solution import Solution

__all__ = ["tonicity_warnings"]

#: default tolerances (mOsm/kg): bath solutions of one experiment, and pipette vs bath
BATH_TOLERANCE_mOsm = 10.0
PIPETTE_TOLERANCE_mOsm = 30.0


def tonicity_warnings(
    solutions: Mapping[str, Solution],
    *,
    baths: Sequence[str] | None = None,
    pipette: str | None = None,
    bath_tolerance_mOsm: float = BATH_TOLERANCE_mOsm,
    pipette_tolerance_mOsm: float = PIPETTE_TOLERANCE_mOsm,
) -> list[str]:
    """Human-readable warnings about osmolality differences.

    With ``baths`` (the bath solutions one run uses): each pair differing by more than
    ``bath_tolerance_mOsm``; with ``pipette`` too: the pipette against each bath, beyond
    ``pipette_tolerance_mOsm``. Without ``baths`` (a file check): every solution's
    ``isosmotic_with`` partner.
    """
    for name, value in (
        ("bath_tolerance_mOsm", bath_tolerance_mOsm),
        ("pipette_tolerance_mOsm", pipette_tolerance_mOsm),
    ):
        if not 0 <= value <= 500:
            raise ValueError(f"{name} must be in 0..500 mOsm/kg, got {value!r}")
    unknown = [n for n in [*(baths or ()), *([pipette] if pipette else [])] if n not in solutions]
    if unknown:
        raise ValueError(f"no solution named {', '.join(map(repr, unknown))} in the table")
    osm = {name: s.osmolarity_mOsm for name, s in solutions.items()}
    if baths is None:
        pairs = [(n, s.isosmotic_with) for n, s in solutions.items() if s.isosmotic_with]
        missing = [b for _, b in pairs if b not in solutions]
        warnings = [f"isosmotic_with names {b!r}, which no file defines" for b in missing]
        pairs = [(a, b) for a, b in pairs if b in solutions]
    else:
        warnings = []
        pairs = [(a, b) for i, a in enumerate(baths) for b in baths[i + 1 :]]
    for a, b in pairs:
        if abs(osm[a] - osm[b]) > bath_tolerance_mOsm:
            warnings.append(
                f"{a} ({osm[a]:.0f} mOsm/kg) and {b} ({osm[b]:.0f}) differ by "
                f"{abs(osm[a] - osm[b]):.0f} mOsm/kg (> {bath_tolerance_mOsm:g}): a change "
                "between them is also an osmotic challenge"
            )
    for b in baths or ():
        if pipette and abs(osm[pipette] - osm[b]) > pipette_tolerance_mOsm:
            warnings.append(
                f"pipette {pipette} ({osm[pipette]:.0f} mOsm/kg) and bath {b} ({osm[b]:.0f}) "
                f"differ by {abs(osm[pipette] - osm[b]):.0f} mOsm/kg "
                f"(> {pipette_tolerance_mOsm:g}): the cell will swell or shrink"
            )
    return warnings

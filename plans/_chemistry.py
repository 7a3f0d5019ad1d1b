"""What a start document records of the solutions a run uses: the chemistry's methods section.

Every plan that perfuses, images or patches adds :func:`chemistry_md` under the start
document's ``chemistry`` key: each solution's recipe, derived totals, free Mg²⁺/Ca²⁺,
osmolality and ionic strength, the chemistry's version, the tonicity warnings of the bath
solutions the run changes between, and (patch plans) the liquid junction potential of the
pipette solution against each bath solution. Warnings are also logged, so they show in the
live log line of the run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ionrig.chemistry import CHEMISTRY_VERSION, liquid_junction_potential_mV, tonicity_warnings
from ionrig.devices import Rig

__all__ = ["chemistry_md"]

logger = logging.getLogger("ionrig.plans")


#: LJP per (pipette, bath) solution objects: a Nernst–Planck solve takes ~10 ms and every patch
#: run asks again for the same pairs (the objects are kept, so their ids stay valid)
_LJP_CACHE: dict[tuple[int, int], tuple[Any, Any, float]] = {}


def _ljp_of(pipette: Any, bath: Any) -> float:
    key = (id(pipette), id(bath))
    cached = _LJP_CACHE.get(key)
    if cached is None:
        value = liquid_junction_potential_mV(pipette, bath, temperature_C=bath.temperature_C)
        cached = _LJP_CACHE[key] = (pipette, bath, round(value, 2))
    return cached[2]


def _ljp_mV(rig: Rig, pipette: str, baths: Sequence[str]) -> dict[str, float]:
    solutions = rig.solutions
    return {
        bath: _ljp_of(solutions[pipette], solutions[bath])
        for bath in baths
        if solutions[bath].role == "bath"
    }


def chemistry_md(
    rig: Rig, baths: Sequence[str], *, pipette: str | None = None, plan_name: str = ""
) -> dict[str, Any]:
    """The ``chemistry`` entry of a start document for a run using ``baths`` (and ``pipette``).

    Solutions the rig does not know (no solutions table, or a pipette named only in metadata)
    are left out; ``liquid_junction_potential_mV`` maps each bath-role solution to the pipette's
    LJP against it (Neher 1992 convention: Vm = Vcommand − LJP).
    """
    solutions = getattr(rig, "solutions", None) or {}
    names = [n for n in dict.fromkeys([*baths, *([pipette] if pipette else [])]) if n in solutions]
    known_baths = [b for b in baths if b in solutions and solutions[b].role == "bath"]
    warnings = tonicity_warnings(
        solutions,
        baths=list(dict.fromkeys(known_baths)),
        pipette=pipette if pipette in solutions else None,
    )
    for warning in warnings:
        logger.warning("%s: %s", plan_name or "run", warning)
    md: dict[str, Any] = {
        "version": CHEMISTRY_VERSION,
        "solutions": {name: solutions[name].summary() for name in names},
        "warnings": warnings,
    }
    if pipette in solutions:
        candidates = list(dict.fromkeys([*known_baths, *rig.perfusion.solutions]))
        md["liquid_junction_potential_mV"] = _ljp_mV(
            rig, pipette, [b for b in candidates if b in solutions]
        )
    return md

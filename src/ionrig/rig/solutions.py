"""``ionrig solutions``: write a lab's starter file, check solutions files, list components.

``check`` prints, for every solution, what the chemistry derives (free Mg²⁺ and Ca²⁺, Na⁺, K⁺,
Cl⁻, pH, osmolality, ionic strength) and the liquid junction potential of each pipette
solution against each bath solution, then the tonicity warnings; it exits non-zero on any
error in the files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from ionrig.chemistry import (
    COMPONENTS,
    Solution,
    SolutionsError,
    liquid_junction_potential_mV,
    load_solutions,
    solutions_paths,
    starter_solutions_text,
    tonicity_warnings,
)

__all__ = ["check_solutions", "junction_table", "list_components", "write_starter"]


def write_starter(path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write the commented starter solutions file to ``path`` (refuses to overwrite)."""
    target = Path(path)
    if target.exists() and not force:
        raise FileExistsError(f"{target} exists; give another path or --force")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(starter_solutions_text(), encoding="utf-8")
    return target


def list_components() -> str:
    """The components a recipe may list, one per line with the species each releases."""
    lines = []
    for name in sorted(COMPONENTS, key=str.lower):
        component = COMPONENTS[name]
        species = " + ".join(
            f"{n:g} {s}" if n != 1 else s for s, n in component.species.items() if s != "oh"
        )
        note = f"  ({component.description})" if component.description else ""
        lines.append(f"{name:22s} {species}{note}")
    return "\n".join(lines)


def junction_table(solutions: Mapping[str, Solution]) -> list[tuple[str, str, float]]:
    """(pipette, bath, LJP mV) for each pipette solution against each bath solution."""
    pipettes = [n for n, s in solutions.items() if s.role == "pipette"]
    baths = [n for n, s in solutions.items() if s.role == "bath"]
    return [
        (
            p,
            b,
            liquid_junction_potential_mV(
                solutions[p], solutions[b], temperature_C=solutions[p].temperature_C
            ),
        )
        for p in pipettes
        for b in baths
    ]


def _table(solutions: Mapping[str, Solution]) -> list[str]:
    width = max(24, *(len(name) for name in solutions))
    header = (
        f"{'solution':{width}s} {'role':11s} {'Mg free':>9s} {'Ca free':>9s} {'Na':>7s} {'K':>7s} "
        f"{'Cl':>7s} {'pH':>5s} {'mOsm':>6s} {'I':>6s}"
    )
    units = (
        f"{'':{width}s} {'':11s} {'mM':>9s} {'µM':>9s} {'mM':>7s} {'mM':>7s} {'mM':>7s} {'':5s} "
    )
    units += f"{'/kg':>6s} {'mM':>6s}"
    lines = [header, units]
    for name, s in solutions.items():
        t = s.totals_mM
        osm = f"{s.osmolarity_mOsm:6.0f}" + ("*" if s.measured_osmolarity_mOsm else "")
        lines.append(
            f"{name:{width}s} {s.role:11s} {s.mg_free_mM:9.4g} {s.ca_free_uM:9.4g} "
            f"{t.get('na', 0):7.1f} {t.get('k', 0):7.1f} {t.get('cl', 0):7.1f} {s.ph:5.2f} "
            f"{osm} {s.ionic_strength_mM:6.0f}"
        )
    return lines


def check_solutions(
    paths: Sequence[str | os.PathLike] = (),
    *,
    bath_tolerance_mOsm: float = 10.0,
    pipette_tolerance_mOsm: float = 30.0,
) -> tuple[int, str]:
    """(exit status, text) of ``ionrig solutions check``: 1 on any error in the files."""
    files = solutions_paths(paths)
    try:
        solutions = load_solutions(*files)
    except SolutionsError as error:
        return 1, f"error: {error}"
    where = ", ".join(str(f) for f in files) if files else "the packaged example solutions"
    lines = [f"solutions from {where} (* measured osmolality)", "", *_table(solutions)]
    ljp = junction_table(solutions)
    if ljp:
        lines += ["", "liquid junction potentials (Neher 1992 convention: Vm = Vcommand − LJP)"]
        lines += [f"  {p} | {b}: {v:+.1f} mV" for p, b, v in ljp]
    warnings = tonicity_warnings(
        solutions,
        bath_tolerance_mOsm=bath_tolerance_mOsm,
        pipette_tolerance_mOsm=pipette_tolerance_mOsm,
    )
    if warnings:
        lines += ["", "warnings:", *(f"  {w}" for w in warnings)]
    return 0, "\n".join(lines)

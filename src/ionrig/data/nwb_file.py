"""The NWB file of an exported run: session metadata from its start document, the subject, and
the error every export step raises (:mod:`ionrig.data.export` writes the data into it)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import ionrig

__all__ = ["ExportError", "new_nwbfile"]


class ExportError(ValueError):
    """The run cannot be exported (wrong plan, missing data, inconsistent records)."""


def _as_list(value: Any) -> list[str] | None:
    """``None``, a string or several as a list of strings."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _subject(start: Mapping[str, Any]):
    """The start document's ``subject`` (NWB Subject fields; age as ISO 8601 duration), else a
    generic cultured-cell entry: nwbinspector treats a missing subject, subject_id, sex and age
    as critical, so what is not given is recorded as unknown (sex "U", age "P0D/")."""
    from pynwb.file import Subject

    given = start.get("subject")
    if given is not None:
        if not isinstance(given, Mapping):
            raise ExportError(f"the start document's subject must be a mapping, got {given!r}")
        allowed = {
            "subject_id",
            "species",
            "sex",
            "age",
            "description",
            "strain",
            "genotype",
            "weight",
        }
        unknown = set(given) - allowed
        if unknown:
            raise ExportError(
                f"subject: unknown field(s) {sorted(unknown)}; allowed: {sorted(allowed)}"
            )
        fields = {"sex": "U", "age": "P0D/", "description": "cultured cells, in vitro", **given}
        fields.setdefault("subject_id", start.get("cell_line") or start.get("cell") or "cells")
        return Subject(**{key: str(value) for key, value in fields.items()})
    cell = start.get("cell_line") or start.get("cell")
    return Subject(
        subject_id=str(cell or "cells"),
        description=(
            "cultured cells, in vitro"
            + (f": {cell}" if cell else "")
            + ". Cell line, species, sex and age are not in the run's start document "
            "(record them with md={'subject': {...}})."
        ),
        sex="U",
        age="P0D/",  # unknown: 0 days or older
    )


def new_nwbfile(start: Mapping[str, Any], time_offset_s: float, keywords: Sequence[str]):
    """The ``NWBFile`` of a run: its start document's metadata (session, experimenter, protocol,
    pharmacology, subject) and how its times relate to the rig clock (``time_offset_s``, s)."""
    from pynwb import NWBFile

    plan_name = start.get("plan_name", "?")
    rig = start.get("rig", "?")
    clock = (
        f"simulated rig clock at time_scale {start.get('time_scale')}"
        if start.get("simulated")
        else "rig clock (wall time)"
    )
    pharmacology = {
        k: start[k]
        for k in ("solution", "solution_composition_mM", "pipette_solution")
        if start.get(k) is not None
    }
    return NWBFile(
        session_description=f"{plan_name} on rig {rig}",
        identifier=str(start["uid"]),
        session_id=str(start["uid"]),
        session_start_time=datetime.fromtimestamp(float(start["time"]), tz=UTC),
        experimenter=_as_list(start.get("experimenter") or start.get("operator")),
        lab=start.get("lab"),
        institution=start.get("institution"),
        experiment_description=start.get("experiment_description"),
        keywords=list(keywords),
        protocol=json.dumps(
            {"plan_name": plan_name, "plan_args": start.get("plan_args")}, default=str
        ),
        pharmacology=json.dumps(pharmacology, default=str) if pharmacology else None,
        data_collection=(
            f"ionrig {start.get('ionrig_version', '?')} run {start['uid']} on rig {rig}. "
            f"NWB times are seconds of the {clock} (t_s) minus {time_offset_s!r} s, the "
            "earliest rig-clock time recorded in the run; session_start_time is the wall time "
            "of the run's start document."
        ),
        notes=json.dumps(dict(start), default=str),
        source_script=f"ionrig.data.export (ionrig {ionrig.__version__})",
        source_script_file_name="src/ionrig/data/export.py",
        subject=_subject(start),
    )

"""Readers handed the wrong run (issue 11): every public reader of ``ionrig.data.readers`` against
runs of other plans and a run whose streams are missing, and bad reader arguments.

Four small runs are recorded once for the module: a ``wash`` (stream ``perfusion`` only), a
one-pair ``ratiometric_timecourse``, a one-sweep ``voltage_ramp`` and a time course that failed
at its first frame (no stream at all). Each reader must read the runs it is for and refuse the
others with a ``ValueError`` naming the run and what it needs — never a ``KeyError`` from deep
inside the catalog client.
"""

from __future__ import annotations

import inspect
import re
import shutil
from collections.abc import Callable
from typing import Any

import pytest

from ionrig.data import readers
from ionrig.plans import ratiometric_timecourse, voltage_ramp, wash
from ionrig.simulators import CameraFault

RUN_LABELS = ("wash", "timecourse", "ramp", "failed_timecourse")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, _initialised_catalog_db) -> dict[str, Any]:
    """The catalog and the four runs (module-scoped: recorded once, only read afterwards)."""
    from ionrig.data.catalog import open_catalog
    from ionrig.session import start

    data = tmp_path_factory.mktemp("reader-runs")
    (data / "catalog").mkdir()
    shutil.copyfile(_initialised_catalog_db, data / "catalog" / "catalog.db")
    catalog = open_catalog(data)
    session = start("sim", catalog=catalog, time_scale=100)
    uids = {
        "wash": session.RE(wash(session.rig, bath_volumes=1.0)).run_start_uids[0],
        "timecourse": session.RE(ratiometric_timecourse(session.rig, 1)).run_start_uids[0],
        "ramp": session.RE(voltage_ramp(session.rig, n_sweeps=1)).run_start_uids[0],
    }
    camera = session.rig.instruments["camera"]
    camera.inject(CameraFault(after_frames=camera.frames_taken + 1))  # the preview only
    with pytest.raises(Exception, match="simulated fault"):
        session.RE(ratiometric_timecourse(session.rig, 2))
    uids["failed_timecourse"] = catalog[-1].metadata["start"]["uid"]
    yield {"catalog": catalog, **{label: catalog[uid] for label, uid in uids.items()}}
    catalog.close()


#: How each public reader is called on a run, and the runs it is for.
READERS: dict[str, tuple[Callable[[Any, Any], Any], set[str]]] = {
    "read_timecourse": (lambda catalog, run: readers.read_timecourse(run), {"timecourse"}),
    "iter_frames": (lambda catalog, run: list(readers.iter_frames(run)), {"timecourse"}),
    "read_frame": (lambda catalog, run: readers.read_frame(run), {"timecourse"}),
    "read_stream": (
        lambda catalog, run: readers.read_stream(run, "primary"),
        {"timecourse", "ramp"},
    ),
    "read_solution_changes": (
        lambda catalog, run: readers.read_solution_changes(run),
        set(RUN_LABELS),  # every run has a bath solution (perhaps unknown)
    ),
    "read_sweeps": (lambda catalog, run: readers.read_sweeps(run), {"ramp"}),
    "read_calibration": (lambda catalog, run: readers.read_calibration(run), set()),
    "find_calibration_run": (
        lambda catalog, run: readers.find_calibration_run(catalog, run),
        set(RUN_LABELS),  # None when there is none
    ),
    "read_mg_free": (lambda catalog, run: readers.read_mg_free(catalog, run), {"timecourse"}),
    "read_uptake_effect": (  # only mg_uptake runs (tests/plans/test_uptake_and_calibration.py)
        lambda catalog, run: readers.read_uptake_effect(catalog, run),
        set(),
    ),
}

SAYS_WHAT_IS_NEEDED = re.compile(r"must|needs|has no|without|recorded no|is not")


def test_every_public_reader_is_in_the_matrix() -> None:
    public = {name for name in readers.__all__ if inspect.isfunction(getattr(readers, name))}
    assert public == set(READERS)


def test_the_recorded_runs_have_the_streams_the_matrix_assumes(recorded) -> None:
    assert set(recorded["wash"]) == {"perfusion"}
    assert {"primary", "ratio"} <= set(recorded["timecourse"])
    assert "primary" in recorded["ramp"] and "camera" not in recorded["ramp"]["primary"]
    assert list(recorded["failed_timecourse"]) == []
    assert recorded["failed_timecourse"].metadata["stop"]["exit_status"] == "fail"


CASES = [
    pytest.param(reader, label, label in accepted, id=f"{reader}-{label}")
    for reader, (_, accepted) in READERS.items()
    for label in RUN_LABELS
]


@pytest.mark.parametrize(("reader", "label", "accepted"), CASES)
def test_a_reader_refuses_runs_it_is_not_for_by_name(recorded, reader, label, accepted) -> None:
    call, _ = READERS[reader]
    run = recorded[label]
    if accepted:
        call(recorded["catalog"], run)
        return
    with pytest.raises(ValueError) as refused:
        call(recorded["catalog"], run)
    message = str(refused.value)
    assert run.metadata["start"]["uid"][:8] in message, message
    assert SAYS_WHAT_IS_NEEDED.search(message), message


def test_a_failed_imaging_run_is_named_as_such(recorded) -> None:
    with pytest.raises(
        ValueError,
        match=r"\('ratiometric_timecourse', exit status 'fail'\) recorded no frames",
    ):
        readers.read_timecourse(recorded["failed_timecourse"])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda run: list(readers.iter_frames(run, chunk_frames=0)),
            r"chunk_frames must be an integer >= 1, got 0",
        ),
        (
            lambda run: list(readers.iter_frames(run, chunk_frames="8")),
            r"chunk_frames must be an integer >= 1, got '8'",
        ),
        (
            lambda run: readers.read_frame(run, wavelength_nm=500),
            r"wavelength_nm must be one of \[340, 380\] nm .*got 500",
        ),
        (
            lambda run: readers.read_frame(run, wavelength_nm=340, index=5),
            r"index must be in \[-1, 0\]: the run holds 1 frames at 340 nm",
        ),
        (
            lambda run: readers.read_stream(run, "nope"),
            r"stream must be one of the run's streams \['primary', 'ratio'\]",
        ),
        (
            lambda run: readers.read_stream(run, "ratio", ["t_s", "nope"]),
            r"keys must be data keys of stream 'ratio' .*got \['nope'\]",
        ),
        (
            lambda run: readers.read_stream(run, "ratio", "t_s"),
            r"keys must be a list of data keys, got the string 't_s'",
        ),
        (
            lambda run: readers.read_sweeps(run, stream="ratio"),
            r"has no amplifier sweeps in stream 'ratio'",
        ),
    ],
)
def test_bad_reader_arguments_are_refused_by_name(recorded, call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call(recorded["timecourse"])


def test_solution_periods_refuse_an_inverted_interval(recorded) -> None:
    changes = readers.read_solution_changes(recorded["wash"])
    with pytest.raises(ValueError, match=r"stop_s must be >= start_s"):
        changes.periods(10.0, 5.0)

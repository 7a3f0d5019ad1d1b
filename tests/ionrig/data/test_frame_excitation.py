"""Each frame's excitation as the readers see it: the camera's ``camera-excitation_nm``, and
runs recorded before frames carried it (step mode's ``filter_wheel-wavelength_nm`` events,
fly mode's ``excitation_sequence_nm`` start key), read through the one compatibility path.

Three small runs of four frames are recorded once for the module with the simulated rig's
camera; the frames at 340 and 380 nm differ, so a frame read at the wrong wavelength is seen.
"""

from __future__ import annotations

import shutil
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
import pytest
from ophyd_async.core import TriggerInfo

from ionrig.data import readers

#: The wheel's filter for each of the four frames of every run.
LIT_NM = (340, 380, 340, 380)


class _Recorded:
    """An excitation source that tells the camera a fixed answer per frame (NaN: unknown)."""

    def __init__(self, answers_nm: list[float]) -> None:
        self.answers_nm = answers_nm

    def frame_excitation_nm(self, frame_index: int) -> float:
        return self.answers_nm[frame_index]


def _frames_plan(rig, *, wheel_in_events: bool, md: dict[str, Any]):
    """One run: four frames, the wheel at ``LIT_NM`` for each; the camera alone in each
    ``primary`` event, or the camera and the wheel (as step mode recorded before)."""

    @bpp.stage_decorator([rig.camera])
    @bpp.run_decorator(md=md)
    def plan():
        yield from bps.prepare(rig.camera, TriggerInfo(livetime=0.01), wait=True)
        yield from bps.mv(rig.filter_wheel.shutter, "open")
        for nm in LIT_NM:
            yield from bps.mv(rig.filter_wheel, nm)
            yield from bps.trigger_and_read(
                [rig.camera, rig.filter_wheel] if wheel_in_events else [rig.camera]
            )
        yield from bps.mv(rig.filter_wheel.shutter, "closed")

    return plan()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, _initialised_catalog_db) -> dict[str, Any]:
    """``current`` (the camera recorded 340, 380, unknown, 380), ``old_step`` (no camera key,
    the wheel's readback in each event) and ``old_fly`` (no camera key, no wheel; the start
    document's sequence)."""
    from ionrig.data.catalog import open_catalog
    from ionrig.session import start

    data = tmp_path_factory.mktemp("excitation-runs")
    (data / "catalog").mkdir()
    shutil.copyfile(_initialised_catalog_db, data / "catalog" / "catalog.db")
    catalog = open_catalog(data)
    session = start("sim", catalog=catalog, time_scale=100)
    rig = session.rig
    uids = {}
    rig.camera.set_excitation(_Recorded([340.0, 380.0, float("nan"), 380.0]))
    uids["current"] = session.RE(_frames_plan(rig, wheel_in_events=False, md={}))
    rig.camera.set_excitation(None)  # as the camera was before it recorded excitations
    uids["old_step"] = session.RE(_frames_plan(rig, wheel_in_events=True, md={}))
    old_fly_md = {"excitation_sequence_nm": [340, 380]}
    uids["old_fly"] = session.RE(_frames_plan(rig, wheel_in_events=False, md=old_fly_md))
    yield {label: catalog[result.run_start_uids[0]] for label, result in uids.items()}
    session.close()
    catalog.close()


def _frames(run) -> np.ndarray:
    return np.concatenate([block for _, block in readers.iter_frames(run)])


def test_the_recorded_frames_differ_by_excitation(runs) -> None:
    frames = _frames(runs["old_step"]).astype(float)
    assert frames.shape[0] == 4
    # the same wavelength twice looks alike; 340 against 380 does not
    assert abs(frames[0].mean() - frames[2].mean()) < abs(frames[0].mean() - frames[1].mean())


def test_the_camera_key_is_read_and_frames_of_unknown_excitation_are_in_none(runs) -> None:
    run = runs["current"]
    assert "camera-excitation_nm" in run["primary"]
    assert "filter_wheel-wavelength_nm" not in run["primary"]
    frames = _frames(run)
    # the camera's answers, not the wheel: the third frame's excitation is unknown
    np.testing.assert_array_equal(readers.read_frame(run, wavelength_nm=340), frames[0])
    np.testing.assert_array_equal(readers.read_frame(run, wavelength_nm=380, index=1), frames[3])
    with pytest.raises(ValueError, match=r"the run holds 1 frames at 340 nm"):
        readers.read_frame(run, wavelength_nm=340, index=1)


@pytest.mark.parametrize("label", ["old_step", "old_fly"])
def test_runs_recorded_before_the_camera_key_still_read(runs, label) -> None:
    run = runs[label]
    assert "camera-excitation_nm" not in run["primary"]
    frames = _frames(run)
    for nm in (340, 380):
        expected = [frames[i] for i, lit in enumerate(LIT_NM) if lit == nm]
        for index, frame in enumerate(expected):
            np.testing.assert_array_equal(
                readers.read_frame(run, wavelength_nm=nm, index=index), frame
            )
    with pytest.raises(ValueError, match=r"wavelength_nm must be one of \[340, 380\] nm"):
        readers.read_frame(run, wavelength_nm=500)

"""NWB export of stored runs: patch-clamp sweeps in the icephys tables, imaging ROIs and ratio
traces, checked by nwbinspector and read back with pynwb; and the ``ionrig export`` command."""

import os
import subprocess
import sys
from types import SimpleNamespace
from urllib.parse import urlparse

import h5py
import numpy as np
import pytest
from nwbinspector import Importance, inspect_nwbfile
from pynwb import NWBHDF5IO

from ionrig.analysis import roi_mask
from ionrig.cli.commands import run_by_reference
from ionrig.cli.main import main
from ionrig.data.catalog import open_catalog
from ionrig.data.export import SUPPORTED_PLANS, ExportError, export_nwb, export_nwb_run
from ionrig.plans import break_in, form_seal, membrane_test, ratiometric_timecourse, trpm7_ramps
from ionrig.session import start

# no Ra drift or seal loss: the cell stays whole while the runs record it (as test_patch.py)
WHOLE_CELL = {
    "ra_drift_per_hour": 0.0,
    "seal_loss_per_hour": 0.0,
    "seal_success_probability": 1.0,
    "break_in_probability": 1.0,
}


@pytest.fixture(scope="module")
def patch_runs(tmp_path_factory):
    """A simulated session brought to whole cell as in tests/plans/test_patch.py (the operator
    places the pipette, form_seal, break_in), then a short trpm7_ramps and a membrane_test."""
    catalog = open_catalog(tmp_path_factory.mktemp("export-patch"))
    session = start("sim", catalog=catalog, time_scale=300, world={"patch": WHOLE_CELL})
    rig, patch = session.rig, session.rig.world.patch

    def responder(step, *, message, **params):
        patch.approach(params["cell_index"])

    rig.operator = responder
    RE = session.RE
    uids = {
        "form_seal": RE(form_seal(rig, target_GOhm=2.0, timeout_s=120.0, suction_kPa=-3.0)),
        "break_in": RE(break_in(rig)),
        "trpm7_ramps": RE(trpm7_ramps(rig, duration_s=8.0, period_s=2.0, cm_pF=20.0)),
        "membrane_test": RE(membrane_test(rig, n_sweeps=3)),
    }
    assert all(result.exit_status == "success" for result in uids.values())
    assert patch.state == "whole_cell"
    yield SimpleNamespace(
        catalog=catalog, uids={plan: r.run_start_uids[0] for plan, r in uids.items()}
    )
    session.close()


def _inspect(path) -> list:
    """nwbinspector's findings; fails on anything CRITICAL or worse (errors, invalid NWB)."""
    messages = list(inspect_nwbfile(nwbfile_path=path))
    for message in messages:
        print(f"nwbinspector {message.importance.name}: {message.check_function_name}: ", end="")
        print(f"{message.object_type} {message.location}: {message.message.splitlines()[0]}")
    severe = [m for m in messages if m.importance.value >= Importance.CRITICAL.value]
    assert not severe, [(m.check_function_name, m.message) for m in severe]
    return messages


def _raw_sweeps(run):
    """The sweeps and their start times from the amplifier's own HDF5 file (not via Tiled)."""
    source = run["primary"].metadata["data_keys"]["amplifier"]["source"]
    with h5py.File(urlparse(source).path, "r", swmr=True) as f:
        return f["/entry/im"][()], f["/entry/t_s"][()]


@pytest.mark.parametrize("plan", ["trpm7_ramps", "membrane_test", "break_in"])
def test_patch_run_exports_every_sweep_linked_by_the_icephys_tables(patch_runs, tmp_path, plan):
    run = patch_runs.catalog[patch_runs.uids[plan]]
    start_doc = run.metadata["start"]
    current_pA, sweep_t_s = _raw_sweeps(run)
    n = len(current_pA)
    assert n == {"trpm7_ramps": 4, "membrane_test": 3}.get(plan, n) and n >= 3

    result = export_nwb_run(run, tmp_path / f"{plan}.nwb")
    assert (result.n_sweeps, result.n_rois, result.plan_name) == (n, 0, plan)
    assert result.time_offset_s <= sweep_t_s.min()
    _inspect(result.path)

    with NWBHDF5IO(str(result.path), "r") as io:
        nwb = io.read()
        assert nwb.identifier == start_doc["uid"] and nwb.session_description.startswith(plan)
        assert nwb.session_start_time.timestamp() == pytest.approx(start_doc["time"])
        responses = [nwb.acquisition[name] for name in sorted(nwb.acquisition)]
        stimuli = [nwb.stimulus[name] for name in sorted(nwb.stimulus)]
        assert len(responses) == len(stimuli) == n
        for index, (response, stimulus) in enumerate(zip(responses, stimuli, strict=True)):
            assert type(response).__name__ == "VoltageClampSeries"
            assert type(stimulus).__name__ == "VoltageClampStimulusSeries"
            # the current exactly as recorded (pA, float32), SI through conversion
            np.testing.assert_array_equal(response.data[:], current_pA[index])
            assert (response.unit, response.conversion) == ("amperes", 1e-12)
            assert (stimulus.unit, stimulus.conversion) == ("volts", 1e-3)
            assert response.gain == pytest.approx(1e9)  # telegraphed 1 mV/pA = 1e9 V/A
            assert response.sweep_number == stimulus.sweep_number == index
            for series in (response, stimulus):
                assert series.starting_time + result.time_offset_s == pytest.approx(
                    sweep_t_s[index], abs=1e-9
                )
                assert series.stimulus_description == plan
            assert (
                response.rate
                == stimulus.rate
                == pytest.approx(
                    start_doc["plan_args"].get("sample_rate_Hz")
                    or start_doc["membrane_test"]["sample_rate_Hz"]
                )
            )
            command_mV = stimulus.data[:]
            assert command_mV.size == response.data.shape[0]
        if plan == "trpm7_ramps":  # §8.1: 10 ms at 0 mV, 50-ms ramp -100 → +100 mV, 10 ms at 0
            assert command_mV.size == 700
            assert np.all(command_mV[:100] == 0.0) and np.all(command_mV[-100:] == 0.0)
            assert command_mV[100] == -100.0 and command_mV[599] == 100.0
            assert np.all(np.diff(command_mV[100:600]) > 0)
        else:  # 10-ms steps of -5 mV from the holding at 50 kHz
            holding = start_doc["holding_mV_at_start"]
            assert set(np.unique(command_mV)) == {holding, holding - 5.0}
            assert np.count_nonzero(command_mV == holding - 5.0) == 500

        electrode = responses[0].electrode
        assert "5.0 kHz" in electrode.filtering and electrode.device.name == "amplifier"
        # icephys tables: one intracellular recording and one simultaneous recording per
        # sweep, all in one sequential recording named after the plan
        table = nwb.intracellular_recordings
        assert len(table) == n
        response_column = table.category_tables["responses"]["response"]
        stimulus_column = table.category_tables["stimuli"]["stimulus"]
        assert [response_column[i].timeseries.name for i in range(n)] == [r.name for r in responses]
        assert [stimulus_column[i].timeseries.name for i in range(n)] == [s.name for s in stimuli]
        assert all(
            response_column[i].count == response_column[i].timeseries.data.shape[0]
            for i in range(n)
        )  # each row covers its whole sweep
        simultaneous = nwb.icephys_simultaneous_recordings
        assert len(simultaneous) == n
        assert simultaneous["recordings"].target.table is table
        assert list(simultaneous["recordings"].target.data[:]) == list(range(n))
        sequential = nwb.icephys_sequential_recordings
        assert list(sequential["stimulus_type"][:]) == [plan]
        assert sequential["simultaneous_recordings"].target.table is simultaneous
        assert list(sequential["simultaneous_recordings"].target.data[:]) == list(range(n))
        assert nwb.sweep_table is None  # not the deprecated SweepTable
        # the plan's computed stream, in SI through conversion
        computed = {"trpm7_ramps": "trpm7", "membrane_test": "membrane_test"}.get(plan, plan)
        key = {"trpm7": "i_plus80_pA", "membrane_test": "cm_pF", "break_in": "cm_pF"}[computed]
        series = nwb.processing["icephys"][f"{computed}_{key}"]
        np.testing.assert_allclose(series.data[:], run[computed][key].read())
        assert series.conversion == 1e-12 and series.unit in ("amperes", "farads")
        assert series.timestamps[0] + result.time_offset_s == pytest.approx(
            run[computed]["t_s"].read()[0]
        )
        assert nwb.subject is not None and nwb.subject.sex == "U"


def test_imaging_run_exports_rois_and_ratio_traces(session, tmp_path):
    md = {  # what the operator can give so that the file says who and what
        "experimenter": "Doe, Jane",
        "lab": "Ion channel lab",
        "institution": "Example University",
        "subject": {"subject_id": "HEK-293 p12", "species": "Homo sapiens", "sex": "F"},
    }
    result = session.RE(ratiometric_timecourse(session.rig, 8, exposure_ms=15, md=md))
    run = session.catalog[result.run_start_uids[0]]
    start_doc = run.metadata["start"]
    names = start_doc["roi_order"][:-1]
    assert len(names) >= 2

    path = export_nwb(run, tmp_path / "timecourse.nwb")
    findings = {m.check_function_name for m in _inspect(path)}
    assert not findings & {"check_subject_species_exists", "check_experimenter_exists"}

    ratio = run["ratio"]
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        plane = nwb.imaging_planes["ImagingPlane"]
        assert plane.indicator == "Mag-fura-2"
        assert plane.optical_channel[0].emission_lambda == 510.0
        assert "340" in plane.description and "380" in plane.description
        ophys = nwb.processing["ophys"]
        cells = ophys["ImageSegmentation"]["PlaneSegmentation"]
        assert len(cells) == len(names)
        assert list(cells["roi_name"][:]) == names
        shape = tuple(run["primary"].metadata["data_keys"]["camera"]["shape"][-2:])
        for index, name in enumerate(names):
            mask = np.zeros(shape, dtype=bool)
            for x, y, weight in cells["pixel_mask"][index]:
                assert weight == 1.0
                mask[y, x] = True
            np.testing.assert_array_equal(mask, roi_mask(start_doc["rois"][name], shape))
        background = ophys["ImageSegmentation"]["BackgroundPlaneSegmentation"]
        assert len(background) == 1
        traces = ophys["Fluorescence"]
        for series_name, prefix in (("ratio", "ratio"), ("F340", "f340"), ("F380", "f380")):
            series = traces[series_name]
            assert series.data.shape == (8, len(names))
            assert series.rois.table is cells
            for index, name in enumerate(names):
                np.testing.assert_allclose(
                    series.data[:, index], ratio[f"{prefix}_{name}"].read(), rtol=1e-12
                )
            np.testing.assert_allclose(
                series.timestamps[:] - series.timestamps[0],
                ratio["t_s"].read() - ratio["t_s"].read()[0],
                atol=1e-9,
            )
        assert traces["ratio"].unit == "1" and traces["F340"].unit == "ADU/px/ms"
        assert nwb.session_description == "ratiometric_timecourse on rig sim"
        assert list(nwb.experimenter) == ["Doe, Jane"] and nwb.lab == "Ion channel lab"
        assert (nwb.subject.subject_id, nwb.subject.species) == ("HEK-293 p12", "Homo sapiens")
        assert nwb.subject.age == "P0D/"  # not given: unknown


def test_runs_that_cannot_be_exported_are_refused_clearly(patch_runs, tmp_path):
    seal = patch_runs.catalog[patch_runs.uids["form_seal"]]
    with pytest.raises(ExportError, match=r"'form_seal' run.*supported plans: trpm7_ramps") as e:
        export_nwb(seal, tmp_path / "seal.nwb")
    assert all(plan in str(e.value) for plan in SUPPORTED_PLANS)
    assert not (tmp_path / "seal.nwb").exists()
    ramps = patch_runs.catalog[patch_runs.uids["trpm7_ramps"]]
    with pytest.raises(ExportError, match=r"path must end in \.nwb"):
        export_nwb(ramps, tmp_path / "ramps.h5")
    path = export_nwb(ramps, tmp_path / "ramps.nwb")
    with pytest.raises(ExportError, match="exists"):
        export_nwb(ramps, path)
    assert export_nwb(ramps, path, overwrite=True) == path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ramps.nwb"]  # no partial files


@pytest.mark.slow
def test_export_command_by_position_and_by_uid_prefix(
    session, data_dir, tmp_path, monkeypatch, capsys
):
    (uid,) = session.RE(ratiometric_timecourse(session.rig, 6)).run_start_uids
    session.catalog.close()  # one process owns the catalog: the command opens it next

    # the installed command, in its own process, on $IONRIG_DATA
    out = tmp_path / "newest.nwb"
    newest = subprocess.run(
        [sys.executable, "-m", "ionrig.cli", "export", "-1", "--nwb", "--out", str(out)],
        env={**os.environ, "IONRIG_DATA": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert newest.returncode == 0, newest.stderr
    assert f"wrote {out} (ratiometric_timecourse run {uid}, " in newest.stdout
    with NWBHDF5IO(str(out), "r") as io:
        assert io.read().identifier == uid

    # by uid prefix, --data after the subcommand, default file name in the working directory
    elsewhere = tmp_path / "not-the-data"
    monkeypatch.setenv("IONRIG_DATA", str(elsewhere))
    monkeypatch.chdir(tmp_path)
    assert main(["export", uid[:8], "--nwb", "--data", str(data_dir)]) == 0
    assert (tmp_path / f"ratiometric_timecourse-{uid[:8]}.nwb").is_file()
    assert not elsewhere.exists()  # --data won over $IONRIG_DATA
    assert f"ratiometric_timecourse run {uid}" in capsys.readouterr().out


def test_export_command_resolves_runs_by_position_or_unique_prefix():
    class Catalog:  # the part of ionrig.data.catalog.Catalog the resolution uses
        def uids(self):
            return ["aa11", "aa22", "bb33"]

        def __getitem__(self, uid):
            return f"run {uid}"

    assert run_by_reference(Catalog(), "-1") == "run bb33"
    assert run_by_reference(Catalog(), "-3") == "run aa11"
    assert run_by_reference(Catalog(), "aa2") == "run aa22"
    with pytest.raises(ValueError, match="the catalog holds 3 runs"):
        run_by_reference(Catalog(), "-4")
    with pytest.raises(ValueError, match="2 runs match 'aa'"):
        run_by_reference(Catalog(), "aa")
    with pytest.raises(ValueError, match="0 runs match 'cc'"):
        run_by_reference(Catalog(), "cc")


def test_a_voltage_step_family_with_p_over_n_exports_each_sweeps_own_command(tmp_path):
    from ionrig.data.catalog import open_catalog
    from ionrig.plans import patch_cell, voltage_steps

    session = start(
        "sim",
        catalog=open_catalog(tmp_path / "data"),
        time_scale=200,
        world={"patch": {"seal_success_probability": 1.0, "break_in_probability": 1.0}},
    )
    session.RE(patch_cell(session.rig, cell_index=0))
    levels = [-80.0, 0.0, 40.0]
    result = session.RE(
        voltage_steps(session.rig, steps_mV=levels, step_ms=20.0, leak_p_over_n=-0.25, n_leak=2)
    )
    run = session.catalog[result.plan_result]
    path = export_nwb(run, tmp_path / "steps.nwb")
    _inspect(path)
    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        commands = [nwbfile.stimulus[name].data[:] for name in sorted(nwbfile.stimulus)]
    assert len(commands) == 3 * (1 + 2)  # each test step and its two P/N pulses
    # the step plateau of each test sweep is its level; of each leak pulse, -1/4 of the step
    holding = -70.0
    for k, level in enumerate(levels):
        test, leak = commands[3 * k], commands[3 * k + 1]
        assert np.max(np.abs(test - holding)) == pytest.approx(abs(level - holding), abs=1e-3)
        assert np.max(np.abs(leak - holding)) == pytest.approx(
            0.25 * abs(level - holding), abs=1e-3
        )

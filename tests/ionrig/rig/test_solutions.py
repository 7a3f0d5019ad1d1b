"""A lab's own solutions file, from a temporary folder: the command line, the rig file, a run."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from ionrig.cli import main
from ionrig.rig.config import ConfigError

LAB = """
solutions:
  lab_bath:
    components: {NaCl: 140, KCl: 2.8, CaCl2: 1, MgCl2: 2, HEPES: 10, glucose: 11}
    ph: 7.2
    ph_adjusted_with: NaOH
    temperature_C: 22
  lab_treatment:
    components: {NaCl: 110, KCl: 2.8, CaCl2: 1, HEPES: 10, glucose: 11,
                 Mg-aspartate: 10, K-aspartate: 15}
    ph: 7.2
    ph_adjusted_with: NaOH
    temperature_C: 22
    isosmotic_with: lab_bath
  lab_pipette:
    components: {Cs-glutamate: 140, NaCl: 8, Cs4-BAPTA: 10, HEPES: 10}
    target_mg_free_mM: 0.5
    ph: 7.2
    ph_adjusted_with: CsOH
    temperature_C: 22
    role: pipette
"""


def test_solutions_new_writes_a_starter_that_checks_clean(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("IONRIG_SOLUTIONS", raising=False)
    path = tmp_path / "lab" / "solutions.yaml"
    assert main(["solutions", "new", str(path)]) == 0
    assert path.is_file() and "target_mg_free_mM" in path.read_text()
    assert main(["solutions", "new", str(path)]) == 1  # never overwrites
    assert "exists" in capsys.readouterr().err
    assert main(["solutions", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "pipette_mg_1" in out and "mOsm" in out
    assert "pipette_mg_1 | bath: +" in out  # a Cs-glutamate internal: bath positive (Neher)


def test_solutions_check_prints_the_chemistry_and_warns(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("IONRIG_SOLUTIONS", raising=False)
    lab = tmp_path / "lab.yaml"
    lab.write_text(LAB)
    assert main(["--solutions", str(lab), "solutions", "check"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("lab_pipette"))
    assert row.split()[2] == "0.5"  # free Mg²⁺ as targeted
    assert "lab_pipette | lab_bath: +" in out
    # lab_treatment took only 30 mM NaCl out for 10 Mg-aspartate + 15 K-aspartate: close
    assert "warnings" not in out
    hypo = tmp_path / "hypo.yaml"
    hypo.write_text(LAB.replace("NaCl: 110,", "NaCl: 95,"))
    assert main(["solutions", "check", str(hypo)]) == 0
    assert "lab_treatment (" in capsys.readouterr().out  # the isosmotic_with warning


def test_solutions_check_exits_non_zero_naming_the_field(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("solutions:\n  x:\n    components: {NaCl: 140}\n    ph: 10\n")
    assert main(["solutions", "check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml: solutions.x: ph must be in 5..9, got 10" in err


def test_solutions_components_lists_the_salts(capsys):
    assert main(["solutions", "components"]) == 0
    out = capsys.readouterr().out
    assert "Mg-aspartate" in out and "Cs4-BAPTA" in out


def lab_rig(tmp_path) -> str:
    """A rig file beside the lab's solutions file, naming it relatively."""
    (tmp_path / "lab.yaml").write_text(LAB)
    raw = yaml.safe_load((resources.files("ionrig.rigs") / "sim.yaml").read_text())
    raw["solutions"] = "lab.yaml"
    raw["perfusion"] = {**raw["perfusion"], "solutions": ["lab_bath", "lab_treatment"]}
    raw["perfusion"].pop("initial", None)
    raw["amplifier"] = {**raw["amplifier"], "pipette_solution": "lab_pipette"}
    raw["world"] = {
        **raw["world"],
        "chamber": {**raw["world"]["chamber"], "initial_solution": "lab_bath"},
    }
    path = tmp_path / "rig.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_a_rig_uses_the_lab_file_and_runs_record_its_chemistry(
    tmp_path, monkeypatch, catalog, docs
):
    """The package is untouched: the rig file in a temp folder names the lab's file."""
    from ionrig.plans import wash
    from ionrig.session import start

    monkeypatch.delenv("IONRIG_SOLUTIONS", raising=False)
    monkeypatch.chdir(tmp_path)
    session = start(lab_rig(tmp_path), catalog=catalog, time_scale=200)
    rig = session.rig
    assert set(rig.solutions) == {"lab_bath", "lab_treatment", "lab_pipette"}
    assert rig.solution_compositions["lab_pipette"]["mg_free_mM"] == pytest.approx(0.5, rel=0.005)
    # the simulated world perfuses the lab's solutions with the chemistry's free ions
    assert rig.world.solution("lab_treatment") == rig.solutions["lab_treatment"]
    session.RE.subscribe(docs)
    session.RE(wash(rig, solution="lab_treatment", bath_volumes=2))
    chemistry = docs.of("start")[0]["chemistry"]
    summary = chemistry["solutions"]["lab_treatment"]
    assert summary["mg_free_mM"] == pytest.approx(rig.solutions["lab_treatment"].mg_free_mM)
    assert summary["recipe"]["components"]["Mg-aspartate"] == 10
    assert chemistry["warnings"] == [] and chemistry["version"]
    env = rig.world.environment()
    assert env.mg_o == pytest.approx(rig.solutions["lab_treatment"].mg_free_mM, rel=0.05)


def test_a_rig_naming_a_missing_lab_file_or_solution_is_refused(tmp_path, monkeypatch):
    from ionrig.rig import read_rig_config, read_solutions

    monkeypatch.delenv("IONRIG_SOLUTIONS", raising=False)
    rig = lab_rig(tmp_path)
    config = read_rig_config(rig)
    assert set(read_solutions(config)) == {"lab_bath", "lab_treatment", "lab_pipette"}
    (tmp_path / "lab.yaml").unlink()
    with pytest.raises(ConfigError, match=r"solutions file '.*lab\.yaml' does not exist"):
        read_solutions(read_rig_config(rig))
    # $IONRIG_SOLUTIONS and then --solutions (explicit) take precedence over the rig file
    other = tmp_path / "other.yaml"
    other.write_text("solutions:\n  other_bath:\n    components: {NaCl: 150}\n")
    monkeypatch.setenv("IONRIG_SOLUTIONS", str(other))
    assert set(read_solutions(config)) == {"other_bath"}
    assert set(read_solutions(config, [tmp_path / "other.yaml"])) == {"other_bath"}

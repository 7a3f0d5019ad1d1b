"""Solutions as recipes: derived ions, targets, titration, layered files, tonicity."""

from __future__ import annotations

import dataclasses
import textwrap

import pytest

from ionrig.chemistry import (
    Solution,
    SolutionsError,
    liquid_junction_potential_mV,
    load_solutions,
    parse_solutions,
    solutions_paths,
    speciate,
    starter_solutions_text,
    tonicity_warnings,
)

PIPETTE = {"Cs-glutamate": 140, "NaCl": 8, "Cs4-BAPTA": 10, "HEPES": 10}
#: eight TRPM7 pipette solutions, free Mg²⁺ 0–10 mM (the dose-response a lab sets up)
TARGETS_mM = (0.0, 0.03, 0.1, 0.3, 0.72, 1.5, 4.0, 10.0)


def lab_file_text() -> str:
    """A lab's own file: eight TRPM7 pipettes, bath, treatment, control, calibration."""
    pipettes = "".join(
        f"""
  pipette_mg_{i}:
    components: {{Cs-glutamate: 140, NaCl: 8, Cs4-BAPTA: 10, HEPES: 10}}
    target_mg_free_mM: {target}
    ph: 7.2
    ph_adjusted_with: CsOH
    temperature_C: 22
    role: pipette"""
        for i, target in enumerate(TARGETS_mM)
    )
    others = textwrap.indent(
        textwrap.dedent(
            """
            lab_bath:
              components: {NaCl: 140, KCl: 2.8, CaCl2: 1, MgCl2: 2, HEPES: 10, glucose: 11}
              ph: 7.2
              ph_adjusted_with: NaOH
              temperature_C: 22
            lab_treatment:
              components: {NaCl: 110, KCl: 2.8, CaCl2: 1, HEPES: 10, glucose: 11,
                           Mg-aspartate: 10, K-aspartate: 15}
              ph: 7.4
              ph_adjusted_with: NaOH
              isosmotic_with: lab_bath
            lab_control:
              components: {NaCl: 90, KCl: 2.8, CaCl2: 1, MgCl2: 2, HEPES: 10, glucose: 11,
                           K-aspartate: 15, Na-aspartate: 20, mannitol: 20}
              ph: 7.4
              ph_adjusted_with: NaOH
              isosmotic_with: lab_treatment
            lab_rmin:
              components: {NaCl: 140, KCl: 5, EDTA: 5, EGTA: 2, HEPES: 10}
              ionophore_uM: 10
              ph: 7.2
              ph_adjusted_with: NaOH
              role: calibration
            """
        ),
        "  ",
    )
    return "solutions:" + pipettes + others


def test_hbss_recipe_gives_the_formulation_totals():
    """Gibco 14025 salts add up to its stated ion totals (Na 142.8, K 5.77, Cl 146.8 mM)."""
    hbss = load_solutions()["hbss"]
    totals = hbss.totals_mM
    assert totals["na"] == pytest.approx(142.78, abs=0.01)
    assert totals["k"] == pytest.approx(5.771, abs=0.001)
    assert totals["cl"] == pytest.approx(146.77, abs=0.01)
    assert totals["mg"] == pytest.approx(0.9, abs=1e-9) and totals["ca"] == 1.26
    assert hbss.charge_balance_mM == pytest.approx(0.0, abs=0.5)  # a complete recipe balances
    # phosphate and sulfate bind a little Mg: free below total, but not by much
    assert 0.8 < hbss.mg_free_mM < 0.9


def test_titrant_follows_the_buffers_pka():
    """10 mM HEPES free acid to pH 7.4 with NaOH: HEPES pKa 7.48 at 25 °C, 0.1 M (Good et al.
    1966, Biochemistry 5:467, Table), so ~10/(1 + 10^(7.48 − 7.4)) ≈ 4.5 mM NaOH."""
    saline = Solution(components={"NaCl": 140, "HEPES": 10}, ph=7.4, ph_adjusted_with="NaOH")
    assert saline.titrant_mM == pytest.approx(10 / (1 + 10 ** (7.48 - 7.4)), rel=0.08)
    assert saline.totals_mM["na"] == pytest.approx(140 + saline.titrant_mM)
    # colder: HEPES' pKa rises (ΔpKa/ΔT ≈ −0.014 /°C, Good 1966), less base is needed
    cold = dataclasses.replace(saline, temperature_C=10.0)
    assert cold.titrant_mM < saline.titrant_mM
    # a recipe that needs acid cannot be adjusted with a base
    with pytest.raises(ValueError, match="needs an acid"):
        Solution(components={"NaCl": 140, "Tris": 10}, ph=7.4, ph_adjusted_with="NaOH")


@pytest.mark.parametrize("target_mM", TARGETS_mM)
def test_target_free_mg_round_trips(target_mM):
    """target → MgCl2 total → free: within 0.5 % (the issue's round-trip criterion)."""
    pipette = Solution(
        components=PIPETTE, target_mg_free_mM=target_mM, ph=7.2, ph_adjusted_with="CsOH",
        temperature_C=22.0,
    )  # fmt: skip
    assert pipette.mg_free_mM == pytest.approx(target_mM, rel=0.005, abs=1e-9)
    again = speciate(
        pipette.totals_mM, pH=7.2, temperature_C=22.0, ionic_strength_mM=pipette.ionic_strength_mM
    )
    assert again.free_mM["mg"] == pytest.approx(target_mM, rel=0.005, abs=1e-9)
    if target_mM > 0:  # BAPTA and glutamate hold some: the total exceeds the free
        assert pipette.totals_mM["mg"] > target_mM
        assert pipette.totals_mM["cl"] == pytest.approx(8 + 2 * pipette.totals_mM["mg"])


def test_target_free_ca_with_egta():
    internal = Solution(
        components={"K-gluconate": 130, "KCl": 10, "EGTA": 10, "HEPES": 10},
        target_ca_free_uM=0.1, ph=7.2, ph_adjusted_with="KOH",
    )  # fmt: skip
    assert internal.ca_free_uM == pytest.approx(0.1, rel=0.005)
    # EGTA's apparent Kd at pH 7.2 is ~0.15 µM: half its Ca-free form is still free to bind
    assert 2.0 < internal.totals_mM["ca"] < 6.0


def test_a_lab_file_outside_the_package(tmp_path):
    lab = tmp_path / "lab-solutions.yaml"
    lab.write_text(lab_file_text())
    table = load_solutions(lab)
    for i, target in enumerate(TARGETS_mM):
        assert table[f"pipette_mg_{i}"].mg_free_mM == pytest.approx(target, rel=0.005, abs=1e-9)
    assert "hbss" not in table  # the packaged example is not mixed in
    # LJP of the Cs-glutamate internal against the NaCl bath: positive, ~+10…+20 mV
    ljp = liquid_junction_potential_mV(table["pipette_mg_0"], table["lab_bath"])
    assert 10.0 < ljp < 20.0


def test_layered_files_merge_and_clashes_name_both_files(tmp_path):
    lab = tmp_path / "lab.yaml"
    lab.write_text(lab_file_text())
    today = tmp_path / "today.yaml"
    today.write_text("solutions:\n  today_bath:\n    components: {NaCl: 150}\n")
    table = load_solutions(lab, today)
    assert {"today_bath", "lab_bath", "pipette_mg_7"} <= set(table)
    same = tmp_path / "same.yaml"
    same.write_text("solutions:\n  today_bath:\n    components: {NaCl: 150}\n")
    assert load_solutions(today, same)["today_bath"] == table["today_bath"]
    clash = tmp_path / "clash.yaml"
    clash.write_text("solutions:\n  today_bath:\n    components: {NaCl: 145}\n")
    with pytest.raises(SolutionsError, match=r"'today_bath'.*today\.yaml.*clash\.yaml"):
        load_solutions(today, clash)


def test_which_files_apply(tmp_path, monkeypatch):
    monkeypatch.delenv("IONRIG_SOLUTIONS", raising=False)
    rig_file = tmp_path / "rigs" / "my-rig.yaml"
    assert solutions_paths() == []  # nothing named: the packaged example
    assert solutions_paths(None, ["lab.yaml"], rig_file) == [tmp_path / "rigs" / "lab.yaml"]
    monkeypatch.setenv("IONRIG_SOLUTIONS", f"{tmp_path / 'a.yaml'}:{tmp_path / 'b.yaml'}")
    assert solutions_paths(None, ["lab.yaml"], rig_file) == [
        tmp_path / "a.yaml",
        tmp_path / "b.yaml",
    ]
    assert solutions_paths([tmp_path / "c.yaml"], ["lab.yaml"], rig_file) == [tmp_path / "c.yaml"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("components: {NaCL2: 10}", r"bad: .*unknown component 'NaCL2'; known components: "),
        ("components: {NaCl: -1}", r"bad: .*components\.NaCl must be in 0\.\.2000, got -1"),
        ("components: {NaCl: .nan}", r"bad\.components\.NaCl: expected a finite number"),
        ("ph: 9.5", r"bad: .*ph must be in 5\.\.9, got 9\.5"),
        ("temperature_C: 60", r"temperature_C must be in 0\.\.45"),
        ("colour: blue", r"bad: unknown key 'colour'; allowed keys: "),
        ("ph_adjusted_with: NaCl", r"ph_adjusted_with must be one of CsOH, KOH, NaOH"),
        ("role: dish", r"role must be one of bath, pipette, loading, calibration"),
        (
            "components: {MgCl2: 5}\n    target_mg_free_mM: 1",
            r"target_mg_free_mM 1 mM is below what the recipe's own 5 mM Mg gives",
        ),
        ("target_ca_free_uM: 20000", r"target_ca_free_uM must be in 0\.\.10000 µM"),
        (
            "components: {EGTA: 10}\n    target_mg_free_mM: 90\n    target_mg_salt: CaCl2",
            r"target_mg_salt 'CaCl2' contains no Mg",
        ),
    ],
)
def test_bad_recipes_name_the_solution_and_the_field(entry, message):
    text = f"solutions:\n  bad:\n    {entry}\n"
    with pytest.raises(SolutionsError, match=message) as error:
        parse_solutions(text, "lab.yaml")
    assert str(error.value).startswith("lab.yaml: solutions.bad")


def test_the_seed_treatment_and_its_matched_controls():
    """mg_k_aspartate is isosmotic with HBSS; the K-aspartate control has its K⁺, Na⁺ and
    aspartate without the Mg; the MgCl2 control its free Mg²⁺ without K⁺ or aspartate."""
    table = load_solutions()
    hbss, treatment = table["hbss"], table["mg_k_aspartate"]
    k_control, mg_control = table["k_aspartate_control"], table["mgcl2_control"]
    for solution in (treatment, k_control, mg_control):
        assert abs(solution.osmolarity_mOsm - hbss.osmolarity_mOsm) < 10.0
    t, k = treatment.totals_mM, k_control.totals_mM
    for ion in ("na", "k", "aspartate"):
        assert k[ion] == pytest.approx(t[ion])
    assert k_control.mg_free_mM < 1.0 < 5.0 < treatment.mg_free_mM
    assert mg_control.mg_free_mM == pytest.approx(treatment.mg_free_mM, rel=0.01)
    assert mg_control.totals_mM.get("aspartate", 0.0) == 0.0
    assert mg_control.totals_mM["k"] == pytest.approx(hbss.totals_mM["k"])
    assert tonicity_warnings(table) == []  # every isosmotic_with pair within 10 mOsm/kg
    # the composition this project used to ship (NaCl lowered by 45 mM) was ~30 mOsm hypotonic
    old = Solution(na_mM=97.8, cl_mM=101.8, k_mM=20.77, mg_mM=10.9, aspartate_mM=35.0,
                   ca_mM=1.26, glucose_mM=5.56, ph=7.4)  # fmt: skip
    warnings = tonicity_warnings({"hbss": hbss, "old": old}, baths=["hbss", "old"])
    assert len(warnings) == 1 and "differ by" in warnings[0]
    assert hbss.osmolarity_mOsm - old.osmolarity_mOsm > 20


def test_starter_file_loads_and_solves_its_targets():
    table = parse_solutions(starter_solutions_text(), "starter")
    assert table["pipette_mg_1"].mg_free_mM == pytest.approx(1.0, rel=0.005)
    assert table["pipette_mg_0p3"].role == "pipette" and table["bath"].role == "bath"


def test_the_json_schema_validates_the_packaged_files_and_rejects_bad_ones():
    """Editors validate and complete solutions files with ``ionrig solutions schema``."""
    import jsonschema
    import yaml

    from ionrig.chemistry import (
        packaged_solutions_text,
        solutions_file_json_schema,
        starter_solutions_text,
    )

    validator = jsonschema.Draft202012Validator(solutions_file_json_schema())
    for text in (packaged_solutions_text(), starter_solutions_text()):
        assert list(validator.iter_errors(yaml.safe_load(text))) == []
    bad = {
        "solutions": {
            "hbss": {"components": {"NaCl": 137.0}, "colour": "blue"},
            "1bad": {},
            "acid": {"ph": "seven"},
        }
    }
    messages = sorted(e.message for e in validator.iter_errors(bad))
    assert len(messages) == 3, messages
    assert any("colour" in m for m in messages) and any("'seven'" in m for m in messages)

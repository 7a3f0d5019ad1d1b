"""Liquid junction potentials against published values, and the ion table they use.

Sign convention everywhere: LJP = V(bath) − V(pipette) (Neher 1992; Barry & Lynch 1991), the
way LJPcalc and JPCalc report it; the first solution of each published pair is the "pipette"
(LJPcalc's c0 side), the second the "bath" (cL side).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from ionrig.chemistry._ions import ION_TABLE, Ion, canonical_ion
from ionrig.chemistry._junction import liquid_junction_potential_mV

GAS_CONSTANT = 8.314462618
FARADAY = 96485.33212


@dataclass(frozen=True)
class Published:
    source: str
    pipette: dict[str, float]
    bath: dict[str, float]
    temperature_C: float
    ljp_mV: float


# Ng & Barry (1995) J Neurosci Methods 56:37-41, Table 2 (25 °C), as quoted in the LJPcalc
# test suite (swharden/LJPcalc, src/LJPcalc.Test/LjpCalculationTest.cs).
NG_BARRY_1995 = [
    Published("Ng & Barry 1995 T2: 50 NaCl | 50 KCl", {"Na": 50, "Cl": 50},
              {"K": 50, "Cl": 50}, 25, -4.3),
    Published("Ng & Barry 1995 T2: 150 NaCl | 150 KCl", {"Na": 150, "Cl": 150},
              {"K": 150, "Cl": 150}, 25, -4.3),
    Published("Ng & Barry 1995 T2: 50 NaCl | 50 CsCl", {"Na": 50, "Cl": 50},
              {"Cs": 50, "Cl": 50}, 25, -4.9),
    Published("Ng & Barry 1995 T2: 100 NaCl | 100 MgCl2", {"Na": 100, "Cl": 100},
              {"Mg": 100, "Cl": 200}, 25, +10.0),
    Published("Ng & Barry 1995 T2: 100 CaCl2 | 100 MgCl2", {"Ca": 100, "Cl": 200},
              {"Mg": 100, "Cl": 200}, 25, +0.6),
    Published("Ng & Barry 1995 T2: 100 KCl + 2 CaCl2 | 100 LiCl + 2 CaCl2",
              {"K": 100, "Ca": 2, "Cl": 104}, {"Li": 100, "Ca": 2, "Cl": 104}, 25, +6.4),
    Published("Ng & Barry 1995 T2: 50 CaCl2 + 50 MgCl2 | 100 LiCl",
              {"Ca": 50, "Mg": 50, "Cl": 200}, {"Li": 100, "Cl": 100}, 25, -8.2),
]  # fmt: skip

# JPCalc (Henderson equation, Ng & Barry mobilities) outputs printed in publications.
JPCALC = [
    # Barry, JPCalcWin manual, page 7 (CsF pipette vs NaCl bath, 20 °C).
    Published("JPCalcWin manual p7", {"Cs": 135, "F": 135, "Na": 10, "Cl": 10},
              {"Na": 145, "Cl": 145}, 20, +8.74),
    # Barry, JPCalcWin manual, page 10.
    Published("JPCalcWin manual p10", {"Cs": 145, "F": 125, "Cl": 20},
              {"Na": 145, "Cl": 145}, 20, +8.71),
    # Figl et al. (2003) "Liquid junction potential corrections", Axobits 39, p 8:
    # K-gluconate internal vs NaCl bath, 20 °C.
    Published("Figl et al. 2003 Axobits 39 p8",
              {"K": 145, "Na": 13, "Mg": 1, "HEPES": 5, "gluconate": 145, "Cl": 10},
              {"K": 2.8, "Na": 145, "Mg": 2, "Ca": 1, "HEPES": 5, "Cl": 148.8}, 20, +15.6),
]  # fmt: skip

# Harper (1985) J Phys Chem (doi:10.1021/j100255a022), Table I: concentration cells of one salt
# (25 °C), as quoted in the LJPcalc test suite (concentrations there in M; here mM).
HARPER_1985 = [
    Published("Harper 1985 T1: NaCl 99.5 | 4.99 mM", {"Na": 99.5, "Cl": 99.5},
              {"Na": 4.99, "Cl": 4.99}, 25, -15.6),
    Published("Harper 1985 T1: HCl 100 | 3.45 mM", {"H": 100, "Cl": 100},
              {"H": 3.45, "Cl": 3.45}, 25, +55.5),
    Published("Harper 1985 T1: CaCl2 290 | 5.45 mM", {"Ca": 290, "Cl": 580},
              {"Ca": 5.45, "Cl": 10.9}, 25, -35.0),
]  # fmt: skip

PUBLISHED = NG_BARRY_1995 + JPCALC + HARPER_1985

FIGL = JPCALC[2]


@pytest.mark.parametrize("case", PUBLISHED, ids=lambda case: case.source)
def test_nernst_planck_matches_published_values_within_half_a_millivolt(case: Published):
    computed = liquid_junction_potential_mV(
        case.pipette, case.bath, temperature_C=case.temperature_C
    )
    assert computed == pytest.approx(case.ljp_mV, abs=0.5)


@pytest.mark.parametrize("case", JPCALC, ids=lambda case: case.source)
def test_henderson_reproduces_jpcalc_outputs(case: Published):
    """JPCalc is the Henderson equation with Ng & Barry's mobilities: ours agrees to rounding."""
    computed = liquid_junction_potential_mV(
        case.pipette, case.bath, temperature_C=case.temperature_C, method="henderson"
    )
    assert computed == pytest.approx(case.ljp_mV, abs=0.1)


def test_nernst_planck_and_henderson_differ_for_polyvalent_ions_as_published():
    """The LJPcalc documentation (swharden/LJPcalc, "LJP Theory and Correction") runs the Figl
    et al. (2003) set through the Nernst–Planck solver and gets 16.052 mV at 20 °C against
    JPCalc's (Henderson) 15.6 mV: 0.45 mV apart because of Mg²⁺/Ca²⁺ and the asymmetric
    K⁺/Na⁺/gluconate gradients. Both methods here land on their published numbers."""
    nernst_planck = liquid_junction_potential_mV(FIGL.pipette, FIGL.bath, temperature_C=20)
    henderson = liquid_junction_potential_mV(
        FIGL.pipette, FIGL.bath, temperature_C=20, method="henderson"
    )
    assert nernst_planck == pytest.approx(16.052, abs=0.05)
    assert henderson == pytest.approx(15.6, abs=0.1)
    assert nernst_planck - henderson == pytest.approx(16.052 - 15.6, abs=0.1)


def test_matches_ljpcalc_computed_values_for_the_walz_k_gluconate_internal():
    """Software cross-check, not a measurement: LJPcalc's known ion sets (KnownIonSets.cs)
    give +15.729 mV (K-gluconate internal from Walz (ed.), Patch-Clamp Analysis 2nd ed. p 191,
    against ACSF, 25 °C) and +12.441 mV with 30 mM of the gluconate replaced by Cl⁻. LJPcalc
    balances the pipette side itself; here its Na⁺ is raised from 4.25 to 10 mM for that."""
    acsf = {"Ca": 2.4, "Cl": 133.8, "H2PO4": 1.2, "HCO3": 25, "K": 3, "Mg": 1.5, "SO4": 1.5,
            "Na": 152.2}  # fmt: skip
    k_gluconate = {"Cl": 2, "gluconate": 125, "HEPES": 10, "K": 125, "Mg": 1, "Na": 10}
    high_cl = {**k_gluconate, "Cl": 32, "gluconate": 95}
    assert liquid_junction_potential_mV(k_gluconate, acsf) == pytest.approx(15.729, abs=0.05)
    assert liquid_junction_potential_mV(high_cl, acsf) == pytest.approx(12.441, abs=0.05)


def _lewis_sargent_mV(cation_a: str, cation_b: str, anion: str, temperature_C: float) -> float:
    """Exact V(bath) − V(pipette) of bi-ionic a-X | b-X at equal concentrations (Planck's and
    Henderson's equations coincide here: the Lewis–Sargent formula)."""
    d = {name: ION_TABLE[canonical_ion(name)].diffusion_m2_per_s for name in (cation_a,
         cation_b, anion)}  # fmt: skip
    rt_f = 1e3 * GAS_CONSTANT * (temperature_C + 273.15) / FARADAY
    return rt_f * math.log((d[cation_a] + d[anion]) / (d[cation_b] + d[anion]))


def test_simple_one_to_one_salts_agree_between_methods_and_with_the_exact_formula():
    """NaCl | KCl (Barry & Lynch 1991's classic bi-ionic case; Ng & Barry 1995 T2: −4.3 mV)."""
    pipette, bath = {"Na": 150, "Cl": 150}, {"K": 150, "Cl": 150}
    nernst_planck = liquid_junction_potential_mV(pipette, bath)
    henderson = liquid_junction_potential_mV(pipette, bath, method="henderson")
    exact = _lewis_sargent_mV("Na", "K", "Cl", 25.0)
    assert nernst_planck == pytest.approx(exact, abs=1e-3)
    assert henderson == pytest.approx(exact, abs=1e-6)
    assert nernst_planck == pytest.approx(-4.3, abs=0.5)


def test_single_salt_dilution_matches_plancks_closed_form():
    """For one 1:1 salt, NP has a closed form: (D₊ − D₋)/(D₊ + D₋) · RT/F · ln(c_p/c_b)."""
    d_na = ION_TABLE["na"].diffusion_m2_per_s
    d_cl = ION_TABLE["cl"].diffusion_m2_per_s
    rt_f = 1e3 * GAS_CONSTANT * 298.15 / FARADAY
    exact = (d_na - d_cl) / (d_na + d_cl) * rt_f * math.log(100.0 / 10.0)
    computed = liquid_junction_potential_mV({"Na": 100, "Cl": 100}, {"Na": 10, "Cl": 10})
    assert computed == pytest.approx(exact, abs=1e-3)


@pytest.mark.parametrize("method", ["nernst-planck", "henderson"])
def test_swapping_pipette_and_bath_flips_the_sign(method: str):
    forward = liquid_junction_potential_mV(FIGL.pipette, FIGL.bath, method=method)
    backward = liquid_junction_potential_mV(FIGL.bath, FIGL.pipette, method=method)
    assert forward > 10
    assert backward == pytest.approx(-forward, abs=1e-4)


@pytest.mark.parametrize("method", ["nernst-planck", "henderson"])
def test_identical_solutions_give_zero(method: str):
    solution = {"K": 140, "Cl": 10, "gluconate": 130, "glucose": 5}
    assert liquid_junction_potential_mV(solution, dict(solution), method=method) == 0.0


@pytest.mark.parametrize("method", ["nernst-planck", "henderson"])
def test_scales_with_absolute_temperature(method: str):
    cold = liquid_junction_potential_mV(FIGL.pipette, FIGL.bath, temperature_C=0, method=method)
    warm = liquid_junction_potential_mV(FIGL.pipette, FIGL.bath, temperature_C=37, method=method)
    assert warm / cold == pytest.approx(310.15 / 273.15, rel=1e-5)


def test_k_gluconate_internal_is_positive_about_15_mV_and_corrects_as_vcmd_minus_ljp():
    ljp = liquid_junction_potential_mV(FIGL.pipette, FIGL.bath, temperature_C=20)
    assert 14 < ljp < 17
    v_command = -60.0
    assert v_command - ljp == pytest.approx(-76.05, abs=0.1)  # the cell really sits here


def test_accepts_objects_with_ions_mM_aliases_and_ignores_neutral_solutes():
    @dataclass(frozen=True)
    class Solution:
        ions_mM: dict[str, float]

    plain = liquid_junction_potential_mV(FIGL.pipette, FIGL.bath)
    pipette = Solution({"POTASSIUM": 145, "na+": 13, "Mg2+": 1, "hepes": 5, "Gluconate": 145,
                        "chloride": 10, "sucrose": 20})  # fmt: skip
    bath = Solution({**FIGL.bath, "glucose": 10, "mannitol": 3})
    assert liquid_junction_potential_mV(pipette, bath) == pytest.approx(plain, abs=1e-9)


def test_an_ion_on_one_side_only_is_fine():
    ljp = liquid_junction_potential_mV({"Cs": 140, "MeSO3": 130, "Cl": 10},
                                       {"Na": 140, "Cl": 140})  # fmt: skip
    assert 5 < ljp < 15  # slow methanesulfonate stays behind: bath positive


@pytest.mark.parametrize("side", ["pipette", "bath"])
def test_charge_imbalance_names_the_side_and_the_imbalance(side: str):
    good = {"Na": 140, "Cl": 140}
    bad = {"K": 125, "gluconate": 119}
    pipette, bath = (bad, good) if side == "pipette" else (good, bad)
    with pytest.raises(ValueError, match=rf"{side} is not electroneutral.*net charge \+6 mM"):
        liquid_junction_potential_mV(pipette, bath)
    with pytest.raises(ValueError, match="add 6 mEq/L of anions"):
        liquid_junction_potential_mV(pipette, bath)


def test_tiny_charge_residue_is_tolerated_and_removed():
    exact = liquid_junction_potential_mV({"Na": 150, "Cl": 150}, {"K": 150, "Cl": 150})
    rounded = liquid_junction_potential_mV({"Na": 150, "Cl": 150.2}, {"K": 150, "Cl": 150})
    assert rounded == pytest.approx(exact, abs=1e-6)


@pytest.mark.parametrize("side", ["pipette", "bath"])
def test_unknown_ion_names_the_ion_and_the_side(side: str):
    good = {"Na": 140, "Cl": 140}
    bad = {"Na": 140, "Cl": 130, "Kryptonate": 10}
    pipette, bath = (bad, good) if side == "pipette" else (good, bad)
    with pytest.raises(ValueError, match=rf"{side}: unknown ion or solute 'Kryptonate'; known: "):
        liquid_junction_potential_mV(pipette, bath)


@pytest.mark.parametrize("value", [-1.0, math.nan, math.inf, "lots"])
def test_bad_concentrations_are_rejected_by_name(value):
    with pytest.raises(ValueError, match=r"bath\['K'\]"):
        liquid_junction_potential_mV({"Na": 140, "Cl": 140}, {"K": value, "Cl": 140})


@pytest.mark.parametrize("temperature_C", [-1.0, 50.5, math.nan])
def test_temperature_must_be_within_0_to_50_C(temperature_C: float):
    with pytest.raises(ValueError, match=r"temperature_C must be within 0\.\.50"):
        liquid_junction_potential_mV(FIGL.pipette, FIGL.bath, temperature_C=temperature_C)


def test_other_bad_arguments():
    with pytest.raises(ValueError, match="method must be one of"):
        liquid_junction_potential_mV(FIGL.pipette, FIGL.bath, method="goldman")
    with pytest.raises(ValueError, match="bath contains no ions"):
        liquid_junction_potential_mV(FIGL.pipette, {"glucose": 300})
    with pytest.raises(TypeError, match="pipette must be a mapping"):
        liquid_junction_potential_mV(42, FIGL.bath)


# --- the ion table ------------------------------------------------------------------------

REQUIRED = {
    "K": ("k", 1), "Na": ("na", 1), "Cs": ("cs", 1), "Li": ("li", 1), "Rb": ("rb", 1),
    "NH4": ("nh4", 1), "H": ("h", 1), "TEA": ("tea", 1), "NMDG": ("nmdg", 1),
    "Tris": ("tris", 1), "Ca": ("ca", 2), "Mg": ("mg", 2), "Ba": ("ba", 2), "Sr": ("sr", 2),
    "Cl": ("cl", -1), "Br": ("br", -1), "F": ("f", -1), "I": ("i", -1), "NO3": ("no3", -1),
    "gluconate": ("gluconate", -1), "aspartate": ("aspartate", -1),
    "glutamate": ("glutamate", -1), "methanesulfonate": ("methanesulfonate", -1),
    "MeSO3": ("methanesulfonate", -1), "acetate": ("acetate", -1), "HEPES": ("hepes", -1),
    "SO4": ("so4", -2), "HCO3": ("hco3", -1), "H2PO4": ("h2po4", -1), "HPO4": ("hpo4", -2),
    "OH": ("oh", -1), "glucose": ("glucose", 0), "sucrose": ("sucrose", 0),
    "mannitol": ("mannitol", 0),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_every_required_species_is_in_the_table_with_its_charge(name: str):
    canonical, charge = REQUIRED[name]
    assert canonical_ion(name) == canonical
    assert canonical_ion(name.upper()) == canonical
    ion = ION_TABLE[canonical]
    assert isinstance(ion, Ion)
    assert ion.name == canonical == canonical.lower()
    assert ion.charge == charge
    if charge == 0:
        assert ion.diffusion_m2_per_s is None
    else:
        assert 1e-10 < ion.diffusion_m2_per_s < 1e-8
        assert "Lange" in ion.source or "Ng & Barry 1995" in ion.source


def test_diffusion_coefficients_match_the_handbook_values():
    """Nernst–Einstein conversion: the CRC Handbook lists D(K⁺) = 1.957, D(Na⁺) = 1.334,
    D(Cl⁻) = 2.032, D(Ca²⁺) = 0.792 × 10⁻⁹ m²/s at 25 °C."""
    expected = {"k": 1.957e-9, "na": 1.334e-9, "cl": 2.032e-9, "ca": 0.792e-9}
    for name, diffusion in expected.items():
        assert ION_TABLE[name].diffusion_m2_per_s == pytest.approx(diffusion, rel=0.003)


def test_ion_is_frozen_and_table_read_only():
    with pytest.raises(AttributeError):
        ION_TABLE["k"].charge = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        ION_TABLE["xx"] = ION_TABLE["k"]  # type: ignore[index]


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown ion or solute 'Zn'; known: .*gluconate.*k, li"):
        canonical_ion("Zn")

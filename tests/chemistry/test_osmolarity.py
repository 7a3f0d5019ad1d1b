"""Osmolality estimates and ionic strength."""

from __future__ import annotations

import pytest

from ionrig.chemistry._ions import ionic_strength_mM
from ionrig.chemistry._osmolarity import osmolarity_mOsm, osmotic_coefficient

SALINE_0_9_PERCENT = {"Na": 154, "Cl": 154}
#: Measured osmolality of 0.9 % NaCl (mOsm/kg): 2 × 154 × φ with Robinson & Stokes' φ ≈ 0.93.
SALINE_MEASURED_MOSM_PER_KG = 286.0

# Hanks' balanced salt solution (mM): Na from NaCl, NaHCO3 and Na2HPO4; K from KCl and KH2PO4.
HBSS = {
    "Na": 142.8, "K": 5.77, "Ca": 1.26, "Mg": 0.9, "Cl": 146.8, "HCO3": 4.17,
    "H2PO4": 0.44, "HPO4": 0.34, "SO4": 0.41, "glucose": 5.56,
}  # fmt: skip


def test_normal_saline_is_286_mosm_per_kg_within_2_percent():
    assert osmolarity_mOsm(SALINE_0_9_PERCENT) == pytest.approx(
        SALINE_MEASURED_MOSM_PER_KG, rel=0.02
    )


@pytest.mark.parametrize(
    ("salt", "molality_mM", "phi"),
    [
        # Robinson & Stokes, Electrolyte Solutions (2nd ed.), osmotic coefficients at 25 °C.
        ({"Na": 1, "Cl": 1}, 100, 0.9324),
        ({"Na": 1, "Cl": 1}, 200, 0.9245),
        ({"K": 1, "Cl": 1}, 100, 0.9266),
        ({"K": 1, "Cl": 1}, 200, 0.9130),
    ],
)
def test_osmotic_coefficient_matches_robinson_and_stokes(salt, molality_mM, phi):
    ions = {name: n * molality_mM for name, n in salt.items()}
    assert osmotic_coefficient(ions) == pytest.approx(phi, abs=0.003)


def test_hbss_is_isotonic_with_normal_saline():
    """Stand-in check: the manufacturer's stated osmolality range for HBSS could not be found
    in the sources available, so HBSS (formulated isotonic) is checked against the measured
    osmolality of 0.9 % saline, within 3 %."""
    assert osmolarity_mOsm(HBSS) == pytest.approx(SALINE_MEASURED_MOSM_PER_KG, rel=0.03)


def test_neutral_solutes_count_one_osmole_each():
    assert osmolarity_mOsm({"sucrose": 300}) == pytest.approx(300.0)
    with_glucose = osmolarity_mOsm({**SALINE_0_9_PERCENT, "Glucose": 10})
    assert with_glucose - osmolarity_mOsm(SALINE_0_9_PERCENT) == pytest.approx(10.0)


def test_electrolytes_count_less_than_ideal():
    ideal = 2 * 154
    assert 0.9 * ideal < osmolarity_mOsm(SALINE_0_9_PERCENT) < 0.95 * ideal


def test_empty_solution_is_zero():
    assert osmolarity_mOsm({}) == 0.0


def test_unknown_solute_names_it():
    with pytest.raises(ValueError, match="solutes_mM: unknown ion or solute 'trehalose'"):
        osmolarity_mOsm({"Na": 10, "Cl": 10, "trehalose": 5})


def test_negative_concentration_is_rejected():
    with pytest.raises(ValueError, match=r"solutes_mM\['glucose'\] must be finite and >= 0"):
        osmolarity_mOsm({"glucose": -5})


@pytest.mark.parametrize(
    ("ions", "strength"),
    [
        ({"Na": 150, "Cl": 150}, 150.0),
        ({"Mg": 10, "Cl": 20}, 30.0),
        ({"ca": 2, "CL": 4, "glucose": 10}, 6.0),
        ({"Na": 10, "SO4": 5}, 15.0),
    ],
)
def test_ionic_strength_of_simple_salts(ions, strength):
    assert ionic_strength_mM(ions) == pytest.approx(strength)


def test_ionic_strength_rejects_unknown_names():
    with pytest.raises(ValueError, match="ions_mM: unknown ion or solute 'Qx'"):
        ionic_strength_mM({"Qx": 1})

"""Phase changes of a per-cell signal and the treatment's specific part, on known steps."""

import numpy as np
import pytest

from ionrig.analysis import phase_changes, specific_change

T_S = np.arange(0.0, 500.0, 5.0)
PHASES = [
    ("baseline", "hbss", 0.0, 100.0),
    ("control", "k_aspartate_control", 100.0, 200.0),
    ("washout", "hbss", 200.0, 300.0),
    ("treatment", "mg_k_aspartate", 300.0, 400.0),
    ("washout", "hbss", 400.0, 500.0),
]


def steps(levels):
    return np.select([stop > T_S for *_, stop in PHASES], levels)


def test_changes_are_plateau_minus_the_phase_before_and_the_specific_part_is_paired():
    rng = np.random.default_rng(1)
    cell_a = steps([0.8, 0.75, 0.8, 1.3, 0.9])  # control −0.05, treatment +0.5
    cell_b = steps([0.6, 0.50, 0.6, 1.0, 0.7])  # control −0.10, treatment +0.4
    signal = np.column_stack([cell_a, cell_b]) + rng.normal(0, 0.002, (T_S.size, 2))
    changes = phase_changes(T_S, signal, PHASES, window_s=40.0)
    assert [c.role for c in changes] == ["control", "washout", "treatment", "washout"]
    control, treatment = changes[0], changes[2]
    np.testing.assert_allclose(control.change, [-0.05, -0.10], atol=0.003)
    np.testing.assert_allclose(treatment.change, [0.5, 0.4], atol=0.003)
    assert control.mean_change == pytest.approx(-0.075, abs=0.003)
    assert np.all(control.change_se < 0.002)  # from the scatter within the windows
    specific = specific_change(treatment, control)
    np.testing.assert_allclose(specific.per_cell, [0.55, 0.50], atol=0.004)
    assert specific.mean == pytest.approx(0.525, abs=0.004) and specific.n_cells == 2
    assert specific.se == pytest.approx(0.025, abs=0.004)  # SD of the pair / √2


def test_the_plateau_is_the_end_of_each_phase_not_its_transient():
    slow = np.where(T_S < 100, 1.0, 1.0 + 0.5 * (1 - np.exp(-(T_S - 100) / 10.0)))
    changes = phase_changes(T_S[T_S < 300], slow[T_S < 300], PHASES[:3], window_s=30.0)
    assert changes[0].change[0] == pytest.approx(0.5, rel=1e-3)


def test_a_window_without_samples_is_refused_by_name():
    with pytest.raises(ValueError, match=r"fewer than 2 samples in the last 3 s"):
        phase_changes(T_S, steps([1, 2, 1, 2, 1]), PHASES, window_s=3.0)

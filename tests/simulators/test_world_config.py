"""The world's configuration: rig-file sections, the shared solutions file, the stepped clock."""

import asyncio

import pytest

from ionrig.chemistry import apparent_dissociation_constant_mM, load_solutions
from ionrig.rig import read_rig_config
from ionrig.rig.config import ConfigError, build
from ionrig.simulators import (
    DEFAULT_SOLUTIONS,
    Solution,
    SteppedClock,
    World,
    WorldConfig,
)


def test_the_shared_solutions_file_is_the_simulators_table():
    table = load_solutions()  # the packaged example
    assert table == DEFAULT_SOLUTIONS
    # the solutions the issue and §3.2/§4/§8.1 ask for
    assert {"loading", "hbss", "hbss_probenecid", "mg_k_aspartate"} <= set(table)
    assert table["loading"].dye_am_uM == 4.0
    assert table["hbss_probenecid"].totals_mM["probenecid"] == 2.5
    for name in ("calibration_rmin", "calibration_rmax"):  # Ca-free (EGTA) per §3.2
        assert table[name].egta_mM > 0 and table[name].ca_free_uM == 0.0
        assert table[name].ionophore_uM > 0
    assert table["calibration_rmin"].mg_free_mM == 0.0
    assert table["calibration_rmax"].mg_free_mM > 50.0
    # 2 mM MgCl2, no chelator (HEPES and glucose do not bind Mg): free = total
    assert table["trpm7_external"].mg_free_mM == pytest.approx(2.0, rel=1e-6)
    # the rig's perfusion solutions all exist
    assert set(read_rig_config("sim").perfusion.solutions) <= set(table)


def test_free_mg_follows_the_chelators():
    atp = Solution(mg_mM=1.0, atp_mM=1.0, ph=7.2, temperature_C=25.0)
    x = atp.mg_free_mM  # 1:1 with the chemistry's conditional Kd at the solution's conditions
    kd = apparent_dissociation_constant_mM(
        "atp", "mg", pH=7.2, temperature_C=25.0, ionic_strength_mM=atp.ionic_strength_mM
    )
    # Mg·ATP: ~0.1 mM at pH 7.2 in physiological saline (NIST 46 constants), tighter at the
    # low ionic strength of this 1 mM solution
    physiological = apparent_dissociation_constant_mM("atp", "mg", pH=7.2, ionic_strength_mM=150)
    assert 0.05 < physiological < 0.2 and kd < physiological
    assert x + 1.0 * x / (kd + x) == pytest.approx(1.0, rel=1e-3)
    with pytest.raises(ValueError, match=r"must be in 0\.\.2000"):
        Solution(mg_mM=-1.0)


def test_sim_rig_world_section_builds_the_world():
    config = read_rig_config("sim")
    world_config = config.world
    assert world_config.trpm7.ic50_mM == 0.72 and world_config.trpm7.hill == 1.0
    assert world_config.chamber.bath_volume_mL == 0.5 and world_config.chamber.flow_mL_per_min == 2
    assert world_config.sensor.gain_adu_per_e == 0.146 and world_config.sensor.read_noise_e == 16.4
    world = World.from_config(world_config, clock=SteppedClock(), seed=config.seed)
    assert len(world.cells) == 5 and world.chamber.inflow == "hbss"
    truth = world.truth()
    assert truth["dye"]["kd_mM"] == 1.9 and truth["trpm7"]["ic50_mM"] == 0.72
    assert truth["patch"]["pipette_solution"] == "trpm7_internal"


def test_old_world_keys_still_work_and_new_sections_default():
    config = build(WorldConfig, {"n_cells": 3, "dye": {"kd_mM": 1.9}, "sensor": {"width_px": 64}})
    assert config.chamber.mixing_factor == 1.5 and config.solutions == {}
    extra = build(
        WorldConfig,
        {
            "solutions": {"zero_na": {"k_mM": 140.0, "cl_mM": 140.0}},
            "chamber": {"initial_solution": "zero_na"},
        },
    )
    world = World.from_config(extra, clock=SteppedClock(), seed=1)
    assert world.chamber.bath_mM["k_mM"] == 140.0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"world": {"trpm7": {"ic50": 1.0}}}, r"world.trpm7: unknown key 'ic50'"),
        ({"world": {"trpm7": {"rectification": 500.0}}}, r"rectification must be in"),
        ({"world": {"sensor": {"binning": 3}}}, r"multiples of binning"),
    ],
)
def test_bad_world_fields_are_refused_by_name(overrides, message):
    with pytest.raises(ConfigError, match=message):
        read_rig_config("sim", **overrides)


def test_a_world_solution_no_file_defines_is_refused_with_the_rig_file(tmp_path):
    """Checked against the rig's solutions files (here the packaged example) when the rig
    file is read, before anything is built."""
    with pytest.raises(ConfigError, match=r"world\.chamber\.initial_solution must be one of"):
        read_rig_config("sim", world={"chamber": {"initial_solution": "seawater"}})


def test_stepped_clock_moves_only_when_waited_on():
    clock = SteppedClock()
    assert clock.now_s() == 0.0 and clock.real_seconds(10.0) == 0.0
    clock.sleep_s(2.5)
    asyncio.run(clock.async_sleep_s(1.5))
    clock.advance_s(6.0)
    assert clock.now_s() == 10.0
    with pytest.raises(ValueError, match="duration_s"):
        clock.advance_s(-1.0)

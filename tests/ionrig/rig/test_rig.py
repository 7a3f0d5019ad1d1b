"""Rig files: packaged names, paths, overrides, and clear refusals."""

import pytest
import yaml

from ionrig.rig import available_rigs, read_rig_config
from ionrig.rig.config import ConfigError


def test_sim_rig_is_packaged_and_simulated():
    assert "sim" in available_rigs()
    config = read_rig_config("sim")
    assert config.simulated
    assert {f.wavelength_nm for f in config.filter_wheel.filters.values()} >= {340.0, 380.0}
    # defaults from docs/reference/physiology.md §2 and §3.2
    assert config.world.dye.kd_mM == 1.9
    assert (config.world.dye.r_min, config.world.dye.r_max, config.world.dye.beta) == (0.4, 3, 5)


def test_overrides_replace_and_merge():
    config = read_rig_config("sim", time_scale=500, seed=9, world={"n_cells": 2})
    assert config.time_scale == 500 and config.seed == 9
    assert config.world.n_cells == 2
    assert config.world.dye.kd_mM == 1.9  # merged, not replaced


def test_any_yaml_path_works(tmp_path):
    raw = yaml.safe_load(
        (__import__("importlib.resources").resources.files("ionrig.rigs") / "sim.yaml").read_text()
    )
    raw["name"] = "bench-2"
    raw["world"]["n_cells"] = 3
    path = tmp_path / "bench-2.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = read_rig_config(path)
    assert config.name == "bench-2" and config.world.n_cells == 3


def test_unknown_rig_name_lists_the_choices():
    with pytest.raises(ConfigError, match=r"rig must be one of .*sim.* or a path"):
        read_rig_config("simm")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        read_rig_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"camera": {"exposure_sm": 3}},
            r"camera: unknown key 'exposure_sm'; allowed keys: "
            r"camera_label, config_file, driver, exposure_ms",
        ),
        ({"world": {"dye": {"kd_mM": "big"}}}, r"world.dye.kd_mM: expected a number"),
        ({"time_scale": -2}, r"time_scale must be > 0"),
        ({"filter_wheel": {"driver": "lambda99"}}, r"filter_wheel.driver: must be one of"),
        ({"world": {"dye": {"r_min": 3.0, "r_max": 0.4}}}, r"r_min < r_max"),
        ({"seed": 1.5}, r"seed: expected an integer"),
    ],
)
def test_bad_fields_are_refused_by_name(overrides, message):
    with pytest.raises(ConfigError, match=message):
        read_rig_config("sim", **overrides)


def test_the_example_real_rig_file_is_valid_and_real():
    config = read_rig_config("example-real")
    assert not config.simulated
    assert config.camera.driver == "micromanager" and config.daq.backend == "nidaqmx"
    assert config.perfusion.flow == "ne500"
    assert config.perfusion.valve_lines["mg_k_aspartate"] == "Dev1/port0/line3"
    assert "example-real" in available_rigs() and "solutions" not in available_rigs()


def test_a_real_rig_cannot_use_simulated_parts():
    with pytest.raises(ConfigError, match=r"cannot use simulated camera\.driver, daq\.backend"):
        read_rig_config(
            "example-real", camera={"driver": "simulated"}, daq={"backend": "simulated"}
        )


def test_a_real_rig_without_its_hardware_fails_clearly_before_anything_moves(RE, tmp_path):
    from ionrig.devices.drivers import InstrumentDisconnected
    from ionrig.rig import load_rig

    # no Lambda 10-3 on /dev/ttyUSB0 here: the first instrument opened names its port
    with pytest.raises(InstrumentDisconnected, match="Lambda 10-3 at /dev/ttyUSB0: cannot open"):
        load_rig("example-real", raw_dir=tmp_path)

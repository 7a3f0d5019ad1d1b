"""The rig file's JSON Schema (``ionrig.rig.rig_file_json_schema``) against the packaged rig
files and against files the reader refuses."""

from __future__ import annotations

import copy
from importlib import resources

import jsonschema
import pytest
import yaml

from ionrig.rig import read_rig_config, rig_file_json_schema
from ionrig.rig.config import ConfigError

SCHEMA = rig_file_json_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def _packaged(name: str) -> dict:
    return yaml.safe_load((resources.files("ionrig.rigs") / f"{name}.yaml").read_text())


def test_the_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["additionalProperties"] is False and "name" in SCHEMA["required"]


@pytest.mark.parametrize("name", ["sim", "example-real"])
def test_the_packaged_rig_files_are_valid(name: str) -> None:
    VALIDATOR.validate(_packaged(name))


def test_descriptions_units_and_ranges_are_in_the_schema() -> None:
    camera = SCHEMA["$defs"]["CameraConfig"]["properties"]["exposure_ms"]
    assert camera["unit"] == "ms" and "[ms]" in camera["description"]
    assert camera["exclusiveMinimum"] == 0 and camera["maximum"] == 10_000
    wheel = SCHEMA["$defs"]["FilterWheelConfig"]
    assert wheel["properties"]["speed"]["maximum"] == 7 and wheel["description"]


@pytest.mark.parametrize(
    ("keys", "value"),
    [
        (("camera", "exposure_sm"), 3),  # an unknown key
        (("world", "dye", "kd_micromolar"), 3),  # an unknown key in the simulated world
        (("camera", "exposure_ms"), -5.0),  # out of range
        (("filter_wheel", "speed"), 9),  # out of range
    ],
    ids=["unknown key", "unknown world key", "exposure out of range", "speed out of range"],
)
def test_the_schema_refuses_what_the_reader_refuses(keys: tuple[str, ...], value: object) -> None:
    raw = copy.deepcopy(_packaged("sim"))
    node = raw
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    assert not VALIDATOR.is_valid(raw)
    overrides: object = value
    for key in reversed(keys):
        overrides = {key: overrides}
    with pytest.raises(ConfigError):
        read_rig_config("sim", **overrides)  # type: ignore[arg-type]

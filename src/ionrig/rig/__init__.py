"""The rig room: what a rig is made of and how it is built.

- :mod:`ionrig.rig.config`: checking configuration mappings against frozen dataclasses.
- :mod:`ionrig.rig.sections`: the rig file's sections (pydantic dataclasses).
- :mod:`ionrig.rig.rigfile`: rig files (YAML) read into a :class:`RigConfig`, and their JSON
  Schema (:func:`rig_file_json_schema`).
- :mod:`ionrig.rig.build`: :func:`load_rig`, which builds and connects the instruments.
- :mod:`ionrig.rig.wiring`: the simulated instruments and how they act on the simulated world.
- :mod:`ionrig.rig.solutions`: the lab's solutions files, as the command line shows them.
- :mod:`ionrig.rig.doctor`: ``ionrig doctor``, the pre-flight check of a rig.

The names most used are re-exported here: ``from ionrig.rig import load_rig``.
"""

from ionrig.rig.build import load_rig
from ionrig.rig.rigfile import (
    RigConfig,
    available_rigs,
    check_solution_names,
    read_rig_config,
    read_solutions,
    rig_file_json_schema,
    solutions_origin,
)

__all__ = [
    "RigConfig",
    "available_rigs",
    "check_solution_names",
    "load_rig",
    "read_rig_config",
    "read_solutions",
    "rig_file_json_schema",
    "solutions_origin",
]

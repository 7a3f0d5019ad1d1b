"""Solution chemistry: recipes, free ions, osmolality, ionic strength, junction potentials.

The bottom layer of ionrig (numpy/scipy, and YAML for solutions files): plans, analysis, the
simulator, reports and the command line all take what is in a solution from here, so a real and
a simulated rig agree. Formulas, constants and their sources: docs/solutions.md,
docs/reference/chemistry-constants.md and docs/reference/junction-potentials.md.
"""

from ._constants import CONSTANTS, LIGANDS, METALS, StabilityConstant
from ._files import (
    ENVIRONMENT_VARIABLE,
    SolutionsError,
    load_solutions,
    packaged_solutions_text,
    parse_solutions,
    solutions_file_json_schema,
    solutions_paths,
    starter_solutions_text,
)
from ._ions import ION_TABLE, Ion, canonical_ion, ionic_strength_mM
from ._junction import liquid_junction_potential_mV
from ._osmolarity import osmolarity_mOsm
from ._recipes import COMPONENTS, Component, canonical_component, species_charge
from ._solution import LEGACY_AMOUNTS, ROLES, Solution, solution_fields
from ._speciation import (
    Speciation,
    apparent_dissociation_constant_mM,
    speciate,
    total_for_free,
)
from ._tonicity import tonicity_warnings

#: Version of the chemistry (constants, models): recorded with every solution in a run.
CHEMISTRY_VERSION = "1"

__all__ = [
    "CHEMISTRY_VERSION",
    "COMPONENTS",
    "CONSTANTS",
    "ENVIRONMENT_VARIABLE",
    "ION_TABLE",
    "LEGACY_AMOUNTS",
    "LIGANDS",
    "METALS",
    "ROLES",
    "Component",
    "Ion",
    "Solution",
    "SolutionsError",
    "Speciation",
    "StabilityConstant",
    "apparent_dissociation_constant_mM",
    "canonical_component",
    "canonical_ion",
    "ionic_strength_mM",
    "liquid_junction_potential_mV",
    "load_solutions",
    "osmolarity_mOsm",
    "packaged_solutions_text",
    "parse_solutions",
    "solution_fields",
    "solutions_file_json_schema",
    "solutions_paths",
    "speciate",
    "species_charge",
    "starter_solutions_text",
    "tonicity_warnings",
    "total_for_free",
]

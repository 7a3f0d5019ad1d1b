"""Solution changes: ``wash`` (and the exchange step other plans reuse)."""

from __future__ import annotations

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import MsgGenerator

from ionrig.devices import Rig

from ._chemistry import chemistry_md
from ._parameters import Metadata, Number, plan_parameters
from ._validation import PlanParameterError

__all__ = ["BathVolumes", "check_solution", "exchange_solution", "wash"]

#: How much solution flows in for an exchange, in bath volumes (docs/reference/physiology.md
#: §6: five bath volumes, the default change, replace 99.3 % of an ideal bath).
BathVolumes = Number(1.0, 50.0, "bath volumes")


def check_solution(rig: Rig, name: str, parameter: str) -> str:
    solutions = rig.perfusion.solutions
    if not isinstance(name, str) or name not in solutions:
        raise PlanParameterError(f"{parameter} must be one of {', '.join(solutions)}; got {name!r}")
    return name


@plan_parameters
def exchange_solution(rig: Rig, solution: str, *, bath_volumes: BathVolumes) -> MsgGenerator[None]:
    """Perfuse ``solution`` until ``bath_volumes`` bath volumes have flowed in, recording a
    ``perfusion`` event (``t_s``, solution, exchanged volumes) before and after.

    A plan stub: call it inside an open run. Yields the messages of the exchange;
    ``bath_volumes`` is checked when it is called.
    """
    yield from bps.mv(rig.perfusion.exchange_target, bath_volumes)
    yield from bps.trigger_and_read([rig.t_s, rig.perfusion], name="perfusion")
    yield from bps.mv(rig.perfusion, solution)
    yield from bps.trigger_and_read([rig.t_s, rig.perfusion], name="perfusion")


@plan_parameters
def wash(
    rig: Rig,
    *,
    solution: str = "hbss_probenecid",
    bath_volumes: BathVolumes = 5.0,
    md: Metadata = None,
) -> MsgGenerator[str]:
    """Wash the bath with ``solution``: ``bath_volumes`` bath volumes flow in, then the flow
    continues with it (docs/reference/physiology.md §4: wash after AM loading; 1–2.5 mM
    probenecid against dye leakage). Returns the run's start uid.
    """
    check_solution(rig, solution, "solution")
    start_md = {
        "plan_name": "wash",
        "plan_args": {"solution": solution, "bath_volumes": bath_volumes},
        "solution": solution,
        "solution_composition_mM": rig.perfusion.composition(solution),
        "chemistry": chemistry_md(rig, [solution], plan_name="wash"),
        **md,
    }

    @bpp.run_decorator(md=start_md)
    def run() -> MsgGenerator[None]:
        yield from exchange_solution(rig, solution, bath_volumes=bath_volumes)

    return run()

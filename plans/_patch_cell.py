"""``patch_cell``: bath → contact → seal → whole cell → QC, with retries and a logged outcome."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import MsgGenerator
from ophyd_async.plan_stubs import ensure_connected

from ionrig import analysis
from ionrig.devices import ComputedReadout, Rig

from ._operator import OperatorUnavailable, operator_step
from ._patch import (
    PatchFailure,
    _amplifier,
    _md,
    _pressure,
    break_in,
    form_seal,
    membrane_test,
    pipette_resistance,
)
from ._reading import rig_time_s
from ._validation import PlanParameterError, check_int, check_number

__all__ = ["FILL_PIPETTE", "PATCH_STATES", "WITHDRAW_PIPETTE", "PatchResult", "patch_cell"]

#: Operator step: fill a fresh pipette with a named internal solution. Params: ``solution``.
FILL_PIPETTE = "fill_pipette"
#: Operator step: withdraw the pipette (a fresh one goes into the bath). No params.
WITHDRAW_PIPETTE = "withdraw_pipette"
#: The states, in order; the ``states`` stream records each state's index.
PATCH_STATES = ("bath", "contact", "seal", "whole_cell", "qc_passed")


@dataclass(frozen=True)
class PatchResult:
    """A cell in whole cell that passed QC: what was measured, and the runs that did it."""

    cell_index: int
    attempts: int
    pipette_MOhm: float
    seal_GOhm: float
    membrane: analysis.MembraneTest
    run_uids: tuple[str, ...] = field(default=())


def patch_cell(
    rig: Rig,
    *,
    cell_index: int,
    pipette_solution: str | None = None,
    max_attempts: int = 3,
    pipette_range_MOhm: tuple[float, float] = (2.0, 10.0),
    target_GOhm: float = 1.0,
    seal_timeout_s: float = 60.0,
    suction_kPa: float = -2.0,
    holding_mV: float = -70.0,
    max_ra_MOhm: float = 25.0,
    min_rm_MOhm: float = 200.0,
    md: Mapping[str, Any] | None = None,
) -> MsgGenerator[PatchResult]:
    """Take cell ``cell_index`` into whole cell (physiology-parameters.md §7.1 thresholds).

    States: **bath** (fill the pipette with ``pipette_solution`` — an operator step — and
    check Rp within ``pipette_range_MOhm``; §7.1: 2-10 MΩ) → **contact** and **seal**
    (:func:`form_seal`: positive pressure, the operator places the pipette, suction until
    ``target_GOhm`` within ``seal_timeout_s``) → **whole cell** (:func:`break_in`) → **QC**
    (:func:`membrane_test`: Ra <= ``max_ra_MOhm``, Rm >= ``min_rm_MOhm``; §7.1: Ra 5-20 MΩ
    acceptable). A failed state withdraws the pipette (operator step) and starts a new attempt
    with a fresh pipette, up to ``max_attempts``. Each state is its own run, tagged with
    ``patch_cell_id``, ``cell_index`` and ``attempt``; a final ``patch_cell`` run logs every
    transition (stream ``states``: ``t_s``, ``state`` index into :data:`PATCH_STATES`,
    ``attempt``, ``value`` measured) with the thresholds and the outcome, and closes as
    ``fail`` when the cell could not be patched — then :class:`PatchFailure` is raised. The rig
    is left safe after every state (pressure 0, holding safe). Returns :class:`PatchResult`.
    """
    cell_index = check_int("cell_index", cell_index, minimum=0, maximum=100_000)
    compositions = getattr(rig, "solution_compositions", {}) or {}
    if pipette_solution is not None and (
        not isinstance(pipette_solution, str) or pipette_solution not in compositions
    ):
        raise PlanParameterError(
            f"pipette_solution must be one of {', '.join(compositions) or '(none known)'}; "
            f"got {pipette_solution!r}"
        )
    max_attempts = check_int("max_attempts", max_attempts, minimum=1, maximum=20)
    if not (isinstance(pipette_range_MOhm, tuple | list) and len(pipette_range_MOhm) == 2):
        raise PlanParameterError(
            f"pipette_range_MOhm must be (low, high) in MΩ, got {pipette_range_MOhm!r}"
        )
    rp_low = check_number(
        "pipette_range_MOhm[0]", pipette_range_MOhm[0], minimum=0.5, maximum=50, unit="MΩ"
    )
    rp_high = check_number(
        "pipette_range_MOhm[1]", pipette_range_MOhm[1], minimum=rp_low, maximum=50, unit="MΩ"
    )
    max_ra_MOhm = check_number("max_ra_MOhm", max_ra_MOhm, minimum=1, maximum=200, unit="MΩ")
    min_rm_MOhm = check_number("min_rm_MOhm", min_rm_MOhm, minimum=0, maximum=1e5, unit="MΩ")
    # form_seal's timeout_s, under this plan's name (the dry call below would name its own)
    seal_timeout_s = check_number(
        "seal_timeout_s", seal_timeout_s, minimum=0.0, maximum=3600.0, unit="s", min_inclusive=False
    )
    _amplifier(rig)
    _pressure(rig)
    extra = _md(md)
    # the sub-plans check their own parameters now: a dry call, nothing runs
    form_seal(
        rig,
        target_GOhm=target_GOhm,
        timeout_s=seal_timeout_s,
        suction_kPa=suction_kPa,
        holding_mV=holding_mV,
        cell_index=cell_index,
    ).close()
    thresholds = {
        "pipette_MOhm_range": [rp_low, rp_high],
        "seal_GOhm_at_least": target_GOhm,
        "seal_timeout_s": seal_timeout_s,
        "max_ra_MOhm": max_ra_MOhm,
        "min_rm_MOhm": min_rm_MOhm,
        "max_attempts": max_attempts,
        "section": "physiology-parameters.md §7.1",
    }

    def plan() -> MsgGenerator[PatchResult]:
        patch_id = str(uuid.uuid4())
        log: list[dict[str, float]] = []
        uids: list[str] = []
        failures: list[str] = []

        def enter(state: str, attempt: int, value: float = float("nan")) -> MsgGenerator[None]:
            t_s = yield from rig_time_s(rig)
            log.append(
                {
                    "t_s": t_s,
                    "state": float(PATCH_STATES.index(state)),
                    "attempt": float(attempt),
                    "value": value,
                }
            )

        def step(plan_, attempt: int, state: str) -> MsgGenerator[Any]:
            tags = {
                "patch_cell_id": patch_id,
                "cell_index": cell_index,
                "attempt": attempt,
                "patch_state": state,
            }
            tagged = bpp.inject_md_wrapper(plan_, tags)
            keep = {"start": [lambda name, doc: uids.append(doc["uid"])]}
            return (yield from bpp.subs_wrapper(tagged, keep))

        result: PatchResult | None = None
        fatal: OperatorUnavailable | None = None
        for attempt in range(1, max_attempts + 1):
            try:
                if pipette_solution is not None:
                    yield from operator_step(
                        rig,
                        f"Fill a fresh pipette with {pipette_solution!r}.",
                        action=FILL_PIPETTE,
                        solution=pipette_solution,
                    )
                    rig.pipette_solution = pipette_solution
                rp = yield from step(pipette_resistance(rig), attempt, "bath")
                yield from enter("bath", attempt, rp)
                if not rp_low <= rp <= rp_high:
                    raise PatchFailure(
                        f"pipette {rp:.3g} MΩ outside {rp_low:g}-{rp_high:g} MΩ (§7.1)"
                    )
                seal = yield from step(
                    form_seal(
                        rig,
                        target_GOhm=target_GOhm,
                        timeout_s=seal_timeout_s,
                        suction_kPa=suction_kPa,
                        holding_mV=holding_mV,
                        cell_index=cell_index,
                    ),
                    attempt,
                    "seal",
                )
                yield from enter("contact", attempt)
                yield from enter("seal", attempt, seal)
                broken = yield from step(break_in(rig), attempt, "whole_cell")
                yield from enter("whole_cell", attempt, broken.cm_pF)
                test = yield from step(membrane_test(rig), attempt, "qc")
                if not test.ra_MOhm <= max_ra_MOhm:
                    raise PatchFailure(f"QC: Ra {test.ra_MOhm:.3g} MΩ > {max_ra_MOhm:g} MΩ")
                if not test.rm_MOhm >= min_rm_MOhm:
                    raise PatchFailure(f"QC: Rm {test.rm_MOhm:.3g} MΩ < {min_rm_MOhm:g} MΩ")
                yield from enter("qc_passed", attempt, test.ra_MOhm)
                result = PatchResult(cell_index, attempt, rp, seal, test)
                break
            except OperatorUnavailable as error:  # unattended: nobody can place a pipette
                failures.append(f"attempt {attempt}: {error}")
                fatal = error
                break
            except PatchFailure as error:
                failures.append(f"attempt {attempt}: {error}")
                yield from operator_step(
                    rig,
                    "Withdraw the pipette; a fresh one goes in the bath.",
                    action=WITHDRAW_PIPETTE,
                )

        readout = ComputedReadout({"t_s": "s", "state": "1", "attempt": "1", "value": "1"})
        yield from ensure_connected(*readout.signals)
        summary_md = {
            "plan_name": "patch_cell",
            "plan_args": {"cell_index": cell_index, "pipette_solution": pipette_solution},
            "patch_cell_id": patch_id,
            "cell_index": cell_index,
            "states": list(PATCH_STATES),
            "criteria": thresholds,
            "pipette_solution": getattr(rig, "pipette_solution", None),
            "run_uids": list(uids),
            "failures": failures,
            "outcome": "whole cell, QC passed" if result is not None else "failed",
            **extra,
        }

        def summary() -> MsgGenerator[None]:
            for values in log:
                readout.update(values)
                yield from bps.create("states")
                yield from bps.read(readout)
                yield from bps.save()
            if fatal is not None:
                raise fatal
            if result is None:
                raise PatchFailure(
                    f"cell {cell_index} not patched after {max_attempts} attempts: "
                    + "; ".join(failures)
                )

        yield from bpp.run_wrapper(summary(), md=summary_md)
        assert result is not None
        return PatchResult(
            result.cell_index,
            result.attempts,
            result.pipette_MOhm,
            result.seal_GOhm,
            result.membrane,
            tuple(uids),
        )

    return plan()

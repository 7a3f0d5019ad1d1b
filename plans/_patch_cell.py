"""``patch_cell``: bath → contact → seal → whole cell → QC, with retries and a logged outcome."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import MsgGenerator
from ophyd_async.plan_stubs import ensure_connected

from ionrig import analysis
from ionrig.devices import ComputedReadout, Rig

from ._operator import OperatorUnavailable, operator_step
from ._parameters import Integer, Metadata, Number, plan_parameters
from ._patch import (
    CellIndex,
    SealGOhm,
    SealHoldingMV,
    SealTimeoutS,
    SuctionKPa,
    break_in,
    form_seal,
    membrane_test,
    pipette_resistance,
)
from ._patch_stubs import PatchFailure, patch_amplifier, pipette_pressure
from ._reading import rig_time_s
from ._validation import PlanParameterError, check_number

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


@dataclass(frozen=True)
class _PatchSettings:
    """Checked :func:`patch_cell` arguments."""

    cell_index: int
    pipette_solution: str | None
    max_attempts: int
    rp_low_MOhm: float
    rp_high_MOhm: float
    target_GOhm: float
    seal_timeout_s: float
    suction_kPa: float
    holding_mV: float
    max_ra_MOhm: float
    min_rm_MOhm: float

    def thresholds(self) -> dict[str, Any]:
        """The summary run's ``criteria``."""
        return {
            "pipette_MOhm_range": [self.rp_low_MOhm, self.rp_high_MOhm],
            "seal_GOhm_at_least": self.target_GOhm,
            "seal_timeout_s": self.seal_timeout_s,
            "max_ra_MOhm": self.max_ra_MOhm,
            "min_rm_MOhm": self.min_rm_MOhm,
            "max_attempts": self.max_attempts,
            "section": "docs/reference/physiology.md §7.1",
        }

    def form_seal(self, rig: Rig) -> MsgGenerator[float]:
        """:func:`form_seal` with these settings."""
        return form_seal(
            rig,
            target_GOhm=self.target_GOhm,
            timeout_s=self.seal_timeout_s,
            suction_kPa=self.suction_kPa,
            holding_mV=self.holding_mV,
            cell_index=self.cell_index,
        )


def _check_pipette_solution(rig: Rig, pipette_solution: Any) -> str | None:
    compositions = getattr(rig, "solution_compositions", {}) or {}
    if pipette_solution is not None and (
        not isinstance(pipette_solution, str) or pipette_solution not in compositions
    ):
        raise PlanParameterError(
            f"pipette_solution must be one of {', '.join(compositions) or '(none known)'}; "
            f"got {pipette_solution!r}"
        )
    return pipette_solution


def _check_pipette_range(pipette_range_MOhm: Any) -> tuple[float, float]:
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
    return rp_low, rp_high


@plan_parameters
def patch_cell(
    rig: Rig,
    *,
    cell_index: CellIndex,
    pipette_solution: str | None = None,
    max_attempts: Integer(1, 20) = 3,
    pipette_range_MOhm: tuple[float, float] = (2.0, 10.0),
    target_GOhm: SealGOhm = 1.0,
    seal_timeout_s: SealTimeoutS = 60.0,
    suction_kPa: SuctionKPa = -2.0,
    holding_mV: SealHoldingMV = -70.0,
    max_ra_MOhm: Number(1.0, 200.0, "MΩ") = 25.0,
    min_rm_MOhm: Number(0.0, 1e5, "MΩ") = 200.0,
    md: Metadata = None,
) -> MsgGenerator[PatchResult]:
    """Take cell ``cell_index`` into whole cell (docs/reference/physiology.md §7.1 thresholds).

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
    pipette_solution = _check_pipette_solution(rig, pipette_solution)
    rp_low, rp_high = _check_pipette_range(pipette_range_MOhm)
    patch_amplifier(rig)
    pipette_pressure(rig)
    settings = _PatchSettings(
        cell_index,
        pipette_solution,
        max_attempts,
        rp_low,
        rp_high,
        target_GOhm,
        seal_timeout_s,
        suction_kPa,
        holding_mV,
        max_ra_MOhm,
        min_rm_MOhm,
    )
    return _patch_cell_plan(rig, settings, md)


@dataclass
class _PatchLog:
    """What one :func:`patch_cell` records as it goes: the state transitions (``states``
    events), the sub-runs' start uids and the failed attempts' reasons."""

    patch_id: str
    transitions: list[dict[str, float]] = field(default_factory=list)
    uids: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def enter(
        self, rig: Rig, state: str, attempt: int, value: float = float("nan")
    ) -> MsgGenerator[None]:
        """Log entering ``state`` at the rig time now (plan stub) with the ``value`` measured."""
        t_s = yield from rig_time_s(rig)
        self.transitions.append(
            {
                "t_s": t_s,
                "state": float(PATCH_STATES.index(state)),
                "attempt": float(attempt),
                "value": value,
            }
        )

    def step(
        self, plan: MsgGenerator[Any], cell_index: int, attempt: int, state: str
    ) -> MsgGenerator[Any]:
        """Run a state's ``plan``, its start document tagged, its start uid kept; returns
        what the plan returns."""
        tags = {
            "patch_cell_id": self.patch_id,
            "cell_index": cell_index,
            "attempt": attempt,
            "patch_state": state,
        }
        tagged = bpp.inject_md_wrapper(plan, tags)
        keep = {"start": [lambda name, doc: self.uids.append(doc["uid"])]}
        return (yield from bpp.subs_wrapper(tagged, keep))


def _patch_cell_plan(
    rig: Rig, settings: _PatchSettings, extra: dict[str, Any]
) -> MsgGenerator[PatchResult]:
    """The attempts, then the summary run of :func:`patch_cell`; returns the result."""
    log = _PatchLog(str(uuid.uuid4()))
    result, fatal = yield from _attempts(rig, settings, log)
    yield from _summary_run(rig, settings, log, result, fatal, extra)
    assert result is not None
    return PatchResult(
        result.cell_index,
        result.attempts,
        result.pipette_MOhm,
        result.seal_GOhm,
        result.membrane,
        tuple(log.uids),
    )


def _attempts(
    rig: Rig, settings: _PatchSettings, log: _PatchLog
) -> MsgGenerator[tuple[PatchResult | None, OperatorUnavailable | None]]:
    """Up to ``max_attempts`` attempts, the pipette withdrawn after each failed one; returns
    (the result or ``None``, the operator step that could not be done or ``None``)."""
    for attempt in range(1, settings.max_attempts + 1):
        try:
            return (yield from _attempt(rig, settings, log, attempt)), None
        except OperatorUnavailable as error:  # unattended: nobody can place a pipette
            log.failures.append(f"attempt {attempt}: {error}")
            return None, error
        except PatchFailure as error:
            log.failures.append(f"attempt {attempt}: {error}")
            yield from operator_step(
                rig,
                "Withdraw the pipette; a fresh one goes in the bath.",
                action=WITHDRAW_PIPETTE,
            )
    return None, None


def _attempt(
    rig: Rig, settings: _PatchSettings, log: _PatchLog, attempt: int
) -> MsgGenerator[PatchResult]:
    """One attempt: fill, bath, seal, whole cell, QC (plan stub, each state its own run);
    returns the result, raises :class:`PatchFailure` when a state fails."""
    cell_index = settings.cell_index
    if settings.pipette_solution is not None:
        yield from operator_step(
            rig,
            f"Fill a fresh pipette with {settings.pipette_solution!r}.",
            action=FILL_PIPETTE,
            solution=settings.pipette_solution,
        )
        rig.pipette_solution = settings.pipette_solution
    rp = yield from log.step(pipette_resistance(rig), cell_index, attempt, "bath")
    yield from log.enter(rig, "bath", attempt, rp)
    if not settings.rp_low_MOhm <= rp <= settings.rp_high_MOhm:
        raise PatchFailure(
            f"pipette {rp:.3g} MΩ outside {settings.rp_low_MOhm:g}-{settings.rp_high_MOhm:g} MΩ "
            "(§7.1)"
        )
    seal = yield from log.step(settings.form_seal(rig), cell_index, attempt, "seal")
    yield from log.enter(rig, "contact", attempt)
    yield from log.enter(rig, "seal", attempt, seal)
    broken = yield from log.step(break_in(rig), cell_index, attempt, "whole_cell")
    yield from log.enter(rig, "whole_cell", attempt, broken.cm_pF)
    test = yield from log.step(membrane_test(rig), cell_index, attempt, "qc")
    if not test.ra_MOhm <= settings.max_ra_MOhm:
        raise PatchFailure(f"QC: Ra {test.ra_MOhm:.3g} MΩ > {settings.max_ra_MOhm:g} MΩ")
    if not test.rm_MOhm >= settings.min_rm_MOhm:
        raise PatchFailure(f"QC: Rm {test.rm_MOhm:.3g} MΩ < {settings.min_rm_MOhm:g} MΩ")
    yield from log.enter(rig, "qc_passed", attempt, test.ra_MOhm)
    return PatchResult(cell_index, attempt, rp, seal, test)


def _summary_run(
    rig: Rig,
    settings: _PatchSettings,
    log: _PatchLog,
    result: PatchResult | None,
    fatal: OperatorUnavailable | None,
    extra: dict[str, Any],
) -> MsgGenerator[str]:
    """The ``patch_cell`` run: every transition in ``states``, the outcome in its start
    document; fails (raising ``fatal`` or :class:`PatchFailure`) when no cell was patched."""
    readout = ComputedReadout({"t_s": "s", "state": "1", "attempt": "1", "value": "1"})
    yield from ensure_connected(*readout.signals)
    summary_md = {
        "plan_name": "patch_cell",
        "plan_args": {
            "cell_index": settings.cell_index,
            "pipette_solution": settings.pipette_solution,
        },
        "patch_cell_id": log.patch_id,
        "cell_index": settings.cell_index,
        "states": list(PATCH_STATES),
        "criteria": settings.thresholds(),
        "pipette_solution": getattr(rig, "pipette_solution", None),
        "run_uids": list(log.uids),
        "failures": log.failures,
        "outcome": "whole cell, QC passed" if result is not None else "failed",
        **extra,
    }

    def summary() -> MsgGenerator[None]:
        for values in log.transitions:
            readout.update(values)
            yield from bps.create("states")
            yield from bps.read(readout)
            yield from bps.save()
        if fatal is not None:
            raise fatal
        if result is None:
            raise PatchFailure(
                f"cell {settings.cell_index} not patched after {settings.max_attempts} "
                "attempts: " + "; ".join(log.failures)
            )

    return (yield from bpp.run_wrapper(summary(), md=summary_md))

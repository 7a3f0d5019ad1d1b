"""Plan stubs and checks shared by the patch-clamp plans (pipette, seal, break-in, protocols,
TRPM7 ramps, imaging with ramps).

A patch plan checks its rig when called (:func:`patch_amplifier`, :func:`pipette_pressure`),
puts :func:`patch_methods` in its start document, opens its run with :func:`guarded` (the rig
is left safe whatever happens), records sweeps inside :func:`staged`, and writes computed
read-outs with :func:`emit`. Values cite docs/reference/physiology.md (§7.1) and
docs/reference/instruments.md §3.1.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import MsgGenerator
from ophyd_async.core import TriggerInfo

from ionrig.devices import ComputedReadout, PatchAmplifier, Rig

from ._chemistry import chemistry_md
from ._operator import operator_step
from ._parameters import Number
from ._validation import PlanParameterError

__all__ = [
    "REFERENCE",
    "SET_AMPLIFIER_MODE",
    "VOLTAGE_CLAMP_MODES",
    "PatchFailure",
    "SampleRateHz",
    "emit",
    "guarded",
    "lowpass_kHz",
    "make_safe",
    "patch_amplifier",
    "patch_methods",
    "pipette_pressure",
    "staged",
    "voltage_clamp_telegraphs",
]

REFERENCE = "docs/reference/physiology.md"
#: Telegraphed modes in which the scaled output is membrane current
#: (docs/reference/instruments.md §3.1).
VOLTAGE_CLAMP_MODES = ("V-Clamp", "Track")
#: Operator step: turn the amplifier's front-panel mode switch. Params: ``mode: str``.
SET_AMPLIFIER_MODE = "set_amplifier_mode"
#: The rule of a sweep's sample rate (every patch-clamp protocol's ``sample_rate_Hz``).
SampleRateHz = Number(10_000.0, 100_000.0, "Hz")


class PatchFailure(RuntimeError):
    """A patch-clamp step did not succeed on this cell (the run is closed as failed, the rig
    left safe); the message says what was measured against which criterion."""


def patch_amplifier(rig: Rig) -> PatchAmplifier:
    """The rig's recording amplifier (checked when a plan is called); raises
    :class:`PlanParameterError` when the rig has none."""
    amplifier = getattr(rig, "amplifier", None)
    if not isinstance(amplifier, PatchAmplifier):
        raise PlanParameterError(
            "rig.amplifier must be a recording PatchAmplifier (this rig has "
            f"{type(amplifier).__name__}); patch-clamp plans need sweeps"
        )
    return amplifier


def pipette_pressure(rig: Rig) -> Any:
    """The rig's pipette pressure controller (kPa; checked when a plan is called); raises
    :class:`PlanParameterError` when the rig has none."""
    pressure = getattr(rig, "pressure", None)
    if pressure is None:
        raise PlanParameterError("rig.pressure is required (a pipette pressure controller)")
    return pressure


def voltage_clamp_telegraphs(rig: Rig) -> MsgGenerator[dict[str, Any]]:
    """The amplifier's telegraphs, checked before anything is recorded: the mode must be
    V-Clamp (or Track) and the gain readable. A wrong mode is an operator step
    (``set_amplifier_mode``); if it stays wrong, :class:`PatchFailure`."""
    telegraphs = json.loads((yield from bps.rd(rig.amplifier.telegraphs)) or "{}")
    if telegraphs and telegraphs.get("mode") not in VOLTAGE_CLAMP_MODES:
        yield from operator_step(
            rig,
            f"Switch the amplifier's mode to V-Clamp (it telegraphs {telegraphs.get('mode')!r}).",
            action=SET_AMPLIFIER_MODE,
            mode="V-Clamp",
        )
        telegraphs = json.loads((yield from bps.rd(rig.amplifier.telegraphs)) or "{}")
        if telegraphs.get("mode") not in VOLTAGE_CLAMP_MODES:
            raise PatchFailure(
                f"the amplifier telegraphs mode {telegraphs.get('mode')!r}; voltage-clamp plans "
                f"need one of {', '.join(VOLTAGE_CLAMP_MODES)}"
            )
    if telegraphs:
        gain = telegraphs.get("gain_mV_per_pA")
        if not isinstance(gain, int | float) or not gain > 0:
            raise PatchFailure(f"the amplifier's gain telegraph reads {gain!r}; check its cable")
    return telegraphs


def patch_methods(
    rig: Rig, plan_name: str, plan_args: dict[str, Any], md: dict[str, Any]
) -> MsgGenerator[dict[str, Any]]:
    """The start document's methods (plan stub, before the run opens): plan, arguments,
    pipette solution, amplifier telegraphs, holding (mV) at the start; returns them."""
    telegraphs = yield from voltage_clamp_telegraphs(rig)
    holding_mV = yield from bps.rd(rig.amplifier.holding_mV)
    pipette = getattr(rig, "pipette_solution", None)
    compositions = getattr(rig, "solution_compositions", {}) or {}
    bath = yield from bps.rd(rig.perfusion.solution)
    chemistry = chemistry_md(
        rig, [bath] if isinstance(bath, str) else [], pipette=pipette, plan_name=plan_name
    )
    return {
        "plan_name": plan_name,
        "plan_args": plan_args,
        # what the rig exposes (None when nobody told it); the operator may give it in md
        "pipette_solution": pipette,
        "pipette_solution_composition_mM": compositions.get(pipette) if pipette else None,
        "bath_solution": bath if isinstance(bath, str) else None,
        "chemistry": chemistry,
        "amplifier_telegraphs": telegraphs,
        "holding_mV_at_start": float(holding_mV),
        "reference": REFERENCE,
        **md,
    }


def lowpass_kHz(methods: Mapping[str, Any]) -> float | None:
    """The telegraphed Bessel lowpass (kHz) in :func:`patch_methods`' result, if known."""
    value = methods["amplifier_telegraphs"].get("lowpass_kHz")
    return float(value) if isinstance(value, int | float) and value > 0 else None


def emit(readout: ComputedReadout, stream: str, values: Mapping[str, float]) -> MsgGenerator:
    """One event of ``values`` in ``stream`` (plan stub, inside an open run)."""
    readout.update(values)
    yield from bps.create(stream)
    yield from bps.read(readout)
    yield from bps.save()


async def _done(status: Any) -> None:
    await status


def make_safe(rig: Rig) -> MsgGenerator[None]:
    """Pressure to 0 kPa and holding to the amplifier's safe value, both attempted (plan
    stub); the first error is raised after both."""
    factories: list[Callable[[], Any]] = [lambda: _done(rig.amplifier.make_safe())]
    if getattr(rig, "pressure", None) is not None:
        factories.append(lambda: _done(rig.pressure.make_safe()))
    tasks = yield from bps.wait_for(factories)
    errors = [task.exception() for task in tasks]  # every one retrieved, the first raised
    for error in errors:
        if error is not None:
            raise error


def guarded(rig: Rig, body: MsgGenerator[Any], md: dict[str, Any]) -> MsgGenerator[str]:
    """``body`` in a run with start document ``md``, the rig made safe afterwards whatever
    happens (:func:`make_safe`). Yields the run's messages; returns the start uid."""
    return (yield from bpp.finalize_wrapper(bpp.run_wrapper(body, md=md), make_safe(rig)))


def staged(amplifier: PatchAmplifier, body: MsgGenerator[Any]) -> MsgGenerator[Any]:
    """Stage (waiting for it: an unwaited stage races the first trigger and can reuse the
    previous run's file), prepare for single sweeps, run ``body``, unstage (waited).
    Returns what ``body`` returns."""

    def inner() -> MsgGenerator[Any]:
        yield from bps.stage(amplifier, wait=True)
        yield from bps.prepare(amplifier, TriggerInfo(), wait=True)
        return (yield from body)

    return (yield from bpp.finalize_wrapper(inner(), bps.unstage(amplifier, wait=True)))

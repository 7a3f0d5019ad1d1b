"""Operator steps: the one prompt mechanism for what a person does at the rig.

Positioning the pipette, front-panel amplifier settings and refilling reservoirs are done by
hand. A plan asks for them with :func:`operator_step`; who answers depends on the rig:

1. **A responder on the rig** (``rig.operator``, an :class:`OperatorResponder`): called as
   ``rig.operator(step, message=message, **params)``. The simulated rig's glue attaches one
   that acts on the simulated world (e.g. ``"approach_cell"`` places the pipette on cell
   ``cell_index``); a real rig may attach one that drives a motorised manipulator. A responder
   declines a step by raising :class:`OperatorUnavailable`.
2. **Unattended** (no responder, and :func:`set_unattended` was called with ``True`` or the
   rig file's config has ``unattended: true``): :class:`OperatorUnavailable` is raised, which
   fails the current cell's run cleanly (the plan's cleanup still runs).
3. **A person at the rig** (otherwise): the message is shown through bluesky's ``input`` message
   (``bps.input_plan``); Enter or ``y`` confirms the step is done, ``n``/``abort`` declines it
   (:class:`OperatorUnavailable`).

Step names used by ionrig's plans (the glue's responder must handle these):

- ``"approach_cell"``, params ``cell_index: int`` — put the pipette (with positive pressure,
  docs/reference/physiology.md §7.1) on cell ``cell_index`` so sealing can start.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import bluesky.plan_stubs as bps
from bluesky.utils import MsgGenerator

__all__ = [
    "APPROACH_CELL",
    "OperatorResponder",
    "OperatorUnavailable",
    "is_unattended",
    "operator_step",
    "set_unattended",
]

#: Step name: place the pipette on a cell. Params: ``cell_index: int``.
APPROACH_CELL = "approach_cell"

_CONFIRM = frozenset({"", "y", "yes", "ok", "done"})
_DECLINE = frozenset({"n", "no", "abort", "skip"})
_unattended = False


class OperatorUnavailable(RuntimeError):
    """No one (and no responder) can do an operator step: the current cell fails cleanly."""

    def __init__(self, step: str | None, message: str, reason: str) -> None:
        self.step = step
        self.reason = reason
        super().__init__(f"operator step {step or 'prompt'!r} not done ({reason}): {message}")


@runtime_checkable
class OperatorResponder(Protocol):
    """What a rig may carry as ``rig.operator``: does an operator step without a person.

    Called as ``responder(step, message=message, **params)`` with ``step`` one of the step
    names above and ``params`` that step's keyword arguments; it returns when the step is done
    (its return value is handed back to the plan) or raises :class:`OperatorUnavailable` to
    decline. It runs synchronously in the RunEngine's thread: it must be quick.
    """

    def __call__(self, step: str, /, *, message: str, **params: Any) -> Any: ...


def set_unattended(unattended: bool) -> None:
    """Process-wide: with no responder on the rig, fail operator steps instead of prompting."""
    global _unattended
    _unattended = bool(unattended)


def is_unattended(rig: Any) -> bool:
    """True if operator steps must not prompt: :func:`set_unattended` or the rig config's
    ``unattended`` flag."""
    return _unattended or bool(getattr(getattr(rig, "config", None), "unattended", False))


def operator_step(
    rig: Any, message: str, *, action: str | None = None, **params: Any
) -> MsgGenerator[Any]:
    """Ask for an operator step (plan stub); returns the responder's result, or the typed
    answer when a person confirmed it.

    ``action`` is the step name given to the responder (see the module docstring for the names
    and params); without one the step is a plain prompt that a responder acknowledges with step
    ``"acknowledge"``. Raises :class:`OperatorUnavailable` when unattended or declined.
    """
    step = action or "acknowledge"
    responder = getattr(rig, "operator", None)
    if responder is not None:
        result = responder(step, message=message, **params)
        yield from bps.null()
        return result
    if is_unattended(rig):
        raise OperatorUnavailable(action, message, "unattended: no operator responder on the rig")
    while True:
        answer = yield from bps.input_plan(f"[operator] {message} — done? [Y/n] ")
        reply = (answer or "").strip().lower()
        if reply in _CONFIRM:
            return reply
        if reply in _DECLINE:
            raise OperatorUnavailable(action, message, f"declined by the operator ({reply!r})")

"""``ionrig run PLAN KEY=VALUE …``: run a plan of :mod:`ionrig.plans` by name on a session.

The plans that can be run are the public plans that open their own run: every callable of
``ionrig.plans.__all__`` whose first parameter is the rig and that takes an ``md`` keyword
(plan stubs such as ``exchange_solution`` run inside another plan's run and take no ``md``).

Values are Python literals (``n_pairs=10``, ``exposure_ms=12.5``, ``rois=[[64, 64, 8]]``,
``md={'cell': 'c1'}``, ``interval_s=None``), read with :func:`ast.literal_eval`; anything that
is not a literal is taken as text (``solution=hbss``); :mod:`ionrig.bench.params` reads them, as
for ``ionrig queue add``. The rig is the plan's first argument and
comes from ``--rig``.

Exit codes: 0 the run succeeded; 2 bad usage or parameters (nothing ran); 1 the rig did not
start or the run failed (its uid and reason are printed); 130 interrupted (Ctrl-C: the run is
aborted, so it is closed and stored).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ionrig.bench.params import parse_key_values
from ionrig.plans import describe_parameter, plan_parameters_schema, python_type_name

__all__ = [
    "RunOutcome",
    "UsageError",
    "available_plans",
    "parse_assignments",
    "plan_signature",
    "plan_summary",
    "run_command",
    "run_plan",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: Why ``rig=…`` is refused: the rig is the plan's first argument, from ``--rig``.
RIG_FROM_OPTION = "the rig is chosen with --rig (sim or a rig file), not rig=…"


class UsageError(ValueError):
    """The command line is wrong (unknown plan, bad KEY=VALUE, wrong parameter); nothing ran."""


@dataclass(frozen=True)
class RunOutcome:
    """What ``ionrig run`` did: the runs it opened and how they ended.

    ``exit_status`` is the last run's (``success``, ``fail``, ``abort``), or ``"no run"`` when
    the plan failed before opening one; ``exit_code`` is the process exit code.
    """

    plan: str
    uids: tuple[str, ...]
    exit_status: str
    reason: str
    data_directory: Path
    exit_code: int


def available_plans() -> dict[str, Callable[..., Any]]:
    """Runnable plans by name: public plans of :mod:`ionrig.plans` that take the rig first and
    an ``md`` keyword (so they open their own run)."""
    import ionrig.plans

    plans = {}
    for name in ionrig.plans.__all__:
        candidate = getattr(ionrig.plans, name)
        if isinstance(candidate, type) or not callable(candidate):
            continue
        parameters = list(inspect.signature(candidate).parameters)
        if parameters[:1] == ["rig"] and "md" in parameters:
            plans[name] = candidate
    return dict(sorted(plans.items()))


def plan_summary(plan: Callable[..., Any], width: int = 90) -> str:
    """One line from the plan's docstring: its first sentence without parenthetical references
    and markup, cut to ``width`` characters."""
    doc = inspect.getdoc(plan) or ""
    text = " ".join(doc.split("\n\n", 1)[0].split())
    end = text.find(". ")
    text = text if end < 0 else text[: end + 1]
    text = re.sub(r":\w+:`([^`]*)`", r"\1", text).replace("``", "")
    while re.search(r"\s*\([^()]*\)", text):
        text = re.sub(r"\s*\([^()]*\)", "", text)
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _annotation(plan: Callable[..., Any], parameter: inspect.Parameter) -> str:
    declared = getattr(plan, "parameter_annotations", {}).get(parameter.name)
    if declared is not None:  # a pydantic rule: the plain type here, the range below
        return python_type_name(declared)
    annotation = parameter.annotation
    return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)


def plan_parameter_rules(plan: Callable[..., Any]) -> str:
    """One line per parameter the plan declares a rule for: ``  ramp_ms: number in [5, 2000]
    ms`` (empty for a plan that declares none)."""
    lines = []
    for name in inspect.signature(plan).parameters:
        described = describe_parameter(plan, name)
        if described is not None:
            lines.append(f"  {name}: {described}")
    return "\n".join(lines)


def plan_signature(name: str, plan: Callable[..., Any]) -> str:
    """``name(rig, n_pairs: int, *, exposure_ms: float = 20.0, …)`` with readable annotations."""
    parts: list[str] = []
    star = False
    for parameter in inspect.signature(plan).parameters.values():
        if parameter.kind is parameter.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        text = parameter.name
        if parameter.kind is parameter.VAR_KEYWORD:
            text = f"**{text}"
        elif parameter.kind is parameter.VAR_POSITIONAL:
            text, star = f"*{text}", True
        if parameter.annotation is not parameter.empty and parameter.name != "rig":
            text += f": {_annotation(plan, parameter)}"
        if parameter.default is not parameter.empty:
            text += f" = {parameter.default!r}"
        parts.append(text)
    return f"{name}({', '.join(parts)})"


def _plan_list(plans: Mapping[str, Callable[..., Any]]) -> str:
    width = max(len(name) for name in plans)
    return "\n".join(f"  {name:<{width}}  {plan_summary(plan)}" for name, plan in plans.items())


def parse_assignments(items: Sequence[str]) -> dict[str, Any]:
    """``["n_pairs=2", "solution=hbss"]`` → ``{"n_pairs": 2, "solution": "hbss"}``.

    Values are Python literals when they parse as one, else text
    (:func:`ionrig.bench.params.parse_key_values`, as ``ionrig queue add`` reads them). Raises
    :class:`UsageError` for an item without ``=``, a key that is not a Python name, a repeated
    key, or ``rig``.
    """
    return parse_key_values(items, reserved={"rig": RIG_FROM_OPTION}, error=UsageError)


def _resolve(plan_name: str | None) -> tuple[str, Callable[..., Any]]:
    plans = available_plans()
    if plan_name is None:
        raise UsageError(f"name a plan to run; the plans are:\n{_plan_list(plans)}")
    if plan_name not in plans:
        raise UsageError(f"unknown plan {plan_name!r}; the plans are:\n{_plan_list(plans)}")
    return plan_name, plans[plan_name]


def _bind(name: str, plan: Callable[..., Any], params: Mapping[str, Any]) -> None:
    try:
        inspect.signature(plan).bind(object(), **params)
    except TypeError as error:
        rules = plan_parameter_rules(plan)
        raise UsageError(
            f"{name}: {error}\n  {plan_signature(name, plan)}\n"
            + (f"{rules}\n" if rules else "")
            + "  (the rig comes from --rig; give the other parameters as KEY=VALUE)"
        ) from None


class _OneCtrlCPauses:
    """RunEngine context manager for a batch run: one Ctrl-C pauses at once (the caller then
    aborts, so the run is closed and stored). bluesky's default handler only requests a
    deferred pause on the first press and needs a second within 10 s to pause a long move.
    """

    def __init__(self, RE: Any) -> None:
        self._RE = RE
        self._pressed = threading.Event()
        self._released = False

    def _watch(self) -> None:
        from bluesky.utils import TransitionError

        self._pressed.wait()
        if not self._released:
            with contextlib.suppress(TransitionError, RuntimeError):
                self._RE.request_pause(defer=False)

    def __enter__(self) -> _OneCtrlCPauses:
        self._original = signal.getsignal(signal.SIGINT)
        threading.Thread(target=self._watch, name="ionrig-run Ctrl-C", daemon=True).start()
        signal.signal(signal.SIGINT, lambda signum, frame: self._pressed.set())
        return self

    def __exit__(self, *exc_info: object) -> None:
        signal.signal(signal.SIGINT, self._original)
        self._released = True
        self._pressed.set()


class _Recorder:
    """Collects the start uids and stop documents of the runs a plan opens."""

    def __init__(self) -> None:
        self.uids: list[str] = []
        self.stops: dict[str, dict[str, Any]] = {}

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        if name == "start":
            self.uids.append(doc["uid"])
        elif name == "stop":
            self.stops[doc["run_start"]] = doc


def run_plan(
    plan_name: str | None,
    params: Mapping[str, Any],
    *,
    rig: str | os.PathLike = "sim",
    data: str | os.PathLike | None = None,
    time_scale: float | None = None,
) -> RunOutcome:
    """Run ``plan_name(rig, **params)`` on a new session and return how it went.

    ``data`` is the data directory (default ``$IONRIG_DATA``); ``time_scale`` overrides the rig
    file's (simulated rigs only). Raises :class:`UsageError` (nothing ran) for an unknown plan,
    parameters the plan does not take or refuses (``PlanParameterError``), or a rig file that
    does not parse. A rig that does not start, a failed run and Ctrl-C are outcomes
    (``exit_code`` 1 or 130), not exceptions.
    """
    from ionrig.data.catalog import open_catalog
    from ionrig.rig import read_rig_config
    from ionrig.rig.config import ConfigError

    name, plan = _resolve(plan_name)
    _bind(name, plan, params)
    overrides = {} if time_scale is None else {"time_scale": time_scale}
    try:  # a wrong rig file or --time-scale is refused before the catalog is touched
        read_rig_config(rig, **overrides)
    except ConfigError as error:
        raise UsageError(f"rig {str(rig)!r}: {error}") from None
    catalog = open_catalog(data)
    location = catalog.location.root

    def outcome(uids: Sequence[str], status: str, reason: str, code: int) -> RunOutcome:
        return RunOutcome(name, tuple(uids), status, reason, location, code)

    session = _start_session(rig, catalog, overrides, outcome)
    if isinstance(session, RunOutcome):
        return session
    recorder = _Recorder()
    token = session.RE.subscribe(recorder)
    if threading.current_thread() is threading.main_thread():  # signal handlers live there
        session.RE.context_managers = [_OneCtrlCPauses]
    try:
        return _run_on(session, name, plan, params, recorder, outcome)
    finally:
        session.RE.unsubscribe(token)
        try:
            session.close()
        except Exception as error:  # the rig could not be made safe: say so, keep the outcome
            print(f"warning: could not leave the rig safe: {error}", file=sys.stderr)


_Outcome = Callable[[Sequence[str], str, str, int], RunOutcome]


def _start_session(rig, catalog, overrides: Mapping[str, Any], outcome: _Outcome) -> Any:
    """A session on ``rig`` with ``catalog``, or the outcome when the rig did not start
    (interrupted, or an instrument that did not connect); the catalog is closed then. A rig
    file refused at start is a :class:`UsageError`."""
    from ionrig.rig.config import ConfigError
    from ionrig.session import start

    try:
        return start(rig, catalog=catalog, **overrides)
    except ConfigError as error:
        catalog.close()
        raise UsageError(f"rig {str(rig)!r}: {error}") from None
    except KeyboardInterrupt:
        catalog.close()
        return outcome((), "no run", "interrupted while the rig was starting", EXIT_INTERRUPTED)
    except Exception as error:  # the rig did not connect: say so, and where to look
        catalog.close()
        return outcome(
            (),
            "no run",
            f"the rig did not start: {type(error).__name__}: {str(error).strip()} "
            f"(`ionrig doctor --rig {rig}` checks every instrument)",
            EXIT_FAILED,
        )


def _run_on(
    session,
    name: str,
    plan: Callable[..., Any],
    params: Mapping[str, Any],
    recorder: _Recorder,
    outcome: _Outcome,
) -> RunOutcome:
    """Run ``plan(rig, **params)`` on ``session``'s RunEngine; how it ended as an outcome
    (Ctrl-C aborts the run, so it is closed and stored). Parameters the plan refuses before
    opening a run are a :class:`UsageError`."""
    from bluesky.utils import RunEngineInterrupted

    from ionrig.plans import PlanParameterError

    try:
        messages = plan(session.rig, **params)
    except (PlanParameterError, TypeError, ValueError) as error:
        raise UsageError(f"{name}: {error}") from None
    try:
        session.RE(messages)
    except RunEngineInterrupted:
        session.RE.abort(reason="interrupted (Ctrl-C)")
        return _finished(outcome, recorder, "interrupted (Ctrl-C)", EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        if session.RE.state != "idle":
            session.RE.halt()
        return _finished(outcome, recorder, "interrupted (Ctrl-C)", EXIT_INTERRUPTED)
    except PlanParameterError as error:
        if not recorder.uids:
            raise UsageError(f"{name}: {error}") from None
        return _finished(outcome, recorder, f"{error}", EXIT_FAILED)
    except Exception as error:  # the run failed: report it with its uid
        return _finished(outcome, recorder, _root_cause(error), EXIT_FAILED)
    return _finished(outcome, recorder, "", EXIT_OK)


def _finished(
    outcome: _Outcome,
    recorder: _Recorder,
    reason: str,
    code: int,
) -> RunOutcome:
    """The outcome from the documents: the last run's stop says how it ended."""
    if not recorder.uids:
        return outcome((), "no run", reason or "the plan opened no run", code)
    stop = recorder.stops.get(recorder.uids[-1], {})
    status = stop.get("exit_status", "open")
    if code == EXIT_OK and status != "success":
        code = EXIT_FAILED
    return outcome(recorder.uids, status, reason or stop.get("reason", ""), code)


def _root_cause(error: BaseException) -> str:
    """``Type: message`` of the innermost cause (a device's error behind bluesky's
    ``FailedStatus``)."""
    seen = {id(error)}
    while error.__cause__ is not None and id(error.__cause__) not in seen:
        error = error.__cause__
        seen.add(id(error))
    return f"{type(error).__name__}: {error}"


def schema_command(plan_name: str | None, *, stdout: TextIO | None = None) -> int:
    """``ionrig run PLAN --schema``: the JSON Schema of the plan's declared parameters (each
    number with its ``unit``), for editors and queue front ends. Exit code 0, or 2 for an
    unknown plan or one that declares no parameters."""
    import json

    try:
        plan = _resolve(plan_name)[1]
        schema = plan_parameters_schema(plan)
    except (UsageError, TypeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(schema, indent=2), file=stdout or sys.stdout)
    return EXIT_OK


def run_command(
    plan_name: str | None,
    assignments: Sequence[str],
    *,
    rig: str | os.PathLike = "sim",
    data: str | os.PathLike | None = None,
    time_scale: float | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """The ``ionrig run`` command: parse, run, print the run uid(s) and where the data went.

    Returns the exit code (0 success, 1 failed, 2 bad usage, 130 interrupted).
    """
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        outcome = run_plan(
            plan_name, parse_assignments(assignments), rig=rig, data=data, time_scale=time_scale
        )
    except UsageError as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    for uid in outcome.uids:
        print(f"run {uid} ({outcome.plan})", file=out)
    if outcome.uids:
        journal = outcome.data_directory / "journal"
        print(
            f"data: {outcome.data_directory} (catalog; journal {journal}); "
            f"`ionrig catalog show {outcome.uids[-1][:8]}` shows it",
            file=out,
        )
    if outcome.exit_code == EXIT_OK:
        print(f"{outcome.plan}: {outcome.exit_status}", file=out)
    else:
        where = f"run {outcome.uids[-1]}" if outcome.uids else "no run was opened"
        print(
            f"error: {outcome.plan} did not succeed ({where}; exit status {outcome.exit_status}): "
            f"{outcome.reason}",
            file=err,
        )
    return outcome.exit_code

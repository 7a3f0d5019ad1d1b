"""Report sections of patch-clamp runs (``trpm7_ramps``, ``membrane_test``, ``form_seal``) and
the membrane-test trend across runs: figures and key numbers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ionrig import analysis
from ionrig.data.readers import read_stream, read_sweeps
from ionrig.reports import figures
from ionrig.reports.report_content import Content, ReportWriter, Table, fmt

__all__ = [
    "IV_RAMPS",
    "RAMP_SKIP_MS",
    "form_seal_section",
    "membrane_test_section",
    "membrane_trend_section",
    "trpm7_section",
]

#: Number of ramps whose I-V a trpm7_ramps report shows (first, last and evenly between).
IV_RAMPS = 5
#: Left out at the start of each ramp in the I-V figure (ms): the step's capacitive transient.
RAMP_SKIP_MS = 2.0
_MEMBRANE_KEYS = ("t_s", "ra_MOhm", "rm_MOhm", "cm_pF", "tau_ms")


def _iv_ramps(run, stem: str, writer: ReportWriter, content: Content) -> None:
    """The raw I-V of up to IV_RAMPS ramps, from the sweeps."""
    sweeps = read_sweeps(run)
    if sweeps.command_mV is None or sweeps.n_sweeps == 0:
        content.notes.append("The ramps' command could not be rebuilt: no I-V figure.")
        return
    picks = np.unique(np.linspace(0, sweeps.n_sweeps - 1, min(IV_RAMPS, sweeps.n_sweeps)))
    picks = picks.round().astype(int)
    # the ramp without its first RAMP_SKIP_MS: the capacitive transient of the step from the
    # holding potential to the ramp's start
    ramp = analysis.ramp_samples(sweeps.command_mV)
    skip = round(RAMP_SKIP_MS * 1e-3 * sweeps.sample_rate_Hz)
    samples = np.arange(ramp.start, ramp.stop)[skip:]
    curves = [
        analysis.iv_curve(
            sweeps.command_mV[samples], sweeps.current_pA[k, samples], at_mV=(-80.0, 80.0)
        )
        for k in picks
    ]
    since = sweeps.t_s - sweeps.t_s[0]
    writer.add(
        content,
        figures.iv_figure(
            [c.voltage_mV for c in curves],
            [c.current_pA for c in curves],
            labels=[f"ramp {k + 1}, t = {since[k]:.0f} s" for k in picks],
            title="I-V of the ramps (raw, not leak-subtracted)",
        ),
        f"{stem}-iv",
        f"Current during the voltage ramp of {len(picks)} of the {sweeps.n_sweeps} sweeps "
        f"(raw, not leak-subtracted; the ramp's first {RAMP_SKIP_MS:g} ms, the capacitive "
        "transient of the step to its start, left out); dotted lines at ±80 mV.",
    )


def trpm7_section(run, stem: str, writer: ReportWriter) -> Content:
    content = Content()
    start = run.metadata["start"]
    data = read_stream(run, "trpm7")
    t_s = np.asarray(data["t_s"], dtype=np.float64)
    plus = np.asarray(data["i_plus80_pA"], dtype=np.float64)
    minus = np.asarray(data["i_minus80_pA"], dtype=np.float64)
    if t_s.size == 0:
        raise ValueError("stream 'trpm7' holds no ramps")
    cm_pF = start.get("cm_pF") or (start.get("plan_args") or {}).get("cm_pF")
    fit = None
    if t_s.size >= 4:
        try:
            fit = analysis.fit_run_up(t_s, plus)
        except ValueError as error:
            content.notes.append(f"No run-up fit: {error}")
    if fit is not None and fit.tau_s > t_s[-1] - t_s[0]:
        content.notes.append(
            f"The run-up fit's τ ({fmt(fit.tau_s)} s) exceeds the recorded "
            f"{fmt(t_s[-1] - t_s[0])} s: the run-up is not resolved."
        )
    args = start.get("plan_args") or {}
    mode = args.get("leak")
    if "raw_i_plus80_pA" in data and mode != "none":  # leak subtracted live, raw kept too
        if mode == "linear" and args.get("leak_fit_mV"):
            low, high = args["leak_fit_mV"]
            leak = f"leak-subtracted by the plan: a line fitted between {low:g} and {high:g} mV"
        elif mode == "first_ramps" and args.get("leak_ramps"):
            leak = f"leak-subtracted by the plan: the mean of the first {args['leak_ramps']} ramps"
        else:
            leak = f"leak-subtracted by the plan (leak={mode!r})"
    else:
        leak = "raw, not leak-subtracted"
    writer.add(
        content,
        figures.runup_figure(t_s - t_s[0], plus, minus, fit=fit, title="TRPM7 run-up"),
        f"{stem}-runup",
        "Current at +80 mV (outward) and −80 mV (inward) of each ramp from the run's trpm7 "
        f"stream, {leak}; a mono-exponential fit of the outward current; time from the first "
        "ramp.",
    )
    _iv_ramps(run, stem, writer, content)
    peak_plus, peak_minus = float(np.max(plus)), float(np.min(minus))
    rows = [
        ("currents", leak, ""),
        ("ramps", str(t_s.size), ""),
        ("duration", fmt(t_s[-1] - t_s[0], 4), "s"),
        ("I(+80 mV), first ramp → last", f"{fmt(plus[0])} → {fmt(plus[-1])}", "pA"),
        ("I(−80 mV), first ramp → last", f"{fmt(minus[0])} → {fmt(minus[-1])}", "pA"),
        ("peak outward I(+80 mV)", fmt(peak_plus), "pA"),
        ("peak inward I(−80 mV)", fmt(peak_minus), "pA"),
    ]
    if cm_pF:
        rows += [
            ("Cm (given to the plan)", fmt(cm_pF), "pF"),
            ("peak outward density", fmt(peak_plus / float(cm_pF)), "pA/pF"),
            ("peak inward density", fmt(peak_minus / float(cm_pF)), "pA/pF"),
        ]
    if fit is not None:
        rows += [
            ("run-up amplitude (outward)", fmt(fit.amplitude_pA), "pA"),
            ("run-up τ / t½", f"{fmt(fit.tau_s)} / {fmt(fit.t_half_s)}", "s"),
        ]
    if "raw_i_plus80_pA" in data:
        raw_plus = np.asarray(data["raw_i_plus80_pA"], dtype=np.float64)
        raw_minus = np.asarray(data["raw_i_minus80_pA"], dtype=np.float64)
        rows += [
            ("raw I(+80 mV), last ramp", fmt(raw_plus[-1]), "pA"),
            ("raw I(−80 mV), last ramp", fmt(raw_minus[-1]), "pA"),
        ]
    content.tables.append(Table("Key numbers", ("quantity", "value", "unit"), tuple(rows)))
    return content


def _membrane_data(run, writer: ReportWriter) -> dict[str, NDArray[Any]]:
    uid = run.metadata["start"]["uid"]
    if uid not in writer.membrane_tests:
        writer.membrane_tests[uid] = read_stream(run, "membrane_test", _MEMBRANE_KEYS)
    return writer.membrane_tests[uid]


def membrane_test_section(run, stem: str, writer: ReportWriter) -> Content:
    content = Content()
    data = _membrane_data(run, writer)
    if np.asarray(data["t_s"]).size == 0:
        raise ValueError("stream 'membrane_test' holds no result")
    rows = tuple(
        (label, fmt(np.asarray(data[key], dtype=np.float64)[-1]), unit)
        for key, label, unit in (
            ("ra_MOhm", "access resistance Ra", "MΩ"),
            ("rm_MOhm", "membrane resistance Rm", "MΩ"),
            ("cm_pF", "membrane capacitance Cm", "pF"),
            ("tau_ms", "time constant τ", "ms"),
        )
    )
    content.tables.append(Table("Membrane test", ("quantity", "value", "unit"), rows))
    sweeps = read_sweeps(run)
    writer.add(
        content,
        figures.sweeps_figure(
            1000.0 * sweeps.time_s,
            sweeps.current_pA,
            command_mV=sweeps.command_mV,
            title="Membrane test sweeps",
        ),
        f"{stem}-sweeps",
        f"The {sweeps.n_sweeps} test-pulse sweeps (grey) and their mean.",
    )
    return content


def form_seal_section(run, stem: str, writer: ReportWriter) -> Content:
    content = Content()
    args = run.metadata["start"].get("plan_args") or {}
    data = read_stream(run, "seal", ["t_s", "seal_GOhm"])
    t_s = np.asarray(data["t_s"], dtype=np.float64)
    seal = np.asarray(data["seal_GOhm"], dtype=np.float64)
    if t_s.size == 0:
        raise ValueError("stream 'seal' holds no seal test")
    target = args.get("target_GOhm")
    writer.add(
        content,
        figures.seal_figure(t_s, seal, target_GOhm=target, title="Seal formation"),
        f"{stem}-seal",
        "Seal resistance from a 5-mV test every 0.5 s of rig time, under suction.",
    )
    reached = np.flatnonzero(seal >= target) if target is not None else np.zeros(0, dtype=int)
    rows = [
        ("seal tests", str(t_s.size), ""),
        ("final seal resistance", fmt(seal[-1]), "GΩ"),
        ("highest seal resistance", fmt(np.nanmax(seal)), "GΩ"),
        ("target", fmt(target), "GΩ"),
        (
            "time to reach the target",
            fmt(t_s[reached[0]] - t_s[0], 4) if reached.size else "not reached",
            "s" if reached.size else "",
        ),
        ("suction", fmt(args.get("suction_kPa")), "kPa"),
    ]
    content.tables.append(Table("Key numbers", ("quantity", "value", "unit"), tuple(rows)))
    return content


def membrane_trend_section(runs: Sequence[Any], writer: ReportWriter) -> Content:
    """Ra, Rm, Cm across membrane_test runs (in start order). The x axis is the rig clock when
    it increases from run to run (one session), else the wall-clock start times."""
    rows = []
    for run in runs:
        data = _membrane_data(run, writer)
        if np.asarray(data["t_s"]).size:
            rows.append(
                (
                    float(np.asarray(data["t_s"])[-1]),
                    float(run.metadata["start"]["time"]),
                    *(float(np.asarray(data[k])[-1]) for k in ("ra_MOhm", "rm_MOhm", "cm_pF")),
                )
            )
    content = Content()
    table = np.array(rows, dtype=np.float64)
    rig_t, wall_t = table[:, 0], table[:, 1]
    on_rig_clock = bool(np.all(np.diff(rig_t) > 0))
    t = rig_t - rig_t[0] if on_rig_clock else wall_t - wall_t[0]
    writer.add(
        content,
        figures.membrane_test_trend_figure(
            t, table[:, 2], table[:, 3], table[:, 4], title="Membrane tests across runs"
        ),
        "membrane-test-trend",
        f"Ra, Rm and Cm of {len(rows)} membrane tests, time from the first "
        + ("(rig clock)." if on_rig_clock else "(wall clock: the rig clocks differ)."),
    )
    return content

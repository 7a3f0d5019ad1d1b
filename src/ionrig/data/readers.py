"""Runs → arrays, so that analysis never parses documents.

``read_timecourse(run)`` gives everything a 340/380 time course recorded, as numpy arrays with
units in their names. ``run`` is a catalog entry (``catalog[-1]``, ``catalog[uid]``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ionrig.analysis import (
    PhaseChange,
    RatioCalibration,
    SpecificChange,
    phase_changes,
    specific_change,
)

__all__ = [
    "EXCITATION_KEY",
    "MgTimecourse",
    "SolutionChanges",
    "Sweeps",
    "Timecourse",
    "UptakeEffect",
    "find_calibration_run",
    "iter_frames",
    "read_calibration",
    "read_frame",
    "read_mg_free",
    "read_solution_changes",
    "read_stream",
    "read_sweeps",
    "read_timecourse",
    "read_uptake_effect",
]


@dataclass(frozen=True)
class Timecourse:
    """One ratiometric time course (see docs/data-model.md for every field's source)."""

    uid: str
    exit_status: str | None
    #: per pair: rig-clock time (s) and online ratio per cell ROI
    pair_t_s: NDArray[np.float64]
    online_ratio: dict[str, NDArray[np.float64]]
    #: per frame (primary stream), split by excitation wavelength
    frame_t_s: dict[int, NDArray[np.float64]]
    roi_sums_adu: dict[int, NDArray[np.float64]]  # (n_frames, n_rois + 1), background last
    roi_names: list[str]  # cell ROIs; the background ROI follows them in roi_sums_adu
    roi_pixels: NDArray[np.float64]  # pixel count per ROI, same order, background last
    exposure_ms: float
    start: dict[str, Any] = field(repr=False)
    frames: dict[int, NDArray[np.uint16]] | None = field(default=None, repr=False)

    @property
    def n_pairs(self) -> int:
        return len(self.pair_t_s)


def _stop(run) -> dict[str, Any]:
    return dict(run.metadata.get("stop") or {})


def _describe(run) -> str:
    """``run 1a2b3c4d ('wash', exit status 'success')`` for error messages."""
    start = run.metadata["start"]
    status = _stop(run).get("exit_status")
    return f"run {start['uid'][:8]} ({start.get('plan_name')!r}, exit status {status!r})"


def _camera_frames(run):
    """The ``camera`` node of the run's ``primary`` stream, or a ValueError saying why not."""
    if "primary" not in run or "camera" not in run["primary"]:
        raise ValueError(
            f"{_describe(run)} has no camera frames: frames are in stream 'primary' of 340/380 "
            "imaging runs (ratiometric_timecourse, mg_uptake, calibrate_in_situ, "
            "imaging_with_ramps)"
        )
    return run["primary"]["camera"]


#: Data key of each frame's excitation wavelength (nm), recorded by the camera beside the frame
#: in step and fly mode alike (docs/data-model.md).
EXCITATION_KEY = "camera-excitation_nm"


def _frame_wavelengths_nm(run, n_frames: int) -> NDArray[np.float64]:
    """Excitation of each frame (nm, whole; NaN where the run recorded none known): the
    camera's ``camera-excitation_nm`` beside each frame."""
    primary = run["primary"]
    if EXCITATION_KEY in primary:
        recorded = np.asarray(primary[EXCITATION_KEY].read(), dtype=np.float64).reshape(-1)
    else:
        recorded = _wavelengths_recorded_before_camera_excitation_nm(run, n_frames)
    return np.rint(recorded)


def _wavelengths_recorded_before_camera_excitation_nm(run, n_frames: int) -> NDArray[np.float64]:
    """For runs recorded before frames carried ``camera-excitation_nm`` only: step mode's wheel
    readback in each event (``filter_wheel-wavelength_nm``), else fly mode's start-document
    sequence repeated (frame i at ``excitation_sequence_nm[i % len]``)."""
    primary = run["primary"]
    if "filter_wheel-wavelength_nm" in primary:
        return np.asarray(primary["filter_wheel-wavelength_nm"].read(), dtype=np.float64)
    sequence = run.metadata["start"].get("excitation_sequence_nm")
    if not sequence:
        raise ValueError(f"{_describe(run)} records no excitation wavelength for its frames")
    return np.resize(np.asarray(sequence, dtype=np.float64), n_frames)


def _recorded_nm(wavelength: NDArray[np.float64]) -> list[int]:
    """The excitations (whole nm) frames were recorded at, ascending."""
    return sorted({int(nm) for nm in wavelength[np.isfinite(wavelength)]})


def _frames_by_wavelength(run, values: NDArray) -> dict[int, NDArray]:
    """``values`` (one row per frame) split by the frames' excitation (nm); frames of unknown
    excitation (the wheel moving) are in none."""
    wavelength = _frame_wavelengths_nm(run, len(values))
    n = min(len(wavelength), len(values))
    return {nm: values[:n][wavelength[:n] == nm] for nm in _recorded_nm(wavelength[:n])}


def read_timecourse(run, *, frames: bool = False) -> Timecourse:
    """Arrays of a ``ratiometric_timecourse`` run; ``frames=True`` also loads every frame.

    For runs too large for memory, leave ``frames=False`` and use :func:`iter_frames`.
    """
    start = dict(run.metadata["start"])
    if "roi_order" in start and "primary" not in run:
        raise ValueError(
            f"{_describe(run)} recorded no frames: its stream 'primary' is missing (the run "
            "ended before its first frame)"
        )
    if "roi_order" not in start or "primary" not in run:
        raise ValueError(
            f"run {start['uid'][:8]} is a {start.get('plan_name')!r} run without 340/380 "
            "imaging (ratiometric_timecourse, mg_uptake, calibrate_in_situ, imaging_with_ramps)"
        )
    primary = run["primary"]
    order = list(start["roi_order"])
    names = order[:-1]
    ratio_stream = run.get("ratio")
    pair_t_s = ratio_stream["t_s"].read() if ratio_stream is not None else np.zeros(0)
    online = {
        n: np.asarray(ratio_stream[f"ratio_{n}"].read())
        if ratio_stream is not None
        else np.zeros(0)
        for n in names
    }
    sums = np.asarray(primary["camera-roi_sums_adu"].read(), dtype=np.float64)
    sums = sums.reshape(len(sums), -1)
    frame_t = np.asarray(primary["camera-t_s"].read(), dtype=np.float64).reshape(-1)
    loaded = None
    if frames:
        stack = np.asarray(primary["camera"].read())
        loaded = _frames_by_wavelength(run, stack.reshape(len(stack), *stack.shape[-2:]))
    return Timecourse(
        uid=start["uid"],
        exit_status=_stop(run).get("exit_status"),
        pair_t_s=np.asarray(pair_t_s, dtype=np.float64),
        online_ratio=online,
        frame_t_s=_frames_by_wavelength(run, frame_t),
        roi_sums_adu=_frames_by_wavelength(run, sums),
        roi_names=names,
        roi_pixels=np.array([start["roi_pixels"][n] for n in order], dtype=np.float64),
        exposure_ms=float(start["plan_args"]["exposure_ms"]),
        start=start,
        frames=loaded,
    )


def iter_frames(run, *, chunk_frames: int = 64) -> Iterator[tuple[int, NDArray[np.uint16]]]:
    """Yield ``(first_index, frames)`` chunks of the primary stream's frames (bounded memory)."""
    if isinstance(chunk_frames, bool) or not isinstance(chunk_frames, int) or chunk_frames < 1:
        raise ValueError(f"chunk_frames must be an integer >= 1, got {chunk_frames!r}")
    node = _camera_frames(run)
    n = node.shape[0]
    for first in range(0, n, chunk_frames):
        block = np.asarray(node[first : min(n, first + chunk_frames)])
        yield first, block.reshape(len(block), *block.shape[-2:])


def read_frame(run, *, wavelength_nm: int = 380, index: int = 0) -> NDArray[np.uint16]:
    """Frame ``index`` (0 = the first, -1 = the last) among the ``wavelength_nm`` frames of the
    ``primary`` stream, as a (rows, cols) array of ADU; reads that frame only."""
    node = _camera_frames(run)
    wavelength = _frame_wavelengths_nm(run, node.shape[0])
    recorded = _recorded_nm(wavelength)
    if wavelength_nm not in recorded:
        raise ValueError(
            f"wavelength_nm must be one of {recorded} nm (the excitations of "
            f"{_describe(run)}), got {wavelength_nm!r}"
        )
    positions = np.flatnonzero(wavelength == int(wavelength_nm))
    if not -positions.size <= index < positions.size:
        raise ValueError(
            f"index must be in [{-positions.size}, {positions.size - 1}]: the run holds "
            f"{positions.size} frames at {wavelength_nm} nm (wavelengths: {recorded} nm), "
            f"got {index}"
        )
    frame = np.asarray(node[int(positions[index])])
    return frame.reshape(frame.shape[-2:])


def read_stream(run, stream: str, keys: Sequence[str] | None = None) -> dict[str, NDArray[Any]]:
    """Data keys of one event stream as arrays, one entry per event, in one request: ``keys``
    (default: every data key, bulk ones such as frames and sweeps included; not ``seq_num``,
    ``time`` or ``ts_*``). Units are in the key names (docs/data-model.md)."""
    uid = run.metadata["start"]["uid"][:8]
    if stream not in run:
        raise ValueError(
            f"stream must be one of the run's streams {sorted(run)} (run {uid}), got {stream!r}"
        )
    if isinstance(keys, str):
        raise ValueError(f"keys must be a list of data keys, got the string {keys!r}")
    node = run[stream]
    available = [k for k in node if k not in ("seq_num", "time") and not k.startswith("ts_")]
    wanted = list(available if keys is None else keys)
    missing = sorted(set(wanted) - set(available))
    if missing:
        raise ValueError(
            f"keys must be data keys of stream {stream!r} of run {uid} ({sorted(available)}), "
            f"got {missing}"
        )
    if not wanted:
        return {}
    dataset = node.read(variables=wanted)
    return {key: np.asarray(dataset[key].values) for key in wanted}


@dataclass(frozen=True)
class SolutionChanges:
    """The bath solution over a run: ``initial`` (the start document's ``solution``) until the
    first event of the ``perfusion`` stream, then each event's solution from its ``t_s``."""

    t_s: NDArray[np.float64]
    solution: list[str]
    initial: str | None

    def periods(self, start_s: float, stop_s: float) -> list[tuple[float, float, str]]:
        """``(start_s, stop_s, solution)`` periods covering [start_s, stop_s] (rig clock, s).

        A solution holds from the first event naming it until the next event naming another
        (repeated events merge); before the first event the initial solution holds, if known.
        """
        if not stop_s >= start_s:
            raise ValueError(f"stop_s must be >= start_s, got {start_s!r} and {stop_s!r}")
        changes: list[tuple[float, str]] = []
        if self.initial is not None:
            changes.append((float("-inf"), self.initial))
        for t, name in zip(self.t_s.tolist(), self.solution, strict=True):
            if not changes or changes[-1][1] != name:
                changes.append((t, name))
        periods = []
        for i, (t, name) in enumerate(changes):
            end = changes[i + 1][0] if i + 1 < len(changes) else float("inf")
            low, high = max(t, start_s), min(end, stop_s)
            if high > low:
                periods.append((low, high, name))
        return periods


def read_solution_changes(run) -> SolutionChanges:
    """The bath solutions of a run: its ``perfusion`` stream (``t_s``, ``perfusion-solution``)
    if it has one, after the start document's ``solution``."""
    initial = run.metadata["start"].get("solution")
    initial = str(initial) if initial is not None else None
    if "perfusion" not in run:
        return SolutionChanges(np.zeros(0), [], initial)
    node = run["perfusion"]
    t_s = np.asarray(node["t_s"].read(), dtype=np.float64).reshape(-1)
    names = [str(v) for v in np.asarray(node["perfusion-solution"].read()).reshape(-1)]
    order = np.argsort(t_s, kind="stable")
    return SolutionChanges(t_s[order], [names[i] for i in order], initial)


@dataclass(frozen=True)
class Sweeps:
    """The amplifier sweeps of one run (docs/data-model.md, patch-clamp plans).

    ``current_pA`` is (n_sweeps, n_samples) and ``t_s`` each sweep's start (rig clock).
    ``command_mV`` is the command as recorded with each sweep (mV per sample): one waveform
    when every sweep shared it, else one row per sweep (voltage-step families, P/N pulses);
    for runs recorded before commands were stored, the shared waveform rebuilt from the
    plan's recorded parameters and checked against the amplifier's recorded protocol summary
    (``protocol``), or None when the plan's waveform is not known.
    """

    uid: str
    plan_name: str | None
    t_s: NDArray[np.float64]
    current_pA: NDArray[np.float64]
    sample_rate_Hz: float
    command_mV: NDArray[np.float64] | None
    holding_mV: float
    telegraphs: dict[str, Any]
    protocol: dict[str, Any]

    @property
    def n_sweeps(self) -> int:
        return int(self.current_pA.shape[0])

    @property
    def time_s(self) -> NDArray[np.float64]:
        """Time of each sample from the start of its sweep (s)."""
        return np.arange(self.current_pA.shape[1]) / self.sample_rate_Hz


def _sweep_command_mV(
    start: dict[str, Any], protocol: dict[str, Any], rate_Hz: float
) -> NDArray[np.float64] | None:
    """The command of a patch-clamp plan's sweeps, rebuilt with the plan's own waveform from
    its start document; None for other plans or when it disagrees with the recorded summary."""
    from ionrig.devices import step_protocol

    plan, args = start.get("plan_name"), start.get("plan_args") or {}
    try:
        if plan == "trpm7_ramps":
            from ionrig.plans import ramp_command

            command = ramp_command(
                holding_mV=float(args["holding_mV"]),
                start_mV=float(args["start_mV"]),
                stop_mV=float(args["stop_mV"]),
                ramp_ms=float(args["ramp_ms"]),
                sample_rate_Hz=rate_Hz,
            )
        elif plan in ("membrane_test", "break_in"):
            test = start["membrane_test"]
            command = step_protocol(
                holding_mV=float(protocol["first_mV"]),
                step_mV=float(args["step_mV"] if plan == "membrane_test" else test["step_mV"]),
                step_ms=float(test["step_ms"]),
                sample_rate_Hz=rate_Hz,
            )
        else:
            return None
    except (KeyError, TypeError, ValueError):
        return None
    summary = {
        "n_samples": command.size,
        "min_mV": command.min(),
        "max_mV": command.max(),
        "first_mV": command[0],
        "last_mV": command[-1],
    }
    if any(not np.isclose(float(protocol.get(k, np.nan)), v) for k, v in summary.items()):
        return None
    return command


def read_sweeps(run, *, stream: str = "primary") -> Sweeps:
    """The amplifier sweeps of a patch-clamp run (data key ``amplifier`` of ``stream``), with
    their start times, sample rate, holding potential, telegraphs and command waveform."""
    start = dict(run.metadata["start"])
    if stream not in run or "amplifier" not in run[stream]:
        raise ValueError(
            f"run {start['uid'][:8]} ({start.get('plan_name')!r}) has no amplifier sweeps in "
            f"stream {stream!r}; patch-clamp plans record them in 'primary'"
        )
    node = run[stream]
    config = node.descriptors[0]["configuration"]["amplifier"]["data"]
    rate_Hz = float(config["amplifier-sample_rate_Hz"])
    protocol = json.loads(config.get("amplifier-protocol") or "{}")
    recorded = "amplifier-command_mV" in node
    variables = ["amplifier", "amplifier-t_s"] + (["amplifier-command_mV"] if recorded else [])
    dataset = node.read(variables=variables)
    current = np.asarray(dataset["amplifier"].values, dtype=np.float64)
    current = current.reshape(len(current), -1)
    if recorded:  # the commands as sent, one per sweep; one waveform when they all agree
        command = np.asarray(dataset["amplifier-command_mV"].values, dtype=np.float64)
        command = command.reshape(len(command), -1)
        if len(command) and np.all(command == command[0]):
            command = command[0]
    else:  # runs recorded before the commands were: rebuilt from the plan's parameters
        command = _sweep_command_mV(start, protocol, rate_Hz)
    if command is not None and command.shape[-1] != current.shape[1]:
        command = None
    return Sweeps(
        uid=start["uid"],
        plan_name=start.get("plan_name"),
        t_s=np.asarray(dataset["amplifier-t_s"].values, dtype=np.float64).reshape(-1),
        current_pA=current,
        sample_rate_Hz=rate_Hz,
        command_mV=command,
        holding_mV=float(config["amplifier-holding_mV"]),
        telegraphs=json.loads(config.get("amplifier-telegraphs") or "{}"),
        protocol=protocol,
    )


def read_calibration(run) -> RatioCalibration:
    """The constants a ``calibrate_in_situ`` run measured (its ``calibration`` stream)."""
    start = run.metadata["start"]
    if "calibration" not in run:
        raise ValueError(
            f"run {start['uid'][:8]} ({start.get('plan_name')!r}) has no calibration stream; "
            "it is not a completed calibrate_in_situ run"
        )
    node = run["calibration"]

    def last(key: str) -> float:
        return float(np.asarray(node[key].read()).reshape(-1)[-1])

    return RatioCalibration(
        r_min=last("r_min"),
        r_max=last("r_max"),
        beta=last("beta"),
        kd_mM=last("kd_mM"),
        r_min_se=last("r_min_se"),
        r_max_se=last("r_max_se"),
        beta_se=last("beta_se"),
    )


def find_calibration_run(catalog, run):
    """The in-situ calibration a run relies on: the run its start document's
    ``calibration.source_uid`` names, else a completed ``calibrate_in_situ`` run whose
    ``calibrates_uid`` is this run (``mg_uptake`` calibrates after imaging); ``None`` if
    neither exists (the rig file's constants apply)."""
    from tiled.queries import Eq

    start = run.metadata["start"]
    source = (start.get("calibration") or {}).get("source_uid")
    if source and source in catalog:
        return catalog[source]
    found = catalog.client.search(Eq("start.calibrates_uid", start["uid"]))
    for uid in found:
        candidate = found[uid]
        if (candidate.metadata.get("stop") or {}).get("exit_status") == "success":
            return candidate
    return None


@dataclass(frozen=True)
class MgTimecourse:
    """Intracellular free Mg²⁺ of an imaging run's cells, per pair (mM), with its source."""

    uid: str
    t_s: NDArray[np.float64]
    ratio: dict[str, NDArray[np.float64]]
    mg_free_mM: dict[str, NDArray[np.float64]]
    calibration: RatioCalibration
    #: uid of the calibration run, or None when the start document's constants were used
    calibration_uid: str | None
    solutions: SolutionChanges


def read_mg_free(catalog, run) -> MgTimecourse:
    """[Mg²⁺]ᵢ per cell ROI from a run's online ratios with the calibration it relies on
    (:func:`find_calibration_run`; else the constants in its start document)."""
    start = run.metadata["start"]
    if "ratio" not in run:
        raise ValueError(
            f"{_describe(run)} has no ratio stream: read_mg_free needs a 340/380 imaging run "
            "that recorded pairs"
        )
    calibration_run = find_calibration_run(catalog, run)
    if calibration_run is not None:
        calibration = read_calibration(calibration_run)
        calibration_uid = calibration_run.metadata["start"]["uid"]
    else:
        assumed = start.get("calibration")
        if not assumed:
            raise ValueError(f"run {start['uid'][:8]} has no calibration to convert ratios with")
        calibration = RatioCalibration(
            r_min=assumed["r_min"],
            r_max=assumed["r_max"],
            beta=assumed["beta"],
            kd_mM=assumed["kd_mM"],
        )
        calibration_uid = None
    node = run["ratio"]
    names = list(start["roi_order"])[:-1]
    ratios = {n: np.asarray(node[f"ratio_{n}"].read(), dtype=np.float64) for n in names}
    return MgTimecourse(
        uid=start["uid"],
        t_s=np.asarray(node["t_s"].read(), dtype=np.float64),
        ratio=ratios,
        mg_free_mM={n: np.asarray(calibration.concentration(r)) for n, r in ratios.items()},
        calibration=calibration,
        calibration_uid=calibration_uid,
        solutions=read_solution_changes(run),
    )


@dataclass(frozen=True)
class UptakeEffect:
    """[Mg²⁺]ᵢ changes of an ``mg_uptake`` run, phase by phase (mM), and with a matched
    control the Mg²⁺-specific change: treatment − control, paired per cell."""

    uid: str
    cells: list[str]
    phases: list[PhaseChange]
    treatment: PhaseChange
    control: PhaseChange | None
    mg_specific: SpecificChange | None
    window_s: float


def _phase_times(mg: MgTimecourse, planned: Sequence[dict[str, Any]]):
    """(role, solution, start_s, stop_s) of the planned phases, from the perfusion stream."""
    t = mg.t_s
    periods = mg.solutions.periods(float(t.min()), float(t.max()))
    default_roles = ("baseline", "treatment", "washout")  # runs recorded before roles were
    phases = [
        {"role": default_roles[min(i, 2)], **p}
        for i, p in enumerate(planned)
        if p["duration_min"] > 0
    ]
    if [p["solution"] for p in phases] != [name for _, _, name in periods]:
        raise ValueError(
            f"run {mg.uid[:8]}: its perfusion stream ({[n for _, _, n in periods]}) does not "
            f"follow its planned phases ({[p['solution'] for p in phases]}); was it cut short?"
        )
    return [
        (p["role"], p["solution"], start, stop)
        for p, (start, stop, _) in zip(phases, periods, strict=True)
    ]


def read_uptake_effect(catalog, run, *, window_s: float = 120.0) -> UptakeEffect:
    """Phase-by-phase [Mg²⁺]ᵢ changes of an ``mg_uptake`` run (its own calibration, as
    :func:`read_mg_free`); each plateau is the mean over a phase's last ``window_s``."""
    start = run.metadata["start"]
    if start.get("plan_name") != "mg_uptake":
        raise ValueError(f"{_describe(run)} is not an mg_uptake run")
    mg = read_mg_free(catalog, run)
    cells = list(mg.mg_free_mM)
    signal = np.column_stack([mg.mg_free_mM[c] for c in cells])
    changes = phase_changes(mg.t_s, signal, _phase_times(mg, start["phases"]), window_s=window_s)
    by_role = {c.role: c for c in changes if c.role in ("treatment", "control")}
    control = by_role.get("control")
    treatment = by_role["treatment"]
    return UptakeEffect(
        uid=start["uid"],
        cells=cells,
        phases=changes,
        treatment=treatment,
        control=control,
        mg_specific=specific_change(treatment, control) if control is not None else None,
        window_s=float(window_s),
    )

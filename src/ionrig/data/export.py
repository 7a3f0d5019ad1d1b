"""Export a stored run to NWB (Neurodata Without Borders) with pynwb.

``export_nwb(run, path)`` writes one run (a catalog entry, ``open_catalog()[uid]``) to one NWB
file. What goes where:

- **Patch-clamp runs** (:data:`PATCH_PLANS`): one ``IntracellularElectrode`` on the
  ``amplifier`` device; per sweep a ``VoltageClampStimulusSeries`` (the command, stored in mV with
  ``conversion`` 1e-3 to volts) in ``/stimulus/presentation`` and a ``VoltageClampSeries`` (the
  recorded current, stored in pA exactly as recorded with ``conversion`` 1e-12 to amperes) in
  ``/acquisition``, linked by the icephys tables: one intracellular recording and one
  simultaneous recording per sweep, all of them in one sequential recording whose
  ``stimulus_type`` is the plan name. ``rate`` is the amplifier's sample rate, ``gain`` the gain
  telegraph (V/A), the electrode's ``filtering`` the lowpass telegraph. The command waveform is
  rebuilt from the start document with the plan's own protocol function and checked against the
  protocol summary the amplifier recorded. The plan's computed stream (``trpm7``,
  ``membrane_test``, ``break_in``) goes to the processing module ``icephys`` as one
  ``TimeSeries`` per quantity, in SI units through ``conversion``.
- **Imaging runs** (:data:`IMAGING_PLANS`): an ``ImagingPlane`` (Mag-fura-2, 340/380-nm
  excitation, 510-nm emission) on the ``camera`` device; in the processing module ``ophys`` an
  ``ImageSegmentation`` with the cell ROIs as pixel masks (``PlaneSegmentation``, a ``roi_name``
  column) and the background ROI (``BackgroundPlaneSegmentation``), and a ``Fluorescence``
  container with the per-ROI ``ratio`` (340/380), ``F340`` and ``F380`` (background-subtracted,
  exposure-normalised, ADU/px/ms) ``RoiResponseSeries`` of the ``ratio`` stream. Frames stay in
  the catalog's HDF5 files.

Times: NWB times are seconds of the rig clock (``t_s``) minus :attr:`NwbExport.time_offset_s`,
the earliest rig-clock time recorded in the run, so the first recorded sample is at 0 s;
``session_start_time`` is the wall time of the run's start document. Both are stated in the
file's ``data_collection`` text. The whole start document is kept as JSON in ``notes``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ionrig.data.nwb_file import ExportError, new_nwbfile

__all__ = [
    "IMAGING_PLANS",
    "PATCH_PLANS",
    "SUPPORTED_PLANS",
    "ExportError",
    "NwbExport",
    "export_nwb",
    "export_nwb_run",
]


@dataclass(frozen=True)
class NwbExport:
    """What :func:`export_nwb_run` wrote."""

    path: Path
    uid: str
    plan_name: str
    n_sweeps: int  # patch-clamp sweeps written (0 for imaging runs)
    n_rois: int  # cell ROIs written (0 for patch-clamp runs)
    time_offset_s: float  # rig-clock time (s) of NWB time 0


#: Plans whose runs export as patch-clamp sweeps (their commands as recorded with each sweep,
#: or rebuilt for older runs, by :func:`ionrig.data.readers.read_sweeps`).
PATCH_PLANS: tuple[str, ...] = (
    "trpm7_ramps",
    "membrane_test",
    "break_in",
    "voltage_steps",
    "voltage_ramp",
)
#: Plans whose runs export as ratiometric imaging.
IMAGING_PLANS: tuple[str, ...] = ("ratiometric_timecourse", "mg_uptake")
SUPPORTED_PLANS: tuple[str, ...] = PATCH_PLANS + IMAGING_PLANS

#: Units of ionrig data keys → (NWB unit, conversion to it); data are stored as recorded.
_SI_UNITS: dict[str, tuple[str, float]] = {
    "pA": ("amperes", 1e-12),
    "mV": ("volts", 1e-3),
    "MOhm": ("ohms", 1e6),
    "GOhm": ("ohms", 1e9),
    "pF": ("farads", 1e-12),
    "ms": ("seconds", 1e-3),
    "s": ("seconds", 1.0),
    "kPa": ("pascals", 1e3),
    "pA/pF": ("amperes/farad", 1.0),
    "1": ("dimensionless", 1.0),
}


# -- reading the run -------------------------------------------------------------------------------
def _scalars(stream) -> dict[str, NDArray[np.float64]]:
    """Every numeric scalar data key of an event stream, read in one request."""
    keys = [
        key
        for key, datakey in stream.metadata["data_keys"].items()
        if datakey.get("dtype") in ("number", "integer") and not datakey.get("shape")
    ]
    if not keys:
        return {}
    table = stream.read(keys)
    return {key: np.asarray(table[key], dtype=np.float64).reshape(-1) for key in keys}


def _computed_streams(
    nwbfile,
    run,
    tables: Mapping[str, Mapping[str, NDArray[np.float64]]],
    time_offset_s: float,
    module_name: str,
    what: str,
) -> None:
    """Scalar streams the plan computed → one TimeSeries per key in a processing module."""
    from pynwb import TimeSeries

    module = None
    for stream_name, table in tables.items():
        data_keys = run[stream_name].metadata["data_keys"]
        for key, values in table.items():
            if key == "t_s":
                continue
            units = data_keys[key].get("units", "")
            unit, conversion = _SI_UNITS.get(units, (units or "dimensionless", 1.0))
            if module is None:
                module = nwbfile.create_processing_module(name=module_name, description=what)
            module.add(
                TimeSeries(
                    name=f"{stream_name}_{key}",
                    data=values,
                    unit=unit,
                    conversion=conversion,
                    timestamps=table["t_s"] - time_offset_s,
                    description=(
                        f"{key} ({units}) of the run's {stream_name!r} stream, computed by the "
                        "plan during the run; stored as recorded, times from its t_s"
                    ),
                )
            )


@dataclass(frozen=True)
class _Sweeps:
    """The sweeps of a patch-clamp run as exported: currents (pA, as recorded), commands (mV,
    one row per sweep), rig-clock start times (s), sample rate (Hz), telegraphs, holding (mV)."""

    current_pA: NDArray[Any]
    command_mV: NDArray[np.float64]
    t_s: NDArray[np.float64]
    rate_Hz: float
    telegraphs: Mapping[str, Any]
    holding_mV: Any


def _read_sweeps(run, start: Mapping[str, Any]) -> _Sweeps:
    """The run's voltage-clamp sweeps and their commands, checked (pA, a command per sweep)."""
    from ionrig.data.readers import read_sweeps

    plan_name = start["plan_name"]
    primary = run.get("primary")
    if primary is None or "amplifier" not in primary:
        raise ExportError(f"{plan_name} run {start['uid'][:8]} recorded no sweeps")
    datakey = primary.metadata["data_keys"]["amplifier"]
    if datakey.get("units") != "pA":
        raise ExportError(
            f"sweeps must be recorded in pA, the amplifier data key says {datakey.get('units')!r}"
        )
    recorded = read_sweeps(run)
    n_sweeps = min(recorded.n_sweeps, recorded.t_s.size)
    if n_sweeps == 0:
        raise ExportError(f"{plan_name} run {start['uid'][:8]} recorded no sweeps")
    # stored exactly as recorded (float32 pA): read_sweeps widens them to float64
    sweeps = recorded.current_pA[:n_sweeps].astype(datakey.get("dtype_numpy") or "<f4")
    telegraphs = recorded.telegraphs or start.get("amplifier_telegraphs") or {}
    mode = telegraphs.get("mode")
    if mode not in (None, "V-Clamp"):
        raise ExportError(
            f"only voltage-clamp sweeps are exported; the mode telegraph says {mode!r}"
        )
    if recorded.command_mV is None:
        raise ExportError(
            f"the command of the {plan_name} sweeps of run {start['uid'][:8]} cannot be rebuilt "
            "from the run (its start document's parameters disagree with the amplifier's "
            "recorded protocol summary)"
        )
    command = np.asarray(recorded.command_mV, dtype=np.float64)
    commands = np.broadcast_to(command, sweeps.shape) if command.ndim == 1 else command
    if commands.shape != sweeps.shape:
        raise ExportError(
            f"{plan_name}: commands of shape {commands.shape} rebuilt for sweeps of shape "
            f"{sweeps.shape}"
        )
    return _Sweeps(
        sweeps,
        commands,
        recorded.t_s[:n_sweeps],
        recorded.sample_rate_Hz,
        telegraphs,
        recorded.holding_mV,
    )


def _add_electrode(nwbfile, start: Mapping[str, Any], telegraphs: Mapping[str, Any]) -> Any:
    """The ``amplifier`` device and the whole-cell ``electrode`` (filtering from the lowpass
    telegraph, kHz)."""
    lowpass = telegraphs.get("lowpass_kHz")
    device = nwbfile.create_device(
        name="amplifier",
        description=(
            f"patch-clamp amplifier and digitiser of rig {start.get('rig', '?')}; "
            f"telegraphs at the first sweep: {json.dumps(telegraphs, default=str)}"
        ),
    )
    return nwbfile.create_icephys_electrode(
        name="electrode",
        description=(
            "whole-cell patch pipette"
            + (
                f"; pipette solution {start['pipette_solution']}"
                if start.get("pipette_solution")
                else ""
            )
        ),
        device=device,
        filtering=(
            f"lowpass {lowpass} kHz (amplifier filter telegraph)"
            if isinstance(lowpass, int | float) and lowpass > 0
            else None
        ),
        cell_id=(str(start["cell_id"]) if start.get("cell_id") is not None else None),
    )


def _add_sweep_series(
    nwbfile, electrode, sweeps: _Sweeps, index: int, plan_name: str, time_offset_s: float
) -> Any:
    """Sweep ``index`` as a command (``VoltageClampStimulusSeries``, mV) and a current
    (``VoltageClampSeries``, pA) linked by an intracellular recording; returns its
    simultaneous-recording row."""
    from pynwb.icephys import VoltageClampSeries, VoltageClampStimulusSeries

    gain = sweeps.telegraphs.get("gain_mV_per_pA")
    gain_V_per_A = float(gain) * 1e9 if isinstance(gain, int | float) else None  # mV/pA → V/A
    width = max(4, len(str(len(sweeps.t_s) - 1)))
    common = {
        "electrode": electrode,
        "starting_time": float(sweeps.t_s[index] - time_offset_s),
        "rate": sweeps.rate_Hz,
        "sweep_number": np.uint32(index),  # the NWB schema's dtype
        "stimulus_description": plan_name,
    }
    stimulus = VoltageClampStimulusSeries(
        name=f"command_{index:0{width}d}",
        data=np.ascontiguousarray(sweeps.command_mV[index]),
        conversion=1e-3,  # stored in mV
        description=(
            f"command of sweep {index} of {plan_name} (mV as stored): as recorded with the "
            "sweep (older runs: rebuilt from the start document's plan arguments and "
            "checked against the amplifier's protocol summary)"
        ),
        **common,
    )
    response = VoltageClampSeries(
        name=f"current_{index:0{width}d}",
        data=sweeps.current_pA[index],
        conversion=1e-12,  # stored in pA, as recorded
        gain=gain_V_per_A,
        description=(
            f"membrane current of sweep {index} of {plan_name} (pA as recorded; "
            f"holding {sweeps.holding_mV} mV at the first sweep)"
        ),
        **common,
    )
    row = nwbfile.add_intracellular_recording(
        electrode=electrode, stimulus=stimulus, response=response
    )
    return nwbfile.add_icephys_simultaneous_recording(recordings=[row])


def _export_patch(nwbfile_for, run, start: Mapping[str, Any]) -> tuple[Any, int, float]:
    """A patch-clamp run: its sweeps in the icephys tables, its computed stream in
    ``icephys``; returns (the NWB file, sweeps written, time offset in s)."""
    plan_name = start["plan_name"]
    sweeps = _read_sweeps(run, start)
    tables = {name: _scalars(run[name]) for name in run if name != "primary"}
    tables = {name: t for name, t in tables.items() if "t_s" in t and t["t_s"].size}
    time_offset_s = float(min([sweeps.t_s.min(), *(t["t_s"].min() for t in tables.values())]))
    nwbfile = nwbfile_for(time_offset_s, ("whole-cell patch clamp", "voltage clamp", plan_name))
    electrode = _add_electrode(nwbfile, start, sweeps.telegraphs)
    simultaneous = [
        _add_sweep_series(nwbfile, electrode, sweeps, index, plan_name, time_offset_s)
        for index in range(len(sweeps.t_s))
    ]
    nwbfile.add_icephys_sequential_recording(
        stimulus_type=plan_name, simultaneous_recordings=simultaneous
    )
    _computed_streams(
        nwbfile,
        run,
        tables,
        time_offset_s,
        "icephys",
        f"values {plan_name} computed from its sweeps during the run",
    )
    return nwbfile, len(sweeps.t_s), time_offset_s


def _add_imaging_plane(nwbfile, start: Mapping[str, Any], data, shape: tuple[int, int]) -> Any:
    """The ``camera`` device and the ratiometric ``ImagingPlane`` (nm, frames of ``shape``
    px; the excitations the frames recorded; imaging rate from the plan's pair interval in s)."""
    from pynwb.ophys import OpticalChannel

    height, width = shape
    excitation = sorted(data.frame_t_s)  # nm, as recorded with the frames
    emission = float(start.get("emission_nm", 510))
    dye = str(start.get("dye", "Mag-fura-2"))
    camera = nwbfile.create_device(
        name="camera",
        description=(
            f"camera of rig {start.get('rig', '?')}: {height}×{width} px frames, exposure "
            f"{data.exposure_ms} ms per frame"
        ),
    )
    interval_s = (start.get("plan_args") or {}).get("interval_s")
    return nwbfile.create_imaging_plane(
        name="ImagingPlane",
        optical_channel=OpticalChannel(
            name="emission", description=f"{dye} emission", emission_lambda=emission
        ),
        description=(
            f"{dye} ratiometric imaging: each pair is one frame at "
            + " nm and one at ".join(f"{nm:g}" for nm in excitation)
            + " nm excitation. excitation_lambda is NaN because the plane is imaged at both."
        ),
        device=camera,
        excitation_lambda=math.nan,
        indicator=dye,
        location="cultured cells on a coverslip (in vitro)",
        imaging_rate=(1.0 / float(interval_s) if interval_s else None),
    )


def _roi_segmentation(
    plane, start: Mapping[str, Any], names: Sequence[str], shape: tuple[int, int]
) -> tuple[Any, Any]:
    """(``ImageSegmentation`` with the cell and background ROIs as pixel masks, the cells'
    ``PlaneSegmentation``)."""
    from pynwb.ophys import ImageSegmentation, PlaneSegmentation

    from ionrig.analysis import roi_mask

    segmentation = ImageSegmentation(name="ImageSegmentation")
    cells = PlaneSegmentation(
        name="PlaneSegmentation",
        description=(
            "cell ROIs of the run's start document (rois; their shapes in pixels are in notes), "
            "rasterised by ionrig.analysis.roi_mask: the pixels whose centres lie inside; "
            "pixel_mask entries are (x = column, y = row, weight 1)"
        ),
        imaging_plane=plane,
    )
    cells.add_column(name="roi_name", description="the ROI's name in the run")
    cells.add_column(name="roi_shape", description="circle, rectangle or polygon")
    background = PlaneSegmentation(
        name="BackgroundPlaneSegmentation",
        description="the background ROI subtracted from every cell ROI",
        imaging_plane=plane,
    )
    background.add_column(name="roi_shape", description="circle, rectangle or polygon")

    def pixel_mask(spec: Mapping[str, Any], name: str) -> list[tuple[int, int, float]]:
        rows, cols = np.nonzero(roi_mask(spec, shape, name=name))
        return [(int(x), int(y), 1.0) for y, x in zip(rows, cols, strict=True)]

    for name in names:
        spec = start["rois"][name]
        cells.add_roi(pixel_mask=pixel_mask(spec, name), roi_name=name, roi_shape=spec["shape"])
    spec = start["background_roi"]
    background.add_roi(pixel_mask=pixel_mask(spec, "background"), roi_shape=spec["shape"])
    segmentation.add_plane_segmentation([cells, background])
    return segmentation, cells


#: Per-ROI traces of the ``ratio`` stream: series name → (key prefix, unit, description).
_TRACES = {
    "ratio": (
        "ratio",
        "1",
        "online ratio ((F340 - B340)/T340) / ((F380 - B380)/T380) per cell ROI, per-pixel "
        "means, B from the background ROI, T the exposure; times: mean start of the pair",
    ),
    "F340": ("f340", "ADU/px/ms", "background-subtracted, exposure-normalised F340"),
    "F380": ("f380", "ADU/px/ms", "background-subtracted, exposure-normalised F380"),
}


def _export_imaging(nwbfile_for, run, start: Mapping[str, Any]) -> tuple[Any, int, float]:
    """An imaging run: the plane, the ROIs and the per-ROI traces in ``ophys``; returns (the
    NWB file, cell ROIs written, time offset in s)."""
    from pynwb.ophys import Fluorescence

    from ionrig.data.readers import read_timecourse

    data = read_timecourse(run)
    ratio_stream = run.get("ratio")
    if ratio_stream is None or data.n_pairs == 0:
        raise ExportError(f"ratiometric_timecourse run {data.uid[:8]} recorded no 340/380 pair")
    names = data.roi_names
    frame_times = [t for t in data.frame_t_s.values() if t.size]
    time_offset_s = float(min([data.pair_t_s.min(), *(t.min() for t in frame_times)]))
    nwbfile = nwbfile_for(
        time_offset_s, ("Mag-fura-2", "ratiometric imaging", "intracellular Mg2+")
    )
    shape = tuple(int(n) for n in run["primary"].metadata["data_keys"]["camera"]["shape"][-2:])
    plane = _add_imaging_plane(nwbfile, start, data, shape)
    segmentation, cells = _roi_segmentation(plane, start, names, shape)
    dye = str(start.get("dye", "Mag-fura-2"))
    ophys = nwbfile.create_processing_module(
        name="ophys", description=f"{dye} 340/380 ratiometric imaging: ROIs and per-ROI traces"
    )
    ophys.add(segmentation)
    rois = cells.create_roi_table_region(
        description="every cell ROI", region=list(range(len(names)))
    )
    pair_t_s = np.asarray(data.pair_t_s, dtype=np.float64) - time_offset_s
    fluorescence = Fluorescence(name="Fluorescence")
    ophys.add(fluorescence)  # first, so that the series and their ROI region share an ancestor
    table = _scalars(ratio_stream)
    for series_name, (prefix, unit, description) in _TRACES.items():
        values = np.column_stack([table[f"{prefix}_{name}"][: data.n_pairs] for name in names])
        fluorescence.create_roi_response_series(
            name=series_name,
            data=values,
            rois=rois,
            unit=unit,
            timestamps=pair_t_s,
            description=f"{description} (stream 'ratio', keys {prefix}_<roi>)",
        )
    return nwbfile, len(names), time_offset_s


def export_nwb_run(run, path: str | os.PathLike, *, overwrite: bool = False) -> NwbExport:
    """Write ``run`` (a catalog entry) to the NWB file ``path``; see the module docstring.

    Raises :class:`ExportError` for runs of plans other than :data:`SUPPORTED_PLANS`, runs
    without data, and (unless ``overwrite``) an existing ``path``. The file is written beside
    ``path`` first and renamed into place, so a failed export leaves nothing behind.
    """
    from pynwb import NWBHDF5IO

    start = dict(run.metadata["start"])
    plan_name = start.get("plan_name")
    if plan_name not in SUPPORTED_PLANS:
        raise ExportError(
            f"run {start['uid'][:8]} is a {plan_name!r} run, which cannot be exported to NWB; "
            f"supported plans: {', '.join(SUPPORTED_PLANS)}"
        )
    path = Path(path)
    if path.suffix != ".nwb":
        raise ExportError(f"path must end in .nwb (the NWB HDF5 file), got {str(path)!r}")
    if path.exists() and not overwrite:
        raise ExportError(
            f"{path} exists; choose another path, or overwrite it (overwrite=True; --force)"
        )

    def nwbfile_for(time_offset_s: float, keywords: Sequence[str]):
        return new_nwbfile(start, time_offset_s, keywords)

    if plan_name in PATCH_PLANS:
        nwbfile, n_sweeps, offset = _export_patch(nwbfile_for, run, start)
        n_rois = 0
    else:
        nwbfile, n_rois, offset = _export_imaging(nwbfile_for, run, start)
        n_sweeps = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial.nwb")
    try:
        with NWBHDF5IO(str(partial), mode="w") as io:
            io.write(nwbfile)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return NwbExport(
        path=path,
        uid=str(start["uid"]),
        plan_name=str(plan_name),
        n_sweeps=n_sweeps,
        n_rois=n_rois,
        time_offset_s=offset,
    )


def export_nwb(run, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write ``run`` (``open_catalog()[uid]``) to the NWB file ``path``; returns the path.

    :func:`export_nwb_run` does the same and also returns what it wrote (:class:`NwbExport`).
    """
    return export_nwb_run(run, path, overwrite=overwrite).path

"""``ionrig demo``: a short 340/380 time course on the simulated rig, measured vs. true [Mg²⁺]ᵢ."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ionrig import analysis
from ionrig.data.readers import read_timecourse

__all__ = ["CellResult", "DemoResult", "run_demo"]


@dataclass(frozen=True)
class CellResult:
    roi: str
    measured_mg_mM: float
    true_mg_mM: float

    @property
    def relative_error(self) -> float:
        return (self.measured_mg_mM - self.true_mg_mM) / self.true_mg_mM


@dataclass(frozen=True)
class DemoResult:
    uid: str
    cells: list[CellResult]
    data_directory: str
    #: the run's HTML report (index.html), when one was asked for
    report: Path | None = None


def measured_concentrations(timecourse, calibration) -> dict[str, float]:
    """Median [Mg²⁺]ᵢ (mM) per cell ROI from the recorded ROI sums and a calibration."""
    pixels = timecourse.roi_pixels
    mean340 = timecourse.roi_sums_adu[340] / pixels
    mean380 = timecourse.roi_sums_adu[380] / pixels
    n = min(len(mean340), len(mean380))
    ratios = analysis.ratio(
        mean340[:n, :-1],
        mean380[:n, :-1],
        background340=np.repeat(mean340[:n, -1:], pixels.size - 1, axis=1),
        background380=np.repeat(mean380[:n, -1:], pixels.size - 1, axis=1),
        exposure340_ms=timecourse.exposure_ms,
        exposure380_ms=timecourse.exposure_ms,
    )
    concentration = analysis.ion_concentration(
        np.median(ratios, axis=0),
        r_min=calibration["r_min"],
        r_max=calibration["r_max"],
        kd=calibration["kd_mM"],
        beta=calibration["beta"],
    )
    return dict(zip(timecourse.roi_names, np.atleast_1d(concentration).tolist(), strict=True))


def run_demo(
    *,
    seed: int = 0,
    time_scale: float = 1.0,
    n_pairs: int = 20,
    data_directory: str | os.PathLike | None = None,
    report_directory: str | os.PathLike | None = None,
) -> DemoResult:
    """Record ``n_pairs`` 340/380 pairs on the simulated rig and compare each cell's measured
    [Mg²⁺]ᵢ with the simulator's truth; with ``report_directory``, also write the run's HTML
    report there (:func:`ionrig.reports.report.write_report`)."""
    from ionrig.plans import ratiometric_timecourse
    from ionrig.session import start

    session = start("sim", catalog=data_directory, seed=seed, time_scale=time_scale)
    try:
        result = session.RE(ratiometric_timecourse(session.rig, n_pairs))
        if result.exit_status != "success":
            raise RuntimeError(f"the demo run ended {result.exit_status}: {result.reason}")
        (uid,) = result.run_start_uids
        timecourse = read_timecourse(session.catalog[uid])
        measured = measured_concentrations(timecourse, timecourse.start["calibration"])
        truth = session.rig.world.cells
        cells = []
        for name, spec in timecourse.start["rois"].items():
            nearest = min(
                truth, key=lambda c: (c.x_px - spec["x_px"]) ** 2 + (c.y_px - spec["y_px"]) ** 2
            )
            cells.append(CellResult(name, measured[name], nearest.mg_free_mM))
        report = None
        if report_directory is not None:
            from ionrig.reports.report import write_report

            report = write_report([session.catalog[uid]], report_directory, catalog=session.catalog)
        return DemoResult(uid, cells, str(session.catalog.location.root), report)
    finally:
        session.close()

"""Figures of recorded runs: arrays and analysis results in, ``matplotlib.figure.Figure`` out.

Every function builds a standalone :class:`~matplotlib.figure.Figure` on the Agg canvas (never
pyplot's global state), so figures are made headless and from any thread. Axes carry units;
colours are shared: ROI ``k`` has the same colour in the image and in the time course, and a
solution keeps its shade across panels. :func:`save_figure` writes PNG and SVG.

The figures live by subject (:mod:`ionrig.reports.imaging_figures`,
:mod:`ionrig.reports.patch_figures`, :mod:`ionrig.reports.dose_figures`, what they share in
:mod:`ionrig.reports.figure_style`) and are all importable from here.
"""

from ionrig.reports.dose_figures import dose_response_figure
from ionrig.reports.figure_style import (
    PNG_DPI,
    SolutionPeriod,
    format_number,
    roi_colour,
    save_figure,
)
from ionrig.reports.imaging_figures import ratio_timecourse_figure, roi_image_figure
from ionrig.reports.patch_figures import (
    iv_figure,
    membrane_test_trend_figure,
    runup_figure,
    seal_figure,
    sweeps_figure,
)

__all__ = [
    "PNG_DPI",
    "SolutionPeriod",
    "dose_response_figure",
    "format_number",
    "iv_figure",
    "membrane_test_trend_figure",
    "ratio_timecourse_figure",
    "roi_colour",
    "roi_image_figure",
    "runup_figure",
    "save_figure",
    "seal_figure",
    "sweeps_figure",
]

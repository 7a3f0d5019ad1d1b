"""The reports room: figures and the per-run report a scientist reads after a run.

- :mod:`ionrig.reports.figures`: matplotlib figures of time courses, currents and fits (made in
  :mod:`~ionrig.reports.imaging_figures`, :mod:`~ionrig.reports.patch_figures` and
  :mod:`~ionrig.reports.dose_figures`, with what they share in
  :mod:`~ionrig.reports.figure_style`).
- :mod:`ionrig.reports.report`: ``ionrig report``, a run's numbers and figures in one page (its
  sections in :mod:`~ionrig.reports.imaging_report` and :mod:`~ionrig.reports.patch_report`,
  the page's parts in :mod:`~ionrig.reports.report_content` and
  :mod:`~ionrig.reports.report_html`).
"""

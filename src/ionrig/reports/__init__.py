"""The reports room: figures and the per-run report a scientist reads after a run.

- :mod:`ionrig.reports.figures`: matplotlib figures of time courses, currents and fits.
- :mod:`ionrig.reports.report`: ``ionrig report``, a run's numbers and figures in one page.
"""

"""``run_doctor``: every check of a rig, in order (the rig file's, then each instrument's, then
the data directory's)."""

from __future__ import annotations

import os
from typing import Any

from ._check_runner import DoctorRun
from ._data_directory import check_data_directory
from ._instruments import (
    check_amplifier,
    check_camera,
    check_daq,
    check_filter_wheel,
    check_pressure,
    check_pump,
    check_temperature,
)
from ._report import DoctorReport
from ._rig_file import check_daq_wiring, check_perfusion, check_rig_file, check_solutions
from ._simulated_rig import build_simulated_rig

__all__ = ["DEFAULT_MIN_FREE_GB", "DEFAULT_TIMEOUT_S", "INSTRUMENT_CHECKS", "run_doctor"]

#: Default free-space threshold of the data directory's disk (GB = 10⁹ bytes).
DEFAULT_MIN_FREE_GB = 10.0
#: Default per-check timeout, real seconds (drivers time out on their own well before it).
DEFAULT_TIMEOUT_S = 10.0

#: The checks of a rig's instruments, in the order they run (after the rig file's).
INSTRUMENT_CHECKS = (
    check_filter_wheel,
    check_pump,
    check_daq,
    check_amplifier,
    check_temperature,
    check_pressure,
    check_camera,
)


def _run_checks(run: DoctorRun) -> DoctorReport:
    """Every check of ``run`` in order; what the checks opened is closed, even on an error."""
    try:
        if check_rig_file(run):
            check_solutions(run)
            check_perfusion(run)
            check_daq_wiring(run)
        if run.config is not None and build_simulated_rig(run):
            for check in INSTRUMENT_CHECKS:
                check(run)
        check_data_directory(run)
    finally:
        run.close()
    return DoctorReport(rig=str(run.rig), checks=tuple(run.results))


def run_doctor(
    rig: str | os.PathLike = "sim",
    *,
    data_dir: str | os.PathLike | None = None,
    min_free_GB: float = DEFAULT_MIN_FREE_GB,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    **overrides: Any,
) -> DoctorReport:
    """Check every part of ``rig`` (``"sim"`` or a rig file path) without running a plan.

    ``data_dir``: the data directory to check (default ``$IONRIG_DATA`` or the user data
    directory); ``min_free_GB``: warn below this much free disk space (10⁹ bytes);
    ``timeout_s``: how long (real seconds) each check may take before it is abandoned and
    failed; ``overrides``: top-level rig-file keys, as for :func:`ionrig.rig.load_rig`.
    Returns the report; ``report.exit_code`` is 0 when nothing failed.
    """
    if not min_free_GB >= 0:
        raise ValueError(f"min_free_GB must be >= 0 GB, got {min_free_GB!r}")
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be > 0 s, got {timeout_s!r}")
    run = DoctorRun(
        rig, data_dir=data_dir, min_free_GB=min_free_GB, timeout_s=timeout_s, overrides=overrides
    )
    return _run_checks(run)

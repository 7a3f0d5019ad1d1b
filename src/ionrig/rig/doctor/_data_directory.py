"""The doctor's check of the data directory: writable, with enough free disk space."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import psutil

from ionrig.data.catalog import DataLocation, data_directory

from ._check_runner import DoctorRun, Part
from ._report import CheckResult

__all__ = ["check_data_directory"]


def check_data_directory(run: DoctorRun) -> None:
    target = run.data_dir if run.data_dir is not None else data_directory()
    part = Part(f"data directory {target}", "--data or $IONRIG_DATA", in_rig_file=False)
    root: list[Path] = []

    def writable() -> CheckResult:
        location = DataLocation.at(run.data_dir)
        root.append(location.root)
        with tempfile.NamedTemporaryFile(dir=location.root, prefix=".doctor-") as probe:
            probe.write(b"ionrig doctor")
            probe.flush()
            os.fsync(probe.fileno())
        return CheckResult(
            "data directory", "ok", f"{location.root}: writable (catalog/, raw/, journal/)"
        )

    result = run.check("data directory", part, writable)
    if result.status == "FAIL":
        run.results[-1] = CheckResult(
            result.name,
            "FAIL",
            result.detail,
            "choose a writable directory (--data DIR or $IONRIG_DATA) or fix its permissions",
        )
        return

    def free_space() -> CheckResult:
        free_GB = psutil.disk_usage(str(root[0])).free / 1e9
        detail = f"{free_GB:.1f} GB free on the disk of {root[0]}"
        if free_GB < run.min_free_GB:
            return CheckResult(
                "disk space",
                "warn",
                f"{detail}, below {run.min_free_GB:g} GB",
                "free space, or put the data on a larger disk (--data DIR); frames fill "
                "a disk fast (a 128×128 frame pair every 2 s is ~0.4 GB per 12-h night)",
            )
        return CheckResult("disk space", "ok", f"{detail} (warns below {run.min_free_GB:g} GB)")

    run.check(
        "disk space",
        Part(f"disk of {root[0]}", "--min-free-gb", in_rig_file=False),
        free_space,
    )

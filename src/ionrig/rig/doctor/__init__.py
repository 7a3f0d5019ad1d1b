"""Rig bring-up: ``ionrig doctor`` checks every part of a rig without running a plan.

:func:`run_doctor` reads the rig file, then asks each instrument who it is and how it is — the
filter wheel's identity and status, the syringe pump's firmware and status, one DAQ reading, the
amplifier's telegraphs (mode, gain, lowpass), the bath temperature, the pressure monitor, the
camera's model, size and bit depth (and one test frame) — checks the solutions and the DAQ
wiring in the rig file, and that the data directory is writable with enough free space. It
returns a :class:`DoctorReport` of one :class:`CheckResult` per check.

Nothing moves: no filter, shutter, valve, pump, pressure or holding command is sent; only
identification and status queries, analog input readings and one camera frame. Each check
runs with a timeout (real seconds), so a dead instrument cannot hang the doctor. On a
simulated rig the simulated instruments are built from the rig file exactly as ``load_rig``
builds them (faults of the file's ``faults:`` section included), registered on their
``ionrig-sim://`` ports while the doctor runs, and the previous registrations restored after.

The modules, all private to the doctor:

- ``_run_doctor``: :func:`run_doctor`, the checks in order;
- ``_report``: :class:`CheckResult`, :class:`DoctorReport` and its table;
- ``_check_runner``: one run's state, and how a check runs (with its timeout) and fails (a
  FAIL naming the part checked and what to fix);
- ``_rig_file``: the rig file as written (keys, solutions, valve lines, DAQ channel map);
- ``_simulated_rig``: a simulated rig's instruments, built as ``load_rig`` builds them;
- ``_instruments``: each instrument asked who it is and how it is;
- ``_data_directory``: the data directory, writable with enough free space.
"""

from ._report import CheckResult, DoctorReport, Status
from ._run_doctor import DEFAULT_MIN_FREE_GB, DEFAULT_TIMEOUT_S, run_doctor

__all__ = [
    "DEFAULT_MIN_FREE_GB",
    "DEFAULT_TIMEOUT_S",
    "CheckResult",
    "DoctorReport",
    "Status",
    "run_doctor",
]

"""The report of ``ionrig doctor``: one :class:`CheckResult` per check, and the table."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Literal

__all__ = ["CheckResult", "DoctorReport", "Status"]

Status = Literal["ok", "warn", "FAIL"]


@dataclass(frozen=True)
class CheckResult:
    """One line of the doctor's table: ``status`` is ``"ok"``, ``"warn"`` or ``"FAIL"``;
    ``detail`` names the instrument (and its port or channel) and what it answered; ``fix``
    says what to do (empty when nothing is needed)."""

    name: str
    status: Status
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class DoctorReport:
    """Every check of one doctor run, in the order they ran."""

    rig: str
    checks: tuple[CheckResult, ...]

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.status == "FAIL")

    @property
    def ok(self) -> bool:
        """True when no check failed (warnings allowed)."""
        return not self.failed

    @property
    def exit_code(self) -> int:
        """0 when every check is ok or warn, 1 when any failed."""
        return 0 if self.ok else 1

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.checks)

    def __getitem__(self, name: str) -> CheckResult:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(f"no check {name!r} (checks: {', '.join(self.names)})")

    def table(self, *, detail_width: int = 60, fix_width: int = 44) -> str:
        """The report as a text table: check | status | detail | what to fix."""
        header = ("check", "status", "detail", "what to fix")
        name_width = max(len(header[0]), *(len(c.name) for c in self.checks))
        rows = [header, ("-" * name_width, "------", "-" * detail_width, "-" * fix_width)]
        lines = []
        for row in rows:
            lines.append(
                f"{row[0]:<{name_width}}  {row[1]:<6}  {row[2]:<{detail_width}}  {row[3]}".rstrip()
            )
        for check in self.checks:
            detail = textwrap.wrap(check.detail, detail_width, break_on_hyphens=False) or [""]
            fix = textwrap.wrap(check.fix, fix_width, break_on_hyphens=False) or [""]
            for i in range(max(len(detail), len(fix))):
                cells = (
                    check.name if i == 0 else "",
                    check.status if i == 0 else "",
                    detail[i] if i < len(detail) else "",
                    fix[i] if i < len(fix) else "",
                )
                lines.append(
                    f"{cells[0]:<{name_width}}  {cells[1]:<6}  {cells[2]:<{detail_width}}  "
                    f"{cells[3]}".rstrip()
                )
        failed = len(self.failed)
        warned = sum(c.status == "warn" for c in self.checks)
        verdict = (
            f"{failed} check(s) FAILED: fix them and run `ionrig doctor` again"
            if failed
            else "rig ready" + (f" ({warned} warning(s))" if warned else "")
        )
        return "\n".join([f"ionrig doctor: rig {self.rig}", *lines, verdict])

"""The watched conditions of an unattended night, and the checks that fail a cell.

Each condition (:class:`Condition`) pairs a bluesky suspender with the predicates it applies:
temperature (``SuspendWhenOutsideBand``), reservoir and disk (``SuspendFloor``), camera
(``SuspendBoolLow``). :class:`WatchdogConfig` holds their thresholds; :func:`ra_drift_failure`
and :class:`CellFailure` are what fails a cell. :class:`ionrig.night.watchdogs.Watchdog` polls
the conditions and guards plans with them.

bluesky 1.15's suspenders subscribe to a classic ophyd ``Signal`` (an ophyd-async signal
raises ``TypeError`` on ``subscribe(..., event_type=...)``), so each condition is bridged into a
:class:`BridgedSignal`: a classic ``ophyd.Signal`` fed by polling an async source (an
ophyd-async signal's ``get_value`` or any coroutine function) in the RunEngine's event loop.
"""

from __future__ import annotations

import asyncio
import logging
import math
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ophyd
from bluesky.suspenders import (
    SuspendBoolLow,
    SuspenderBase,
    SuspendFloor,
    SuspendWhenOutsideBand,
)

from ionrig.plans import PatchFailure
from ionrig.rig.config import ConfigError

__all__ = [
    "BridgedSignal",
    "CellFailure",
    "Condition",
    "LowDiskSpace",
    "WatchdogConfig",
    "camera_condition",
    "check_disk",
    "disk_condition",
    "free_disk_GB",
    "ra_drift_failure",
    "reservoir_condition",
    "temperature_condition",
]

logger = logging.getLogger(__name__)


class CellFailure(PatchFailure):
    """The cell is lost (seal lost, access resistance drifted): its run fails, the night goes on."""


class LowDiskSpace(RuntimeError):
    """Not enough free disk space to start (or go on with) a night."""


@dataclass(frozen=True)
class WatchdogConfig:
    """Thresholds of the watchdogs (``None`` turns one off); times in real seconds.

    ``poll_s``: how often the conditions are read; ``resume_delay_s``: how long a condition
    must stay clear before the plan resumes (the suspender's ``sleep``).
    """

    temperature_band_C: tuple[float, float] | None = (18.0, 38.0)
    reservoir_floor_mL: float | None = 5.0
    reservoir_resume_mL: float = 10.0
    camera_timeouts: bool = True
    disk_min_free_GB: float | None = 1.0
    disk_resume_free_GB: float = 2.0
    seal_min_input_MOhm: float = 100.0
    seal_max_drop_fraction: float = 0.5
    seal_check_every_s: float = 10.0  # rig clock
    seal_check_holding_mV: float = -70.0  # where the seal test is taken
    ra_max_increase_fraction: float = 0.3
    ra_max_MOhm: float = 30.0
    poll_s: float = 0.05
    resume_delay_s: float = 0.0

    def __post_init__(self) -> None:
        band = self.temperature_band_C
        if band is not None and not (len(band) == 2 and band[0] < band[1]):
            raise ConfigError(f"temperature_band_C must be [low, high] °C, got {band!r}")
        if self.reservoir_floor_mL is not None and not (
            0 <= self.reservoir_floor_mL < self.reservoir_resume_mL
        ):
            raise ConfigError(
                "needs 0 <= reservoir_floor_mL < reservoir_resume_mL, got "
                f"{self.reservoir_floor_mL!r} and {self.reservoir_resume_mL!r}"
            )
        if self.disk_min_free_GB is not None and not (
            0 <= self.disk_min_free_GB < self.disk_resume_free_GB
        ):
            raise ConfigError(
                "needs 0 <= disk_min_free_GB < disk_resume_free_GB, got "
                f"{self.disk_min_free_GB!r} and {self.disk_resume_free_GB!r}"
            )
        if not 0 < self.seal_max_drop_fraction < 1:
            raise ConfigError(
                f"seal_max_drop_fraction must be in (0, 1), got {self.seal_max_drop_fraction!r}"
            )
        for name in ("seal_min_input_MOhm", "seal_check_every_s", "ra_max_MOhm", "poll_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not self.ra_max_increase_fraction > 0:
            raise ConfigError(
                f"ra_max_increase_fraction must be > 0, got {self.ra_max_increase_fraction!r}"
            )
        if not self.resume_delay_s >= 0:
            raise ConfigError(f"resume_delay_s must be >= 0 s, got {self.resume_delay_s!r}")
        if not -120.0 <= self.seal_check_holding_mV <= -30.0:
            raise ConfigError(
                "seal_check_holding_mV must be in [-120, -30] mV, got "
                f"{self.seal_check_holding_mV!r}"
            )


class BridgedSignal(ophyd.Signal):
    """A classic ophyd ``Signal`` mirroring an async source, for bluesky's suspenders.

    ``source`` is a coroutine function returning the value (e.g. an ophyd-async signal's
    ``get_value``); :meth:`poll` reads it and returns the value without putting it, so the
    watchdog decides when a new value reaches the suspenders (``put``).
    """

    def __init__(
        self, name: str, source: Callable[[], Awaitable[Any]], *, value: Any = 0.0
    ) -> None:
        super().__init__(name=name, value=value)
        self.source = source

    @classmethod
    def of(cls, async_signal: Any, name: str | None = None) -> BridgedSignal:
        """Bridge an ophyd-async signal (read with ``get_value``)."""
        return cls(name or f"{async_signal.name}_bridge", async_signal.get_value)

    async def poll(self) -> Any:
        return await self.source()


@dataclass(eq=False)
class Condition:
    """One watched condition: its bridged signal, its suspender, and the predicates the
    suspender applies (``trips``: suspend now; ``clears``: may resume), with ``describe``
    putting a value in words. ``probe_when_tripped_only``: the source is read only while
    tripped (the camera is probed, not polled, while the plan uses it)."""

    name: str
    signal: BridgedSignal
    suspender: SuspenderBase
    trips: Callable[[Any], bool]
    clears: Callable[[Any], bool]
    describe: Callable[[Any], str]
    probe_when_tripped_only: bool = False
    tripped: bool = False
    pending: Any = None
    last_value: Any = None
    #: (t_s, value) at each trip and clear, for tests and the summary
    history: list[tuple[str, float | None, Any]] = field(default_factory=list)


def temperature_condition(rig: Any, band_C: tuple[float, float], **suspender_kw) -> Condition:
    """Bath temperature (°C, the temperature controller's monitor) inside ``band_C``."""
    low, high = band_C
    signal = BridgedSignal.of(rig.temperature.temperature_C, "bath_temperature_C")
    return Condition(
        "temperature",
        signal,
        SuspendWhenOutsideBand(
            signal,
            low,
            high,
            tripped_message=f"bath temperature outside {low:g}-{high:g} °C",
            **suspender_kw,
        ),
        trips=lambda v: not low < v < high,
        clears=lambda v: low < v < high,
        describe=lambda v: f"bath temperature {v:.2f} °C is outside {low:g}-{high:g} °C",
    )


def _reservoir_source(perfusion: Any) -> Callable[[], Awaitable[float]]:
    async def remaining_mL() -> float:
        # Perfusion books delivered volume against the reservoirs only when asked; bring its
        # estimate up to date before reading it.
        account = getattr(perfusion, "book_delivered_mL", None)
        if account is not None:
            await account()
        solution = await perfusion.solution.get_value()
        volumes = await perfusion.reservoir_mL.get_value()
        return float(volumes[perfusion.solutions.index(solution)])

    return remaining_mL


def reservoir_condition(
    rig: Any, floor_mL: float, resume_mL: float, **suspender_kw
) -> Condition | None:
    """The selected solution's reservoir (mL, the perfusion's estimate) above ``floor_mL``;
    resumes at ``resume_mL`` (after a refill). ``None`` for a perfusion without reservoirs."""
    perfusion = getattr(rig, "perfusion", None)
    if perfusion is None or not hasattr(perfusion, "reservoir_mL"):
        return None
    signal = BridgedSignal("reservoir_remaining_mL", _reservoir_source(perfusion), value=math.inf)
    return Condition(
        "reservoir",
        signal,
        SuspendFloor(
            signal,
            floor_mL,
            resume_thresh=resume_mL,
            tripped_message="perfusion reservoir low: refill it",
            **suspender_kw,
        ),
        trips=lambda v: v < floor_mL,
        clears=lambda v: v >= resume_mL,
        describe=lambda v: (
            f"reservoir of the selected solution holds {v:.2f} mL, below {floor_mL:g} mL "
            f"(refill it: resumes at {resume_mL:g} mL)"
        ),
    )


def camera_condition(rig: Any, **suspender_kw) -> Condition:
    """The camera delivers frames: tripped by a frame timeout in a guarded plan, then probed
    (one preview frame per poll, shutter as left by the suspension: closed) until a frame
    arrives."""
    camera = rig.camera

    async def delivers() -> bool:
        try:
            await camera.preview_frame.get_value()
        except Exception as error:
            logger.info("camera probe: no frame yet (%s)", error)
            return False
        return True

    signal = BridgedSignal("camera_delivers_frames", delivers, value=True)
    return Condition(
        "camera",
        signal,
        SuspendBoolLow(signal, tripped_message="camera frame timeout", **suspender_kw),
        trips=lambda v: not v,
        clears=bool,
        describe=lambda v: "camera frame timeout: no frame delivered" if not v else "camera ok",
        probe_when_tripped_only=True,
    )


def free_disk_GB(path: str | Path) -> float:
    """Free space (GB, 10⁹ bytes) on the file system holding ``path`` (or its nearest
    existing parent)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free / 1e9


def check_disk(path: str | Path, min_free_GB: float) -> float:
    """Raise :class:`LowDiskSpace` unless ``path``'s file system has ``min_free_GB`` free;
    returns the free space (GB). Run before a night starts."""
    free = free_disk_GB(path)
    if free < min_free_GB:
        raise LowDiskSpace(
            f"only {free:.2f} GB free under {path}; the night needs at least {min_free_GB:g} GB "
            "(free some space or lower disk_min_free_GB)"
        )
    return free


def disk_condition(
    path: str | Path,
    min_free_GB: float,
    resume_free_GB: float,
    *,
    free_GB: Callable[[], float] | None = None,
    **suspender_kw,
) -> Condition:
    """Free disk space (GB) under the data directory ``path`` above ``min_free_GB``; resumes
    at ``resume_free_GB``. ``free_GB`` replaces the measurement (tests)."""
    measure = free_GB or (lambda: free_disk_GB(path))

    async def free() -> float:
        return float(await asyncio.to_thread(measure))

    signal = BridgedSignal("disk_free_GB", free, value=math.inf)
    return Condition(
        "disk",
        signal,
        SuspendFloor(
            signal,
            min_free_GB,
            resume_thresh=resume_free_GB,
            tripped_message="disk space low",
            **suspender_kw,
        ),
        trips=lambda v: v < min_free_GB,
        clears=lambda v: v >= resume_free_GB,
        describe=lambda v: (
            f"{v:.2f} GB free under {path}, below {min_free_GB:g} GB "
            f"(resumes at {resume_free_GB:g} GB)"
        ),
    )


def ra_drift_failure(
    baseline_MOhm: float, ra_MOhm: float, config: WatchdogConfig
) -> CellFailure | None:
    """A :class:`CellFailure` if the access resistance drifted beyond the thresholds: above
    ``ra_max_MOhm`` or up by more than ``ra_max_increase_fraction`` of ``baseline_MOhm``."""
    limit = min(config.ra_max_MOhm, baseline_MOhm * (1 + config.ra_max_increase_fraction))
    if not math.isfinite(ra_MOhm) or ra_MOhm > limit:
        return CellFailure(
            f"access resistance drifted from {baseline_MOhm:.3g} to {ra_MOhm:.3g} MΩ "
            f"(limit {limit:.3g} MΩ: +{100 * config.ra_max_increase_fraction:g} % or "
            f"{config.ra_max_MOhm:g} MΩ)"
        )
    return None

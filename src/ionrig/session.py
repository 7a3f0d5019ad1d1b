"""The session: one RunEngine, one rig, one clock and one catalog, tied together correctly.

from ionrig.session import start
session = start("sim", time_scale=100)
session.RE(ratiometric_timecourse(session.rig, 10))
session.catalog[-1]
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from bluesky import RunEngine

import ionrig
from ionrig.clock import Clock
from ionrig.data.catalog import Catalog, DataLocation, open_catalog
from ionrig.data.documents import make_pipeline
from ionrig.devices import Rig
from ionrig.rig import load_rig

__all__ = ["Session", "make_run_engine", "start", "use_clock"]


def use_clock(RE: RunEngine, clock: Clock) -> None:
    """Make the RunEngine's ``sleep`` wait clock time: ``duration / time_scale`` real seconds.

    Only plan sleeps follow the clock; ``bps.wait(timeout=…)`` and ophyd-async I/O timeouts stay
    in real seconds because they guard real I/O.
    """
    if clock.time_scale == 1.0:
        return

    async def clock_sleep(msg) -> None:
        await clock.async_sleep_s(msg.args[0])

    RE.register_command("sleep", clock_sleep)


def make_run_engine(
    catalog: Catalog | None = None,
    *,
    location: DataLocation | None = None,
    call_returns_result: bool = True,
) -> RunEngine:
    """A RunEngine whose documents are validated, journaled and (with a catalog) stored.

    The journal goes to ``location.journal_dir`` (default: the catalog's data directory, or
    the default data directory without a catalog). ``call_returns_result``: ``RE(plan)``
    returns the plan's return value (default), else the run uids (what the queue server reads).
    """
    location = location or (catalog.location if catalog is not None else DataLocation.at())
    RE = RunEngine(
        md={"ionrig_version": ionrig.__version__}, call_returns_result=call_returns_result
    )
    pipeline = make_pipeline(catalog, location.journal_dir)
    for callback in pipeline:
        RE.subscribe(callback)
    RE.ionrig_pipeline = pipeline  # closed by close_pipeline (the catalog writer's thread)
    return RE


def close_pipeline(RE: RunEngine) -> None:
    """Let the document pipeline of ``make_run_engine`` finish writing, and end its thread."""
    for callback in getattr(RE, "ionrig_pipeline", ()):
        close = getattr(callback, "close", None)
        if close is not None:
            close()


@dataclass
class Session:
    """What a scientist works with: ``RE``, ``rig`` (devices by role), ``catalog``, ``clock``."""

    RE: RunEngine
    rig: Rig
    catalog: Catalog | None
    clock: Clock

    def close(self) -> None:
        """Leave the rig safe (shutter closed, holding and pressure safe, flow stopped) and
        release the catalog."""
        import asyncio

        try:
            # the RunEngine's own loop (bluesky's global loop follows the newest RunEngine)
            asyncio.run_coroutine_threadsafe(self.rig.make_safe(), self.RE.loop).result(60)
        finally:
            close_pipeline(self.RE)
            if self.catalog is not None:
                self.catalog.close()


def start(
    rig: str | os.PathLike = "sim",
    *,
    catalog: Catalog | str | os.PathLike | None = None,
    call_returns_result: bool = True,
    **rig_overrides: Any,
) -> Session:
    """Start a session on ``rig`` (``"sim"`` or a rig file path).

    ``catalog`` is an open :class:`Catalog`, a data directory, or ``None`` for the default data
    directory (``$IONRIG_DATA``). The RunEngine is created first, the rig's devices are built
    and connected in its event loop, and the documents flow validate → journal → catalog.
    ``call_returns_result`` as for :func:`make_run_engine`.
    """
    if not isinstance(catalog, Catalog):
        catalog = open_catalog(catalog)
    RE = make_run_engine(catalog, call_returns_result=call_returns_result)
    the_rig = load_rig(rig, raw_dir=catalog.location.raw_dir, **rig_overrides)
    use_clock(RE, the_rig.clock)
    config = the_rig.config
    RE.md.update(
        {
            "rig": config.name,
            "simulated": config.simulated,
            "time_scale": config.time_scale,
        }
    )
    return Session(RE=RE, rig=the_rig, catalog=catalog, clock=the_rig.clock)

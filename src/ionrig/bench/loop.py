"""Awaiting device coroutines from plain code: in the RunEngine's own event loop, where the
rig's devices live (the shell, the camera preview and tests use it)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable
from typing import TypeVar

from bluesky import RunEngine

__all__ = ["run_in_loop"]

T = TypeVar("T")


def run_in_loop(RE: RunEngine, awaitable: Awaitable[T], timeout_s: float | None = None) -> T:
    """Run ``awaitable`` in ``RE``'s event loop (where the rig's devices live) and wait for it.

    Like :func:`bluesky.run_engine.call_in_bluesky_event_loop`, but bound to this RunEngine's
    loop rather than to the process-wide "latest" bluesky loop, which any later ``RunEngine()``
    (``import bluesky.magics`` makes one) replaces. ``timeout_s`` is in real seconds. Ctrl-C
    cancels the coroutine. Calling it from the loop's own thread would deadlock: that raises.
    """
    loop = RE.loop
    if not loop.is_running():
        if asyncio.iscoroutine(awaitable):
            awaitable.close()
        raise RuntimeError("the RunEngine's event loop is not running")
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        if asyncio.iscoroutine(awaitable):
            awaitable.close()
        raise RuntimeError(
            "run_in_loop was called from the RunEngine's own event loop; use `await` there"
        )

    async def wrapped() -> T:
        return await awaitable

    future = asyncio.run_coroutine_threadsafe(wrapped(), loop)
    try:
        return future.result(timeout=timeout_s)
    except (KeyboardInterrupt, concurrent.futures.TimeoutError):
        future.cancel()
        raise

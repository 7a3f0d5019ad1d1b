"""Running blocking driver calls off the event loop, one transaction at a time per instrument."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["BlockingPort"]


class BlockingPort:
    """Serialises calls to one blocking driver and runs each in a worker thread.

    One instance per physical port or DAQ: two devices sharing a port share its ``BlockingPort``.
    The lock is created lazily so the port can be built outside the event loop.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock: asyncio.Lock | None = None

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            return await asyncio.to_thread(fn, *args, **kwargs)

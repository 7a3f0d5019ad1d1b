"""The one place ionrig relies on ophyd-async internals (checked with ophyd-async 0.21.x).

Every function below names the private (or undocumented) piece of ophyd-async it relies on, why
ionrig needs it, and the version it was checked against. ``tests/devices/
test_ophyd_async_adapter.py`` fails on any other minor version of ophyd-async, and checks that
each internal is still there with the shape used here: on an upgrade, re-check each function
against the new ``ophyd_async.core`` (``_device.py``, ``_detector.py``) and move the version.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from ophyd_async.core import (
    Device,
    StandardDetector,
    StreamableDataProvider,
    WatcherUpdate,
)

__all__ = [
    "OPHYD_ASYNC_CHECKED_VERSION",
    "prepared_streamable_data_providers",
    "set_own_name",
    "standard_complete_updates",
    "standard_trigger_updates",
]

#: The ophyd-async minor version these internals were checked against.
OPHYD_ASYNC_CHECKED_VERSION = "0.21"


def prepared_streamable_data_providers(
    detector: StandardDetector,
) -> Sequence[StreamableDataProvider]:
    """The stream data providers of ``detector``'s latest ``prepare`` (none before one).

    Relies on ``StandardDetector._prepare_ctx`` (private; ophyd-async 0.21.x), a ``_PrepareCtx``
    dataclass or ``None``, and its ``streamable_data_providers``. ionrig needs them to know how
    many records the run's StreamDatum documents already reference (their ``last_emitted``),
    so that a frame taken again after a pause is not written twice; ophyd-async has no public
    accessor for it.
    """
    context = getattr(detector, "_prepare_ctx", None)
    return list(getattr(context, "streamable_data_providers", None) or [])


def standard_trigger_updates(detector: StandardDetector) -> AsyncIterator[WatcherUpdate[int]]:
    """The progress updates of ``StandardDetector.trigger`` itself, not wrapped in a status.

    Relies on ``StandardDetector.trigger.__wrapped__`` (ophyd-async 0.21.x): the
    ``WatchableAsyncStatus.wrap`` decorator keeps the undecorated async generator there
    (``functools.wraps``). ionrig's recording detectors run it inside their own ``trigger`` so
    that the trigger fails as soon as the acquisition does, not at the index timeout.
    """
    return StandardDetector.trigger.__wrapped__(detector)


def standard_complete_updates(detector: StandardDetector) -> AsyncIterator[WatcherUpdate[int]]:
    """The progress updates of ``StandardDetector.complete`` itself, not wrapped in a status.

    Relies on ``StandardDetector.complete.__wrapped__`` (ophyd-async 0.21.x), for the same
    reason as :func:`standard_trigger_updates`: a fly scan's ``complete`` fails at once.
    """
    return StandardDetector.complete.__wrapped__(detector)


def set_own_name(device: Device, name: str) -> None:
    """Give ``device`` the name ``name`` without renaming its children.

    Relies on ``Device._name`` (private; ophyd-async 0.21.x), the attribute behind
    ``Device.name``, and on ``Device.log`` being a ``functools.cached_property`` to drop so it
    is made again with the new name (as ``Device.set_name`` does). ionrig's rig names its
    children by role alone (``camera``, not ``rig-camera``), so it cannot call
    ``Device.set_name``, which names every child ``<name>-<role>``.
    """
    device._name = name
    if "log" in device.__dict__:
        del device.log

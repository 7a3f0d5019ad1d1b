"""The one place ionrig reaches into bluesky-queueserver-api's internals (checked against
0.0.13).

``REManagerAPI.close()`` (0.0.13) closes the client's control socket but leaves its zmq contexts
(control, console and system-info subscribers) for the garbage collector, which warns
(``ResourceWarning``, an error in the test suite). :func:`close_manager_api` closes the client
and then destroys those contexts, found among the client's attributes up to two levels deep
(``api._client._ctx``, ``api._console_monitor._rco`` …): private attributes whose names and
nesting may change with any release. ``tests/ionrig/night/test_queueserver_adapter.py`` checks
that the installed version is 0.0.x and that the contexts are still found there.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PINNED_MINOR", "close_manager_api", "zmq_contexts_of"]

#: The bluesky-queueserver-api minor version this was checked against.
PINNED_MINOR = "0.0"


def zmq_contexts_of(api: Any) -> set:
    """The zmq contexts an ``REManagerAPI`` (zmq) client holds, two attribute levels deep."""
    import zmq

    contexts: set = set()
    for holder in (api, *vars(api).values()):
        for value in getattr(holder, "__dict__", {}).values():
            for candidate in (value, *getattr(value, "__dict__", {}).values()):
                if isinstance(candidate, zmq.Context):
                    contexts.add(candidate)
                elif isinstance(candidate, zmq.Socket):
                    contexts.add(candidate.context)
    return contexts


def close_manager_api(api: Any) -> None:
    """Close an ``REManagerAPI`` client and destroy its zmq contexts (no lingering messages)."""
    api.close()
    for context in zmq_contexts_of(api):
        context.destroy(linger=0)

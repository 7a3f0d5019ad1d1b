"""Running blocking driver calls off the event loop, one transaction at a time per instrument,
retrying the failures that clear by themselves.

A :class:`BlockingPort` without a :class:`RetryPolicy` fails at the first error (bare devices in
tests, drivers probed by hand). The rig loader gives every port of a rig a policy: a transient
failure (no reply, a garbled or partial reply, a cable pulled and plugged back, an error reply
that line noise can cause) is logged and the whole driver call is made again after a backoff;
when the last attempt fails too, the error is raised unchanged, so the plan fails with the
instrument's typed error. Every driver call ionrig's devices make is safe to repeat: moving to
a position, switching to a valve, setting a value, reading, taking one frame or one sweep (a
failed frame or sweep writes nothing).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .drivers import (
    AmplifierModeError,
    FeatureNotFitted,
    InstrumentAlarm,
    InstrumentCommandError,
    InstrumentReplyError,
    InstrumentSafetyError,
    InstrumentTimeout,
    InvalidArgumentError,
    UnknownCommandError,
)

T = TypeVar("T")

__all__ = ["BlockingPort", "RetryPolicy", "transient_io_error"]

logger = logging.getLogger("ionrig.devices")

#: Refusals that repeat by construction: a retry cannot cure them.
_NEVER_TRANSIENT = (
    InstrumentSafetyError,  # refused by the driver before any I/O (range, limits)
    InstrumentAlarm,  # the instrument needs a person (a stalled pump)
    FeatureNotFitted,
    InvalidArgumentError,
    UnknownCommandError,
)


def transient_io_error(error: BaseException) -> bool:
    """True for failures a retry can cure: no reply or a late one (``InstrumentTimeout``), a
    garbled, partial or implausible reply (``InstrumentReplyError``), a port or device that
    went away (any ``ConnectionError``), and error replies that line noise or a busy instrument
    cause (``InstrumentCommandError``, but not unknown commands or invalid arguments).

    Never transient: the driver's safety refusals, alarms, unknown commands, invalid
    arguments, programming errors. The one refusal retried is :class:`AmplifierModeError`: it
    is decided from a telegraph reading, which a glitch can corrupt, before anything is written.
    """
    if isinstance(error, AmplifierModeError):
        return True
    if isinstance(error, _NEVER_TRANSIENT):
        return False
    return isinstance(
        error, InstrumentTimeout | InstrumentReplyError | InstrumentCommandError | ConnectionError
    )


@dataclass(frozen=True)
class RetryPolicy:
    """How a :class:`BlockingPort` retries a call that failed transiently.

    ``attempts`` calls in all (1: no retry). Before retry ``k`` (1, 2, …) the port waits
    ``backoff_s * 2**(k-1)`` real seconds, at most ``max_backoff_s``. ``transient(error)`` tells
    the errors worth retrying (default :func:`transient_io_error`). Waits are real seconds, like
    the drivers' timeouts: they give real hardware time (a USB adapter re-enumerating, a
    controller ending a move); a simulated rig's faults last clock time, which its fast clock
    shortens. The default gives up 0.7 s (plus the failed calls' own timeouts) after the first
    failure.
    """

    attempts: int = 4
    backoff_s: float = 0.1
    max_backoff_s: float = 2.0
    transient: Callable[[BaseException], bool] = transient_io_error

    def __post_init__(self) -> None:
        if not (isinstance(self.attempts, int) and 1 <= self.attempts <= 100):
            raise ValueError(f"attempts must be an int in 1..100, got {self.attempts!r}")
        if not 0 <= self.backoff_s <= self.max_backoff_s <= 600:
            raise ValueError(
                "needs 0 <= backoff_s <= max_backoff_s <= 600 s, got "
                f"backoff_s={self.backoff_s!r}, max_backoff_s={self.max_backoff_s!r}"
            )

    def delay_s(self, retry: int) -> float:
        """Real seconds to wait before retry number ``retry`` (1 for the first)."""
        return min(self.max_backoff_s, self.backoff_s * 2 ** (retry - 1))


class BlockingPort:
    """Serialises calls to one blocking driver and runs each in a worker thread.

    One instance per physical port or DAQ: two devices sharing a port share its ``BlockingPort``.
    The lock is created lazily so the port can be built outside the event loop. With ``retry``,
    a transient failure is logged (logger ``ionrig.devices``, WARNING) and the call is made
    again after the policy's backoff, holding the port meanwhile so that no other transaction
    comes between; giving up is logged at ERROR and re-raises the last error. ``retries`` and
    ``gave_up`` count both since the port was made.
    """

    def __init__(self, name: str, *, retry: RetryPolicy | None = None) -> None:
        self.name = name
        self.retry = retry
        self.retries = 0
        self.gave_up = 0
        self._lock: asyncio.Lock | None = None

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            attempt = 1
            while True:
                try:
                    return await asyncio.to_thread(fn, *args, **kwargs)
                except Exception as error:
                    delay_s = self.backoff_s(fn, error, attempt)
                    attempt += 1
                    await asyncio.sleep(delay_s)

    def backoff_s(self, fn: Callable[..., Any], error: Exception, attempt: int) -> float:
        """After attempt number ``attempt`` of ``fn`` failed with ``error``: the wait before
        the next attempt (s; counted in ``retries`` and logged), or ``error`` raised again
        when the retry policy does not cover it or its attempts are spent (counted in
        ``gave_up`` and logged). Call it from the ``except`` block of the failed attempt."""
        policy = self.retry
        if policy is None or not policy.transient(error):
            raise error
        what = getattr(fn, "__name__", type(fn).__name__)
        if attempt >= policy.attempts:
            self.gave_up += 1
            logger.error(
                "%s: %s failed %d times, giving up: %s: %s",
                self.name,
                what,
                attempt,
                type(error).__name__,
                error,
            )
            raise error
        delay_s = policy.delay_s(attempt)
        self.retries += 1
        logger.warning(
            "%s: %s failed (%s: %s); retry %d of %d in %.2f s",
            self.name,
            what,
            type(error).__name__,
            error,
            attempt,
            policy.attempts - 1,
            delay_s,
        )
        return delay_s

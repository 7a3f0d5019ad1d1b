"""Typed exceptions shared by every instrument driver.

Every error names the instrument, the command that was sent and the reply that came back (or
``None`` when nothing came back), so an operator can tell "the pump refused 250 µL/min" from
"the cable is out". Drivers never let a serial, VISA or parsing exception escape untyped.

Hierarchy::

    InstrumentError
    ├── InstrumentTimeout          (a TimeoutError) no reply, or a reply slower than the timeout
    ├── InstrumentReplyError       garbage, a partial reply, a reply that does not parse
    ├── InstrumentCommandError     the instrument answered with an error reply
    │   ├── UnknownCommandError        Thorlabs CMD_NOT_DEFINED, New Era "?"
    │   ├── InvalidArgumentError       Thorlabs CMD_ARG_INVALID, New Era "?OOR"
    │   ├── CommandNotApplicableError  New Era "?NA"
    │   ├── InvalidPacketError         New Era "?COM"
    │   └── CommandIgnoredError        New Era "?IGN"
    ├── InstrumentAlarm            the instrument reports an alarm (New Era "A?S" …)
    ├── InstrumentSafetyError      the driver refused an unsafe request before any I/O
    └── InstrumentDisconnected     (also a ConnectionError) port absent, closed or gone
"""

from __future__ import annotations

__all__ = [
    "CommandIgnoredError",
    "CommandNotApplicableError",
    "InstrumentAlarm",
    "InstrumentCommandError",
    "InstrumentDisconnected",
    "InstrumentError",
    "InstrumentReplyError",
    "InstrumentSafetyError",
    "InstrumentTimeout",
    "InvalidArgumentError",
    "InvalidPacketError",
    "UnknownCommandError",
]

_NOT_GIVEN = object()


class InstrumentError(Exception):
    """Base class: something went wrong talking to ``instrument``.

    Attributes: ``instrument`` (model and port), ``command`` (what was sent, text or bytes),
    ``reply`` (the raw bytes received, ``None`` if nothing arrived), ``value`` (the argument
    the command carried, if any) and ``detail`` (a human explanation).
    """

    mentions_reply = True

    def __init__(
        self,
        detail: str,
        *,
        instrument: str,
        command: str | bytes | None = None,
        reply: bytes | None = None,
        value: object = _NOT_GIVEN,
    ) -> None:
        self.detail = detail
        self.instrument = instrument
        self.command = command
        self.reply = reply
        self.value = None if value is _NOT_GIVEN else value
        parts = [f"{instrument}: {detail}"]
        if command is not None:
            parts.append(f"command {command!r}")
        if value is not _NOT_GIVEN:
            parts.append(f"value {value!r}")
        if reply is not None:
            parts.append(f"reply {reply!r}")
        elif self.mentions_reply:
            parts.append("no reply")
        super().__init__("; ".join(parts))


class InstrumentTimeout(InstrumentError, TimeoutError):
    """Nothing (or not the end of the reply) arrived within the driver's timeout."""


class InstrumentReplyError(InstrumentError):
    """The reply is garbage, partial, or does not parse as this instrument's protocol."""


class InstrumentCommandError(InstrumentError):
    """The instrument answered with an error reply; ``code`` is its error token."""

    def __init__(self, detail: str, *, code: str, **kwargs: object) -> None:
        self.code = code
        super().__init__(f"{detail} [{code}]", **kwargs)  # type: ignore[arg-type]


class UnknownCommandError(InstrumentCommandError):
    """The instrument does not know the command (Thorlabs CMD_NOT_DEFINED, New Era ``?``)."""


class InvalidArgumentError(InstrumentCommandError):
    """The argument is out of range or malformed (Thorlabs CMD_ARG_INVALID, New Era ``?OOR``)."""


class CommandNotApplicableError(InstrumentCommandError):
    """The command is valid but not applicable now (New Era ``?NA``, e.g. DIA while running)."""


class InvalidPacketError(InstrumentCommandError):
    """The instrument saw an invalid packet (New Era ``?COM``)."""


class CommandIgnoredError(InstrumentCommandError):
    """The instrument ignored the command (New Era ``?IGN``)."""


class InstrumentAlarm(InstrumentError):
    """The instrument reports an alarm condition; ``alarm`` is its code (New Era ``S`` …)."""

    def __init__(self, detail: str, *, alarm: str, **kwargs: object) -> None:
        self.alarm = alarm
        super().__init__(f"{detail} [alarm {alarm}]", **kwargs)  # type: ignore[arg-type]


class InstrumentSafetyError(InstrumentError):
    """The driver refused a request that could hurt the preparation; nothing was sent."""

    mentions_reply = False


class FeatureNotFitted(InstrumentError):
    """The instrument has no such part (a filter wheel without a shutter); nothing was sent."""

    mentions_reply = False


class InstrumentDisconnected(InstrumentError, ConnectionError):
    """The port is absent, closed, or went away in the middle of a transaction."""

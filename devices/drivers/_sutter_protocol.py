"""Sutter binary serial protocol shared by the Lambda 10-3 and the Lambda DG-4.

Both controllers take raw command bytes with no terminator, echo every byte, and send ``0x0D``
when an operation has finished (docs/reference/instruments.md §1.1, §1.2). The drivers write with
``write_bytes`` and read one byte at a time against a deadline, so silence or garbage ends in a
typed exception from :mod:`ionrig.devices.drivers._errors`.

Sutter controllers have no error reply. A well-formed echo of a *different* byte followed by the
completion CR means the controller received (and acted on) another command than the one sent:
the drivers report it as :class:`InstrumentCommandError` with code ``ECHO_MISMATCH``; any other
unexpected byte is :class:`InstrumentReplyError`.
"""

from __future__ import annotations

import abc

from ._errors import (
    InstrumentCommandError,
    InstrumentError,
    InstrumentReplyError,
    InstrumentTimeout,
)
from ._transport import Port, SerialInstrument

__all__ = ["CR", "GO_ONLINE", "IDENTIFY", "STATUS", "STRAY_BYTE", "SutterController"]

CR = 0x0D  # completion byte (§1.1 "Replies and timing")
GO_ONLINE = 0xEE  # §1.1 special commands: go on-line (serial); must be sent first
STATUS = 0xCC  # §1.1: status, echo + data bytes + CR
IDENTIFY = 0xFD  # §1.1: controller type/config, ASCII id then CR
STRAY_BYTE = 0x01  # §1.1 quirks: the SC sometimes sends a stray 0x01 before the CR


class SutterController(SerialInstrument, abc.ABC):
    """Echo/CR framing shared by the Lambda 10-3 and the DG-4.

    ``online``: the controller was put in serial mode (``go_online``, which each model defines).
    ``last_command``: the command bytes the controller last received, or ``None`` after a failed
    transaction, when the controller's idea of "the previous command" is unknown.
    """

    def __init__(self, port: Port, *, baud_rate: int, timeout_s: float, visa_library: str) -> None:
        super().__init__(port, baud_rate=baud_rate, timeout_s=timeout_s, visa_library=visa_library)
        self.online = False
        self.last_command: bytes | None = None

    @abc.abstractmethod
    def go_online(self) -> None:
        """Put the controller in serial (on-line) mode (each model has its own form)."""

    def ensure_online(self) -> None:
        """``go_online`` unless already done."""
        if not self.online:
            self.go_online()

    def accepted_echoes(self, sent: int, command: bytes) -> set[int]:
        """Echo bytes the controller may legitimately send back for ``sent`` (§1.1 quirks)."""
        return {sent}

    def _read_echo(self, command: bytes) -> None:
        """Read the echo of every byte of ``command`` (§1.1: every received byte is echoed)."""
        for index, sent in enumerate(command):
            got = self.read_exact(
                1, timeout_s=self.timeout_s, command=command, so_far=command[:index]
            )[0]
            if got in self.accepted_echoes(sent, command):
                continue
            self._echo_mismatch(command, bytes(command[:index]) + bytes([got]))

    def _echo_mismatch(self, command: bytes, received: bytes) -> None:
        """A wrong echo: a clean ``<byte> CR`` is a command error, anything else garbage."""
        try:
            rest = self.read_until(
                lambda buf: buf[-1] == CR, timeout_s=self.timeout_s, command=command, max_bytes=8
            )
        except (InstrumentTimeout, InstrumentReplyError) as exc:
            tail = getattr(exc, "reply", None) or b""
            raise self.typed_error(
                InstrumentReplyError,
                f"unexpected echo byte 0x{received[-1]:02X} (garbage)",
                command=command,
                reply=received + tail,
            ) from exc
        if rest == bytes([CR]):
            raise self.typed_error(
                InstrumentCommandError,
                f"controller echoed 0x{received[-1]:02X}: it received a different command",
                code="ECHO_MISMATCH",
                command=command,
                reply=received + rest,
            )
        raise self.typed_error(
            InstrumentReplyError,
            f"unexpected echo byte 0x{received[-1]:02X} (garbage)",
            command=command,
            reply=received + rest,
        )

    def _read_completion(self, command: bytes, timeout_s: float, so_far: bytes) -> None:
        """Wait for the completion CR (§1.1), tolerating the SC's stray 0x01 before it.

        ``so_far`` (the echo) makes a missing CR a partial reply rather than silence.
        """
        try:
            reply = self.read_until(
                lambda buf: buf[-1] != STRAY_BYTE, timeout_s=timeout_s, command=command, max_bytes=4
            )
        except InstrumentTimeout as exc:
            if not so_far:
                raise
            raise self.typed_error(
                InstrumentReplyError,
                f"partial reply: no completion byte within {timeout_s:g} s",
                command=command,
                reply=so_far,
            ) from exc
        if reply[-1] != CR:
            raise self.typed_error(
                InstrumentReplyError,
                f"expected the completion byte 0x0D, got 0x{reply[-1]:02X}",
                command=command,
                reply=reply,
            )

    def read_identity(self, command: bytes) -> str:
        """The ASCII id after the ``0xFD`` echo, without its CR (§1.1, §1.2)."""
        try:
            reply = self.read_until(
                lambda buf: buf[-1] == CR, timeout_s=self.timeout_s, command=command, max_bytes=64
            )
        except InstrumentTimeout as exc:
            self.last_command = None
            raise self.typed_error(
                InstrumentReplyError,
                "partial reply: echo without identity",
                command=command,
                reply=command,
            ) from exc
        except InstrumentError:
            self.last_command = None
            raise
        try:
            return reply[:-1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise self.typed_error(
                InstrumentReplyError, "identity is not ASCII", command=command, reply=reply
            ) from exc

    def transact(
        self, command: bytes, *, completion_timeout_s: float | None, echo: bool = True
    ) -> None:
        """Purge, send, read the echo and (unless ``None``) the completion CR.

        After any failure the controller's idea of "the previous command" is unknown, so
        ``last_command`` becomes ``None`` and the next command resynchronises first.
        """
        try:
            self.purge_input(command)
            self.send_raw(command)
            self.last_command = command
            if echo:
                self._read_echo(command)
            if completion_timeout_s is not None:
                self._read_completion(command, completion_timeout_s, command if echo else b"")
        except InstrumentError:
            self.last_command = None
            raise

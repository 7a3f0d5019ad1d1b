"""Notifications for unattended nights: what happened, told to a log file, e-mail or a webhook.

A notifier is any callable taking a :class:`Notice`. The queue's startup profile calls every
configured notifier on each suspension, resumption and failure (and on each queue item's start
and end, which only the log file records by default):

- :class:`LogFileNotifier` appends one JSON line per notice (the night log that
  ``ionrig queue summary`` reads);
- :class:`EmailNotifier` sends a plain-text e-mail through an SMTP server (``smtplib``);
- :class:`WebhookNotifier` POSTs the notice as JSON to a URL (``urllib``).

``notify_all(notifiers, notice)`` calls each one and logs, rather than raises, a notifier's own
failure: a mail server being down must never stop the night.
"""

from __future__ import annotations

import json
import logging
import smtplib
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = [
    "KINDS",
    "EmailNotifier",
    "LogFileNotifier",
    "Notice",
    "Notifier",
    "WebhookNotifier",
    "notify_all",
    "read_notices",
]

logger = logging.getLogger(__name__)

NoticeKind = Literal["suspension", "resumption", "failure", "item_start", "item_end", "check"]
#: Every kind of notice, in the order of a night.
KINDS: tuple[str, ...] = ("item_start", "suspension", "resumption", "failure", "item_end", "check")
#: What e-mail and webhook notifiers send by default: what needs a person.
ALERT_KINDS: tuple[str, ...] = ("suspension", "failure")


@dataclass(frozen=True)
class Notice:
    """One thing that happened during a night.

    ``kind``: one of :data:`KINDS`; ``cause``: what happened, in words (the suspender's
    justification, the exception's message); ``item``: the queue item's plan name (or ``""``);
    ``t_s``: rig clock time (s), ``time``: wall time (Unix s); ``details``: JSON-able extras
    (condition name, value, threshold, exit status, run uids).
    """

    kind: str
    cause: str
    item: str = ""
    t_s: float | None = None
    time: float = field(default_factory=time.time)
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {self.kind!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notice:
        return cls(**data)

    def subject(self) -> str:
        """A one-line summary (e-mail subject)."""
        where = f" in {self.item}" if self.item else ""
        return f"ionrig {self.kind}{where}: {self.cause}"[:200]

    def text(self) -> str:
        """A plain-text rendering (e-mail body)."""
        wall = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.time))
        lines = [
            f"what:  {self.kind}",
            f"cause: {self.cause}",
            f"item:  {self.item or '-'}",
            f"when:  {wall}" + (f" (rig clock {self.t_s:.1f} s)" if self.t_s is not None else ""),
        ]
        lines += [f"{key}: {value}" for key, value in sorted(self.details.items())]
        return "\n".join(lines) + "\n"


@runtime_checkable
class Notifier(Protocol):
    """Anything called with a :class:`Notice`."""

    def __call__(self, notice: Notice) -> None: ...


def _check_kinds(kinds: Iterable[str]) -> frozenset[str]:
    chosen = frozenset(kinds)
    unknown = sorted(chosen - set(KINDS))
    if unknown:
        raise ValueError(f"kinds must be among {', '.join(KINDS)}; got {unknown}")
    return chosen


class LogFileNotifier:
    """Appends every notice (of ``kinds``, default all) to ``path`` as one JSON line, flushed."""

    def __init__(self, path: str | Path, *, kinds: Iterable[str] = KINDS) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.kinds = _check_kinds(kinds)

    def __call__(self, notice: Notice) -> None:
        if notice.kind not in self.kinds:
            return
        with self.path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(notice.to_dict(), default=str) + "\n")


def read_notices(path: str | Path) -> list[Notice]:
    """The notices of a :class:`LogFileNotifier` file (none if it does not exist).

    A torn last line (the process died while writing it) is skipped.
    """
    path = Path(path)
    if not path.exists():
        return []
    notices = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            notices.append(Notice.from_dict(json.loads(line)))
        except (ValueError, TypeError):
            continue
    return notices


class EmailNotifier:
    """Sends each notice of ``kinds`` (default: suspensions and failures) as an e-mail.

    ``smtp_host``/``smtp_port`` name the mail server (``starttls`` upgrades the connection,
    ``username``/``password`` log in); ``timeout_s`` bounds each attempt (real seconds).
    ``send`` replaces the SMTP delivery (a callable taking the ``EmailMessage``).
    """

    def __init__(
        self,
        to: Sequence[str] | str,
        *,
        sender: str = "ionrig@localhost",
        smtp_host: str = "localhost",
        smtp_port: int = 25,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
        kinds: Iterable[str] = ALERT_KINDS,
        send: Callable[[EmailMessage], None] | None = None,
    ) -> None:
        recipients = [to] if isinstance(to, str) else list(to)
        if not recipients or not all(isinstance(r, str) and "@" in r for r in recipients):
            raise ValueError(f"to must name at least one e-mail address, got {to!r}")
        if not 0 < smtp_port < 65536:
            raise ValueError(f"smtp_port must be in 1..65535, got {smtp_port!r}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0 s, got {timeout_s!r}")
        self.to = recipients
        self.sender = sender
        self.smtp_host, self.smtp_port = smtp_host, int(smtp_port)
        self.starttls = starttls
        self.username, self.password = username, password
        self.timeout_s = float(timeout_s)
        self.kinds = _check_kinds(kinds)
        self._send = send or self._smtp_send

    def message(self, notice: Notice) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = notice.subject()
        message["From"] = self.sender
        message["To"] = ", ".join(self.to)
        message.set_content(notice.text())
        return message

    def _smtp_send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)

    def __call__(self, notice: Notice) -> None:
        if notice.kind in self.kinds:
            self._send(self.message(notice))


class WebhookNotifier:
    """POSTs each notice of ``kinds`` (default: suspensions and failures) as JSON to ``url``.

    The body is the notice's fields plus ``"text"`` (its one-line summary, which chat services
    such as Slack or Mattermost display). ``timeout_s`` bounds each request (real seconds).
    """

    def __init__(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        timeout_s: float = 10.0,
        kinds: Iterable[str] = ALERT_KINDS,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {url!r}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0 s, got {timeout_s!r}")
        self.url = url
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.timeout_s = float(timeout_s)
        self.kinds = _check_kinds(kinds)

    def __call__(self, notice: Notice) -> None:
        if notice.kind not in self.kinds:
            return
        body = json.dumps({**notice.to_dict(), "text": notice.subject()}, default=str).encode()
        request = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            if not 200 <= response.status < 300:
                raise RuntimeError(f"webhook {self.url} answered HTTP {response.status}")


def notify_all(notifiers: Iterable[Callable[[Notice], None]], notice: Notice) -> list[str]:
    """Call every notifier with ``notice``; a notifier's failure is logged and returned, never
    raised (the night goes on). Returns the error messages."""
    errors = []
    for notifier in notifiers:
        try:
            notifier(notice)
        except Exception as error:
            message = f"notifier {type(notifier).__name__} failed: {error}"
            logger.warning(message)
            errors.append(message)
    return errors

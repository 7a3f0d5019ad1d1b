"""A night's settings and where its files go: the rig and its overrides, the watchdogs'
thresholds, who is notified; ``<data>/queue`` and the night log; the names the queue server's
files and environment variables go by.
"""

import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ionrig.data.catalog import DataLocation
from ionrig.night.notify import EmailNotifier, LogFileNotifier, Notice, WebhookNotifier
from ionrig.night.watchdogs import WatchdogConfig
from ionrig.rig.config import ConfigError, build

__all__ = [
    "PERMISSIONS_FILE",
    "PLANS_FILE",
    "REDIS_ENV",
    "SETTINGS_ENV",
    "STARTUP_MODULE",
    "NotifySettings",
    "QueueError",
    "QueueSettings",
    "night_log_path",
    "notifiers_for",
    "queue_dir",
]

STARTUP_MODULE = "ionrig.night.queue_startup.profile"
PLANS_FILE = "existing_plans_and_devices.yaml"
PERMISSIONS_FILE = "user_group_permissions.yaml"
SETTINGS_ENV = "IONRIG_QUEUE_SETTINGS"
REDIS_ENV = "IONRIG_REDIS"


class QueueError(RuntimeError):
    """The queue server could not be started, reached or told something."""


@dataclass(frozen=True)
class NotifySettings:
    """Who hears about suspensions and failures (the night log always does).

    ``email_to``: addresses (none: no e-mail) through ``smtp_host``:``smtp_port``; the SMTP
    password is read from the environment variable named by ``smtp_password_env``, never from
    the file. ``webhook_url``: a URL that receives each notice as JSON (none: no webhook).
    """

    email_to: list[str] = field(default_factory=list)
    email_from: str = "ionrig@localhost"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password_env: str | None = None
    webhook_url: str | None = None
    kinds: list[str] = field(default_factory=lambda: ["suspension", "failure"])


@dataclass(frozen=True)
class QueueSettings:
    """A night's settings: the rig file (name or path) with top-level ``overrides``, the
    watchdogs' thresholds and the notifications. Read from YAML by :meth:`from_file`."""

    rig: str = "sim"
    overrides: dict[str, Any] = field(default_factory=dict)
    watchdogs: WatchdogConfig = field(default_factory=WatchdogConfig)
    notify: NotifySettings = field(default_factory=NotifySettings)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "QueueSettings":
        import yaml

        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"queue settings file {str(path)!r} does not exist")
        return build(cls, yaml.safe_load(path.read_text()) or {}, "queue settings")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "QueueSettings":
        return build(cls, dict(data), "queue settings")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        band = data["watchdogs"]["temperature_band_C"]
        data["watchdogs"]["temperature_band_C"] = list(band) if band is not None else None
        return data


def queue_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``<data>/queue``: settings, night log, manager state and log, Redis files."""
    path = DataLocation.at(data_dir).root / "queue"
    path.mkdir(parents=True, exist_ok=True)
    return path


def night_log_path(data_dir: str | os.PathLike | None = None) -> Path:
    return queue_dir(data_dir) / "night.jsonl"


def notifiers_for(settings: NotifySettings, log_path: Path) -> list[Callable[[Notice], None]]:
    """The night log plus the configured e-mail and webhook notifiers."""
    notifiers: list[Callable[[Notice], None]] = [LogFileNotifier(log_path)]
    if settings.email_to:
        password = (
            os.environ.get(settings.smtp_password_env) if settings.smtp_password_env else None
        )
        notifiers.append(
            EmailNotifier(
                settings.email_to,
                sender=settings.email_from,
                smtp_host=settings.smtp_host,
                smtp_port=settings.smtp_port,
                starttls=settings.smtp_starttls,
                username=settings.smtp_username,
                password=password,
                kinds=settings.kinds,
            )
        )
    if settings.webhook_url:
        notifiers.append(WebhookNotifier(settings.webhook_url, kinds=settings.kinds))
    return notifiers

"""Optional parts of ionrig: which command needs which extra, and a clear message when missing.

The core install (``pip install ionrig``) runs plans and stores data. The rest is optional
(``pyproject.toml``'s ``[project.optional-dependencies]``): a command that needs a part that is not
installed stops before doing anything and names the extra to install.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

__all__ = ["EXTRAS", "MissingExtra", "missing_modules", "require_extra"]


@dataclass(frozen=True)
class Extra:
    """An optional part: its name in ``pip install "ionrig[NAME]"`` and the modules it brings."""

    name: str
    modules: tuple[str, ...]
    purpose: str


EXTRAS = {
    extra.name: extra
    for extra in (
        Extra("night", ("bluesky_queueserver", "bluesky_queueserver_api", "fakeredis", "ophyd"),
              "unattended nights through bluesky-queueserver"),
        Extra("shell", ("IPython", "matplotlib", "zmq"),
              "the IPython shell, live plots, the camera preview and live documents over 0MQ"),
        Extra("nwb", ("pynwb",), "NWB export"),
        Extra("reports", ("matplotlib",), "figures and HTML reports"),
        Extra("mm", ("pymmcore_plus",), "cameras through Micro-Manager"),
    )
}  # fmt: skip


class MissingExtra(RuntimeError):
    """A command needs an optional part of ionrig that is not installed."""


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here (empty when it is installed)."""
    return [m for m in EXTRAS[extra].modules if importlib.util.find_spec(m) is None]


def require_extra(extra: str, command: str) -> None:
    """Raise :class:`MissingExtra` naming the extra and how to install it if ``command`` cannot
    run here because a module of ``extra`` is missing."""
    missing = missing_modules(extra)
    if missing:
        raise MissingExtra(
            f"`{command}` needs the optional part '{extra}' ({EXTRAS[extra].purpose}): "
            f"{', '.join(missing)} not installed. Install it with: "
            f'python -m pip install "ionrig[{extra}]"'
        )

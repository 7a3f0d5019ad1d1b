"""The ``ionrig-sim://NAME`` pyserial URL scheme: a rig switches real ↔ simulated by port string.

How pyserial finds a URL handler (pyserial 3.5 ``serial.serial_for_url``): it takes the scheme
before ``://``, and for each package name in ``serial.protocol_handler_packages`` imports
``<package>.protocol_<scheme>`` with ``importlib.import_module``, then uses that module's
``serial_class_for_url(url)`` or ``Serial`` class. The scheme ``ionrig-sim`` contains a hyphen,
so no ordinary module can carry the name ``protocol_ionrig-sim``; ``import_module`` does however
return whatever ``sys.modules`` holds under a name. Importing this module therefore

1. appends ``"ionrig.simulators._serial_url"`` to ``serial.protocol_handler_packages``, and
2. puts this very module into ``sys.modules`` as
   ``ionrig.simulators._serial_url.protocol_ionrig-sim``,

so ``serial.serial_for_url("ionrig-sim://lambda10-3")`` finds :class:`Serial` here. Importing
``ionrig.simulators`` does both (the drivers never import simulators; the rig loader or the test
does).

Which instrument a URL reaches: a module-level registry maps names to simulated instruments.
A rig loader creates each instrument bound to its clock (and world) and calls
:func:`register_simulated_instrument`; a driver that opens ``ionrig-sim://<name>`` then talks
to that very instance, and reopening the port reaches it again with its state. If nothing is
registered under the name and the name is an instrument kind (``lambda10-3``, ``dg4``,
``fw102c``, ``ne500``), a default instance on ``ScaledClock(1.0)`` is created and registered.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

import serial

from ._newera import SimulatedNE500
from ._serial_instrument import SimulatedSerialInstrument
from ._sutter import SimulatedLambda10_3, SimulatedLambdaDG4
from ._thorlabs import SimulatedFW102C

__all__ = [
    "SCHEME",
    "Serial",
    "SimulatedSerial",
    "get_simulated_instrument",
    "register_simulated_instrument",
    "registered_simulated_instruments",
    "unregister_simulated_instrument",
]

SCHEME = "ionrig-sim"

DEFAULT_KINDS: dict[str, Callable[[], SimulatedSerialInstrument]] = {
    "lambda10-3": SimulatedLambda10_3,
    "dg4": SimulatedLambdaDG4,
    "fw102c": SimulatedFW102C,
    "ne500": SimulatedNE500,
}

_registry: dict[str, SimulatedSerialInstrument] = {}
_registry_lock = threading.Lock()


def _key(name: str) -> str:
    key = name.strip().lower()
    if not key or "/" in key or "?" in key:
        raise ValueError(f"invalid simulated instrument name {name!r}")
    return key


def register_simulated_instrument(name: str, instrument: SimulatedSerialInstrument) -> None:
    """Make ``ionrig-sim://<name>`` reach ``instrument`` (replacing any earlier one)."""
    if not isinstance(instrument, SimulatedSerialInstrument):
        raise TypeError(f"expected a simulated serial instrument, got {instrument!r}")
    with _registry_lock:
        _registry[_key(name)] = instrument


def unregister_simulated_instrument(name: str) -> None:
    """Forget ``name`` (no error if it was not registered)."""
    with _registry_lock:
        _registry.pop(_key(name), None)


def registered_simulated_instruments() -> dict[str, SimulatedSerialInstrument]:
    """A copy of the registry."""
    with _registry_lock:
        return dict(_registry)


def get_simulated_instrument(name: str) -> SimulatedSerialInstrument:
    """The instrument registered as ``name``, or a new default one if ``name`` is a kind."""
    key = _key(name)
    with _registry_lock:
        instrument = _registry.get(key)
        if instrument is None:
            factory = DEFAULT_KINDS.get(key)
            if factory is None:
                known = ", ".join(sorted(set(_registry) | set(DEFAULT_KINDS)))
                raise KeyError(f"no simulated instrument {name!r} (known: {known})")
            instrument = _registry[key] = factory()
        return instrument


def _name_from_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != SCHEME:
        raise serial.SerialException(f"not an {SCHEME}:// URL: {url!r}")
    return rest.rstrip("/")


class SimulatedSerial(serial.SerialBase):
    """A pyserial port whose other end is a simulated instrument (``ionrig-sim://NAME``).

    Blocking reads honour ``timeout`` in real seconds while replies are due on the instrument's
    clock. While the instrument is disconnected (a ``DISCONNECT`` fault) ``open``, ``read`` and
    ``write`` raise ``serial.SerialException``.
    """

    instrument: SimulatedSerialInstrument | None = None

    def open(self) -> None:
        if self.port is None:
            raise serial.SerialException("port must be configured before it can be used")
        if self.is_open:
            raise serial.SerialException("port is already open")
        try:
            self.instrument = get_simulated_instrument(_name_from_url(self.port))
        except (KeyError, ValueError) as exc:
            raise serial.SerialException(f"could not open {self.port!r}: {exc}") from exc
        if not self.instrument.connected:
            raise serial.SerialException(f"could not open {self.port!r}: device disconnected")
        self.is_open = True

    def close(self) -> None:
        self.is_open = False

    def _reconfigure_port(self, force_update: bool = False) -> None:
        """Baud rate and framing have no effect on a simulated line."""

    def _update_rts_state(self) -> None:
        pass

    def _update_dtr_state(self) -> None:
        pass

    def _update_break_state(self) -> None:
        pass

    def _inst(self) -> SimulatedSerialInstrument:
        if not self.is_open or self.instrument is None:
            raise serial.PortNotOpenError()
        return self.instrument

    @property
    def in_waiting(self) -> int:
        try:
            return self._inst().in_waiting
        except ConnectionError as exc:
            raise serial.SerialException(str(exc)) from exc

    def read(self, size: int = 1) -> bytes:
        instrument = self._inst()
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        data = bytearray()
        try:
            while len(data) < size:
                data += instrument.read(size - len(data))
                if len(data) >= size:
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                instrument.wait_readable(0.05 if remaining is None else min(remaining, 0.05))
        except ConnectionError as exc:
            raise serial.SerialException(f"device disconnected: {exc}") from exc
        return bytes(data)

    def write(self, data: bytes) -> int:
        instrument = self._inst()
        try:
            return instrument.write(serial.to_bytes(data))
        except ConnectionError as exc:
            raise serial.SerialException(f"device disconnected: {exc}") from exc

    def reset_input_buffer(self) -> None:
        self._inst().reset_input()

    def reset_output_buffer(self) -> None:
        self._inst()

    def flush(self) -> None:
        self._inst()

    @property
    def cts(self) -> bool:
        return True

    @property
    def dsr(self) -> bool:
        return True

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return True


#: pyserial looks for ``Serial`` (or ``serial_class_for_url``) in a handler module.
Serial = SimulatedSerial


def serial_class_for_url(url: str) -> tuple[str, type[SimulatedSerial]]:
    """pyserial hook: keep the URL as the port name, use :class:`SimulatedSerial`."""
    return url, SimulatedSerial


def _register_url_scheme() -> None:
    sys.modules.setdefault(f"{__name__}.protocol_{SCHEME}", sys.modules[__name__])
    if __name__ not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(__name__)


_register_url_scheme()

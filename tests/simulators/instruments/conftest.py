"""Simulated serial instruments: a fast clock and an isolated URL registry per test."""

from __future__ import annotations

import pytest

from ionrig.simulators import (
    ScaledClock,
    register_simulated_instrument,
    registered_simulated_instruments,
    unregister_simulated_instrument,
)

TIME_SCALE = 100.0  # clock seconds per real second in these tests
TIMEOUT_S = 0.2  # driver timeout (real seconds) in these tests


@pytest.fixture(autouse=True)
def isolated_registry():
    """Every test starts with an empty ``ionrig-sim://`` registry and leaves it as it was."""
    before = registered_simulated_instruments()
    for name in before:
        unregister_simulated_instrument(name)
    yield
    for name in registered_simulated_instruments():
        unregister_simulated_instrument(name)
    for name, instrument in before.items():
        register_simulated_instrument(name, instrument)


@pytest.fixture
def clock() -> ScaledClock:
    return ScaledClock(TIME_SCALE)

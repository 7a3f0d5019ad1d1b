"""The simulated rig the doctor checks: on a simulated rig file, its instruments are built as
``load_rig`` builds them (faults of the file's ``faults:`` section included) and registered on
their ``ionrig-sim://`` ports while the doctor runs; the previous registrations are restored
after."""

from __future__ import annotations

from ionrig.rig import wiring
from ionrig.rig.rigfile import RigConfig, read_solutions
from ionrig.simulators import (
    ScaledClock,
    SimulatedDaq,
    World,
    register_simulated_instrument,
    registered_simulated_instruments,
    unregister_simulated_instrument,
)

from ._check_runner import DoctorRun, error_text
from ._report import CheckResult

__all__ = ["build_simulated_rig", "simulate_rig"]


def build_simulated_rig(run: DoctorRun) -> bool:
    """On a simulated rig, build its instruments (False, with a FAIL, if it cannot be)."""
    config = run.config
    assert config is not None
    if not config.simulated:
        return True
    try:
        simulate_rig(run, config)
    except Exception as error:  # the rig file describes a rig that cannot be built
        run.results.append(
            CheckResult(
                "simulated rig",
                "FAIL",
                f"{config.name}: the simulated instruments cannot be built: {error_text(error)}",
                "correct the rig file (the checks above may name the field)",
            )
        )
        return False
    return True


def simulate_rig(run: DoctorRun, config: RigConfig) -> None:
    """The simulated instruments behind the ports, as ``load_rig`` builds them."""
    previous = registered_simulated_instruments()

    def restore() -> None:
        for name in registered_simulated_instruments():
            if name not in previous:
                unregister_simulated_instrument(name)
        for name, instrument in previous.items():
            register_simulated_instrument(name, instrument)

    run.closers.insert(0, restore)  # runs last, after the ports are closed
    clock = ScaledClock(config.time_scale)
    world = World.from_config(
        config.world, clock=clock, seed=config.seed, solutions=read_solutions(config)
    )
    daq = SimulatedDaq(config.daq.device, clock=clock, ai_resolution_bits=None)
    run.instruments = wiring.simulate_instruments(config, world, daq)
    wiring.inject_faults(run.instruments, config.faults)

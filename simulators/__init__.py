"""Simulated rig: pure physics and protocol-accurate fake instruments (no bluesky, no ophyd).

Importing this package registers the ``ionrig-sim://NAME`` pyserial URL scheme
(:mod:`ionrig.simulators._serial_url`), so drivers reach simulated instruments by port string.
"""

from ionrig.clock import Clock, ScaledClock, SteppedClock, WallClock

from ._amplifier import AmplifierConfig
from ._bindings import bind_excitation
from ._cell_model import CellModelConfig, DyeHandlingConfig
from ._chamber import ChamberConfig
from ._daq import DaqEvent, SimulatedDaq, SweepRecord
from ._dye import MagFura2
from ._electrophysiology import Patch, PatchConfig, PatchError, ionic_equivalents
from ._faults import Fault, FaultKind
from ._newera import SimulatedNE500
from ._optics import (
    CAMERA_FAULT_KINDS,
    CameraDisconnected,
    CameraError,
    CameraFault,
    CameraTimeout,
    FrameDropped,
    SimulatedCamera,
    SimulatedFilterWheel,
)
from ._serial_instrument import SimulatedSerialInstrument
from ._serial_tcp import TcpServer, serve_tcp
from ._serial_url import (
    DEFAULT_KINDS,
    SimulatedSerial,
    get_simulated_instrument,
    register_simulated_instrument,
    registered_simulated_instruments,
    unregister_simulated_instrument,
)
from ._solutions import DEFAULT_SOLUTIONS, Solution, SolutionsFile, amounts_of
from ._sutter import DG4_SWITCH_TIME_S, SimulatedLambda10_3, SimulatedLambdaDG4, move_time_s
from ._thorlabs import SimulatedFW102C
from ._trpm7 import Trpm7Config
from ._world import (
    CameraSensor,
    Cell,
    CellConfig,
    ChamberControls,
    OpticsConfig,
    World,
    WorldConfig,
    default_cells,
)

__all__ = [
    "CAMERA_FAULT_KINDS",
    "DEFAULT_KINDS",
    "DEFAULT_SOLUTIONS",
    "DG4_SWITCH_TIME_S",
    "AmplifierConfig",
    "CameraDisconnected",
    "CameraError",
    "CameraFault",
    "CameraSensor",
    "CameraTimeout",
    "Cell",
    "CellConfig",
    "CellModelConfig",
    "ChamberConfig",
    "ChamberControls",
    "Clock",
    "DaqEvent",
    "DyeHandlingConfig",
    "Fault",
    "FaultKind",
    "FrameDropped",
    "MagFura2",
    "OpticsConfig",
    "Patch",
    "PatchConfig",
    "PatchError",
    "ScaledClock",
    "SimulatedCamera",
    "SimulatedDaq",
    "SimulatedFW102C",
    "SimulatedFilterWheel",
    "SimulatedLambda10_3",
    "SimulatedLambdaDG4",
    "SimulatedNE500",
    "SimulatedSerial",
    "SimulatedSerialInstrument",
    "Solution",
    "SolutionsFile",
    "SteppedClock",
    "SweepRecord",
    "TcpServer",
    "Trpm7Config",
    "WallClock",
    "World",
    "WorldConfig",
    "amounts_of",
    "bind_excitation",
    "default_cells",
    "get_simulated_instrument",
    "ionic_equivalents",
    "move_time_s",
    "register_simulated_instrument",
    "registered_simulated_instruments",
    "serve_tcp",
    "unregister_simulated_instrument",
]

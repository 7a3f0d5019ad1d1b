"""Startup module of ionrig's queue server (``start-re-manager --startup-module
ionrig.night.queue_startup.profile``), imported in the RE worker when the environment opens.

It builds the night (:func:`ionrig.night.queue.open_night`): the session from the rig file named in
the queue settings (``$IONRIG_QUEUE_SETTINGS``), with the RunEngine whose event loop the rig's
devices live in, the watchdogs and the notifiers. The queue server takes ``RE``, the devices
(``rig``, passed to plans by name) and the plans (generator functions) from this module's
namespace: keep it to exactly these names.
"""

from ionrig.night import queue
from ionrig.night.queue import make_safe, ratiometric_timecourse, record_cell, trpm7_ramps, wash

_night = queue.open_night()
del queue  # the namespace holds only RE, the rig and the plans
RE = _night.session.RE
rig = _night.session.rig

__all__ = ["RE", "make_safe", "ratiometric_timecourse", "record_cell", "rig", "trpm7_ramps", "wash"]

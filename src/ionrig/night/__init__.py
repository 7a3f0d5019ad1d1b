"""The night room: unattended experiments through bluesky-queueserver.

- :mod:`ionrig.night.queue`: starting and stopping the queue, the plans it may run.
- :mod:`ionrig.night.watchdogs`: the checks that suspend or stop a run that is going wrong.
- :mod:`ionrig.night.notify`: notices to the night log, e-mail or a webhook.
- :mod:`ionrig.night.summary`: the morning summary of a night.
"""

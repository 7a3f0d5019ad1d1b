"""The night room: unattended experiments through bluesky-queueserver.

- :mod:`ionrig.night.queue`: the plans the queue may run, and the night they run in.
- :mod:`ionrig.night.queue_settings`: a night's settings, ``<data>/queue`` and the night log.
- :mod:`ionrig.night.queue_server`: starting, stopping and talking to the queue server.
- :mod:`ionrig.night.processes`: its background processes (Redis, catalog server, manager).
- :mod:`ionrig.night.queue_command`: ``ionrig queue …``.
- :mod:`ionrig.night.watchdogs`: the checks that suspend or stop a run that is going wrong
  (their conditions in :mod:`ionrig.night.conditions`).
- :mod:`ionrig.night.queueserver_adapter`: the one place that relies on
  bluesky-queueserver-api's internals.
- :mod:`ionrig.night.notify`: notices to the night log, e-mail or a webhook.
- :mod:`ionrig.night.summary`: the morning summary of a night.
"""

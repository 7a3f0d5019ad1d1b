"""The bench room: what a scientist at the rig uses to run plans and watch them.

- :mod:`ionrig.bench.runner`: ``ionrig run PLAN key=value …``.
- :mod:`ionrig.bench.params`: the one KEY=VALUE parser (``ionrig run``, ``ionrig queue add``).
- :mod:`ionrig.bench.shell`: the IPython shell with a session ready.
- :mod:`ionrig.bench.preview`: live camera preview and ROI drawing outside runs.
- :mod:`ionrig.bench.loop`: awaiting device coroutines in the RunEngine's event loop.
- :mod:`ionrig.bench.live`: live tables, plots and progress during a run.
- :mod:`ionrig.bench.publish`: documents to other processes over 0MQ.
- :mod:`ionrig.bench.demo`: ``ionrig demo``, a complete experiment on the simulated rig.
"""

"""The data room: where runs are kept and how they are read back.

- :mod:`ionrig.data.catalog`: the embedded Tiled catalog under the data directory, its server
  and the one-owner lock.
- :mod:`ionrig.data.documents`: the document pipeline (validation, per-run journal, catalog
  writer) and recovery of interrupted runs.
- :mod:`ionrig.data.readers`: runs read back as arrays and tables for analysis.
- :mod:`ionrig.data.export`: runs exported to NWB files with pynwb (:mod:`ionrig.data.nwb_file`
  makes the file).
- :mod:`ionrig.data.tiled_writer_adapter`: the one place that relies on bluesky-tiled-plugins'
  internals.
"""

"""The one place ionrig touches bluesky-tiled-plugins' internals (checked against 2.0.12).

:class:`FlushingRunWriter` subclasses ``bluesky_tiled_plugins.writing.tiled_writer._RunWriter``,
the per-run writer ``TiledWriter`` routes documents to, to add :meth:`~FlushingRunWriter.flush`:
the pinned bluesky-tiled-plugins (2.0.x) batches event rows by count only
(``batch_size``), and ionrig's :class:`~ionrig.data.documents.CatalogWriter` needs a time bound
so that live readers see recent events. ``flush`` writes what ``stop`` would write from the
writer's caches, without closing the run. It relies on these private members of ``_RunWriter``:

- ``_internal_data_cache``: ``{descriptor name: [row dict, …]}``, the batched event rows;
- ``_desc_nodes``: ``{descriptor name or uid: tiled Container}``, each stream's node;
- ``_write_internal_data(rows, desc_node=…)``: writes batched rows to a stream's table;
- ``_external_data_cache``: ``{stream resource uid: StreamDatum}``, batched stream data;
- ``_write_external_data(stream_datum)``: registers a StreamDatum's external data;

and on the public ``root_node`` (``None`` until the start document). The test
``tests/ionrig/data/test_tiled_writer_adapter.py`` checks the installed version is 2.0.x and that
these members exist with this shape, so the next minor version fails there first.
"""

from __future__ import annotations

from bluesky_tiled_plugins.writing.tiled_writer import _RunWriter

__all__ = ["PINNED_MINOR", "FlushingRunWriter"]

#: The bluesky-tiled-plugins minor version these internals were checked against.
PINNED_MINOR = "2.0"


class FlushingRunWriter(_RunWriter):
    """bluesky-tiled-plugins' run writer, plus a flush of its batched rows on demand.

    ``flush`` writes what ``stop`` would write from the caches, without closing the run: the
    pinned bluesky-tiled-plugins (2.0.x) batches by count only, and ionrig needs a time bound.
    """

    def flush(self) -> None:
        """Write every batched event row and stream datum of this run now."""
        if self.root_node is None:
            return
        for desc_name, rows in self._internal_data_cache.items():
            if rows:
                self._write_internal_data(rows, desc_node=self._desc_nodes[desc_name])
                rows.clear()
        cached = list(self._external_data_cache.values())
        self._external_data_cache.clear()
        for stream_datum in cached:
            self._write_external_data(stream_datum)

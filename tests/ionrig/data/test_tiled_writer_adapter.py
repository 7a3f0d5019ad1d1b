"""The bluesky-tiled-plugins internals ionrig.data.tiled_writer_adapter relies on: the pinned
minor version is installed and ``_RunWriter`` still has the members ``flush`` uses, with the
same shape. A new bluesky-tiled-plugins minor version fails here first."""

import inspect
from collections import defaultdict
from importlib.metadata import version

from bluesky_tiled_plugins.writing.tiled_writer import _RunWriter

from ionrig.data.tiled_writer_adapter import PINNED_MINOR, FlushingRunWriter


def test_the_installed_bluesky_tiled_plugins_is_the_pinned_minor():
    installed = version("bluesky-tiled-plugins")
    assert installed.split(".")[:2] == PINNED_MINOR.split("."), (
        f"bluesky-tiled-plugins {installed} is installed; ionrig.data.tiled_writer_adapter was "
        f"checked against {PINNED_MINOR}.x: check its internals, then update PINNED_MINOR"
    )


def test_the_run_writer_has_the_caches_flush_uses():
    writer = FlushingRunWriter(object(), batch_size=7)
    assert isinstance(writer, _RunWriter)
    assert writer.root_node is None  # no start document yet: flush does nothing
    assert isinstance(writer._internal_data_cache, defaultdict)
    assert writer._internal_data_cache["primary"] == []  # rows per descriptor name
    assert isinstance(writer._external_data_cache, dict)
    assert isinstance(writer._desc_nodes, dict)
    writer.flush()


def test_the_run_writer_methods_flush_calls_take_the_same_arguments():
    internal = inspect.signature(_RunWriter._write_internal_data)
    assert list(internal.parameters) == ["self", "data_cache", "desc_node"]
    external = inspect.signature(_RunWriter._write_external_data)
    assert list(external.parameters) == ["self", "doc"]
    init = inspect.signature(_RunWriter.__init__)
    assert list(init.parameters)[:3] == ["self", "client", "batch_size"]

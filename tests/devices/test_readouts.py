"""ComputedReadout: values a plan computes, recorded as one event stream with units."""

import bluesky.plan_stubs as bps
import pytest
from bluesky import RunEngine
from ophyd_async.plan_stubs import ensure_connected

from ionrig.devices import ComputedReadout


def test_one_read_records_every_key_with_its_units():
    readout = ComputedReadout({"t_s": "s", "ratio_cell1": "1", "f340_cell1": "ADU/px/ms"})
    documents = []
    RE = RunEngine()
    RE.subscribe(lambda name, doc: documents.append((name, doc)))
    read_messages = []
    RE.msg_hook = lambda msg: read_messages.append(msg) if msg.command == "read" else None

    def plan():
        yield from ensure_connected(*readout.signals)
        yield from bps.open_run()
        for t_s in (1.0, 2.0):
            readout.update({"t_s": t_s, "ratio_cell1": 0.5 * t_s, "f340_cell1": 10.0})
            yield from bps.create("ratio")
            yield from bps.read(readout)
            yield from bps.save()
        yield from bps.close_run()

    RE(plan())
    (descriptor,) = [doc for name, doc in documents if name == "descriptor"]
    assert descriptor["name"] == "ratio"
    assert {k: v["units"] for k, v in descriptor["data_keys"].items()} == {
        "t_s": "s",
        "ratio_cell1": "1",
        "f340_cell1": "ADU/px/ms",
    }
    assert descriptor["object_keys"] == {"computed": ["t_s", "ratio_cell1", "f340_cell1"]}
    events = [doc["data"] for name, doc in documents if name == "event"]
    assert events == [
        {"t_s": 1.0, "ratio_cell1": 0.5, "f340_cell1": 10.0},
        {"t_s": 2.0, "ratio_cell1": 1.0, "f340_cell1": 10.0},
    ]
    assert len(read_messages) == 2  # one read per event, whatever the number of keys


def test_update_names_missing_and_unknown_keys():
    readout = ComputedReadout({"t_s": "s", "ratio_cell1": "1"})
    with pytest.raises(KeyError, match=r"missing \['ratio_cell1'\], unknown \['ratio_cell9'\]"):
        readout.update({"t_s": 1.0, "ratio_cell9": 2.0})
